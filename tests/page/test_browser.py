"""The page in a real browser: headless Chromium driven by Playwright, against the real app server
(`python -m app`, granian) on the reference model.

Digits are not drawn freehand: each is a scikit-learn digit traced on the canvas, one horizontal stroke per
run of inked cells in each of its 8 rows, so every run draws the same picture. The browser comes from
CHROMIUM_PATH (default Debian's /usr/bin/chromium; CI on Ubuntu points it at Google Chrome); a missing browser
fails the test, never skips it, and no browser is ever downloaded. Screenshots go to build/page/.
"""

from __future__ import annotations

import base64
import contextlib
import io
import json
import os
import urllib.request
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from decimal import ROUND_HALF_UP, Decimal
from pathlib import Path

import numpy as np
import pytest
from PIL import Image
from playwright.sync_api import Browser, CDPSession, Page, Playwright, Response, sync_playwright

from model.manifest import Manifest
from tests.conftest import REPO, Digits, LiveApp, serve_app

pytestmark = pytest.mark.browser

CHROMIUM_PATH = os.environ.get("CHROMIUM_PATH") or "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--no-sandbox",  # CI runs the tests as root, where Chromium's sandbox refuses to start
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--no-first-run",
]
SCREENSHOTS = REPO / "build" / "page"
README_SCREENSHOT = SCREENSHOTS / "page.png"  # `make page-screenshot` copies it to docs/page.png
GIT_COMMIT = "0123456789abcdef0123456789abcdef01234567"
APP_VERSION = "9.9.9-test"
# A cell of an 8x8 digit (0..16) is traced when at least half inked: every digit of the first five of each
# class is then read right (a threshold of 4, 6 or 10 misses one to four of those fifty).
INK_THRESHOLD = 8
CELLS = 8
EXPECTED_CSP = (
    "default-src 'none'; script-src 'self'; style-src 'self'; connect-src 'self'; base-uri 'none'; "
    "form-action 'none'; frame-ancestors 'none'"
)

NO_ANSWER = "\N{EN DASH}"  # what a probability cell shows before an answer
Point = tuple[float, float]
StrokeFn = Callable[[Page, Point, Point], None]


@pytest.fixture(scope="module")
def playwright() -> Iterator[Playwright]:
    with sync_playwright() as driver:
        yield driver


@pytest.fixture(scope="module")
def browser(playwright: Playwright) -> Iterator[Browser]:
    if not (os.path.isfile(CHROMIUM_PATH) and os.access(CHROMIUM_PATH, os.X_OK)):
        pytest.fail(
            f"no browser at CHROMIUM_PATH={CHROMIUM_PATH}: `make test` installs Debian's chromium "
            "(the Makefile's tools target), or point CHROMIUM_PATH at a Chromium or Chrome"
        )
    browser = playwright.chromium.launch(executable_path=CHROMIUM_PATH, args=CHROMIUM_ARGS, headless=True)
    yield browser
    browser.close()


@pytest.fixture(scope="module")
def page_app(reference_model_dir: Path) -> Iterator[LiveApp]:
    with serve_app(reference_model_dir, GIT_COMMIT=GIT_COMMIT, APP_VERSION=APP_VERSION) as app:
        yield app


@dataclass
class Session:
    """A page in a fresh browser context, with everything it requested and every error it logged."""

    page: Page
    origin: str
    requests: list[str] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)

    def open(self) -> Response:
        response = self.page.goto(f"{self.origin}/")
        assert response is not None and response.status == 200
        self.page.locator("#app-commit").filter(has_text=GIT_COMMIT).wait_for()  # /version answered
        return response


@contextlib.contextmanager
def browser_session(
    browser: Browser, origin: str, touch: bool = False, expected_errors: tuple[str, ...] = ()
) -> Iterator[Session]:
    """A fresh browser context on the app at `origin`; afterwards, nothing logged but `expected_errors`."""
    context = browser.new_context(viewport={"width": 960, "height": 720}, has_touch=touch)
    page = context.new_page()
    session = Session(page, origin)
    page.on("request", lambda req: session.requests.append(req.url))
    page.on("console", lambda msg: session.errors.append(msg.text) if msg.type == "error" else None)
    page.on("pageerror", lambda exc: session.errors.append(str(exc)))
    try:
        yield session
        # Nothing refused by the CSP (Chromium logs each refusal as a console error), no script error, and
        # nothing requested from anywhere but the app: the page works offline.
        assert [e for e in session.errors if not any(x in e for x in expected_errors)] == []
        outside = [url for url in session.requests if not url.startswith(f"{origin}/")]
        assert outside == []
    finally:
        context.close()


@pytest.fixture
def session(browser: Browser, page_app: LiveApp, request: pytest.FixtureRequest) -> Iterator[Session]:
    touch = request.node.get_closest_marker("touch") is not None
    with browser_session(browser, page_app.url, touch) as session:
        yield session


def _first_of_each_class(digits: Digits) -> dict[int, np.ndarray]:
    return {label: digits.x[int(np.flatnonzero(digits.y == label)[0])] for label in range(10)}


def strokes(features: np.ndarray) -> list[tuple[int, int, int]]:
    """(row, first column, last column) of every run of cells inked at least INK_THRESHOLD."""
    grid = features.reshape(CELLS, CELLS) >= INK_THRESHOLD
    runs = []
    for row in range(CELLS):
        column = 0
        while column < CELLS:
            if grid[row, column]:
                first = column
                while column < CELLS and grid[row, column]:
                    column += 1
                runs.append((row, first, column - 1))
            else:
                column += 1
    return runs


def mouse_stroke(page: Page, start: Point, end: Point) -> None:
    page.mouse.move(*start)
    page.mouse.down()
    page.mouse.move(*end, steps=4)
    page.mouse.up()


def finger_stroke(cdp: CDPSession) -> StrokeFn:
    """A stroke by touch events (Chrome DevTools Protocol; Playwright's touchscreen only taps)."""

    def stroke(page: Page, start: Point, end: Point) -> None:
        def touch(kind: str, x: float, y: float) -> None:
            cdp.send("Input.dispatchTouchEvent", {"type": kind, "touchPoints": [{"x": x, "y": y}]})

        touch("touchStart", *start)
        for step in range(1, 5):
            t = step / 4
            touch("touchMove", start[0] + (end[0] - start[0]) * t, start[1] + (end[1] - start[1]) * t)
        cdp.send("Input.dispatchTouchEvent", {"type": "touchEnd", "touchPoints": []})

    return stroke


def _is_prediction(response: Response) -> bool:
    return response.url.endswith("/v1/predict") and response.request.method == "POST"


def trace(page: Page, features: np.ndarray, stroke: StrokeFn = mouse_stroke) -> Response:
    """Draw the digit on the canvas; returns the answer to its last stroke (the page asks after each)."""
    box = page.locator("#canvas").bounding_box()
    assert box is not None
    cell = box["width"] / CELLS
    answer = None
    for row, first, last in strokes(features):
        # From 3/8 into the first cell to 5/8 into the last: with the page's round pen the run is inked
        # edge to edge of its cells, and not beyond.
        y = box["y"] + (row + 0.5) * cell
        start, end = (box["x"] + (first + 0.375) * cell, y), (box["x"] + (last + 0.625) * cell, y)
        with page.expect_response(_is_prediction) as answered:
            stroke(page, start, end)
        answer = answered.value
    assert answer is not None, "the digit has no inked cell"
    return answer


def _shown_percents(page: Page) -> list[str]:
    return page.locator("#probabilities tbody td.percent").all_inner_texts()


def _percent(probability: float) -> str:
    """As the page writes it: JavaScript's (p * 100).toFixed(1), which rounds an exact tie up (Python's
    format rounds it to even: 0.25 gives "0.3" there, "0.2" here)."""
    exact = Decimal(probability * 100)  # the double itself, exactly, as toFixed sees it
    return f"{exact.quantize(Decimal('0.1'), rounding=ROUND_HALF_UP)} %"


def assert_shows(page: Page, answer: Response, label: int) -> None:
    """The page shows the app's answer: the label, in the status text too, and the ten probabilities."""
    assert answer.status == 200, answer.text()
    prediction = answer.json()["predictions"][0]
    assert prediction["label"] == label
    assert page.locator("#label").inner_text() == str(label)
    probabilities = prediction["probabilities"]
    status = page.locator("#status").inner_text()
    assert status == f"The model reads {label}, with a probability of {_percent(probabilities[label])}."
    assert _shown_percents(page) == [_percent(p) for p in probabilities]
    meters = page.locator("#probabilities meter").evaluate_all("meters => meters.map(m => m.value)")
    assert meters == pytest.approx(probabilities, abs=1e-9)


def assert_the_app_read_the_canvas(page: Page, answer: Response, app_url: str) -> None:
    """The page posted its drawing as a PNG upload, and showed the app's reading of exactly that picture:
    the canvas, exported again and uploaded here, gets the same answer. One conversion, the app's."""
    assert answer.request.headers["content-type"].startswith("multipart/form-data; boundary=")
    data_url = page.locator("#canvas").evaluate("canvas => canvas.toDataURL('image/png')")
    png = base64.b64decode(data_url.removeprefix("data:image/png;base64,"))
    with Image.open(io.BytesIO(png)) as image:
        assert (image.format, image.size) == ("PNG", (256, 256))
    upload = urllib.request.Request(
        f"{app_url}/v1/predict",
        data=json.dumps({"images": [data_url]}).encode(),
        headers={"Content-Type": "application/json"},
    )
    with urllib.request.urlopen(upload, timeout=10) as direct:
        assert json.load(direct) == answer.json()


def test_page_shows_model_and_commit_with_a_strict_csp(
    session: Session, reference_manifest: Manifest
) -> None:
    response = session.open()
    headers = response.headers
    assert headers["content-security-policy"] == EXPECTED_CSP
    assert headers["content-type"] == "text/html; charset=utf-8"
    page = session.page
    assert page.title() == "Handwritten digit classifier"
    assert page.locator("#model-name").inner_text() == reference_manifest.name
    assert page.locator("#model-version").inner_text() == reference_manifest.version
    assert page.locator("#app-version").inner_text() == APP_VERSION
    assert page.locator("#app-commit").inner_text() == GIT_COMMIT
    assert {url.removeprefix(session.origin) for url in session.requests} == {
        "/",
        "/page.css",
        "/page.js",
        "/version",
    }


def test_drawn_digits_are_read_as_what_they_are(session: Session, digits: Digits) -> None:
    """All ten classes, each its data set's first sample, traced with the mouse."""
    session.open()
    page = session.page
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    for label, features in _first_of_each_class(digits).items():
        page.get_by_role("button", name="Clear").click()
        answer = trace(page, features)
        assert_the_app_read_the_canvas(page, answer, session.origin)
        assert_shows(page, answer, label)
        page.screenshot(path=SCREENSHOTS / f"digit-{label}.png")
        if label == 3:
            page.locator("main").screenshot(path=README_SCREENSHOT)


@pytest.mark.touch
def test_a_finger_draws_too(session: Session, digits: Digits) -> None:
    session.open()
    page = session.page
    cdp = page.context.new_cdp_session(page)
    answer = trace(page, _first_of_each_class(digits)[7], finger_stroke(cdp))
    assert_shows(page, answer, 7)


def _canvas_is_blank(page: Page) -> bool:
    return page.locator("#canvas").evaluate(
        """canvas => canvas.getContext("2d").getImageData(0, 0, canvas.width, canvas.height).data
                         .every(value => value === 255)"""
    )


def test_clear_wipes_the_drawing_and_the_answer_then_a_new_digit_is_read(
    session: Session, digits: Digits
) -> None:
    session.open()
    page = session.page
    first, second = _first_of_each_class(digits)[4], _first_of_each_class(digits)[2]
    assert_shows(page, trace(page, first), 4)
    assert not _canvas_is_blank(page)

    page.get_by_role("button", name="Clear").click()
    assert _canvas_is_blank(page)
    assert page.locator("#label").inner_text() == "?"
    assert page.locator("#status").inner_text() == "Cleared. Draw a digit."
    assert _shown_percents(page) == [NO_ANSWER] * 10
    assert page.locator("#probabilities meter").evaluate_all("meters => meters.map(m => m.value)") == [0] * 10
    page.screenshot(path=SCREENSHOTS / "cleared.png")

    assert_shows(page, trace(page, second), 2)


def test_everything_but_drawing_works_with_the_keyboard(session: Session, digits: Digits) -> None:
    session.open()
    page = session.page
    canvas = page.locator("#canvas")
    assert canvas.get_attribute("role") == "img"
    assert "draw one digit" in (canvas.get_attribute("aria-label") or "")
    assert page.get_by_role("status").count() == 1  # the answer is announced as text

    assert_shows(page, trace(page, _first_of_each_class(digits)[0]), 0)
    page.keyboard.press("Tab")  # the canvas is not a tab stop: drawing is the one thing the keyboard can't do
    assert page.evaluate("document.activeElement.id") == "clear"
    page.keyboard.press("Enter")
    assert _canvas_is_blank(page)
    assert page.locator("#status").inner_text() == "Cleared. Draw a digit."
    page.keyboard.press("Tab")
    assert page.evaluate("document.activeElement.getAttribute('href')") == "/openapi.json"


def test_the_page_says_why_when_the_app_refuses(session: Session, digits: Digits) -> None:
    session.open()
    page = session.page
    refusal = {"error": {"code": "not_ready", "message": "the model is not loaded yet"}}
    page.route(
        "**/v1/predict",
        lambda route: route.fulfill(status=503, content_type="application/json", body=json.dumps(refusal)),
    )
    with page.expect_response(_is_prediction):
        mouse_stroke(page, *_middle_line(page))
    page.locator("#status").filter(has_text="No answer").wait_for()
    assert page.locator("#status").inner_text() == "No answer: the model is not loaded yet"
    assert page.locator("#label").inner_text() == "?"
    # Chromium logs the refused request itself as a console error: that one, and nothing else.
    assert len(session.errors) == 1 and "status of 503" in session.errors[0], session.errors
    session.errors.clear()


def _middle_line(page: Page) -> tuple[Point, Point]:
    box = page.locator("#canvas").bounding_box()
    assert box is not None
    y = box["y"] + box["height"] / 2
    return (box["x"] + box["width"] * 0.3, y), (box["x"] + box["width"] * 0.7, y)
