"""Sign-in against the real app over HTTP: `python -m app` with AUTH_* set, its keys from a JWKS endpoint on
127.0.0.1, and real RS256 tokens signed with the test issuer's key (tools/issuer.py). Every way a token can
be wrong is refused with 401, a valid token without the role with 403, a valid one passes; the anonymous
routes stay anonymous; every route that runs or describes the model is protected, the fast lane included."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import time
import urllib.request
from collections.abc import Iterator
from email.message import Message
from pathlib import Path
from typing import Any

import pytest

from tests.app.helpers import render_digit
from tests.app.oip_helpers import binary_body, tensor
from tests.conftest import Digits, LiveApp, serve_signed_in
from tools.issuer import Issuer, new_key, public_pem

_DIRECT = urllib.request.build_opener(urllib.request.ProxyHandler({}))
ROW = [0] * 64


def call(
    app: LiveApp,
    path: str,
    token: str | None = None,
    body: bytes | None = None,
    headers: dict[str, str] | None = None,
    method: str | None = None,
) -> tuple[int, Message, Any]:
    """(status, headers (any case), parsed JSON or raw bytes) of one request, straight to 127.0.0.1."""
    request = urllib.request.Request(f"{app.url}{path}", data=body, method=method, headers=headers or {})
    if token is not None:
        request.add_header("Authorization", f"Bearer {token}")
    if body is not None and "Content-Type" not in (headers or {}):
        request.add_header("Content-Type", "application/json")
    try:
        with _DIRECT.open(request, timeout=10) as response:
            status, answer, raw = response.status, response.headers, response.read()
    except urllib.error.HTTPError as error:
        status, answer, raw = error.code, error.headers, error.read()
    try:
        return status, answer, json.loads(raw)
    except ValueError:
        return status, answer, raw


def predict(app: LiveApp, token: str | None) -> tuple[int, Message, Any]:
    """A plain JSON predict: the request the fast lane serves."""
    return call(app, "/v1/predict", token, json.dumps({"instances": [ROW]}).encode())


def assert_unauthenticated(answer: tuple[int, Message, Any], *words: str) -> None:
    status, headers, body = answer
    assert status == 401, body
    assert headers["WWW-Authenticate"].startswith("Bearer"), headers
    assert set(body) == {"error"} and body["error"]["code"] == "unauthenticated", body
    for word in words:
        assert word in body["error"]["message"], body


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def unsigned(issuer: Issuer, header: dict[str, Any], claims: dict[str, Any]) -> tuple[str, str]:
    """The signing input of a token built by hand (what no JOSE library will sign: alg none, HS256 with a
    public key), with its claims otherwise valid."""
    now = int(time.time())
    payload = {"aud": issuer.audience, "iss": issuer.issuer, "nbf": now, "exp": now + 600, **claims}
    return _b64(json.dumps(header).encode()), _b64(json.dumps(payload).encode())


@pytest.fixture(scope="module")
def signed_in(reference_model_dir: Path, issuer: Issuer) -> Iterator[LiveApp]:
    """One app with sign-in on (role required) for the tests that only send it requests."""
    with serve_signed_in(reference_model_dir, issuer) as (app, _):
        yield app


def test_a_valid_token_passes_on_every_protected_route(
    signed_in: LiveApp, issuer: Issuer, digits: Digits
) -> None:
    token = issuer.token()
    status, _, body = predict(signed_in, token)
    assert status == 200 and len(body["predictions"]) == 1
    status, _, body = call(signed_in, "/version", token)
    assert status == 200 and body["model"]["name"] == "digits"
    boundary = "signin-test"
    form = (
        (
            f'--{boundary}\r\nContent-Disposition: form-data; name="image"; filename="d.png"\r\n'
            "Content-Type: image/png\r\n\r\n"
        ).encode()
        + render_digit(digits.x[0])
        + f"\r\n--{boundary}--\r\n".encode()
    )
    multipart = {"Content-Type": f"multipart/form-data; boundary={boundary}"}
    status, _, body = call(signed_in, "/v1/predict", token, form, multipart)
    assert status == 200 and body["predictions"][0]["label"] == int(digits.y[0])
    assert predict(signed_in, token)[0] == 200  # the same token again (the verified-token cache)


def test_no_token_is_refused_on_every_route_that_runs_or_describes_the_model(signed_in: LiveApp) -> None:
    status, headers, body = predict(signed_in, None)  # the fast lane's request
    assert status == 401 and headers["WWW-Authenticate"] == "Bearer"  # RFC 6750: no error without a token
    assert body["error"]["code"] == "unauthenticated"
    assert "az account get-access-token --scope" in body["error"]["message"]
    form = {"Content-Type": "multipart/form-data; boundary=x"}
    assert_unauthenticated(call(signed_in, "/v1/predict", None, b"--x--\r\n", form))  # Flask's request
    assert_unauthenticated(call(signed_in, "/version"))
    assert_unauthenticated(call(signed_in, "/no-such-route"))  # no route map for anonymous callers
    assert_unauthenticated(
        call(signed_in, "/v1/predict", None, b"{}", {"Authorization": "Basic dXNlcjpwdw=="})
    )


def test_the_probes_description_and_page_stay_anonymous(signed_in: LiveApp) -> None:
    for path in ("/healthz", "/readyz", "/openapi.json", "/", "/page.js", "/page.css"):
        status, headers, _ = call(signed_in, path)
        assert status == 200, path
        assert "WWW-Authenticate" not in headers


def test_the_inference_protocols_probes_are_anonymous_and_the_rest_needs_a_token(
    signed_in: LiveApp, issuer: Issuer, digits: Digits
) -> None:
    """/v2 (app.oip): health and model readiness answer without a token, like /healthz; server and model
    metadata and inference need one, the fast lane's JSON inference and the binary one alike, and are
    refused with the protocol's error body, {"error": "<message>"}."""
    for path in (
        "/v2/health/live",
        "/v2/health/ready",
        "/v2/models/digits/ready",
        "/v2/models/digits/versions/1/ready",
    ):
        assert call(signed_in, path)[0] == 200, path
    digit = {"name": "input", "shape": [1, 64], "datatype": "FP32", "data": digits.x[0].tolist()}
    infer = json.dumps({"inputs": [digit]}).encode()
    header, raw = tensor("input", digits.x[:1], "FP32", binary=True)
    binary, binary_headers = binary_body({"inputs": [header]}, [raw])
    token = issuer.token()
    for path, body, headers in (
        ("/v2", None, {}),
        ("/v2/models/digits", None, {}),
        ("/v2/models/digits/versions/1", None, {}),
        ("/v2/models/digits/infer", infer, {}),  # the fast lane's request
        ("/v2/models/digits/infer", binary, binary_headers),  # Flask's
    ):
        status, answer_headers, answer = call(signed_in, path, None, body, headers)
        assert status == 401 and answer_headers["WWW-Authenticate"] == "Bearer", path
        assert set(answer) == {"error"} and "Authorization: Bearer" in answer["error"], path
        assert call(signed_in, path, token, body, headers)[0] == 200, path
    status, answer_headers, answer = call(signed_in, "/v2/models/digits/infer", "not.a.jwt", infer)
    assert status == 401 and answer_headers["WWW-Authenticate"] == 'Bearer error="invalid_token"'
    assert answer == {"error": "the bearer token is not a JWT"}
    assert call(signed_in, "/v2/models/digits/infer", issuer.token(roles=()), infer)[0] == 403


def _bad_tokens(issuer: Issuer) -> dict[str, tuple[str, str]]:
    """Each way a token can be wrong -> (the token, a word the refusal says)."""
    now = int(time.time())
    none_header, none_payload = unsigned(issuer, {"alg": "none", "typ": "JWT", "kid": issuer.kid}, {})
    hs_header, hs_payload = unsigned(issuer, {"alg": "HS256", "typ": "JWT", "kid": issuer.kid}, {})
    # The classic confusion attack: HMAC "signed" with the public key, which a verifier that trusts the
    # header's alg would use as the HMAC secret.
    hs_signature = hmac.new(
        public_pem(issuer.key), f"{hs_header}.{hs_payload}".encode(), hashlib.sha256
    ).digest()
    other = new_key()
    return {
        "malformed": ("not-a-jwt", "not a JWT"),
        "expired": (issuer.token(iat=now - 7200, nbf=now - 7200, exp=now - 3600), "expired"),
        "expired beyond the leeway": (issuer.token(exp=now - 90, nbf=now - 3600, iat=now - 3600), "expired"),
        "not yet valid": (issuer.token(nbf=now + 3600, exp=now + 7200), "not valid yet"),
        "wrong audience": (issuer.token(aud="00000000-0000-4000-8000-000000000000"), "audience"),
        "wrong issuer": (issuer.token(iss="https://sts.windows.net/" + "0" * 8 + "/"), "issuer"),
        "signed by another key": (issuer.token(key=other), "signature"),
        "unknown kid": (issuer.token(key=other, headers={"kid": "not-one-of-the-keys"}), "kid"),
        "alg none": (f"{none_header}.{none_payload}.", "'none'"),
        "HS256 with the public key as secret": (f"{hs_header}.{hs_payload}.{_b64(hs_signature)}", "'HS256'"),
        "no exp": (issuer.token(exp=None), "exp"),
        "no audience": (issuer.token(aud=None), "aud"),
    }


@pytest.mark.parametrize(
    "case",
    [
        "malformed",
        "expired",
        "expired beyond the leeway",
        "not yet valid",
        "wrong audience",
        "wrong issuer",
        "signed by another key",
        "unknown kid",
        "alg none",
        "HS256 with the public key as secret",
        "no exp",
        "no audience",
    ],
)
def test_a_bad_token_is_refused_with_401(signed_in: LiveApp, issuer: Issuer, case: str) -> None:
    token, word = _bad_tokens(issuer)[case]
    answer = predict(signed_in, token)
    assert_unauthenticated(answer, word)
    assert answer[1]["WWW-Authenticate"] == 'Bearer error="invalid_token"'
    assert_unauthenticated(call(signed_in, "/version", token), word)


def test_clocks_may_differ_by_up_to_a_minute(signed_in: LiveApp, issuer: Issuer) -> None:
    now = int(time.time())
    assert predict(signed_in, issuer.token(exp=now - 30, nbf=now - 600, iat=now - 600))[0] == 200
    assert predict(signed_in, issuer.token(nbf=now + 30, iat=now + 30))[0] == 200


def test_a_valid_token_without_the_role_is_forbidden(signed_in: LiveApp, issuer: Issuer) -> None:
    for token in (issuer.token(roles=()), issuer.token(roles=("Something.Else",)), issuer.token(roles=None)):
        status, headers, body = predict(signed_in, token)
        assert status == 403, body
        assert headers["WWW-Authenticate"] == 'Bearer error="insufficient_scope"'
        assert body["error"]["code"] == "forbidden" and "Model.Invoke" in body["error"]["message"]
    status, _, body = call(signed_in, "/v2/models/digits/infer", issuer.token(roles=()), b"{}")
    assert status == 403 and isinstance(body["error"], str)


def test_refusals_are_counted_in_the_metrics(signed_in: LiveApp) -> None:
    predict(signed_in, None)
    with _DIRECT.open(f"{signed_in.metrics_url}/metrics", timeout=10) as response:
        metrics = response.read().decode()
    assert 'http_requests_total{method="POST",model="digits",route="/v1/predict",status="401"}' in metrics


def test_without_a_role_setting_any_valid_token_passes(reference_model_dir: Path, issuer: Issuer) -> None:
    with serve_signed_in(reference_model_dir, issuer, role=None) as (app, _):
        assert predict(app, issuer.token(roles=()))[0] == 200
        assert_unauthenticated(predict(app, issuer.token(aud="00000000-0000-4000-8000-000000000000")))


def test_the_start_line_says_whether_sign_in_is_on(
    signed_in: LiveApp, live_app: LiveApp, issuer: Issuer
) -> None:
    assert (
        f"sign-in on: Entra ID tokens for {issuer.audience} from {issuer.issuer}, app role Model.Invoke"
        in (signed_in.output())
    )
    assert "sign-in off (AUTH_AUDIENCE unset)" in live_app.output()
