"""JWT bearer tokens from an identity provider, verified with PyJWT into a `Principal`.

HS256 checks against a shared secret, RS256 against a PEM public key or a JWKS document given in settings (never
fetched over the network, so verification cannot be redirected or stalled). The algorithm is chosen by which key
is configured, never by the token alone: `none`, an HS256 token signed with the RSA public key, or any other
algorithm is refused. Issuer, audience and expiry are required; `nbf` and `iat` are checked when present, all
with a small leeway for clock skew. Error messages say what is wrong and never repeat the token.
"""

from __future__ import annotations

import re
from typing import Any

import jwt
from cryptography.hazmat.primitives.asymmetric.rsa import RSAPublicKey
from cryptography.hazmat.primitives.serialization import load_pem_public_key

from llmops.auth import Principal
from llmops.errors import Unauthenticated
from llmops.events import Classification
from llmops.security.api_keys import TENANT_PATTERN
from llmops.security.roles import Role
from llmops.settings import JwtSettings

MAX_TOKEN_CHARS = 8192
_TENANT = re.compile(TENANT_PATTERN)
_KNOWN_ROLES = frozenset(r.value for r in Role)


class TokenVerifier:
    """Verifies bearer JWTs under `JwtSettings`; cheap enough to call on the event loop."""

    def __init__(self, settings: JwtSettings) -> None:
        self._settings = settings
        self._secret = settings.hs256_secret.get_secret_value() if settings.hs256_secret is not None else None
        self._rsa: RSAPublicKey | None = None
        self._jwks: jwt.PyJWKSet | None = None
        if settings.rs256_public_key is not None:
            key = load_pem_public_key(settings.rs256_public_key.encode())
            if not isinstance(key, RSAPublicKey):
                raise ValueError("rs256_public_key is not an RSA public key")
            self._rsa = key
        if settings.jwks is not None:
            try:
                self._jwks = jwt.PyJWKSet.from_dict(settings.jwks)
            except jwt.PyJWTError as exc:
                raise ValueError(f"jwks cannot be used: {exc}") from None
        self._algorithms = [a for a, on in (("HS256", self._secret), ("RS256", self._rsa or self._jwks)) if on]

    def verify(self, token: str) -> Principal:
        """The principal a token speaks for.

        Raises:
            Unauthenticated: missing, malformed, wrongly signed, expired, not yet valid, for another issuer or
                audience, or lacking a required claim.
        """
        token = token.strip()
        if not token:
            raise Unauthenticated("bearer token is empty")
        if len(token) > MAX_TOKEN_CHARS:
            raise Unauthenticated(f"bearer token is longer than {MAX_TOKEN_CHARS} characters")
        settings = self._settings
        try:
            header = jwt.get_unverified_header(token)
            key = self._key_for(header)
            claims: dict[str, Any] = jwt.decode(
                token,
                key=key,
                algorithms=[str(header.get("alg"))],
                audience=settings.audience,
                issuer=settings.issuer,
                leeway=settings.leeway_s,
                options={"require": ["iss", "aud", *settings.required_claims, settings.tenant_claim]},
            )
        except jwt.PyJWTError as exc:
            raise Unauthenticated(_message(exc)) from None
        return self._principal(claims)

    def _key_for(self, header: dict[str, Any]) -> Any:
        alg = header.get("alg")
        if alg not in self._algorithms:
            raise jwt.InvalidAlgorithmError(
                f"bearer token algorithm is not accepted; use {', '.join(self._algorithms)}"
            )
        if alg == "HS256" and self._secret is not None:
            return self._secret
        if self._rsa is not None:
            return self._rsa
        if self._jwks is None:
            raise jwt.InvalidKeyError("bearer token names no key this server knows")
        kid = header.get("kid")
        candidates = [k for k in self._jwks.keys if k.key_type == "RSA" and (kid is None or k.key_id == kid)]
        if len(candidates) != 1:
            raise jwt.InvalidKeyError("bearer token names no key this server knows (kid)")
        if candidates[0].algorithm_name not in ("RS256", None):
            raise jwt.InvalidAlgorithmError("bearer token algorithm does not match its key")
        return candidates[0].key

    def _principal(self, claims: dict[str, Any]) -> Principal:
        settings = self._settings
        subject = claims.get("sub")
        if not isinstance(subject, str) or not subject.strip():
            raise Unauthenticated("bearer token sub claim must be a non-empty string")
        tenant = claims.get(settings.tenant_claim)
        if not isinstance(tenant, str) or not _TENANT.match(tenant):
            raise Unauthenticated(
                f"bearer token {settings.tenant_claim} claim must be 1-64 letters, digits, '-' or '_'"
            )
        roles = _strings(claims.get(settings.roles_claim), " ", settings.roles_claim)
        groups = _strings(claims.get(settings.groups_claim), ",", settings.groups_claim)
        clearance_value = claims.get(settings.clearance_claim)
        if clearance_value is None:
            clearance = settings.default_clearance
        else:
            try:
                clearance = Classification(str(clearance_value).strip().lower())
            except ValueError:
                choices = ", ".join(c.value for c in Classification)
                raise Unauthenticated(
                    f"bearer token {settings.clearance_claim} claim must be one of {choices}"
                ) from None
        extra = {"auth": "jwt"}
        if isinstance(claims.get("jti"), str):
            extra["jti"] = claims["jti"]
        return Principal(
            tenant=tenant,
            subject=subject.strip(),
            roles=tuple(r for r in dict.fromkeys(roles) if r in _KNOWN_ROLES),
            groups=tuple(dict.fromkeys(groups)),
            clearance=clearance,
            extra=extra,
        )


def _strings(value: Any, separator: str, claim: str) -> tuple[str, ...]:
    """A claim that is a list of strings or one separated string, as a tuple of non-empty strings."""
    if value is None:
        return ()
    if isinstance(value, str):
        return tuple(p.strip() for p in value.split(separator) if p.strip())
    if isinstance(value, list) and all(isinstance(v, str) for v in value):
        return tuple(v.strip() for v in value if v.strip())
    raise Unauthenticated(f"bearer token {claim} claim must be a list of strings")


_MESSAGES: tuple[tuple[type[jwt.PyJWTError], str], ...] = (
    (jwt.ExpiredSignatureError, "bearer token has expired"),
    (jwt.ImmatureSignatureError, "bearer token is not valid yet (nbf or iat in the future)"),
    (jwt.InvalidIssuerError, "bearer token issuer is not accepted"),
    (jwt.InvalidAudienceError, "bearer token audience is not accepted"),
    (jwt.InvalidSignatureError, "bearer token signature does not verify"),
    (jwt.DecodeError, "bearer token is malformed"),
)


def _message(exc: jwt.PyJWTError) -> str:
    """A message for the caller that names the failed check and never repeats the token."""
    if isinstance(exc, jwt.MissingRequiredClaimError):
        return f"bearer token lacks the {exc.claim} claim"
    if isinstance(exc, jwt.InvalidAlgorithmError | jwt.InvalidKeyError):
        return str(exc)  # raised by _key_for with our own wording
    for kind, message in _MESSAGES:
        if isinstance(exc, kind):
            return message
    return "bearer token is not valid"
