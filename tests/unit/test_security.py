"""Authentication and authorisation as pure logic: API keys, key stores, JWTs, the role policy, credentials."""

from __future__ import annotations

import hashlib
import hmac
import importlib
import json
import re
import stat
import time
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import jwt
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa

from llmops.auth import Principal
from llmops.errors import AlreadyExists, InvalidArgument, NotFound, PermissionDenied, Unauthenticated, Unavailable
from llmops.events import Classification
from llmops.security import (
    PLATFORM_POLICY,
    ApiKeyVerifier,
    CredentialAuthenticator,
    InMemoryKeyStore,
    JsonFileKeyStore,
    JwtSettings,
    KdfParams,
    KeyStore,
    Role,
    TokenVerifier,
    issue_key,
    required_roles,
    verify_key,
)
from llmops.security.api_keys import parse_key
from llmops.security.roles import PLATFORM_RULES

pytestmark = pytest.mark.unit

PROTO_ROOT = Path(__file__).resolve().parents[2] / "proto"
# Cheapest scrypt the record accepts: keeps the suite fast without changing the code path.
FAST = KdfParams(n=2**10)
NOW = datetime(2026, 1, 1, tzinfo=UTC)


def issue(**kwargs: Any) -> tuple[str, Any]:
    defaults: dict[str, Any] = {"roles": ["reader"], "groups": ["hr"], "clearance": Classification.INTERNAL}
    return issue_key("acme", "ann", kdf=FAST, now=NOW, **{**defaults, **kwargs})


# --- API keys -------------------------------------------------------------------------------------------------


def test_an_issued_key_verifies_to_the_principal_its_record_names() -> None:
    """Plaintext llm_<id>_<secret> → tenant, subject, roles, groups and clearance of the record."""
    plaintext, record = issue()
    assert plaintext.startswith(f"llm_{record.key_id}_")
    principal = verify_key(plaintext, {record.key_id: record}.get, now=NOW)
    assert principal == Principal(
        tenant="acme",
        subject="ann",
        roles=("reader",),
        groups=("hr",),
        clearance=Classification.INTERNAL,
        extra={"auth": "api_key", "key_id": record.key_id},
    )


def test_the_record_holds_a_salted_hash_never_the_secret() -> None:
    """Neither the key nor its secret nor a plain SHA-256 of it appears in the stored record; salts differ."""
    plaintext, record = issue()
    _, secret = parse_key(plaintext)
    stored = record.model_dump_json()
    assert plaintext not in stored and secret not in stored
    assert record.digest != hashlib.sha256(secret.encode()).hexdigest()
    assert record.digest == hashlib.scrypt(secret.encode(), salt=bytes.fromhex(record.salt), n=2**10, r=8, p=1,
                                           dklen=32).hex()  # fmt: skip
    assert issue()[1].salt != record.salt


def test_the_secret_is_compared_in_constant_time(monkeypatch: pytest.MonkeyPatch) -> None:
    """Verification goes through hmac.compare_digest, never ==."""
    plaintext, record = issue()
    calls: list[tuple[bytes, bytes]] = []
    real = hmac.compare_digest

    def spy(a: bytes, b: bytes) -> bool:
        calls.append((a, b))
        return real(a, b)

    monkeypatch.setattr(hmac, "compare_digest", spy)
    verify_key(plaintext, {record.key_id: record}.get, now=NOW)
    assert calls and calls[0][1] == bytes.fromhex(record.digest)


@pytest.mark.parametrize("mutate", ["secret", "key id", "malformed", "empty"])
def test_bad_keys_are_unauthenticated_and_the_message_never_repeats_them(mutate: str) -> None:
    """Wrong secret, unknown id, bad shape: one plain message each, without the presented key."""
    plaintext, record = issue()
    key_id, secret = parse_key(plaintext)
    presented = {
        "secret": f"llm_{key_id}_{secret[:-4]}AAAA",
        "key id": f"llm_{'0' * 16}_{secret}",
        "malformed": f"sk-{secret}",
        "empty": "",
    }[mutate]
    with pytest.raises(Unauthenticated) as error:
        verify_key(presented, {record.key_id: record}.get, now=NOW)
    assert str(error.value) in {"API key is not valid", "API key is malformed; expected llm_<key id>_<secret>"}
    assert secret[:10] not in str(error.value)


def test_expired_and_revoked_keys_are_refused_with_the_reason() -> None:
    """Once the secret is proven, the caller learns why the key stopped working."""
    plaintext, record = issue(expires_at=NOW + timedelta(days=1))
    assert verify_key(plaintext, {record.key_id: record}.get, now=NOW + timedelta(hours=23)).subject == "ann"
    with pytest.raises(Unauthenticated, match="API key has expired"):
        verify_key(plaintext, {record.key_id: record}.get, now=NOW + timedelta(days=1))
    revoked = record.model_copy(update={"revoked": True})
    with pytest.raises(Unauthenticated, match="API key has been revoked"):
        verify_key(plaintext, {record.key_id: revoked}.get, now=NOW)


def test_issuing_refuses_unknown_roles_bad_tenants_and_past_expiry() -> None:
    """A typo in a role or tenant is an error at issue time, not a silently powerless key."""
    with pytest.raises(InvalidArgument, match="unknown roles"):
        issue(roles=["raeder"])
    with pytest.raises(InvalidArgument, match="tenant"):
        issue_key("acme corp", "ann", kdf=FAST)
    with pytest.raises(InvalidArgument, match="expires_at"):
        issue(expires_at=NOW - timedelta(seconds=1))


def test_the_verifier_pays_scrypt_once_and_still_sees_revocation(monkeypatch: pytest.MonkeyPatch) -> None:
    """The second call with the same key skips scrypt; a revocation applies on the next call all the same."""
    plaintext, record = issue()
    store = InMemoryKeyStore([record])
    verifier = ApiKeyVerifier(store.get, clock=lambda: NOW)
    derivations: list[str] = []
    real = KdfParams.derive

    def counting(self: KdfParams, secret: str, salt: bytes) -> bytes:
        derivations.append(secret)
        return real(self, secret, salt)

    monkeypatch.setattr(KdfParams, "derive", counting)
    assert verifier.verify(plaintext).tenant == "acme"
    assert verifier.verify(plaintext).tenant == "acme"
    assert len(derivations) == 1
    key_id, secret = parse_key(plaintext)
    with pytest.raises(Unauthenticated, match="not valid"):
        verifier.verify(f"llm_{key_id}_{secret[:-4]}AAAA")
    assert len(derivations) == 2
    store.revoke(record.key_id)
    with pytest.raises(Unauthenticated, match="revoked"):
        verifier.verify(plaintext)


# --- key stores -----------------------------------------------------------------------------------------------


@pytest.fixture(params=["memory", "json"])
def store(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[KeyStore]:
    """The same contract against both stores."""
    yield InMemoryKeyStore() if request.param == "memory" else JsonFileKeyStore(tmp_path / "keys.json")


def test_both_stores_put_get_list_and_revoke_alike(store: KeyStore) -> None:
    """Congruence: add, find, refuse a duplicate, revoke, refuse an unknown id."""
    _, first = issue()
    _, second = issue(roles=["admin"])
    store.put(first)
    store.put(second)
    assert store.get(first.key_id) == first
    assert store.get("f" * 16) is None
    assert store.records() == sorted([first, second], key=lambda r: r.key_id)
    with pytest.raises(AlreadyExists):
        store.put(first)
    revoked = store.revoke(second.key_id)
    assert revoked.revoked and store.get(second.key_id) == revoked
    with pytest.raises(NotFound):
        store.revoke("f" * 16)


def test_the_key_file_holds_no_plaintext_is_owner_only_and_is_re_read_when_it_changes(tmp_path: Path) -> None:
    """Another process's revocation applies to the next lookup without a restart."""
    path = tmp_path / "keys.json"
    plaintext, record = issue()
    writer = JsonFileKeyStore(path)
    writer.put(record)
    text = path.read_text()
    assert plaintext not in text and parse_key(plaintext)[1] not in text
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert json.loads(text)["keys"][0]["key_id"] == record.key_id
    reader = JsonFileKeyStore(path)
    verifier = ApiKeyVerifier(reader.get, clock=lambda: NOW)
    assert verifier.verify(plaintext).subject == "ann"
    writer.revoke(record.key_id)
    with pytest.raises(Unauthenticated, match="revoked"):
        verifier.verify(plaintext)


def test_a_broken_key_file_fails_at_startup_and_refuses_every_key_after_a_bad_edit(tmp_path: Path) -> None:
    """Fail closed: a typo while revoking must not leave the old list, revoked key included, in force."""
    path = tmp_path / "keys.json"
    path.write_text("{not json")
    with pytest.raises(ValueError, match="not a valid API key file"):
        JsonFileKeyStore(path)
    _, record = issue()
    path.unlink()
    keys = JsonFileKeyStore(path)
    keys.put(record)
    path.write_text(path.read_text().replace('"keys"', '"kees"'))
    with pytest.raises(Unavailable, match="cannot be checked"):
        keys.get(record.key_id)


# --- JWT ------------------------------------------------------------------------------------------------------

SECRET = "s" * 40
ISSUER = "https://idp.example"
AUDIENCE = "llmops"


@pytest.fixture(scope="module")
def rsa_key() -> rsa.RSAPrivateKey:
    return rsa.generate_private_key(public_exponent=65537, key_size=2048)


def public_pem(key: rsa.RSAPrivateKey) -> str:
    public = key.public_key().public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
    return public.decode()


def claims(**overrides: Any) -> dict[str, Any]:
    now = int(time.time())
    base: dict[str, Any] = {"iss": ISSUER, "aud": AUDIENCE, "sub": "ann", "tenant": "acme", "iat": now,
                            "exp": now + 300, "roles": ["reader", "wizard"], "groups": "hr,legal",
                            "clearance": "Confidential"}  # fmt: skip
    base.update(overrides)
    return {k: v for k, v in base.items() if v is not None}


def hs_verifier(**overrides: Any) -> TokenVerifier:
    return TokenVerifier(JwtSettings(issuer=ISSUER, audience=AUDIENCE, hs256_secret=SECRET, **overrides))


def test_a_valid_hs256_token_gives_its_principal_with_known_roles_only() -> None:
    """Claims → principal: roles outside the platform's are dropped, groups split, clearance validated."""
    token = jwt.encode(claims(jti="t1"), SECRET, algorithm="HS256")
    assert hs_verifier().verify(token) == Principal(
        tenant="acme",
        subject="ann",
        roles=("reader",),
        groups=("hr", "legal"),
        clearance=Classification.CONFIDENTIAL,
        extra={"auth": "jwt", "jti": "t1"},
    )


def test_a_valid_rs256_token_verifies_against_a_pem_key_and_a_jwks(rsa_key: rsa.RSAPrivateKey) -> None:
    """Both RS256 key sources; a JWKS picks its key by kid and refuses an unknown kid."""
    pem = TokenVerifier(JwtSettings(issuer=ISSUER, audience=AUDIENCE, rs256_public_key=public_pem(rsa_key)))
    assert pem.verify(jwt.encode(claims(), rsa_key, algorithm="RS256")).tenant == "acme"
    jwk = json.loads(jwt.algorithms.RSAAlgorithm.to_jwk(rsa_key.public_key()))
    jwks = TokenVerifier(JwtSettings(issuer=ISSUER, audience=AUDIENCE, jwks={"keys": [{**jwk, "kid": "k1"}]}))
    assert jwks.verify(jwt.encode(claims(), rsa_key, algorithm="RS256", headers={"kid": "k1"})).subject == "ann"
    with pytest.raises(Unauthenticated, match="no key this server knows"):
        jwks.verify(jwt.encode(claims(), rsa_key, algorithm="RS256", headers={"kid": "k2"}))


def _unsigned(payload: dict[str, Any]) -> str:
    def part(value: dict[str, Any]) -> str:
        return jwt.utils.base64url_encode(json.dumps(value).encode()).decode()

    return f"{part({'alg': 'none', 'typ': 'JWT'})}.{part(payload)}."


@pytest.mark.parametrize(
    ("case", "message"),
    [
        ("expired", "bearer token has expired"),
        ("not yet valid", "bearer token is not valid yet"),
        ("wrong issuer", "bearer token issuer is not accepted"),
        ("wrong audience", "bearer token audience is not accepted"),
        ("wrong signature", "bearer token signature does not verify"),
        ("alg none", "bearer token algorithm is not accepted; use HS256, RS256"),
        ("hs256 with the public key", "bearer token signature does not verify"),
        ("malformed", "bearer token is malformed"),
        ("missing tenant", "bearer token lacks the tenant claim"),
        ("missing exp", "bearer token lacks the exp claim"),
        ("bad tenant", "bearer token tenant claim must be 1-64 letters"),
        ("bad clearance", "bearer token clearance claim must be one of public, internal"),
        ("roles not strings", "bearer token roles claim must be a list of strings"),
    ],
)
def test_bad_tokens_are_unauthenticated_with_a_reason_and_never_echoed(
    case: str, message: str, rsa_key: rsa.RSAPrivateKey
) -> None:
    """Every failure names the failed check; the message never contains the token or its parts."""
    now = int(time.time())
    pem = public_pem(rsa_key)
    verifier = TokenVerifier(
        JwtSettings(issuer=ISSUER, audience=AUDIENCE, hs256_secret=SECRET, rs256_public_key=pem, leeway_s=10)
    )
    makers: dict[str, Callable[[], str]] = {
        "expired": lambda: jwt.encode(claims(iat=now - 600, exp=now - 60), SECRET, algorithm="HS256"),
        "not yet valid": lambda: jwt.encode(claims(nbf=now + 120), SECRET, algorithm="HS256"),
        "wrong issuer": lambda: jwt.encode(claims(iss="https://evil.example"), SECRET, algorithm="HS256"),
        "wrong audience": lambda: jwt.encode(claims(aud="other"), SECRET, algorithm="HS256"),
        "wrong signature": lambda: jwt.encode(claims(), rsa.generate_private_key(65537, 2048), algorithm="RS256"),
        "alg none": lambda: _unsigned(claims()),
        # The classic confusion attack: HMAC keyed with the server's public key. Hand-signed, as PyJWT refuses to.
        "hs256 with the public key": lambda: _hs256_signed_with(pem, claims()),
        "malformed": lambda: "eyJhbGciOiJIUzI1NiJ9.not-base64!.sig",
        "missing tenant": lambda: jwt.encode(claims(tenant=None), SECRET, algorithm="HS256"),
        "missing exp": lambda: jwt.encode(claims(exp=None), SECRET, algorithm="HS256"),
        "bad tenant": lambda: jwt.encode(claims(tenant="acme.*"), SECRET, algorithm="HS256"),
        "bad clearance": lambda: jwt.encode(claims(clearance="top-secret"), SECRET, algorithm="HS256"),
        "roles not strings": lambda: jwt.encode(claims(roles=[1, 2]), SECRET, algorithm="HS256"),
    }
    token = makers[case]()
    with pytest.raises(Unauthenticated) as error:
        verifier.verify(token)
    assert str(error.value).startswith(message)
    assert all(part not in str(error.value) for part in token.split(".") if len(part) > 8)


def _hs256_signed_with(key: str, payload: dict[str, Any]) -> str:
    header = jwt.utils.base64url_encode(json.dumps({"alg": "HS256", "typ": "JWT"}).encode())
    body = jwt.utils.base64url_encode(json.dumps(payload).encode())
    signature = hmac.new(key.encode(), header + b"." + body, hashlib.sha256).digest()
    return (header + b"." + body + b"." + jwt.utils.base64url_encode(signature)).decode()


def test_clock_skew_within_the_leeway_is_forgiven_and_beyond_it_is_not() -> None:
    """Expired 10 s ago passes with 30 s leeway; 60 s ago does not."""
    now = int(time.time())
    verifier = hs_verifier(leeway_s=30)
    assert verifier.verify(jwt.encode(claims(exp=now - 10), SECRET, algorithm="HS256")).subject == "ann"
    with pytest.raises(Unauthenticated, match="expired"):
        verifier.verify(jwt.encode(claims(exp=now - 60), SECRET, algorithm="HS256"))


def test_the_tenant_claim_name_is_configurable_and_clearance_defaults_to_least_privilege() -> None:
    """An IdP that says `org` instead of `tenant`; no clearance claim → public."""
    token = jwt.encode(claims(tenant=None, org="globex", clearance=None), SECRET, algorithm="HS256")
    principal = hs_verifier(tenant_claim="org").verify(token)
    assert (principal.tenant, principal.clearance) == ("globex", Classification.PUBLIC)


def test_settings_refuse_a_short_hs256_secret_and_a_missing_key() -> None:
    """RFC 7518: an HS256 key has at least 256 bits; some key must be configured."""
    with pytest.raises(ValueError, match="at least 32 bytes"):
        JwtSettings(issuer=ISSUER, audience=AUDIENCE, hs256_secret="short")
    with pytest.raises(ValueError, match="configure hs256_secret"):
        JwtSettings(issuer=ISSUER, audience=AUDIENCE)


# --- role policy ----------------------------------------------------------------------------------------------


def proto_rpcs() -> set[str]:
    """Every RPC declared in proto/llmops/api/*/v1/*.proto, as /package.Service/Method."""
    methods: set[str] = set()
    for path in sorted(PROTO_ROOT.glob("llmops/api/*/v1/*.proto")):
        text = re.sub(r"//[^\n]*", "", path.read_text())
        package = re.search(r"^\s*package\s+([\w.]+)\s*;", text, re.M)
        assert package is not None, path
        for service, body in re.findall(r"service\s+(\w+)\s*\{(.*?)\n\}", text, re.S):
            methods |= {f"/{package.group(1)}.{service}/{m}" for m in re.findall(r"\brpc\s+(\w+)\s*\(", body)}
    return methods


def generated_rpcs() -> set[str]:
    """Every RPC of the generated modules, to cross-check the proto parser."""
    methods: set[str] = set()
    for path in sorted(PROTO_ROOT.glob("llmops/api/*/v1/*.proto")):
        module = importlib.import_module(".".join(path.relative_to(PROTO_ROOT).with_suffix("").parts) + "_pb2")
        for service in module.DESCRIPTOR.services_by_name.values():
            methods |= {f"/{service.full_name}/{m.name}" for m in service.methods}
    return methods


def test_every_rpc_in_every_proto_has_an_access_rule_and_no_rule_is_stale() -> None:
    """Adding an RPC without deciding who may call it fails here; so does a rule for a removed RPC."""
    rpcs = proto_rpcs()
    assert rpcs == generated_rpcs()  # the proto parser above misses nothing the generated code serves
    assert sorted(rpcs - set(PLATFORM_RULES)) == []
    assert sorted(set(PLATFORM_RULES) - rpcs) == []
    assert all(required_roles(m) for m in rpcs)


def test_the_table_matches_the_documented_decisions() -> None:
    """Spot checks of the brief: who may ask, ingest, administer prompts, read the audit log."""
    assert required_roles("/llmops.api.gateway.v1.Assistant/Ask") == {"reader", "service"}
    assert required_roles("/llmops.api.ingestion.v1.Ingestion/IngestStream") == {"ingester"}
    assert required_roles("/llmops.api.inference.v1.Prompts/SetLabel") == {"prompt-admin"}
    assert "reader" in required_roles("/llmops.api.inference.v1.Prompts/GetPrompt")
    assert required_roles("/llmops.api.audit.v1.Audit/Erase") == {"compliance"}
    assert required_roles("/llmops.api.feedback.v1.Feedback/Submit") == {"reader", "service"}
    assert required_roles("/llmops.api.feedback.v1.Feedback/CheckPromotion") == {"prompt-admin", "service"}
    assert required_roles("/llmops.api.inference.v1.Inference/Generate") == {"service"}


@pytest.mark.parametrize("method", sorted(PLATFORM_RULES))
def test_admin_may_call_every_rpc_and_every_other_role_only_its_own(method: str) -> None:
    """For each RPC: admin passes, each listed role passes, each unlisted role and no role are denied by name."""
    PLATFORM_POLICY.authorize(Principal(tenant="acme", subject="root", roles=("admin",)), method)
    allowed = required_roles(method)
    for role in Role:
        principal = Principal(tenant="acme", subject="x", roles=(role.value,))
        if role.value in allowed or role is Role.ADMIN:
            PLATFORM_POLICY.authorize(principal, method)
        else:
            with pytest.raises(PermissionDenied, match="needs one of the roles: .*admin"):
                PLATFORM_POLICY.authorize(principal, method)
    with pytest.raises(PermissionDenied):
        PLATFORM_POLICY.authorize(Principal(tenant="acme", subject="nobody"), method)


def test_unknown_methods_are_denied_even_to_admin_and_health_and_reflection_are_public() -> None:
    """Fail closed for what the table does not list; probes and tooling need no credentials."""
    admin = Principal(tenant="acme", subject="root", roles=("admin",))
    with pytest.raises(PermissionDenied, match="Assistant.Delete has no access rule"):
        PLATFORM_POLICY.authorize(admin, "/llmops.api.gateway.v1.Assistant/Delete")
    for method in (
        "/grpc.health.v1.Health/Check",
        "/grpc.health.v1.Health/Watch",
        "/grpc.reflection.v1alpha.ServerReflection/ServerReflectionInfo",
        "/grpc.reflection.v1.ServerReflection/ServerReflectionInfo",
    ):
        assert PLATFORM_POLICY.is_public(method) and required_roles(method) == frozenset()
    assert not PLATFORM_POLICY.is_public("/llmops.api.gateway.v1.Assistant/Ask")


# --- credentials ----------------------------------------------------------------------------------------------


@pytest.fixture
def authenticator() -> tuple[CredentialAuthenticator, str]:
    plaintext, record = issue()
    keys = ApiKeyVerifier(InMemoryKeyStore([record]).get)
    return CredentialAuthenticator(api_keys=keys, tokens=hs_verifier()), plaintext


async def test_credentials_come_from_x_api_key_or_a_bearer_header(authenticator: tuple[Any, str]) -> None:
    """An API key in either header and a JWT in authorization prove the same kind of principal."""
    auth, key = authenticator
    assert (await auth.authenticate([("x-api-key", key)])).extra["auth"] == "api_key"
    assert (await auth.authenticate([("authorization", f"Bearer {key}")])).extra["auth"] == "api_key"
    token = jwt.encode(claims(), SECRET, algorithm="HS256")
    assert (await auth.authenticate([("authorization", f"bearer {token}")])).extra["auth"] == "jwt"


@pytest.mark.parametrize(
    ("metadata", "message"),
    [
        ([], "credentials required"),
        ([("x-llmops-tenant", "acme")], "credentials required"),
        ([("authorization", "Basic YWRtaW46YWRtaW4=")], "authorization must use the Bearer scheme"),
        ([("x-api-key", "KEY"), ("authorization", "Bearer KEY")], "send exactly one credential"),
        ([("x-api-key", "KEY"), ("x-api-key", "KEY")], "send exactly one credential"),
    ],
)
async def test_missing_extra_or_unsupported_credentials_are_unauthenticated(
    authenticator: tuple[Any, str], metadata: list[tuple[str, str]], message: str
) -> None:
    """No credential, two credentials, or a scheme other than Bearer."""
    auth, key = authenticator
    with pytest.raises(Unauthenticated, match=message):
        await auth.authenticate([(k, v.replace("KEY", key)) for k, v in metadata])


async def test_a_credential_kind_that_is_not_configured_is_refused_by_name() -> None:
    """A keys-only server says so to a JWT caller, and the other way round."""
    keys_only = CredentialAuthenticator(api_keys=ApiKeyVerifier(InMemoryKeyStore().get))
    with pytest.raises(Unauthenticated, match="bearer tokens are not accepted here"):
        await keys_only.authenticate([("authorization", "Bearer eyJ.x.y")])
    tokens_only = CredentialAuthenticator(tokens=hs_verifier())
    with pytest.raises(Unauthenticated, match="API keys are not accepted here"):
        await tokens_only.authenticate([("x-api-key", "llm_0123456789abcdef_" + "a" * 43)])


def test_rewriting_the_key_file_keeps_the_mode_the_operator_gave_it(tmp_path: Path) -> None:
    """Operators open the hashes-only file to the services' user; a later `llmops keys` must not close it again."""
    path = tmp_path / "keys.json"
    store = JsonFileKeyStore(path)
    store.put(issue()[1])
    path.chmod(0o644)
    store.put(issue()[1])
    assert stat.S_IMODE(path.stat().st_mode) == 0o644
    assert len(JsonFileKeyStore(path).records()) == 2
