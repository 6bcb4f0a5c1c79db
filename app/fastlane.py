"""A WSGI fast lane for the hot path: POST /v1/predict with a JSON body of known length, without Flask.

Flask's request/response machinery costs ~90 us per request, about half of a one-digit prediction. This
callable sits between MetricsMiddleware and Flask's wsgi_app and serves only the plain case: POST to the
predict path, Content-Type application/json (parameters such as charset allowed), a Content-Length within
MAX_BODY_BYTES and no Transfer-Encoding, the model loaded. It parses with the route's own parser
(app.inputs.parse_json_body) and answers with the route's own body (app.prediction.predict_body) and
headers (app.errors.SECURITY_HEADERS). Anything else, and any error while serving (an ApiError, or a bug),
goes to Flask with the body put back, so every error response, multipart upload and other route keeps the
Flask contract to the byte (tests/app/test_fastlane.py compares the two).
"""

from __future__ import annotations

import io
from collections.abc import Callable, Iterable
from typing import Any

from werkzeug.http import parse_options_header

from app.errors import JSON_CONTENT_TYPE, SECURITY_HEADERS
from app.inputs import parse_json_body
from app.prediction import PREDICT_PATH, predict_body
from app.state import ServingState

WsgiApp = Callable[[dict[str, Any], Callable[..., Any]], Iterable[bytes]]


def is_json_content_type(content_type: str) -> bool:
    """Exactly werkzeug's `request.mimetype == "application/json"`, with the common exact value first."""
    if content_type == JSON_CONTENT_TYPE:
        return True
    return parse_options_header(content_type)[0].lower() == JSON_CONTENT_TYPE


class PredictFastLane:
    def __init__(self, flask_wsgi_app: WsgiApp, state: ServingState) -> None:
        self.flask_wsgi_app, self.state = flask_wsgi_app, state

    def __call__(self, environ: dict[str, Any], start_response: Callable[..., Any]) -> Iterable[bytes]:
        length = self._servable_length(environ)
        if length is None:
            return self.flask_wsgi_app(environ, start_response)
        try:
            body = environ["wsgi.input"].read(length)
        except (OSError, ValueError):  # a client gone mid-body: werkzeug turns its failed read into a 400
            return self.flask_wsgi_app(environ, start_response)
        answer = self._answer(body) if len(body) == length else None  # short: Flask's own 400 or read
        if answer is None:
            environ["wsgi.input"] = io.BytesIO(body)
            return self.flask_wsgi_app(environ, start_response)
        start_response(
            "200 OK",
            [("Content-Type", JSON_CONTENT_TYPE), ("Content-Length", str(len(answer))), *SECURITY_HEADERS],
        )
        return [answer]

    def _servable_length(self, environ: dict[str, Any]) -> int | None:
        """The body length when the fast lane serves this request, else None (Flask serves it)."""
        if (
            environ.get("PATH_INFO") != PREDICT_PATH
            or environ.get("REQUEST_METHOD") != "POST"
            or self.state.model is None  # Flask answers the 503
            or "HTTP_TRANSFER_ENCODING" in environ  # chunked: Flask buffers it up to the limit
            or not is_json_content_type(environ.get("CONTENT_TYPE", ""))
        ):
            return None
        length = environ.get("CONTENT_LENGTH", "")
        # ASCII digits only: anything werkzeug would read differently (" 12", "+12", "-1") goes to Flask.
        if not (length.isascii() and length.isdigit()):
            return None
        size = int(length)
        return size if size <= self.state.settings.max_body_bytes else None  # Flask answers the 413

    def _answer(self, body: bytes) -> bytes | None:
        """The 200 body, or None for Flask to answer: an ApiError is its error response; a bug is its
        logged 500. predict_body counts predictions only on success, so nothing is counted twice."""
        settings, model = self.state.settings, self.state.model
        if model is None:
            return None
        try:
            features = parse_json_body(body, settings.max_batch, settings.max_image_pixels)
            return predict_body(model, features, self.state.metrics)
        except Exception:
            return None
