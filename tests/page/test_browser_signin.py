"""The page with sign-in on, in headless Chromium against the real app (`python -m app` with AUTH_*, its keys
from a JWKS endpoint on 127.0.0.1): it asks for a token and says how to get one, sends it with every call,
keeps it in memory only, and says so when the app refuses it."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from playwright.sync_api import Browser, Request

from tests.conftest import Digits, LiveApp, serve_signed_in
from tests.page.test_browser import (  # noqa: F401  (the browser fixtures, shared)
    GIT_COMMIT,
    Session,
    _first_of_each_class,
    assert_shows,
    browser,
    browser_session,
    playwright,
    trace,
)
from tools.issuer import Issuer

pytestmark = pytest.mark.browser


@pytest.fixture(scope="module")
def signed_in_app(reference_model_dir: Path, issuer: Issuer) -> Iterator[LiveApp]:
    with serve_signed_in(reference_model_dir, issuer, GIT_COMMIT=GIT_COMMIT) as (app, _):
        yield app


@pytest.fixture
def signed_in_session(browser: Browser, signed_in_app: LiveApp) -> Iterator[Session]:  # noqa: F811
    # Chromium logs each refused request (401, 403) as a console error: those, and nothing else.
    with browser_session(
        browser, signed_in_app.url, expected_errors=("status of 401", "status of 403")
    ) as session:
        yield session


def _sign_in(session: Session, token: str) -> None:
    page = session.page
    page.get_by_label("Access token").fill(token)
    page.get_by_label("Access token").press("Enter")


def test_the_page_asks_for_a_token_says_how_and_keeps_it_in_memory_only(
    signed_in_session: Session, issuer: Issuer, digits: Digits
) -> None:
    session, page = signed_in_session, signed_in_session.page
    page.goto(f"{session.origin}/")
    signin = page.locator("#signin")
    signin.wait_for(state="visible")
    command = f"az account get-access-token --scope {issuer.audience}/.default --query accessToken -o tsv"
    page.locator("#signin-command").filter(has_text=command).wait_for()
    assert "Entra ID access token" in page.locator("#signin-why").inner_text()
    assert page.evaluate("document.activeElement.id") == "token"

    sent: list[Request] = []
    page.on(
        "request", lambda req: sent.append(req) if req.url.endswith(("/version", "/v1/predict")) else None
    )
    token = issuer.token()
    _sign_in(session, token)
    page.locator("#app-commit").filter(has_text=GIT_COMMIT).wait_for()  # /version answered, with the token
    assert signin.is_hidden()
    assert_shows(page, trace(page, _first_of_each_class(digits)[5]), 5)
    assert sent and all(req.headers.get("authorization") == f"Bearer {token}" for req in sent)
    # Memory only: not in the page, not in any storage, no cookie.
    assert page.get_by_label("Access token").input_value() == ""
    stored = page.evaluate(
        "() => [localStorage.length, sessionStorage.length, document.cookie, document.body.innerHTML]"
    )
    assert stored[:3] == [0, 0, ""] and token not in stored[3]
    assert page.context.cookies() == []
    # A reload forgets it: the app asks again.
    page.reload()
    signin.wait_for(state="visible")


def test_a_token_without_the_role_is_explained(
    signed_in_session: Session, issuer: Issuer, digits: Digits
) -> None:
    session, page = signed_in_session, signed_in_session.page
    page.goto(f"{session.origin}/")
    page.locator("#signin").wait_for(state="visible")
    _sign_in(session, issuer.token(roles=()))
    page.locator("#about").filter(has_text="does not hold the app role").wait_for()
    with page.expect_response(lambda r: r.url.endswith("/v1/predict")) as answered:
        trace(page, _first_of_each_class(digits)[1])
    assert answered.value.status == 403
    status = page.locator("#status")
    status.filter(has_text="No answer").wait_for()
    assert "does not hold the app role 'Model.Invoke'" in status.inner_text()


def test_an_expired_token_makes_the_page_ask_again(signed_in_session: Session, issuer: Issuer) -> None:
    session, page = signed_in_session, signed_in_session.page
    page.goto(f"{session.origin}/")
    page.locator("#signin").wait_for(state="visible")
    _sign_in(session, issuer.token(lifetime_s=-3600, nbf=0, iat=0))
    page.locator("#signin-why").filter(has_text="expired").wait_for()
    assert page.locator("#signin").is_visible()
