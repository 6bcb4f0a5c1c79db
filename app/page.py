"""The page at `GET /`: draw a digit, see what the model thinks. Its three files live in app/static/.

The page converts nothing itself: it posts the drawing as a PNG to `POST /v1/predict` (multipart, field
`image`), so app/images.py is the one conversion from a picture to the model's 8x8 input, for uploads and
drawings alike. The files are read once per app (in create_app, not at import) and served from memory with
an ETag, revalidated on every load (`no-cache`: a new image's page is never hidden behind a cached one), and
with a Content-Security-Policy that lets the page load and call nothing but this app. The headers of the
other routes do not change.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from flask import Flask, Response, request

from app.errors import SECURITY_HEADERS

STATIC_DIR = Path(__file__).resolve().parent / "static"


@dataclass(frozen=True)
class PageFile:
    path: str  # the route
    name: str  # the file in STATIC_DIR
    mimetype: str
    operation_id: str  # this and the summary: for /openapi.json
    summary: str


PAGE_FILES = (
    PageFile("/", "index.html", "text/html", "page", "The page: draw a digit, see what the model thinks"),
    PageFile("/page.js", "page.js", "text/javascript", "page_script", "The page's script"),
    PageFile("/page.css", "page.css", "text/css", "page_style", "The page's style sheet"),
)

# Scripts, styles and requests from this origin only: no inline script or style, nothing from another host,
# no plugins, frames, forms or <base> tricks. The canvas needs no img-src (toBlob is not a load).
CONTENT_SECURITY_POLICY = "; ".join(
    (
        "default-src 'none'",
        "script-src 'self'",
        "style-src 'self'",
        "connect-src 'self'",
        "base-uri 'none'",
        "form-action 'none'",
        "frame-ancestors 'none'",
    )
)
PAGE_HEADERS: tuple[tuple[str, str], ...] = (
    *SECURITY_HEADERS,
    ("Content-Security-Policy", CONTENT_SECURITY_POLICY),
    ("Referrer-Policy", "no-referrer"),
    ("Cache-Control", "no-cache"),
)


def register_page(app: Flask) -> None:
    """Add the page's routes (GET, and HEAD with it) to the app."""
    for page_file in PAGE_FILES:
        app.add_url_rule(
            page_file.path,
            endpoint=page_file.operation_id,
            view_func=_file_view(page_file),
            methods=["GET"],
            provide_automatic_options=False,
        )


def _file_view(page_file: PageFile) -> Callable[[], Response]:
    body = (STATIC_DIR / page_file.name).read_bytes()
    etag = hashlib.sha256(body).hexdigest()[:32]

    def view() -> Response:
        response = Response(body, mimetype=page_file.mimetype)  # text/*: Flask adds charset=utf-8
        response.headers.update(PAGE_HEADERS)
        response.set_etag(etag)
        return response.make_conditional(request)  # If-None-Match: a 304 without the body

    return view
