"""Sign-in: a WSGI gate in front of everything that runs or describes the model (the fast lane included).

Every path needs a valid token (app.tokens) except the anonymous ones below, matched exactly: the probes,
the API's description and the page's files, and the inference protocol's health routes. A path that is not
listed is protected, so a route added later is protected until someone decides otherwise here, and an
unknown path answers 401 before 404 (no route map for anonymous callers).

A refusal keeps its status and WWW-Authenticate challenge on every route; its body is the error of the
route's protocol: `{"error": {"code", "message"}}` for this app's API, `{"error": "<message>"}` under /v2
(the Open Inference Protocol, app.oip): server and model metadata and inference need a token there, health
and model readiness do not.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from http import HTTPStatus
from typing import Any

from app.errors import JSON_CONTENT_TYPE, SECURITY_HEADERS, is_oip_path, json_bytes
from app.oip.routes import HEALTH_PATHS
from app.page import PAGE_FILES
from app.tokens import Refused, TokenVerifier

WsgiApp = Callable[[dict[str, Any], Callable[..., Any]], Iterable[bytes]]

ANONYMOUS_PATHS = frozenset({"/healthz", "/readyz", "/openapi.json", *(page.path for page in PAGE_FILES)})


def is_anonymous(path: str) -> bool:
    """The probes, the description, the page; and the inference protocol's health routes (app.oip)."""
    return path in ANONYMOUS_PATHS or HEALTH_PATHS.fullmatch(path) is not None


def refusal_body(path: str, refused: Refused) -> bytes:
    """The error body of the route's protocol, as app.errors.error_response writes it."""
    if is_oip_path(path):
        return json_bytes({"error": refused.message})
    return json_bytes({"error": {"code": refused.code, "message": refused.message}})


class SignInGate:
    def __init__(self, inner: WsgiApp, verifier: TokenVerifier) -> None:
        self.inner, self.verifier = inner, verifier

    def __call__(self, environ: dict[str, Any], start_response: Callable[..., Any]) -> Iterable[bytes]:
        path = environ.get("PATH_INFO", "")
        if is_anonymous(path):
            return self.inner(environ, start_response)
        try:
            self.verifier.check(environ.get("HTTP_AUTHORIZATION"))
        except Refused as refused:
            body = refusal_body(path, refused)
            headers = [
                ("Content-Type", JSON_CONTENT_TYPE),
                ("Content-Length", str(len(body))),
                *SECURITY_HEADERS,
            ]
            if refused.challenge:
                headers.append(("WWW-Authenticate", refused.challenge))
            start_response(f"{refused.status} {HTTPStatus(refused.status).phrase}", headers)
            return [body]
        return self.inner(environ, start_response)
