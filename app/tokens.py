"""Checking an `Authorization: Bearer` header: an Entra ID v2 access token for this API, verified by joserfc.

RS256 only (the header's `alg` is checked before anything else, and joserfc's registry allows nothing else),
a key from app.signing_keys by the header's `kid`, then the signature, `iss`, `aud`, `exp` and `nbf` (all four
required), with CLOCK_SKEW_S of leeway; then the app role, when AUTH_REQUIRED_ROLE names one. A refusal is a
`Refused`: 401 `unauthenticated` with a WWW-Authenticate challenge (RFC 6750), 403 `forbidden` for a valid
token without the role, 503 `not_ready` when a token arrives before the first key fetch (not the caller's
fault).

joserfc rather than PyJWT: both verify with cryptography's RSA (about 30 us here), but PyJWT 2.15 checks each
base64url character of a token in a Python loop (GHSA-hxm8-2xgr-2p9m), about 140 us more per token, where
joserfc's check, as strict (no padding, no stray character, canonical last character), is base64's own.

A verified token is remembered (its roles and `exp`) under the SHA-256 of its text, so a client that sends
the same token again skips the RS256 verification: at most CACHE_SIZE tokens (the oldest go first), each only
until its own `exp`, and all forgotten when the issuer's key set changes (a withdrawn key's tokens must not
outlive it). The cache holds digests, never tokens.
"""

from __future__ import annotations

import hashlib
import json
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass

from joserfc import jws
from joserfc.errors import ExpiredTokenError, InvalidClaimError, JoseError, MissingClaimError
from joserfc.jwt import JWTClaimsRegistry

from app.settings import AuthSettings
from app.signing_keys import ALGORITHM, SigningKeys

CLOCK_SKEW_S = 60  # the most the issue allows; Entra's clocks and ours are both NTP-synchronised
CACHE_SIZE = 4096
MAX_TOKEN_CHARS = 16384  # Entra's access tokens are 1-3 KB; more is not one of them
MAX_EXP = 10**12  # year 33658: an exp beyond is kept as this (a float could not hold 10**400)


class Refused(Exception):
    """Why a request may not pass, as the gate answers it."""

    def __init__(self, status: int, code: str, message: str, challenge: str | None = None) -> None:
        super().__init__(message)
        self.status, self.code, self.message, self.challenge = status, code, message, challenge


@dataclass(frozen=True)
class Caller:
    roles: frozenset[str]
    expires: float  # the token's exp, in seconds since the epoch


def _unauthenticated(message: str) -> Refused:
    return Refused(401, "unauthenticated", message, 'Bearer error="invalid_token"')


class TokenVerifier:
    def __init__(
        self, settings: AuthSettings, keys: SigningKeys, clock: Callable[[], float] = time.time
    ) -> None:
        self.settings, self.keys, self._clock = settings, keys, clock
        self._verified: dict[bytes, Caller] = {}  # insertion order: the first key is the oldest
        self._writing = threading.Lock()
        self._generation = keys.generation
        # Header parameters joserfc does not know are ignored, as RFC 7515 says (unless named in `crit`).
        self._jws = jws.JWSRegistry(algorithms=[ALGORITHM], strict_check_header=False)
        essential = {"essential": True}
        self._claims = JWTClaimsRegistry(
            now=lambda: int(self._clock()),
            leeway=CLOCK_SKEW_S,
            iss=essential | {"value": settings.issuer},
            aud=essential | {"value": settings.audience},
            exp=essential,
            nbf=essential,
        )
        self._no_token = Refused(
            401,
            "unauthenticated",
            "this route needs an Entra ID access token for this API: send `Authorization: Bearer <token>` "
            f"(get one with `{settings.token_command}`)",
            "Bearer",  # no error code when the request carried no token (RFC 6750, section 3.1)
        )

    def check(self, authorization: str | None) -> Caller:
        """The caller behind an Authorization header's value; raises Refused."""
        scheme, _, token = (authorization or "").strip().partition(" ")
        token = token.strip()
        if scheme.lower() != "bearer" or not token:
            raise self._no_token
        caller = self._remembered(token) if len(token) <= MAX_TOKEN_CHARS else None
        if caller is None:
            caller = self._verify(token)
        role = self.settings.required_role
        if role is not None and role not in caller.roles:
            raise Refused(
                403,
                "forbidden",
                f"the token is valid but does not hold the app role {role!r}; an owner of the API's Entra "
                "registration can assign it to you or your application",
                'Bearer error="insufficient_scope"',
            )
        return caller

    def _remembered(self, token: str) -> Caller | None:
        if self.keys.generation != self._generation:
            with self._writing:
                self._verified.clear()
                self._generation = self.keys.generation
            return None
        caller = self._verified.get(_digest(token))
        return caller if caller is not None and caller.expires > self._clock() else None

    def _verify(self, token: str) -> Caller:
        if len(token) > MAX_TOKEN_CHARS:
            raise _unauthenticated(f"the bearer token is longer than {MAX_TOKEN_CHARS} characters")
        generation = self.keys.generation  # the key set this verification uses
        if not self.keys.ready:
            raise Refused(
                503,
                "not_ready",
                f"sign-in is not ready: {self.keys.problem}; retry when GET /readyz answers 200",
            )
        try:
            signed = jws.extract_compact(token.encode(), registry=self._jws)
            header = signed.headers()
        # What joserfc raises on what a client may send: its own errors, bad base64 or JSON, and a header that
        # is JSON but no object (AttributeError, TypeError).
        except (JoseError, ValueError, TypeError, AttributeError):
            raise _unauthenticated("the bearer token is not a JWT") from None
        if not isinstance(header, dict):
            raise _unauthenticated("the bearer token is not a JWT")
        if header.get("alg") != ALGORITHM:
            raise _unauthenticated(f"the token is signed with {header.get('alg')!r}; only RS256 is accepted")
        kid = header.get("kid")
        key = self.keys.get_or_refresh(kid) if isinstance(kid, str) and kid else None
        if key is None:
            raise _unauthenticated("the token's signing key (kid) is not one of the issuer's keys")
        try:
            if not jws.validate_compact(signed, key, registry=self._jws):
                raise _unauthenticated("the token's signature does not verify")
            claims = json.loads(signed.payload)
            if not isinstance(claims, dict):
                raise _unauthenticated("the token's payload is not a JSON object")
            self._claims.validate(claims)
        except (JoseError, ValueError, TypeError) as exc:
            raise _unauthenticated(self._why(exc)) from None
        roles = claims.get("roles")
        caller = Caller(
            roles=frozenset(r for r in roles if isinstance(r, str))
            if isinstance(roles, list)
            else frozenset(),
            expires=float(min(claims["exp"], MAX_EXP)),
        )
        self._remember(token, caller, generation)
        return caller

    def _why(self, exc: Exception) -> str:
        """What was wrong with a token joserfc refused, said to its sender."""
        if isinstance(exc, ExpiredTokenError):
            return "the token has expired (exp); get a new one"
        if isinstance(exc, MissingClaimError):
            return f"the token has no {exc.claim} claim"
        claim = exc.claim if isinstance(exc, InvalidClaimError) else ""
        if claim == "nbf" and exc.description.startswith("The token is not yet valid"):
            return "the token is not valid yet (nbf)"
        if claim == "aud":
            return f"the token is not for this API: its audience (aud) is not {self.settings.audience}"
        if claim == "iss":
            return (
                f"the token's issuer (iss) is not {self.settings.issuer} (Entra v1 tokens, issued by "
                "https://sts.windows.net/<tenant>/, are refused: the API's registration must ask for v2)"
            )
        return f"the token is not valid: {exc}"

    def _remember(self, token: str, caller: Caller, generation: int) -> None:
        with self._writing:
            if generation != self._generation or generation != self.keys.generation:
                return  # verified with a key set that has changed since: not remembered
            if len(self._verified) >= CACHE_SIZE:
                del self._verified[next(iter(self._verified))]
            self._verified[_digest(token)] = caller


def _digest(token: str) -> bytes:
    return hashlib.sha256(token.encode()).digest()
