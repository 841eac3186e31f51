"""The auth interceptor on a real grpc.aio server: refusals get their status, handlers the verified principal."""

from __future__ import annotations

import time
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from typing import Any

import grpc
import jwt
import pytest
from grpc_health.v1 import health, health_pb2, health_pb2_grpc

from llmops.api.audit.v1 import audit_pb2, audit_pb2_grpc
from llmops.api.feedback.v1 import feedback_pb2, feedback_pb2_grpc
from llmops.api.ingestion.v1 import ingestion_pb2, ingestion_pb2_grpc
from llmops.auth import Principal, principal_from_metadata
from llmops.events import Classification
from llmops.grpc_server import ErrorMappingInterceptor, unimplemented_servicer
from llmops.security import (
    ApiKeyVerifier,
    AuthInterceptor,
    CredentialAuthenticator,
    InMemoryKeyStore,
    JwtSettings,
    KdfParams,
    TokenVerifier,
    current_caller,
    current_principal,
    issue_key,
)

pytestmark = pytest.mark.integration

SECRET = "integration-test-hs256-secret-0123456789"
ISSUER, AUDIENCE = "https://idp.example", "llmops"
FAST = KdfParams(n=2**10)


@dataclass
class Seen:
    """What the handler saw on one call."""

    principal: Principal
    caller: Principal
    from_headers: Principal
    header_names: set[str]


class RecordingFeedback(feedback_pb2_grpc.FeedbackServicer):
    """Submit and ExportTrainingData record the principal they run as."""

    def __init__(self) -> None:
        self.seen: list[Seen] = []

    def _record(self, context: grpc.aio.ServicerContext) -> None:
        metadata = context.invocation_metadata()
        self.seen.append(
            Seen(
                principal=current_principal(),
                caller=current_caller(),
                from_headers=principal_from_metadata(metadata, "default"),
                header_names={k for k, _ in metadata},
            )
        )

    async def Submit(
        self, request: feedback_pb2.SubmitRequest, context: grpc.aio.ServicerContext
    ) -> feedback_pb2.SubmitResponse:
        self._record(context)
        return feedback_pb2.SubmitResponse(feedback_id=f"fb-{request.interaction_id}")

    async def ExportTrainingData(
        self, request: feedback_pb2.ExportTrainingDataRequest, context: grpc.aio.ServicerContext
    ) -> AsyncIterator[feedback_pb2.TrainingDataChunk]:
        self._record(context)
        for n in (1, 2):
            yield feedback_pb2.TrainingDataChunk(examples=n)


@dataclass
class Harness:
    address: str
    feedback: RecordingFeedback
    keys: dict[str, str] = field(default_factory=dict)


@pytest.fixture
async def harness() -> AsyncIterator[Harness]:
    store = InMemoryKeyStore()
    keys: dict[str, str] = {}
    for name, tenant, roles, clearance in [
        ("reader", "acme", ["reader"], Classification.INTERNAL),
        ("globex", "globex", ["reader"], Classification.RESTRICTED),
        ("service", "_platform", ["service"], Classification.CONFIDENTIAL),
    ]:
        plaintext, record = issue_key(tenant, name, roles=roles, groups=["hr"], clearance=clearance, kdf=FAST)
        store.put(record)
        keys[name] = plaintext
    authenticator = CredentialAuthenticator(
        api_keys=ApiKeyVerifier(store.get),
        tokens=TokenVerifier(JwtSettings(issuer=ISSUER, audience=AUDIENCE, hs256_secret=SECRET)),
    )
    # Above gRPC's 8 KiB default, so that the interceptor, not the transport, answers oversized metadata.
    server = grpc.aio.server(
        interceptors=[ErrorMappingInterceptor(), AuthInterceptor(authenticator)],
        options=[("grpc.max_metadata_size", 64 * 1024)],
    )
    health_pb2_grpc.add_HealthServicer_to_server(health.aio.HealthServicer(), server)
    feedback = RecordingFeedback()  # type: ignore[abstract]  # the other methods answer UNIMPLEMENTED
    feedback_pb2_grpc.add_FeedbackServicer_to_server(feedback, server)
    audit_pb2_grpc.add_AuditServicer_to_server(
        unimplemented_servicer(audit_pb2_grpc.AuditServicer, audit_pb2.DESCRIPTOR.services_by_name["Audit"], "later"),
        server,
    )
    ingestion_pb2_grpc.add_IngestionServicer_to_server(
        unimplemented_servicer(
            ingestion_pb2_grpc.IngestionServicer, ingestion_pb2.DESCRIPTOR.services_by_name["Ingestion"], "later"
        ),
        server,
    )
    port = server.add_insecure_port("127.0.0.1:0")
    await server.start()
    yield Harness(address=f"127.0.0.1:{port}", feedback=feedback, keys=keys)
    await server.stop(0)


def token(**overrides: Any) -> str:
    now = int(time.time())
    claims = {"iss": ISSUER, "aud": AUDIENCE, "sub": "pat", "tenant": "acme", "iat": now, "exp": now + 300,
              "roles": ["prompt-admin"], "clearance": "internal"}  # fmt: skip
    claims.update(overrides)
    return jwt.encode(claims, SECRET, algorithm="HS256")


async def submit(harness: Harness, metadata: list[tuple[str, str]]) -> feedback_pb2.SubmitResponse:
    async with grpc.aio.insecure_channel(harness.address) as channel:
        stub = feedback_pb2_grpc.FeedbackStub(channel)
        reply: feedback_pb2.SubmitResponse = await stub.Submit(
            feedback_pb2.SubmitRequest(interaction_id="i1", thumbs_up=True), metadata=metadata
        )
        return reply


async def refused(harness: Harness, metadata: list[tuple[str, str]]) -> grpc.aio.AioRpcError:
    with pytest.raises(grpc.aio.AioRpcError) as error:
        await submit(harness, metadata)
    assert harness.feedback.seen == []
    return error.value


async def test_health_answers_without_credentials(harness: Harness) -> None:
    """Probes carry no credentials and still get SERVING."""
    async with grpc.aio.insecure_channel(harness.address) as channel:
        reply = await health_pb2_grpc.HealthStub(channel).Check(health_pb2.HealthCheckRequest())
    assert reply.status == health_pb2.HealthCheckResponse.SERVING


async def test_a_call_without_credentials_is_unauthenticated(harness: Harness) -> None:
    """Not even principal headers alone get a caller in."""
    error = await refused(harness, [("x-llmops-tenant", "acme"), ("x-llmops-user", "ann")])
    assert error.code() == grpc.StatusCode.UNAUTHENTICATED
    assert error.details().startswith("credentials required")


async def test_a_bad_key_is_unauthenticated_and_the_answer_does_not_repeat_it(harness: Harness) -> None:
    """A tampered secret: UNAUTHENTICATED, a plain message, no key material."""
    bad = harness.keys["reader"][:-6] + "AAAAAA"
    error = await refused(harness, [("x-api-key", bad)])
    assert (error.code(), error.details()) == (grpc.StatusCode.UNAUTHENTICATED, "API key is not valid")


async def test_an_expired_jwt_is_unauthenticated(harness: Harness) -> None:
    """exp in the past (beyond the leeway)."""
    now = int(time.time())
    error = await refused(harness, [("authorization", f"Bearer {token(iat=now - 900, exp=now - 600)}")])
    assert (error.code(), error.details()) == (grpc.StatusCode.UNAUTHENTICATED, "bearer token has expired")


async def test_a_valid_key_without_the_role_is_denied_naming_the_role(harness: Harness) -> None:
    """A reader asking the audit log: PERMISSION_DENIED says which roles would do, the handler never runs."""
    async with grpc.aio.insecure_channel(harness.address) as channel:
        with pytest.raises(grpc.aio.AioRpcError) as error:
            await audit_pb2_grpc.AuditStub(channel).Query(
                audit_pb2.QueryRequest(), metadata=[("x-api-key", harness.keys["reader"])]
            )
    assert error.value.code() == grpc.StatusCode.PERMISSION_DENIED
    assert error.value.details() == "Audit.Query needs one of the roles: admin, compliance"


async def test_a_client_streaming_call_without_the_role_is_denied_before_its_stream_is_read(harness: Harness) -> None:
    """IngestStream from a reader: refused with the right status whatever the RPC's shape."""

    async def parts() -> AsyncIterator[ingestion_pb2.IngestStreamRequest]:
        yield ingestion_pb2.IngestStreamRequest(content=b"x" * 1024)

    async with grpc.aio.insecure_channel(harness.address) as channel:
        stub = ingestion_pb2_grpc.IngestionStub(channel)
        with pytest.raises(grpc.aio.AioRpcError) as error:
            await stub.IngestStream(parts(), metadata=[("x-api-key", harness.keys["reader"])])
    assert error.value.code() == grpc.StatusCode.PERMISSION_DENIED
    assert "ingester" in error.value.details()


async def test_a_valid_key_reaches_the_handler_with_its_principal_and_no_credential(harness: Harness) -> None:
    """The context variable and the rewritten headers agree; the handler never sees the key."""
    reply = await submit(harness, [("x-api-key", harness.keys["reader"])])
    assert reply.feedback_id == "fb-i1"
    [seen] = harness.feedback.seen
    assert (seen.principal.tenant, seen.principal.subject, seen.principal.roles) == ("acme", "reader", ("reader",))
    assert seen.caller == seen.principal
    assert seen.from_headers == Principal(
        tenant="acme", subject="reader", groups=("hr",), clearance=Classification.INTERNAL
    )
    assert "x-api-key" not in seen.header_names and "authorization" not in seen.header_names


async def test_forged_principal_headers_do_not_change_who_the_caller_is(harness: Harness) -> None:
    """An acme key with x-llmops-tenant: globex and a raised clearance still acts as acme at internal."""
    forged = [("x-llmops-tenant", "globex"), ("x-llmops-user", "ceo"), ("x-llmops-clearance", "restricted"),
              ("x-llmops-groups", "board")]  # fmt: skip
    await submit(harness, [("x-api-key", harness.keys["reader"]), *forged])
    [seen] = harness.feedback.seen
    for principal in (seen.principal, seen.from_headers):
        assert (principal.tenant, principal.subject, principal.clearance, principal.groups) == (
            "acme",
            "reader",
            Classification.INTERNAL,
            ("hr",),
        )


async def test_a_service_may_speak_for_a_user_with_clearance_capped_at_its_own(harness: Harness) -> None:
    """The gateway's hop: a `service` key names the end user; authorisation stays with the service."""
    named = [("x-llmops-tenant", "globex"), ("x-llmops-user", "bob"), ("x-llmops-clearance", "restricted")]
    await submit(harness, [("x-api-key", harness.keys["service"]), *named])
    [seen] = harness.feedback.seen
    assert (seen.principal.tenant, seen.principal.subject, seen.principal.roles) == ("globex", "bob", ())
    assert seen.principal.clearance == Classification.CONFIDENTIAL
    assert seen.principal.extra == {"delegated_by": "service"}
    assert (seen.caller.subject, seen.caller.roles) == ("service", ("service",))
    assert (seen.from_headers.tenant, seen.from_headers.clearance) == ("globex", Classification.CONFIDENTIAL)


async def test_a_valid_jwt_reaches_a_streaming_handler_with_its_principal(harness: Harness) -> None:
    """Server streaming: the principal is set for the whole stream."""
    async with grpc.aio.insecure_channel(harness.address) as channel:
        stub = feedback_pb2_grpc.FeedbackStub(channel)
        chunks = [
            c.examples
            async for c in stub.ExportTrainingData(
                feedback_pb2.ExportTrainingDataRequest(), metadata=[("authorization", f"Bearer {token()}")]
            )
        ]
    assert chunks == [1, 2]
    [seen] = harness.feedback.seen
    assert (seen.principal.tenant, seen.principal.subject, seen.principal.roles) == ("acme", "pat", ("prompt-admin",))


async def test_oversized_metadata_is_an_invalid_argument(harness: Harness) -> None:
    """More than 8 KiB of headers is refused before any credential is checked."""
    error = await refused(harness, [("x-api-key", harness.keys["reader"]), ("x-padding", "p" * 9000)])
    assert error.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert "the limit is 8192" in error.details()
