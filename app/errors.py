"""The app's error contract: every error is JSON `{"error": {"code", "message"}}`, never a traceback.

| status | code                     | when                                                          |
|--------|--------------------------|---------------------------------------------------------------|
| 400    | invalid_json             | the body is not parseable JSON                                |
| 422    | invalid_input            | well-formed but wrong (keys, shape, types, range, images)     |
| 413    | too_large                | body over MAX_BODY_BYTES, or more inputs than MAX_BATCH       |
| 415    | unsupported_media_type   | a content type other than JSON or multipart/form-data         |
| 404    | not_found                | unknown route                                                 |
| 404    | not_supported            | /v1/predict on a model without the digits interface: use /v2  |
| 405    | method_not_allowed       | known route, wrong method                                     |
| 503    | not_ready                | the model is not loaded yet (readiness), or sign-in's keys    |
| 401    | unauthenticated          | sign-in on: no or an invalid token (app.signin, app.tokens)   |
| 403    | forbidden                | sign-in on: a valid token without the required app role       |
| 500    | internal_error           | a bug: logged with its traceback, answered without it         |

Under /v2 (the Open Inference Protocol, app.oip) the same errors keep their status and headers but use that
protocol's body, `{"error": "<message>"}`: error_response decides by the request's path, so every error
raised or answered anywhere (a route, werkzeug, a check in front of the routes) speaks the caller's protocol.
"""

from __future__ import annotations

import json
import logging
import re
from typing import Any

from flask import Flask, Response, has_request_context, request
from werkzeug.exceptions import HTTPException

log = logging.getLogger(__name__)

_MAX_ECHOED_PATH = 200  # an unknown path is echoed in the message; a huge one is cut


class ApiError(Exception):
    """A client-facing error: raised anywhere in a request, answered as JSON by the handler below."""

    def __init__(self, status: int, code: str, message: str) -> None:
        super().__init__(message)
        self.status, self.code, self.message = status, code, message


def invalid_input(message: str) -> ApiError:
    return ApiError(422, "invalid_input", message)


def too_large(message: str) -> ApiError:
    return ApiError(413, "too_large", message)


JSON_CONTENT_TYPE = "application/json"
# Sent with every JSON answer, by a Flask route or by the predict fast lane (app.fastlane): one list for both.
SECURITY_HEADERS: tuple[tuple[str, str], ...] = (("X-Content-Type-Options", "nosniff"),)


def json_bytes(payload: Any) -> bytes:
    """Compact JSON without Flask's key sorting: cheaper on the hot path, and the key order is ours."""
    return json.dumps(payload, separators=(",", ":")).encode()


def json_response(payload: Any, status: int = 200, headers: dict[str, str] | None = None) -> Response:
    return json_bytes_response(json_bytes(payload), status, headers)


def json_bytes_response(body: bytes, status: int = 200, headers: dict[str, str] | None = None) -> Response:
    response = Response(body, status=status, mimetype=JSON_CONTENT_TYPE)
    for name, value in SECURITY_HEADERS:
        response.headers[name] = value
    if headers:
        response.headers.update(headers)
    return response


OIP_PREFIX = "/v2"  # the Open Inference Protocol's routes: app.oip


def is_oip_path(path: str) -> bool:
    return path == OIP_PREFIX or path.startswith(OIP_PREFIX + "/")


def error_response(status: int, code: str, message: str, headers: dict[str, str] | None = None) -> Response:
    if has_request_context() and is_oip_path(request.path):
        return json_response({"error": message}, status, headers)
    return json_response({"error": {"code": code, "message": message}}, status, headers)


def _http_error_message(exc: HTTPException, max_body_bytes: int) -> tuple[str, str]:
    path = request.path if len(request.path) <= _MAX_ECHOED_PATH else request.path[:_MAX_ECHOED_PATH] + "..."
    if exc.code == 404:
        return "not_found", f"no route {path}; the routes are listed at GET /openapi.json"
    if exc.code == 405:
        allowed = ", ".join(sorted(m for m in (exc.valid_methods or []) if m not in ("HEAD", "OPTIONS")))
        return "method_not_allowed", f"{request.method} is not allowed on {path}; use {allowed}"
    if exc.code == 413:
        return "too_large", f"the request body is over the limit of {max_body_bytes} bytes (MAX_BODY_BYTES)"
    if exc.code == 415:
        return "unsupported_media_type", exc.description or "unsupported content type"
    # Anything else werkzeug raises (rare: a malformed request line, ...): its name as a code.
    return re.sub(r"\W+", "_", (exc.name or "error").lower()).strip("_"), exc.description or ""


def register_error_handlers(app: Flask, max_body_bytes: int) -> None:
    @app.errorhandler(ApiError)
    def _api_error(exc: ApiError) -> Response:
        return error_response(exc.status, exc.code, exc.message)

    @app.errorhandler(HTTPException)
    def _http_error(exc: HTTPException) -> Response:
        code, message = _http_error_message(exc, max_body_bytes)
        # Keep werkzeug's headers that matter to clients (405's Allow), drop its HTML content type.
        headers = {k: v for k, v in exc.get_headers() if k.lower() != "content-type"}
        return error_response(exc.code or 500, code, message, headers)

    @app.errorhandler(Exception)
    def _unexpected(exc: Exception) -> Response:
        log.exception("unhandled error on %s %s", request.method, request.path)
        return error_response(500, "internal_error", "internal server error; the server log has the details")
