"""The signing keys' life in the real app (`python -m app` on 127.0.0.1), with the key endpoint played by a
real HTTP server on 127.0.0.1 (`fake_http`, or a key server of its own where the test stops it): fetched at
start, unready (503) until the first fetch succeeds, serving on with the keys in hand when the endpoint goes
away, refreshed for an unknown key id at most once a minute, found through the issuer's OpenID configuration.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path

from pytest_httpserver import HTTPServer

from tests.app.test_signin_http import assert_unauthenticated, call, predict
from tests.conftest import serve_app, serve_signed_in
from tools.issuer import Issuer, new_key, public_jwk, sign_in_env


def wait_for(condition: Callable[[], bool], timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"{what} within {timeout} s")
        time.sleep(0.1)


def key_fetches(server: HTTPServer, path: str = "/keys") -> int:
    return sum(1 for request, _ in server.log if request.path == path)


def test_unready_until_the_first_fetch_succeeds_then_ready(
    reference_model_dir: Path, issuer: Issuer, fake_http: HTTPServer
) -> None:
    fake_http.expect_request("/keys").respond_with_data("maintenance", status=503)
    env = sign_in_env(issuer, fake_http.url_for("/keys"))
    with serve_app(reference_model_dir, wait_for="/healthz", **env) as app:
        wait_for(lambda: key_fetches(fake_http) >= 2, 15, "the app did not retry the key fetch")
        status, _, body = call(app, "/readyz")
        assert status == 503 and body["error"]["code"] == "not_ready"
        assert "signing keys could not be fetched" in body["error"]["message"]
        assert "HTTP 503" in body["error"]["message"]
        status, _, body = call(app, "/v2/health/ready")  # the inference protocol's readiness says the same
        assert (status, body) == (503, {"ready": False})
        # A token cannot be checked yet: not the caller's fault, so no 401; no token is still a 401.
        status, _, body = predict(app, issuer.token())
        assert status == 503 and body["error"]["code"] == "not_ready"
        assert_unauthenticated(predict(app, None))
        log = app.output()
        assert "the signing keys could not be fetched" in log and "retrying in" in log

        fake_http.clear_all_handlers()
        fake_http.expect_request("/keys").respond_with_json(issuer.jwks())
        wait_for(lambda: call(app, "/readyz")[0] == 200, 40, "/readyz did not answer 200 once keys came")
        assert call(app, "/v2/health/ready")[2] == {"ready": True}
        assert predict(app, issuer.token())[0] == 200
        assert "after failures" in app.output()


def test_serves_on_with_the_keys_it_has_when_the_key_endpoint_goes_away(
    reference_model_dir: Path, issuer: Issuer
) -> None:
    with serve_signed_in(reference_model_dir, issuer) as (app, keys):
        keys.stop()  # unreachable from now on: connections are refused
        assert predict(app, issuer.token())[0] == 200
        assert call(app, "/readyz")[0] == 200
        # A key id the app does not know makes it try the endpoint, which fails: refused, still ready.
        stranger = issuer.token(key=new_key(), headers={"kid": "rotated-in"})
        assert_unauthenticated(predict(app, stranger), "kid")
        assert call(app, "/readyz")[0] == 200
        assert predict(app, issuer.token())[0] == 200
        wait_for(lambda: "refresh failed" in app.output(), 10, "no warning about the failed refresh")


def test_an_unknown_key_id_refreshes_the_keys_at_most_once_a_minute(
    reference_model_dir: Path, issuer: Issuer, fake_http: HTTPServer
) -> None:
    fake_http.expect_request("/keys").respond_with_json(issuer.jwks())
    env = sign_in_env(issuer, fake_http.url_for("/keys"))
    with serve_app(reference_model_dir, **env) as app:
        assert key_fetches(fake_http) == 1
        # The issuer rolls a new key in: its first token makes the app fetch the keys again.
        second, third = new_key(), new_key()
        fake_http.clear_all_handlers()
        fake_http.expect_request("/keys").respond_with_json(issuer.jwks(public_jwk(second, "second")))
        assert predict(app, issuer.token(key=second, headers={"kid": "second"}))[0] == 200
        assert key_fetches(fake_http) == 2
        # And a third one: within the minute, its key id is refused without a fetch (the endpoint has it).
        fake_http.clear_all_handlers()
        fake_http.expect_request("/keys").respond_with_json(
            issuer.jwks(public_jwk(second, "second"), public_jwk(third, "third"))
        )
        assert_unauthenticated(predict(app, issuer.token(key=third, headers={"kid": "third"})), "kid")
        assert_unauthenticated(predict(app, issuer.token(key=third, headers={"kid": "made-up"})), "kid")
        assert key_fetches(fake_http) == 2
        # A token whose key is in hand never waits on the network.
        assert predict(app, issuer.token())[0] == 200
        assert key_fetches(fake_http) == 2


def _discovering(issuer: Issuer, server: HTTPServer, named_issuer: str) -> Issuer:
    """An issuer at `server` whose OpenID configuration names `named_issuer` and the keys' URL."""
    at = Issuer(issuer=server.url_for("/tenant/v2.0"), key=issuer.key, kid=issuer.kid)
    server.expect_request("/tenant/v2.0/.well-known/openid-configuration").respond_with_json(
        {"issuer": named_issuer, "jwks_uri": server.url_for("/keys")}
    )
    server.expect_request("/keys").respond_with_json(at.jwks())
    return at


def test_without_a_jwks_url_the_keys_are_found_through_the_openid_configuration(
    reference_model_dir: Path, issuer: Issuer, fake_http: HTTPServer
) -> None:
    at = _discovering(issuer, fake_http, named_issuer=fake_http.url_for("/tenant/v2.0"))
    env = {"AUTH_AUDIENCE": at.audience, "AUTH_ISSUER": at.issuer}
    with serve_app(reference_model_dir, **env) as app:
        assert predict(app, at.token())[0] == 200
        assert predict(app, issuer.token())[0] == 401  # a token of the real Entra issuer is not this one's
    assert key_fetches(fake_http, "/tenant/v2.0/.well-known/openid-configuration") == 1


def test_an_openid_configuration_of_another_issuer_is_not_trusted(
    reference_model_dir: Path, issuer: Issuer, fake_http: HTTPServer
) -> None:
    at = _discovering(issuer, fake_http, named_issuer="https://evil.example/v2.0")
    env = {"AUTH_AUDIENCE": at.audience, "AUTH_ISSUER": at.issuer}
    with serve_app(reference_model_dir, wait_for="/healthz", **env) as app:
        wait_for(lambda: "names the issuer" in app.output(), 15, "no log of the refused configuration")
        status, _, body = call(app, "/readyz")
        assert status == 503 and "https://evil.example/v2.0" in body["error"]["message"]
        assert predict(app, at.token())[0] == 503
    assert key_fetches(fake_http) == 0
