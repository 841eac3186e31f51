"""Authentication switched on by settings: a service's GrpcServer built from LLMOPS_AUTH_* refuses anonymous calls
and enforces the method's role, on a real grpc.aio server with an API-key file."""

from __future__ import annotations

from pathlib import Path

import grpc
import pytest
from grpc_health.v1 import health_pb2, health_pb2_grpc

from llmops.api.audit.v1 import audit_pb2, audit_pb2_grpc
from llmops.api.feedback.v1 import feedback_pb2, feedback_pb2_grpc
from llmops.grpc_server import GrpcServer, ServiceBinding, auth_interceptor, unimplemented_servicer
from llmops.security import JsonFileKeyStore, KdfParams, issue_key
from llmops.settings import AuthSettings, GrpcSettings

pytestmark = pytest.mark.integration

FAST = KdfParams(n=2**10)


def bindings() -> list[ServiceBinding]:
    feedback = feedback_pb2.DESCRIPTOR.services_by_name["Feedback"]
    audit = audit_pb2.DESCRIPTOR.services_by_name["Audit"]
    return [
        ServiceBinding(
            unimplemented_servicer(feedback_pb2_grpc.FeedbackServicer, feedback, "not under test"),
            feedback_pb2_grpc.add_FeedbackServicer_to_server,
            "llmops.api.feedback.v1.Feedback",
        ),
        ServiceBinding(
            unimplemented_servicer(audit_pb2_grpc.AuditServicer, audit, "not under test"),
            audit_pb2_grpc.add_AuditServicer_to_server,
            "llmops.api.audit.v1.Audit",
        ),
    ]


async def test_settings_turn_on_authentication_and_roles(tmp_path: Path) -> None:
    keys = tmp_path / "keys.json"
    store = JsonFileKeyStore(keys)
    reader_key, record = issue_key("acme", "rita", roles=["reader"], kdf=FAST)
    store.put(record)
    settings = GrpcSettings(auth=AuthSettings(enabled=True, api_keys_file=keys))
    server = GrpcServer.from_settings(bindings(), settings)
    await server.start()
    try:
        async with grpc.aio.insecure_channel(server.address) as channel:
            health = await health_pb2_grpc.HealthStub(channel).Check(health_pb2.HealthCheckRequest())
            assert health.status == health_pb2.HealthCheckResponse.SERVING  # probes need no credentials
            feedback = feedback_pb2_grpc.FeedbackStub(channel)
            with pytest.raises(grpc.aio.AioRpcError) as anonymous:
                await feedback.Submit(feedback_pb2.SubmitRequest(interaction_id="i"))
            assert anonymous.value.code() == grpc.StatusCode.UNAUTHENTICATED
            with pytest.raises(grpc.aio.AioRpcError) as admitted:
                await feedback.Submit(
                    feedback_pb2.SubmitRequest(interaction_id="i"), metadata=[("x-api-key", reader_key)]
                )
            assert admitted.value.code() == grpc.StatusCode.UNIMPLEMENTED  # authenticated and authorised
            with pytest.raises(grpc.aio.AioRpcError) as denied:
                await audit_pb2_grpc.AuditStub(channel).Query(
                    audit_pb2.QueryRequest(), metadata=[("x-api-key", reader_key)]
                )
            assert denied.value.code() == grpc.StatusCode.PERMISSION_DENIED
            assert "compliance" in (denied.value.details() or "")
    finally:
        await server.stop(0)


def test_auth_is_off_by_default_and_refuses_to_start_without_credentials(tmp_path: Path) -> None:
    assert auth_interceptor(AuthSettings()) is None
    with pytest.raises(ValueError, match="no credentials are configured"):
        auth_interceptor(AuthSettings(enabled=True))


def test_the_environment_configures_every_service(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("LLMOPS_AUTH_ENABLED", "true")
    monkeypatch.setenv("LLMOPS_AUTH_API_KEYS_FILE", str(tmp_path / "keys.json"))
    monkeypatch.setenv(
        "LLMOPS_AUTH_JWT", '{"issuer": "https://id.example", "audience": "llmops", "hs256_secret": "' + "s" * 32 + '"}'
    )
    auth = GrpcSettings().auth
    assert auth.enabled and auth.api_keys_file == tmp_path / "keys.json"
    assert auth.jwt is not None and auth.jwt.audience == "llmops"
    assert auth_interceptor(auth) is not None
