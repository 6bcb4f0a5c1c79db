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
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import padding
from hypothesis import example, given
from hypothesis import strategies as st

from app import tokens
from app.settings import AuthSettings
from app.signing_keys import KeyFetchError, SigningKeys, parse_jwks
from app.tokens import Refused, TokenVerifier
from tests.app.test_fuzz import FUZZ, json_values  # the app's JSON fuzzing, the same settings
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


# ----------------------------------------------------------------------------- whatever a client sends

CLAIMS = ("aud", "iss", "exp", "nbf", "iat", "roles")


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def _signed_by(issuer: Issuer, header: Any, payload: Any) -> str:
    """A compact JWS of any JSON header and payload, really signed with the issuer's key: every check after
    the signature sees it."""
    signing_input = f"{_b64(json.dumps(header).encode())}.{_b64(json.dumps(payload).encode())}"
    signature = issuer.key.sign(signing_input.encode(), padding.PKCS1v15(), hashes.SHA256())
    return f"{signing_input}.{_b64(signature)}"


def _refused_or_passed(verifier: TokenVerifier, authorization: str) -> None:
    """A check answers a caller or a 401/403: never another exception (the gate would answer 500)."""
    try:
        verifier.check(authorization)
    except Refused as refused:
        assert refused.status in (401, 403), refused.message


@FUZZ
@given(authorization=st.text(max_size=2000) | st.text(max_size=2000).map(lambda t: f"Bearer {t}"))
def test_any_authorization_header_is_answered(issuer: Issuer, authorization: str) -> None:
    _refused_or_passed(verifier_for(issuer, Clock()), authorization)


@FUZZ
@given(
    header=json_values
    | st.fixed_dictionaries(
        {"alg": st.just("RS256")}, optional={"kid": st.just(Issuer.kid) | json_values, "crit": json_values}
    ),
    payload=json_values | st.fixed_dictionaries({}, optional={claim: json_values for claim in CLAIMS}),
)
# Found by hand once: JSON headers that are no object but "contain" alg (a string, a list) broke joserfc.
@example(header="alg", payload={})
@example(header=["alg"], payload={})
def test_any_signed_header_and_claims_are_answered(issuer: Issuer, header: Any, payload: Any) -> None:
    _refused_or_passed(verifier_for(issuer, Clock()), f"Bearer {_signed_by(issuer, header, payload)}")


@FUZZ
@given(claims=st.fixed_dictionaries({}, optional={claim: json_values for claim in CLAIMS}))
@example(claims={"exp": 10**400})  # a valid NumericDate no float can hold
def test_any_claims_under_the_right_key_are_answered(issuer: Issuer, claims: dict[str, Any]) -> None:
    now = int(time.time())
    payload = {"aud": issuer.audience, "iss": issuer.issuer, "exp": now + 600, "nbf": now} | claims
    token = _signed_by(issuer, {"alg": "RS256", "kid": issuer.kid}, payload)
    _refused_or_passed(verifier_for(issuer, Clock()), f"Bearer {token}")
