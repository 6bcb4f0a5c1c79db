"""A stand-in for Entra ID on this machine: an RSA key pair, its public half as a JWKS, and v2 access tokens
signed with it, shaped as Entra issues them (iss, aud = the API's client id, exp, nbf, iat, roles, tid, ...).

The app under test fetches the JWKS from a real HTTP server on 127.0.0.1 (the tests' `fake_http`, the
benchmark's own pytest-httpserver) and verifies these tokens exactly as it would verify Entra's. They are
signed with PyJWT, not with the app's joserfc: a mistake one library makes cannot make both sides agree.
Used by the tests (tests/app, tests/page, tests/pipelines) and `make bench`; never by the app.
"""

from __future__ import annotations

import base64
import contextlib
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import jwt
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from pytest_httpserver import HTTPServer

TENANT = "72f988bf-0000-4000-8000-00000000a11e"
AUDIENCE = "3f1c5e0a-1111-4222-8333-444444444444"  # the API's application (client) id
ROLE = "Model.Invoke"


def new_key() -> rsa.RSAPrivateKey:
    return rsa.generate_private_key(public_exponent=65537, key_size=2048)


def _b64url_uint(number: int) -> str:
    raw = number.to_bytes((number.bit_length() + 7) // 8, "big")
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode()


def public_jwk(key: rsa.RSAPrivateKey, kid: str) -> dict[str, str]:
    """The public half as Entra's JWKS lists it (kty, use, kid, n, e)."""
    numbers = key.public_key().public_numbers()
    return {
        "kty": "RSA",
        "use": "sig",
        "kid": kid,
        "n": _b64url_uint(numbers.n),
        "e": _b64url_uint(numbers.e),
    }


def public_pem(key: rsa.RSAPrivateKey) -> bytes:
    return key.public_key().public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    )


@dataclass
class Issuer:
    """Tokens for `audience` from `issuer`, signed by `key` under the key id `kid`."""

    issuer: str = f"https://login.microsoftonline.com/{TENANT}/v2.0"
    audience: str = AUDIENCE
    kid: str = "test-key-1"
    key: rsa.RSAPrivateKey = field(default_factory=new_key)

    def jwks(self, *more: dict[str, str]) -> dict[str, Any]:
        return {"keys": [public_jwk(self.key, self.kid), *more]}

    def token(
        self,
        roles: tuple[str, ...] | None = (ROLE,),
        lifetime_s: float = 3600,
        key: rsa.RSAPrivateKey | None = None,
        headers: dict[str, Any] | None = None,
        **claims: Any,
    ) -> str:
        """An RS256 access token; `claims` override or add claims (a value of None removes one, as
        roles=None removes the `roles` claim: Entra leaves it out when the caller holds no app role)."""
        now = int(time.time())
        payload: dict[str, Any] = {
            "aud": self.audience,
            "iss": self.issuer,
            "iat": now,
            "nbf": now,
            "exp": int(now + lifetime_s),
            "tid": TENANT,
            "oid": str(uuid.uuid4()),
            "sub": str(uuid.uuid4()),
            "azp": "04b07795-8ddb-461a-bbee-02f9e1bf7b46",
            "ver": "2.0",
            "roles": None if roles is None else list(roles),
        }
        payload.update(claims)
        payload = {name: value for name, value in payload.items() if value is not None}
        return jwt.encode(
            payload, key or self.key, algorithm="RS256", headers={"kid": self.kid, **(headers or {})}
        )


@contextlib.contextmanager
def key_server(jwks: dict) -> Iterator[HTTPServer]:
    """A JWKS endpoint on 127.0.0.1 at /keys, until the block ends (pytest-httpserver, a server of its own:
    the tests' app and the benchmark's servers outlive one test)."""
    server = HTTPServer(host="127.0.0.1", port=0)
    server.expect_request("/keys").respond_with_json(jwks)
    server.start()
    try:
        yield server
    finally:
        server.clear()
        if server.is_running():  # a test may have stopped it, to play an unreachable endpoint
            server.stop()


def sign_in_env(issuer: Issuer, jwks_url: str, role: str | None = ROLE) -> dict[str, str]:
    """The app's AUTH_* settings for tokens of `issuer`, its keys at `jwks_url`."""
    env = {"AUTH_AUDIENCE": issuer.audience, "AUTH_ISSUER": issuer.issuer, "AUTH_JWKS_URL": jwks_url}
    return env | ({"AUTH_REQUIRED_ROLE": role} if role else {})
