"""app.tokens' cache of verified tokens and app.signing_keys' reading of a JWKS, in-process: the parts whose
effect over HTTP is only speed. A repeated token skips the RS256 verification (proven by making every
signature fail after the first call), but never past its exp, never beyond the bound, never across a change
of the keys, and the cache holds digests, not tokens."""

from __future__ import annotations

import base64
import hashlib
import json
import time
from typing import Any

import pytest

from app import tokens
from app.settings import AuthSettings
from app.signing_keys import KeyFetchError, SigningKeys, parse_jwks
from app.tokens import Refused, TokenVerifier
from tools.issuer import ROLE, Issuer, new_key, public_jwk


class Clock:
    def __init__(self) -> None:
        self.now = time.time()

    def __call__(self) -> float:
        return self.now


def verifier_for(issuer: Issuer, clock: Clock, jwks: dict[str, Any] | None = None) -> TokenVerifier:
    settings = AuthSettings(issuer.audience, issuer.issuer, "https://keys.example/keys", ROLE)
    served = {"jwks": jwks or issuer.jwks()}
    keys = SigningKeys(settings, fetch=lambda url: served["jwks"])
    keys.refresh()
    verifier = TokenVerifier(settings, keys, clock=clock)
    verifier.served = served  # type: ignore[attr-defined]  (the test swaps the JWKS through this)
    return verifier


def no_more_verifying(monkeypatch: pytest.MonkeyPatch) -> None:
    """From now on no signature verifies: whatever still passes came from the cache."""
    monkeypatch.setattr(tokens.jws, "validate_compact", lambda *args, **kwargs: False)


def test_a_repeated_token_is_not_verified_again(issuer: Issuer, monkeypatch: pytest.MonkeyPatch) -> None:
    verifier = verifier_for(issuer, Clock())
    seen, fresh = issuer.token(), issuer.token()
    assert verifier.check(f"Bearer {seen}").roles == frozenset({ROLE})
    no_more_verifying(monkeypatch)
    assert verifier.check(f"Bearer {seen}").roles == frozenset({ROLE})
    with pytest.raises(Refused, match="signature does not verify"):
        verifier.check(f"Bearer {fresh}")


def test_a_remembered_token_is_forgotten_at_its_exp(issuer: Issuer, monkeypatch: pytest.MonkeyPatch) -> None:
    clock = Clock()
    verifier = verifier_for(issuer, clock)
    token = issuer.token(lifetime_s=600)
    exp = json.loads(base64.urlsafe_b64decode(token.split(".")[1] + "=="))["exp"]
    verifier.check(f"Bearer {token}")
    no_more_verifying(monkeypatch)
    clock.now = exp - 1
    verifier.check(f"Bearer {token}")
    clock.now = exp
    with pytest.raises(Refused):
        verifier.check(f"Bearer {token}")


def test_the_cache_is_bounded_and_drops_the_oldest(issuer: Issuer, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(tokens, "CACHE_SIZE", 3)
    verifier = verifier_for(issuer, Clock())
    issued = [issuer.token() for _ in range(5)]
    for token in issued:
        verifier.check(f"Bearer {token}")
    assert len(verifier._verified) == 3
    no_more_verifying(monkeypatch)
    for token in issued[2:]:
        verifier.check(f"Bearer {token}")
    for token in issued[:2]:
        with pytest.raises(Refused):
            verifier.check(f"Bearer {token}")


def test_the_cache_holds_digests_of_tokens_not_tokens(issuer: Issuer) -> None:
    verifier = verifier_for(issuer, Clock())
    token = issuer.token()
    verifier.check(f"Bearer {token}")
    assert list(verifier._verified) == [hashlib.sha256(token.encode()).digest()]
    assert token not in repr(verifier.__dict__)


def test_a_change_of_the_keys_forgets_every_token(issuer: Issuer, monkeypatch: pytest.MonkeyPatch) -> None:
    verifier = verifier_for(issuer, Clock())
    token = issuer.token()
    verifier.check(f"Bearer {token}")
    verifier.served["jwks"] = issuer.jwks(public_jwk(new_key(), "rolled-in"))  # type: ignore[attr-defined]
    verifier.keys.refresh()
    no_more_verifying(monkeypatch)
    with pytest.raises(Refused):
        verifier.check(f"Bearer {token}")


def test_a_refused_token_is_not_remembered(issuer: Issuer) -> None:
    verifier = verifier_for(issuer, Clock())
    with pytest.raises(Refused) as refused:
        verifier.check(f"Bearer {issuer.token(roles=())}")
    assert refused.value.status == 403
    with pytest.raises(Refused):
        verifier.check(f"Bearer {issuer.token(aud='00000000-0000-4000-8000-000000000000')}")
    assert len(verifier._verified) == 1  # the valid token without the role: valid, remembered, still 403


def test_only_rs256_signing_keys_of_a_jwks_are_kept(issuer: Issuer) -> None:
    other = public_jwk(new_key(), "other")
    jwks = {
        "keys": [
            public_jwk(issuer.key, "signing"),
            {**other, "kid": "encryption", "use": "enc"},
            {**other, "kid": "rs512", "alg": "RS512"},
            {"kty": "EC", "kid": "ec", "crv": "P-256", "x": "AAAA", "y": "AAAA"},
            {**other, "kid": ""},
            {**other, "kid": "broken", "n": "!!"},
        ]
    }
    assert set(parse_jwks(jwks, "https://keys.example")) == {"signing"}
    for document in ({"keys": []}, {"keys": [jwks["keys"][1]]}, {"nokeys": 1}, []):
        with pytest.raises(KeyFetchError):
            parse_jwks(document, "https://keys.example")
