"""Every RPC of every service, on a real server built from settings: the wrong role is refused, the right one
reaches the handler; bursts beyond the rate limit and calls beyond the concurrency bound are refused early; TLS
with client certificates when configured."""

from __future__ import annotations

import asyncio
import datetime as dt
import ipaddress
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import grpc
import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID
from google.protobuf.descriptor import MethodDescriptor

from llmops.api.audit.v1 import audit_pb2, audit_pb2_grpc
from llmops.api.embedding.v1 import embedding_pb2, embedding_pb2_grpc
from llmops.api.feedback.v1 import feedback_pb2, feedback_pb2_grpc
from llmops.api.gateway.v1 import gateway_pb2, gateway_pb2_grpc
from llmops.api.guardrails.v1 import guardrails_pb2, guardrails_pb2_grpc
from llmops.api.inference.v1 import inference_pb2, inference_pb2_grpc
from llmops.api.ingestion.v1 import ingestion_pb2, ingestion_pb2_grpc
from llmops.api.retrieval.v1 import retrieval_pb2, retrieval_pb2_grpc
from llmops.grpc_client import open_channel
from llmops.grpc_server import GrpcServer, ServiceBinding, unimplemented_servicer
from llmops.security import JsonFileKeyStore, KdfParams, Role, issue_key
from llmops.security.limits import RETRY_AFTER_HEADER
from llmops.security.roles import PLATFORM_RULES
from llmops.settings import AuthSettings, ClientAuthSettings, GrpcSettings, LimitSettings, TlsSettings

pytestmark = pytest.mark.integration

SERVICES: list[tuple[Any, Any, str]] = [
    (gateway_pb2, gateway_pb2_grpc, "Assistant"),
    (ingestion_pb2, ingestion_pb2_grpc, "Ingestion"),
    (embedding_pb2, embedding_pb2_grpc, "Embedding"),
    (retrieval_pb2, retrieval_pb2_grpc, "Retrieval"),
    (inference_pb2, inference_pb2_grpc, "Inference"),
    (inference_pb2, inference_pb2_grpc, "Prompts"),
    (guardrails_pb2, guardrails_pb2_grpc, "Guardrails"),
    (feedback_pb2, feedback_pb2_grpc, "Feedback"),
    (audit_pb2, audit_pb2_grpc, "Audit"),
]
METHODS: dict[str, MethodDescriptor] = {
    f"/{m.containing_service.full_name}/{m.name}": m
    for pb2, _, name in SERVICES
    for m in pb2.DESCRIPTOR.services_by_name[name].methods
}
ROLES = [r.value for r in Role]
FAST = KdfParams(n=2**10)  # the production cost (2^14) would only slow the test down


def bindings() -> list[ServiceBinding]:
    out = []
    for pb2, pb2_grpc, name in SERVICES:
        descriptor = pb2.DESCRIPTOR.services_by_name[name]
        servicer = unimplemented_servicer(getattr(pb2_grpc, f"{name}Servicer"), descriptor, "reached the handler")
        out.append(ServiceBinding(servicer, getattr(pb2_grpc, f"add_{name}Servicer_to_server"), descriptor.full_name))
    return out


@dataclass
class Keys:
    file: Path
    by_role: dict[str, str]


@pytest.fixture(scope="module")
def keys(tmp_path_factory: pytest.TempPathFactory) -> Keys:
    file = tmp_path_factory.mktemp("keys") / "keys.json"
    store = JsonFileKeyStore(file)
    by_role = {}
    for role in ROLES:
        plaintext, record = issue_key("acme", f"{role}-holder", roles=[role], kdf=FAST)
        store.put(record)
        by_role[role] = plaintext
    plaintext, record = issue_key("acme", "nobody", kdf=FAST)
    store.put(record)
    by_role["none"] = plaintext
    return Keys(file, by_role)


@pytest.fixture
async def server(keys: Keys) -> AsyncIterator[GrpcServer]:
    settings = GrpcSettings(auth=AuthSettings(enabled=True, api_keys_file=keys.file))
    server = GrpcServer.from_settings(bindings(), settings)
    await server.start()
    yield server
    await server.stop(0)


async def call(channel: grpc.aio.Channel, method: str, key: str) -> grpc.StatusCode:
    """Calls `method` with an empty request and the key; the status it ends with."""
    descriptor = METHODS[method]
    metadata = (("x-api-key", key),)
    try:
        if descriptor.client_streaming and descriptor.server_streaming:
            async for _ in channel.stream_stream(method)(iter([b""]), metadata=metadata, timeout=10):
                pass
        elif descriptor.client_streaming:
            await channel.stream_unary(method)(iter([b""]), metadata=metadata, timeout=10)
        elif descriptor.server_streaming:
            async for _ in channel.unary_stream(method)(b"", metadata=metadata, timeout=10):
                pass
        else:
            await channel.unary_unary(method)(b"", metadata=metadata, timeout=10)
    except grpc.aio.AioRpcError as exc:
        return exc.code()
    return grpc.StatusCode.OK


def test_the_role_table_covers_every_method_of_every_service() -> None:
    assert set(METHODS) == set(PLATFORM_RULES)


async def test_every_rpc_refuses_every_role_it_does_not_list_and_admits_the_ones_it_does(
    server: GrpcServer, keys: Keys
) -> None:
    outcomes: dict[tuple[str, str], grpc.StatusCode] = {}
    async with grpc.aio.insecure_channel(server.address) as channel:
        for method in METHODS:
            for role, key in keys.by_role.items():
                outcomes[(method, role)] = await call(channel, method, key)
    wrong = []
    for (method, role), code in outcomes.items():
        allowed = role == Role.ADMIN.value or role in PLATFORM_RULES[method]
        expected = grpc.StatusCode.UNIMPLEMENTED if allowed else grpc.StatusCode.PERMISSION_DENIED
        if code != expected:
            wrong.append(f"{method} as {role}: {code.name}, expected {expected.name}")
    assert wrong == []
    assert sum(code == grpc.StatusCode.PERMISSION_DENIED for code in outcomes.values()) > len(METHODS)


async def test_a_service_channel_presents_its_key_so_a_service_only_method_admits_it(
    server: GrpcServer, keys: Keys
) -> None:
    client = GrpcSettings(client=ClientAuthSettings(api_key=keys.by_role["service"]))
    async with open_channel(server.address, client) as channel:
        stub = embedding_pb2_grpc.EmbeddingStub(channel)
        with pytest.raises(grpc.aio.AioRpcError) as error:
            await stub.Embed(embedding_pb2.EmbedRequest(texts=["x"]), timeout=10)
    assert error.value.code() == grpc.StatusCode.UNIMPLEMENTED  # past authentication and the role check
    async with open_channel(server.address, GrpcSettings()) as channel:
        with pytest.raises(grpc.aio.AioRpcError) as error:
            await embedding_pb2_grpc.EmbeddingStub(channel).Embed(embedding_pb2.EmbedRequest(texts=["x"]), timeout=10)
    assert error.value.code() == grpc.StatusCode.UNAUTHENTICATED


async def test_a_burst_at_twice_the_rate_is_cut_to_the_burst_and_answers_resource_exhausted(keys: Keys) -> None:
    limits = LimitSettings(rate_per_s=0.01, burst=10)  # a token per 100 s: the flood gets the burst only
    settings = GrpcSettings(auth=AuthSettings(enabled=True, api_keys_file=keys.file), limits=limits)
    server = GrpcServer.from_settings(bindings(), settings)
    await server.start()
    try:
        async with grpc.aio.insecure_channel(server.address) as channel:
            stub = feedback_pb2_grpc.FeedbackStub(channel)
            meta = (("x-api-key", keys.by_role["reader"]),)

            async def one() -> grpc.aio.AioRpcError:
                with pytest.raises(grpc.aio.AioRpcError) as error:
                    await stub.Submit(feedback_pb2.SubmitRequest(interaction_id="i"), metadata=meta, timeout=10)
                return error.value

            errors = await asyncio.gather(*(one() for _ in range(2 * limits.burst)))
            other = await call(channel, "/llmops.api.feedback.v1.Feedback/Submit", keys.by_role["admin"])
            service = [
                await call(channel, "/llmops.api.feedback.v1.Feedback/Submit", keys.by_role["service"])
                for _ in range(2 * limits.burst)
            ]
    finally:
        await server.stop(0)
    codes = [e.code() for e in errors]
    assert codes.count(grpc.StatusCode.UNIMPLEMENTED) == limits.burst  # admitted: reached the handler
    refused = [e for e in errors if e.code() == grpc.StatusCode.RESOURCE_EXHAUSTED]
    assert len(refused) == limits.burst
    assert "rate limit" in (refused[0].details() or "")
    assert any(k == RETRY_AFTER_HEADER and int(v) > 0 for k, v in refused[0].trailing_metadata() or ())
    assert other == grpc.StatusCode.UNIMPLEMENTED  # another principal has its own bucket
    assert set(service) == {grpc.StatusCode.UNIMPLEMENTED}  # platform services fan out; they are not rate limited


class SlowEmbedding(embedding_pb2_grpc.EmbeddingServicer):
    """Holds each call until released, to fill the server's in-flight slots."""

    def __init__(self) -> None:
        self.release = asyncio.Event()
        self.entered = 0

    async def Embed(self, request: Any, context: grpc.aio.ServicerContext) -> embedding_pb2.EmbedResponse:
        self.entered += 1
        await self.release.wait()
        return embedding_pb2.EmbedResponse()


async def test_calls_beyond_the_concurrency_bound_are_refused_at_once_and_health_still_answers() -> None:
    servicer = SlowEmbedding()
    binding = ServiceBinding(
        servicer, embedding_pb2_grpc.add_EmbeddingServicer_to_server, "llmops.api.embedding.v1.Embedding"
    )
    server = GrpcServer.from_settings([binding], GrpcSettings(limits=LimitSettings(max_concurrent=2)))
    await server.start()
    try:
        async with grpc.aio.insecure_channel(server.address) as channel:
            stub = embedding_pb2_grpc.EmbeddingStub(channel)
            held = [
                asyncio.ensure_future(stub.Embed(embedding_pb2.EmbedRequest(texts=["x"]), timeout=30)) for _ in range(2)
            ]
            while servicer.entered < 2:
                await asyncio.sleep(0.01)
            with pytest.raises(grpc.aio.AioRpcError) as error:
                await stub.Embed(embedding_pb2.EmbedRequest(texts=["x"]), timeout=30)
            from grpc_health.v1 import health_pb2, health_pb2_grpc

            health = await health_pb2_grpc.HealthStub(channel).Check(health_pb2.HealthCheckRequest(), timeout=5)
            servicer.release.set()
            await asyncio.gather(*held)
            after = await stub.Embed(embedding_pb2.EmbedRequest(texts=["x"]), timeout=30)
    finally:
        await server.stop(0)
    assert error.value.code() == grpc.StatusCode.RESOURCE_EXHAUSTED
    assert "server busy" in (error.value.details() or "")
    assert health.status == health_pb2.HealthCheckResponse.SERVING
    assert after == embedding_pb2.EmbedResponse()
    assert servicer.entered == 3  # the refused call never reached the handler


def _certificate(
    subject: str,
    key: ec.EllipticCurvePrivateKey,
    issuer: tuple[x509.Certificate, ec.EllipticCurvePrivateKey] | None,
    *,
    ca: bool = False,
) -> x509.Certificate:
    now = dt.datetime.now(dt.UTC)
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, subject)])
    builder = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(issuer[0].subject if issuer else name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(minutes=5))
        .not_valid_after(now + dt.timedelta(days=1))
        .add_extension(x509.BasicConstraints(ca=ca, path_length=None), critical=True)
    )
    if not ca:
        builder = builder.add_extension(
            x509.SubjectAlternativeName([x509.DNSName("localhost"), x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]),
            critical=False,
        )
    return builder.sign(issuer[1] if issuer else key, hashes.SHA256())


@dataclass
class Pki:
    ca: Path
    server: tuple[Path, Path]
    client: tuple[Path, Path]


@pytest.fixture(scope="module")
def pki(tmp_path_factory: pytest.TempPathFactory) -> Pki:
    root = tmp_path_factory.mktemp("pki")

    def write(name: str, cert: x509.Certificate, key: ec.EllipticCurvePrivateKey) -> tuple[Path, Path]:
        cert_path, key_path = root / f"{name}.crt", root / f"{name}.key"
        cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
        key_path.write_bytes(
            key.private_bytes(
                serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
            )
        )
        return cert_path, key_path

    ca_key = ec.generate_private_key(ec.SECP256R1())
    ca_cert = _certificate("llmops test CA", ca_key, None, ca=True)
    ca_path, _ = write("ca", ca_cert, ca_key)
    issued = {}
    for name in ("server", "client"):
        key = ec.generate_private_key(ec.SECP256R1())
        issued[name] = write(name, _certificate(f"llmops {name}", key, (ca_cert, ca_key)), key)
    return Pki(ca_path, issued["server"], issued["client"])


async def test_mutual_tls_admits_a_client_with_a_certificate_from_the_ca_and_no_one_else(pki: Pki) -> None:
    server_tls = TlsSettings(cert_file=pki.server[0], key_file=pki.server[1], ca_file=pki.ca)
    binding = ServiceBinding(
        SlowEmbedding(), embedding_pb2_grpc.add_EmbeddingServicer_to_server, "llmops.api.embedding.v1.Embedding"
    )
    server = GrpcServer.from_settings([binding], GrpcSettings(tls=server_tls))
    await server.start()
    from grpc_health.v1 import health_pb2, health_pb2_grpc

    async def health(settings: GrpcSettings) -> grpc.StatusCode:
        async with open_channel(server.address, settings) as channel:
            try:
                await health_pb2_grpc.HealthStub(channel).Check(health_pb2.HealthCheckRequest(), timeout=5)
            except grpc.aio.AioRpcError as exc:
                return exc.code()
        return grpc.StatusCode.OK

    try:
        with_cert = TlsSettings(cert_file=pki.client[0], key_file=pki.client[1], ca_file=pki.ca)
        without_cert = TlsSettings(ca_file=pki.ca)
        assert await health(GrpcSettings(tls=with_cert)) == grpc.StatusCode.OK
        assert await health(GrpcSettings(tls=without_cert)) == grpc.StatusCode.UNAVAILABLE
        assert await health(GrpcSettings()) == grpc.StatusCode.UNAVAILABLE  # plaintext to a TLS port
    finally:
        await server.stop(0)


class CountingAuthenticator:
    """Lets every call through as a service; counts how often it was asked."""

    def __init__(self) -> None:
        self.calls = 0

    async def authenticate(self, metadata: Any) -> Any:
        from llmops.auth import Principal

        self.calls += 1
        return Principal(tenant="acme", subject="svc", roles=("service",))


async def test_the_concurrency_bound_refuses_before_authentication_and_frees_slots_of_cancelled_calls() -> None:
    from llmops.security import AuthInterceptor
    from llmops.security.limits import ConcurrencyInterceptor

    servicer, authenticator, bound = SlowEmbedding(), CountingAuthenticator(), ConcurrencyInterceptor(1)
    binding = ServiceBinding(
        servicer, embedding_pb2_grpc.add_EmbeddingServicer_to_server, "llmops.api.embedding.v1.Embedding"
    )
    server = GrpcServer([binding], interceptors=[bound, AuthInterceptor(authenticator)])
    await server.start()
    try:
        async with grpc.aio.insecure_channel(server.address) as channel:
            stub = embedding_pb2_grpc.EmbeddingStub(channel)
            request = embedding_pb2.EmbedRequest(texts=["x"])
            held = stub.Embed(request, metadata=(("x-api-key", "k"),), timeout=30)
            while servicer.entered < 1:
                await asyncio.sleep(0.01)
            codes = []
            for _ in range(10):
                with pytest.raises(grpc.aio.AioRpcError) as error:
                    await stub.Embed(request, metadata=(("x-api-key", "k"),), timeout=30)
                codes.append(error.value.code())
            assert authenticator.calls == 1  # the flood never reached authentication
            held.cancel()
            while bound.in_flight:
                await asyncio.sleep(0.01)
            servicer.release.set()
            assert (
                await stub.Embed(request, metadata=(("x-api-key", "k"),), timeout=30) == embedding_pb2.EmbedResponse()
            )
    finally:
        await server.stop(0)
    assert set(codes) == {grpc.StatusCode.RESOURCE_EXHAUSTED}
    assert bound.in_flight == 0
