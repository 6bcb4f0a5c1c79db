"""A WSGI fast lane for the hot JSON routes: a POST with a JSON body of known length, answered without Flask.

Flask's request/response machinery costs about as much as the prediction it wraps (README, "Benchmarks").
This callable sits between MetricsMiddleware and Flask's wsgi_app and serves only the plain case: POST to a
path in its table, Content-Type application/json (parameters such as charset allowed), a Content-Length
within MAX_BODY_BYTES, and a body that is JSON only, as sent: no Transfer-Encoding, no Content-Encoding, no
Inference-Header-Content-Length (binary tensors after the JSON, app.oip). The table maps each path (matched
exactly) to a handler, request body -> 200 response body, built from the same functions as the Flask route
of that path. A handler raises for anything but a 200 (an ApiError, the model not loaded, a bug): the
request then goes to Flask with the body put back, so every error response, multipart upload and other
route keeps the Flask contract to the byte (tests/app/test_fastlane.py compares the two). Its entries:
POST /v1/predict and the served model's two OIP infer paths (app.factory, app.oip.routes).
"""

from __future__ import annotations

import io
from collections.abc import Callable, Iterable, Mapping
from typing import Any

from werkzeug.http import parse_options_header

from app.errors import JSON_CONTENT_TYPE, SECURITY_HEADERS

WsgiApp = Callable[[dict[str, Any], Callable[..., Any]], Iterable[bytes]]
# The request body -> the 200 body; raises (anything) to leave the request to Flask.
JsonHandler = Callable[[bytes], bytes]
# A body that is more than JSON as sent goes to Flask: chunked (Flask buffers it up to the limit), encoded
# (the routes refuse or ignore an encoding as they see fit) or followed by binary tensors (app.oip).
_NOT_PLAIN_JSON = frozenset(
    {"HTTP_TRANSFER_ENCODING", "HTTP_CONTENT_ENCODING", "HTTP_INFERENCE_HEADER_CONTENT_LENGTH"}
)


def is_json_content_type(content_type: str) -> bool:
    """Exactly werkzeug's `request.mimetype == "application/json"`, with the common exact value first."""
    if content_type == JSON_CONTENT_TYPE:
        return True
    return parse_options_header(content_type)[0].lower() == JSON_CONTENT_TYPE


class JsonFastLane:
    def __init__(
        self, flask_wsgi_app: WsgiApp, handlers: Mapping[str, JsonHandler], max_body_bytes: int
    ) -> None:
        self.flask_wsgi_app, self.handlers, self.max_body_bytes = flask_wsgi_app, handlers, max_body_bytes

    def __call__(self, environ: dict[str, Any], start_response: Callable[..., Any]) -> Iterable[bytes]:
        handler = self.handlers.get(environ.get("PATH_INFO", ""))
        length = None if handler is None else self._servable_length(environ)
        if handler is None or length is None:
            return self.flask_wsgi_app(environ, start_response)
        try:
            body = environ["wsgi.input"].read(length)
        except (OSError, ValueError):  # a client gone mid-body: werkzeug turns its failed read into a 400
            return self.flask_wsgi_app(environ, start_response)
        # A handler raises for anything but a 200: an ApiError is Flask's error response, a bug its 500.
        # It counts what it counts (predictions) only once it succeeds, so nothing is counted twice. A short
        # body is Flask's own 400 (or read) too.
        try:
            answer = handler(body) if len(body) == length else None
        except Exception:
            answer = None
        if answer is None:
            environ["wsgi.input"] = io.BytesIO(body)
            return self.flask_wsgi_app(environ, start_response)
        start_response(
            "200 OK",
            [("Content-Type", JSON_CONTENT_TYPE), ("Content-Length", str(len(answer))), *SECURITY_HEADERS],
        )
        return [answer]

    def _servable_length(self, environ: dict[str, Any]) -> int | None:
        """The body length when the fast lane serves this request to a path in its table, else None."""
        if (
            environ.get("REQUEST_METHOD") != "POST"
            or not environ.keys().isdisjoint(_NOT_PLAIN_JSON)
            or not is_json_content_type(environ.get("CONTENT_TYPE", ""))
        ):
            return None
        length = environ.get("CONTENT_LENGTH", "")
        # ASCII digits only: anything werkzeug would read differently (" 12", "+12", "-1") goes to Flask.
        if not (length.isascii() and length.isdigit()):
            return None
        size = int(length)
        return size if size <= self.max_body_bytes else None  # Flask answers the 413
