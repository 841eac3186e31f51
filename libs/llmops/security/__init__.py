"""Authentication and authorisation: API keys, JWTs, the per-RPC role policy and the gRPC interceptor."""

from llmops.security.api_keys import ApiKeyRecord, ApiKeyVerifier, KdfParams, issue_key, verify_key
from llmops.security.context import Authenticated, current_caller, current_principal
from llmops.security.credentials import Authenticator, CredentialAuthenticator
from llmops.security.interceptor import AuthInterceptor
from llmops.security.key_store import InMemoryKeyStore, JsonFileKeyStore, KeyStore
from llmops.security.roles import PLATFORM_POLICY, AccessPolicy, Role, RolePolicy, required_roles
from llmops.security.tokens import TokenVerifier
from llmops.settings import JwtSettings

__all__ = [
    "PLATFORM_POLICY",
    "AccessPolicy",
    "ApiKeyRecord",
    "ApiKeyVerifier",
    "AuthInterceptor",
    "Authenticated",
    "Authenticator",
    "CredentialAuthenticator",
    "InMemoryKeyStore",
    "JsonFileKeyStore",
    "JwtSettings",
    "KdfParams",
    "KeyStore",
    "Role",
    "RolePolicy",
    "TokenVerifier",
    "current_caller",
    "current_principal",
    "issue_key",
    "required_roles",
    "verify_key",
]
