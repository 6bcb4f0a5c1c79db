"""The /v2 routes (Open Inference Protocol, REST), and the fast lane's entries for its JSON inference.

Health and model readiness answer without the model's details and are meant to stay anonymous, like
/healthz (the probes call them); server metadata, model metadata and inference describe or run the model.
The two groups are registered by two functions below, so a check in front of one group is one place.
"""

from __future__ import annotations

import re
from typing import Any

from flask import Flask, Response, request

from app.errors import SECURITY_HEADERS, ApiError, json_bytes_response, json_response
from app.fastlane import JsonHandler
from app.inference import PLATFORM, ServedModel
from app.inputs import read_body
from app.oip.infer import HEADER_LENGTH, infer_body
from app.oip.request import parse_infer_request, split_body
from app.state import ServingState

SERVER_NAME = "aiapp"
EXTENSIONS = ("binary_tensor_data",)  # Triton's binary tensor data extension (app.oip.infer)
# Every per-model route exists with and without the version; without it, the served version answers.
MODEL_RULES = ("/v2/models/<name>", "/v2/models/<name>/versions/<version>")
_GET = {"methods": ["GET"], "provide_automatic_options": False}
# A JSON body, a binary one (header + tensors, as the kserve SDK labels it) or none: JSON (tritonclient and
# the kserve SDK send JSON without a Content-Type).
_INFER_MEDIA_TYPES = ("", "application/json", "application/octet-stream")


def register_oip_routes(app: Flask, state: ServingState) -> None:
    register_health_routes(app, state)
    register_model_routes(app, state)


# The paths of the routes register_health_routes declares (MODEL_RULES' included): app.signin lets them pass
# without a token, as it does /healthz and /readyz.
HEALTH_PATHS = re.compile(r"/v2/health/(live|ready)|/v2/models/[^/]+(/versions/[^/]+)?/ready")


def register_health_routes(app: Flask, state: ServingState) -> None:
    """Liveness, readiness, model readiness: for probes, anonymous like /healthz and /readyz."""

    @app.route("/v2/health/live", **_GET)
    def oip_live() -> Response:
        return json_response({"live": True})

    @app.route("/v2/health/ready", **_GET)
    def oip_ready() -> Response:
        # The body too, not only the status: the kserve SDK reads "ready" from it. Ready as /readyz is: the
        # model loaded, and with sign-in, the issuer's keys fetched.
        ready = state.not_ready() is None
        return json_response({"ready": ready}, 200 if ready else 503)

    def oip_model_ready(name: str, version: str | None = None) -> Response:
        if state.model is None:
            return json_response({"name": name, "ready": False}, 503)
        served_model(state, name, version)
        return json_response({"name": name, "ready": True})

    for rule in MODEL_RULES:
        app.add_url_rule(f"{rule}/ready", view_func=oip_model_ready, **_GET)


def register_model_routes(app: Flask, state: ServingState) -> None:
    """Server and model metadata, and inference: what describes or runs the model."""
    settings = state.settings

    @app.route("/v2", **_GET)
    def oip_server_metadata() -> Response:
        return json_response(
            {"name": SERVER_NAME, "version": settings.app_version, "extensions": list(EXTENSIONS)}
        )

    def oip_model_metadata(name: str, version: str | None = None) -> Response:
        return json_response(model_metadata(served_model(state, name, version)))

    # The plain JSON case is served by the fast lane too (lane_handlers): the same parse and answer.
    def oip_infer(name: str, version: str | None = None) -> Response:
        model = served_model(state, name, version)
        _check_infer_media_type()
        header, binary = split_body(
            read_body(request, settings.max_body_bytes), request.headers.get(HEADER_LENGTH)
        )
        body, header_length = infer_body(
            model, parse_infer_request(header, binary, model, settings.max_batch)
        )
        if header_length is None:
            return json_bytes_response(body)
        response = Response(body, mimetype="application/octet-stream")
        response.headers.update({HEADER_LENGTH: str(header_length), **dict(SECURITY_HEADERS)})
        return response

    for rule in MODEL_RULES:
        app.add_url_rule(rule, view_func=oip_model_metadata, **_GET)
        app.add_url_rule(
            f"{rule}/infer", view_func=oip_infer, methods=["POST"], provide_automatic_options=False
        )


def served_model(state: ServingState, name: str, version: str | None) -> ServedModel:
    """The model a per-model route names: 503 before it is loaded, 404 for another name or version."""
    model = state.require_model()
    served_name, served_version = model.manifest.name, model.manifest.version
    if name != served_name:
        raise ApiError(404, "not_found", f"unknown model {name!r}; this server serves {served_name!r}")
    if version is not None and version != served_version:
        raise ApiError(
            404,
            "not_found",
            f"model {name!r} has no version {version!r}; the served version is {served_version!r}",
        )
    return model


def model_metadata(model: ServedModel) -> dict[str, Any]:
    """Read from the ONNX model itself: every input and output with its datatype and shape."""
    return {
        "name": model.manifest.name,
        "versions": [model.manifest.version],
        "platform": PLATFORM,
        "inputs": [spec.metadata() for spec in model.inputs],
        "outputs": [spec.metadata() for spec in model.outputs],
    }


def _check_infer_media_type() -> None:
    if request.mimetype not in _INFER_MEDIA_TYPES:
        raise ApiError(
            415,
            "unsupported_media_type",
            f"content type {request.mimetype!r} is not supported; send application/json (or no content "
            f"type), or application/octet-stream with {HEADER_LENGTH} (binary tensor data)",
        )
    encoding = request.headers.get("Content-Encoding", "identity").strip().lower()
    if encoding != "identity":
        raise ApiError(
            415,
            "unsupported_media_type",
            f"Content-Encoding {encoding!r} is not supported; send the body as is",
        )


class _BinaryAnswer(Exception):
    """The request asks for binary tensor data: Flask writes that answer, the lane only writes JSON."""


def lane_handlers(state: ServingState) -> dict[str, JsonHandler]:
    """The fast lane's entries: a plain JSON inference on the served model's two infer paths, made of the
    same parse and answer as oip_infer. The paths name the model, so they exist once it is loaded: an app
    created without its model (tests) serves /v2 inference through Flask only."""
    if state.model is None:
        return {}
    max_batch = state.settings.max_batch

    def infer_json(body: bytes) -> bytes:
        model = state.require_model()
        parsed = parse_infer_request(body, b"", model, max_batch)
        if parsed.binary_outputs:
            raise _BinaryAnswer
        return infer_body(model, parsed)[0]

    name, version = state.model.manifest.name, state.model.manifest.version
    return {f"/v2/models/{name}/infer": infer_json, f"/v2/models/{name}/versions/{version}/infer": infer_json}
