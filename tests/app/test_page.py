"""The page's routes through Flask: its files with their types, CSP and ETag; nothing inline or off-site
that the CSP would refuse; and no change to the headers of the API's routes. (The page itself is driven in
a real browser by tests/page/test_browser.py.)"""

from __future__ import annotations

from html.parser import HTMLParser
from typing import Any

import pytest
from flask.testing import FlaskClient

from app.page import CONTENT_SECURITY_POLICY, PAGE_FILES, STATIC_DIR
from app.prediction import PREDICT_PATH
from tests.app.helpers import assert_error

PAGE_PATHS = [page_file.path for page_file in PAGE_FILES]


@pytest.mark.parametrize("page_file", PAGE_FILES, ids=PAGE_PATHS)
def test_page_files_are_served_with_their_type_csp_and_etag(client: FlaskClient, page_file: Any) -> None:
    response = client.get(page_file.path)
    assert response.status_code == 200
    assert response.headers["Content-Type"] == f"{page_file.mimetype}; charset=utf-8"
    assert response.get_data() == (STATIC_DIR / page_file.name).read_bytes()
    assert response.headers["Content-Security-Policy"] == CONTENT_SECURITY_POLICY
    assert response.headers["X-Content-Type-Options"] == "nosniff"
    assert response.headers["Referrer-Policy"] == "no-referrer"
    assert response.headers["Cache-Control"] == "no-cache"
    etag = response.headers["ETag"]

    again = client.get(page_file.path, headers={"If-None-Match": etag})
    assert again.status_code == 304 and again.get_data() == b""
    assert client.get(page_file.path, headers={"If-None-Match": '"stale"'}).status_code == 200
    head = client.head(page_file.path)
    assert head.status_code == 200 and head.get_data() == b""


def test_the_csp_allows_this_origin_only() -> None:
    directives = dict(d.split(" ", 1) for d in CONTENT_SECURITY_POLICY.split("; "))
    assert directives.pop("default-src") == "'none'"
    assert set(directives.values()) <= {"'self'", "'none'"}, "no other host, no 'unsafe-inline', no data:"
    assert directives["script-src"] == directives["style-src"] == directives["connect-src"] == "'self'"


@pytest.mark.parametrize("path", PAGE_PATHS)
def test_page_routes_take_only_get(client: FlaskClient, path: str) -> None:
    assert_error(client.post(path), 405, "method_not_allowed")


def test_api_routes_keep_their_headers(client: FlaskClient) -> None:
    """The page's headers are the page's: the API's answers carry none of them."""
    page_only = {"Content-Security-Policy", "Referrer-Policy", "Cache-Control", "ETag"}
    for response in (
        client.get("/healthz"),
        client.get("/version"),
        client.get("/openapi.json"),
        client.post(PREDICT_PATH, json={"instances": [[0] * 64]}),
        client.get("/nope"),
    ):
        assert response.status_code in (200, 404)
        assert not page_only & set(response.headers.keys()), response.headers


class _Markup(HTMLParser):
    """What of index.html a CSP of 'self' could refuse: scripts, styles, handlers, and every URL."""

    def __init__(self) -> None:
        super().__init__()
        self.urls: list[str] = []
        self.inline: list[str] = []
        self._in_script = False

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        attributes = dict(attrs)
        self.urls += [value for name, value in attrs if name in ("src", "href", "action") and value]
        if tag == "style" or "style" in attributes:
            self.inline.append(f"<{tag}> style")
        self.inline += [f"<{tag} {name}>" for name in attributes if name.startswith("on")]
        self._in_script = tag == "script"
        if tag == "script" and not attributes.get("src"):
            self.inline.append("<script> without src")

    def handle_endtag(self, tag: str) -> None:
        self._in_script = False

    def handle_data(self, data: str) -> None:
        if self._in_script and data.strip():
            self.inline.append("<script> with a body")


def test_the_page_has_nothing_inline_and_loads_only_from_this_origin() -> None:
    markup = _Markup()
    markup.feed((STATIC_DIR / "index.html").read_text())
    assert markup.inline == []
    assert sorted(markup.urls) == ["/openapi.json", "/page.css", "/page.js"]
    for page_file in PAGE_FILES:
        text = (STATIC_DIR / page_file.name).read_text()
        assert "http://" not in text and "https://" not in text and "//" + "cdn" not in text, page_file.name
        assert "@import" not in text and "url(" not in text, page_file.name


def test_the_script_posts_the_drawing_to_the_predict_route() -> None:
    script = (STATIC_DIR / "page.js").read_text()
    assert f'callApi("{PREDICT_PATH}", {{ method: "POST", body: form }})' in script
    assert script.count("fetch(") == 1, "every request goes through callApi: one place for a token"
