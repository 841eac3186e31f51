"""Reads the credential a call carries (`authorization: Bearer …` or `x-api-key: …`) and verifies it."""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from typing import Protocol

from llmops.auth import API_KEY_HEADER, AUTHORIZATION_HEADER, CREDENTIAL_HEADERS, Principal
from llmops.errors import Unauthenticated
from llmops.security.api_keys import KEY_PREFIX, ApiKeyVerifier
from llmops.security.tokens import TokenVerifier

__all__ = [
    "API_KEY_HEADER",
    "AUTHORIZATION_HEADER",
    "CREDENTIAL_HEADERS",
    "Authenticator",
    "CredentialAuthenticator",
    "Metadata",
]

Metadata = Sequence[tuple[str, str | bytes]]


class Authenticator(Protocol):
    """Turns a call's metadata into the verified principal."""

    async def authenticate(self, metadata: Metadata) -> Principal:
        """The principal the credentials prove.

        Raises:
            Unauthenticated: no credential, or one that does not verify.
        """
        ...


class CredentialAuthenticator:
    """Accepts API keys (`x-api-key`, or a Bearer value starting `llm_`) and JWTs (`authorization: Bearer`).

    Exactly one credential per call: two (even two of the same kind) are refused, so a proxy that adds one cannot
    make the server pick a different identity than the client meant.
    """

    def __init__(self, *, api_keys: ApiKeyVerifier | None = None, tokens: TokenVerifier | None = None) -> None:
        if api_keys is None and tokens is None:
            raise ValueError("an authenticator needs api_keys, tokens or both")
        self._api_keys = api_keys
        self._tokens = tokens

    async def authenticate(self, metadata: Metadata) -> Principal:
        """The principal the call's one credential proves.

        Raises:
            Unauthenticated: none, several, an unsupported scheme, or a credential that does not verify.
        """
        found = [(k.lower(), v) for k, v in metadata if k.lower() in CREDENTIAL_HEADERS]
        if not found:
            raise Unauthenticated("credentials required: send 'authorization: Bearer <token>' or 'x-api-key: <key>'")
        if len(found) > 1:
            raise Unauthenticated("send exactly one credential: one authorization or one x-api-key header")
        header, raw = found[0]
        value = raw.decode(errors="replace") if isinstance(raw, bytes) else raw
        if header == AUTHORIZATION_HEADER:
            scheme, _, value = value.strip().partition(" ")
            if scheme.lower() != "bearer":
                raise Unauthenticated("authorization must use the Bearer scheme")
            value = value.strip()
            if not value.startswith(KEY_PREFIX):
                return self._token(value)
        return await self._api_key(value)

    def _token(self, token: str) -> Principal:
        if self._tokens is None:
            raise Unauthenticated("bearer tokens are not accepted here; use an API key")
        return self._tokens.verify(token)

    async def _api_key(self, key: str) -> Principal:
        if self._api_keys is None:
            raise Unauthenticated("API keys are not accepted here; use a bearer token")
        # scrypt on a key's first use is ~50 ms of CPU: keep it off the event loop.
        return await asyncio.to_thread(self._api_keys.verify, key)
