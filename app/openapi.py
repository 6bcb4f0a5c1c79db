"""The OpenAPI 3.1 document of the app: exactly its routes, bodies and errors (a test compares it with the
app's url_map and validates real responses against these schemas). The /v2 part is app.oip.openapi's."""

from __future__ import annotations

from typing import Any

from app.errors import is_oip_path
from app.oip.openapi import json_answer, oip_paths, oip_schemas, schema_ref
from app.page import PAGE_FILES
from app.settings import AuthSettings, Settings
from app.signin import is_anonymous

ERROR_CODES = (
    "invalid_json",
    "invalid_input",
    "too_large",
    "unsupported_media_type",
    "not_found",
    "not_supported",
    "method_not_allowed",
    "not_ready",
    "unauthenticated",
    "forbidden",
    "internal_error",
)

_ERROR_TABLE = """\
Every error is JSON `{"error": {"code": str, "message": str}}`; the message says what was wrong.

| status | code | when |
|---|---|---|
| 400 | invalid_json | the body is not parseable JSON |
| 422 | invalid_input | well-formed but wrong: missing or both keys, empty batch, wrong shape, \
non-number, NaN/inf, out of range, undecodable or over-cap image |
| 413 | too_large | body over the size limit, or more inputs than the batch limit |
| 415 | unsupported_media_type | any other content type |
| 404 / 405 | not_found / method_not_allowed | unknown route, wrong method |
| 404 | not_supported | /v1/predict on a model without the digits interface: use /v2 |
| 503 | not_ready | the model is not loaded yet (or, with sign-in, the issuer's signing keys) |
| 401 | unauthenticated | sign-in on: no or an invalid Entra ID access token (`WWW-Authenticate: Bearer`) |
| 403 | forbidden | sign-in on: a valid token without the required app role |

Under /v2 (the Open Inference Protocol, KServe V2, for any ONNX model) the same statuses come with \
the protocol's body, `{"error": str}`; an unknown model or version is a 404 there, and the first \
dimension of every input is at most MAX_BATCH.

Prometheus metrics are served at `GET /metrics` on a separate port (METRICS_PORT), not on this one."""


_ref, _ok = schema_ref, json_answer


def _error(description: str) -> dict[str, Any]:
    return _ok(description, _ref("Error"))


def _schemas(settings: Settings) -> dict[str, Any]:
    batch = {"minItems": 1, "maxItems": settings.max_batch}
    closed = {"type": "object", "additionalProperties": False}
    return oip_schemas(settings) | {
        "Error": closed
        | {
            "required": ["error"],
            "properties": {
                "error": closed
                | {
                    "required": ["code", "message"],
                    "properties": {
                        "code": {"type": "string", "enum": list(ERROR_CODES)},
                        "message": {"type": "string"},
                    },
                }
            },
        },
        "Health": closed | {"required": ["status"], "properties": {"status": {"const": "ok"}}},
        "Ready": closed | {"required": ["status"], "properties": {"status": {"const": "ready"}}},
        "Version": closed
        | {
            "required": ["app", "model"],
            "properties": {
                "app": closed
                | {
                    "required": ["version", "commit"],
                    "properties": {"version": {"type": "string"}, "commit": {"type": "string"}},
                },
                "model": closed
                | {
                    "required": ["name", "version", "sha256"],
                    "properties": {
                        "name": {"type": "string"},
                        "version": {"type": "string"},
                        "sha256": {"type": "string", "pattern": "^[0-9a-f]{64}$"},
                    },
                },
            },
        },
        "InstancesRequest": closed
        | {
            "required": ["instances"],
            "properties": {
                "instances": {
                    "type": "array",
                    **batch,
                    "description": "8x8 digits, row by row: 64 numbers each, 0 (paper) to 16 (ink)",
                    "items": {
                        "type": "array",
                        "minItems": 64,
                        "maxItems": 64,
                        "items": {"type": "number", "minimum": 0, "maximum": 16},
                    },
                }
            },
        },
        "ImagesRequest": closed
        | {
            "required": ["images"],
            "properties": {
                "images": {
                    "type": "array",
                    **batch,
                    "description": (
                        "base64 PNG or JPEG images (a data:image/...;base64, prefix and line breaks are "
                        f"accepted), any size up to {settings.max_image_pixels} pixels, any colours: dark "
                        "ink on light paper or light ink on dark"
                    ),
                    "items": {"type": "string", "contentEncoding": "base64"},
                }
            },
        },
        "MultipartRequest": {
            "type": "object",
            "required": ["image"],
            "properties": {
                "image": {
                    "type": "array",
                    **batch,
                    "items": {"type": "string", "contentMediaType": "application/octet-stream"},
                    "description": "one or more file fields named `image`, each a PNG or JPEG",
                }
            },
        },
        "PredictResponse": closed
        | {
            "required": ["model", "predictions"],
            "properties": {
                "model": closed
                | {
                    "required": ["name", "version"],
                    "properties": {"name": {"type": "string"}, "version": {"type": "string"}},
                },
                "predictions": {
                    "type": "array",
                    "description": "one per input, in order",
                    "items": closed
                    | {
                        "required": ["label", "probabilities"],
                        "properties": {
                            "label": {"type": "integer", "minimum": 0, "maximum": 9},
                            "probabilities": {
                                "type": "array",
                                "minItems": 10,
                                "maxItems": 10,
                                "description": "P(label = 0..9), rounded to 6 decimals",
                                "items": {"type": "number", "minimum": 0, "maximum": 1},
                            },
                        },
                    },
                },
            },
        },
    }


def _page_paths() -> dict[str, Any]:
    """The page's routes (app/page.py): static files, revalidated by ETag."""
    return {
        page_file.path: {
            "get": {
                "operationId": page_file.operation_id,
                "summary": page_file.summary,
                "responses": {
                    "200": {
                        "description": "the file, with an ETag and a Content-Security-Policy",
                        "content": {page_file.mimetype: {"schema": {"type": "string"}}},
                    },
                    "304": {"description": "not modified: If-None-Match named the current ETag"},
                },
            }
        }
        for page_file in PAGE_FILES
    }


def _bearer_scheme(auth: AuthSettings) -> dict[str, Any]:
    role = f" holding the app role `{auth.required_role}`" if auth.required_role else ""
    return {
        "type": "http",
        "scheme": "bearer",
        "bearerFormat": "JWT",
        "description": (
            f"An Entra ID v2 access token for this API (aud {auth.audience}, iss {auth.issuer}){role}, "
            f"RS256. Get one with `{auth.token_command}`."
        ),
        "x-token-command": auth.token_command,  # read by the page, to tell a person how to sign in
    }


def _refusal(path: str, description: str, challenge: str) -> dict[str, Any]:
    """A 401 or 403 of app.signin: the error body of the path's protocol, and its WWW-Authenticate header."""
    answer = _ok(description, _ref("OipError" if is_oip_path(path) else "Error"))
    header = {"description": challenge, "schema": {"type": "string"}}
    return answer | {"headers": {"WWW-Authenticate": header}}


def _signed_in(paths: dict[str, Any], auth: AuthSettings) -> dict[str, Any]:
    """Every operation app.signin protects, with its security requirement and its 401 and 403."""
    secured: dict[str, Any] = {}
    for path, operations in paths.items():
        if is_anonymous(path):
            secured[path] = operations
            continue
        refusals = {
            "401": _refusal(
                path,
                "unauthenticated: no token, or an invalid one",
                '`Bearer` without a token, `Bearer error="invalid_token"` with an invalid one',
            )
        }
        if auth.required_role:
            refusals["403"] = _refusal(
                path,
                f"forbidden: a valid token without the app role {auth.required_role}",
                'Bearer error="insufficient_scope"',
            )
        secured[path] = {
            method: operation | {"security": [{"bearer": []}], "responses": operation["responses"] | refusals}
            for method, operation in operations.items()
        }
    return secured


def openapi_document(settings: Settings) -> dict[str, Any]:
    document = _document(settings)
    if settings.auth is not None:
        document["paths"] = _signed_in(document["paths"], settings.auth)
        document["components"]["securitySchemes"] = {"bearer": _bearer_scheme(settings.auth)}
    return document


def _document(settings: Settings) -> dict[str, Any]:
    not_ready = _error("not_ready: the model is not loaded yet")
    return {
        "openapi": "3.1.0",
        "info": {
            "title": "Handwritten digit classifier, and the Open Inference Protocol for any ONNX model",
            "version": settings.app_version,
            "description": _ERROR_TABLE,
        },
        "paths": {
            **_page_paths(),
            "/healthz": {
                "get": {
                    "operationId": "healthz",
                    "summary": "Liveness: the process answers (the model is not involved)",
                    "responses": {"200": _ok("alive", _ref("Health"))},
                }
            },
            "/readyz": {
                "get": {
                    "operationId": "readyz",
                    "summary": "Readiness: the model is loaded and verified",
                    "responses": {"200": _ok("ready to predict", _ref("Ready")), "503": not_ready},
                }
            },
            "/version": {
                "get": {
                    "operationId": "version",
                    "summary": "The app's version and commit, the served model's name, version and sha256",
                    "responses": {"200": _ok("versions", _ref("Version")), "503": not_ready},
                }
            },
            "/v1/predict": {
                "post": {
                    "operationId": "predict",
                    "summary": "Classify handwritten digits: 8x8 feature rows or images",
                    "requestBody": {
                        "required": True,
                        "description": (
                            f"at most {settings.max_body_bytes} bytes and {settings.max_batch} inputs"
                        ),
                        "content": {
                            "application/json": {
                                "schema": {"oneOf": [_ref("InstancesRequest"), _ref("ImagesRequest")]}
                            },
                            "multipart/form-data": {
                                "schema": _ref("MultipartRequest"),
                                "encoding": {"image": {"contentType": "image/png, image/jpeg"}},
                            },
                        },
                    },
                    "responses": {
                        "200": _ok("one prediction per input, in order", _ref("PredictResponse")),
                        "400": _error("invalid_json: the body is not parseable JSON"),
                        "413": _error(
                            "too_large: body over the size limit, or more inputs than the batch limit"
                        ),
                        "404": _error("not_supported: the model has not the digits interface; use /v2"),
                        "415": _error("unsupported_media_type: neither JSON nor multipart/form-data"),
                        "422": _error(
                            "invalid_input: well-formed but wrong (keys, shape, types, range, image)"
                        ),
                        "503": not_ready,
                    },
                }
            },
            "/openapi.json": {
                "get": {
                    "operationId": "openapi",
                    "summary": "This document",
                    "responses": {"200": _ok("the OpenAPI document", {"type": "object"})},
                }
            },
            **oip_paths(settings),
        },
        "components": {
            "schemas": _schemas(settings),
            "responses": {
                "NotFound": _error("not_found: no such route (any path not listed here)"),
                "MethodNotAllowed": _error(
                    "method_not_allowed: a listed path with a method it does not have"
                ),
            },
        },
    }
