"""`create_app(settings)`: the Flask app, with its model loaded once (per worker process) and its routes."""

from __future__ import annotations

import json

from flask import Flask, Response, request

from app.errors import error_response, json_bytes_response, json_response, register_error_handlers
from app.fastlane import JsonFastLane, JsonHandler
from app.inference import CLASSES
from app.inputs import parse_json_body, parse_predict_request
from app.metrics import AppMetrics, MetricsMiddleware, RouteLabels
from app.oip.routes import lane_handlers as oip_lane_handlers
from app.oip.routes import register_oip_routes
from app.openapi import openapi_document
from app.page import register_page
from app.prediction import PREDICT_PATH, predict_body
from app.settings import Settings
from app.signin import SignInGate
from app.state import STATE_KEY, ServingState
from app.tokens import TokenVerifier


def create_app(settings: Settings, *, load_model: bool = True) -> Flask:
    """The app: /v1 for the digits model, the Open Inference Protocol (/v2, app.oip) for any ONNX model.
    With load_model (the default) the model is loaded and verified now, and a bad model raises
    model.errors.ModelError; without, the app starts unready and `app.extensions["digits"].load_model()`
    makes it ready (tests use this to see /readyz answer 503, then 200). settings.fast_lane (FAST_LANE)
    puts app.fastlane in front of Flask; off, Flask serves every request (same bytes, same metrics). With
    sign-in on (AUTH_AUDIENCE), app.signin's gate is in front of both, and the signing keys are fetched in
    the background from now on (`state.keys`)."""
    app = Flask(__name__, static_folder=None)
    app.config["MAX_CONTENT_LENGTH"] = settings.max_body_bytes
    state = ServingState(settings, AppMetrics(CLASSES))
    app.extensions[STATE_KEY] = state
    if load_model:
        state.load_model()
    register_error_handlers(app, settings.max_body_bytes)
    _register_routes(app, state)
    register_oip_routes(app, state)
    register_page(app)
    labels = RouteLabels((rule.rule for rule in app.url_map.iter_rules()), [PREDICT_PATH], state.model_name)
    inner = app.wsgi_app
    if settings.fast_lane:
        inner = JsonFastLane(inner, _fast_lane_handlers(state), settings.max_body_bytes)
    if state.keys is not None and settings.auth is not None:
        inner = SignInGate(inner, TokenVerifier(settings.auth, state.keys))
        state.keys.start()
    app.wsgi_app = MetricsMiddleware(inner, state.metrics, labels)  # type: ignore[method-assign]
    return app


def _register_routes(app: Flask, state: ServingState) -> None:
    settings = state.settings
    openapi_body = json.dumps(openapi_document(settings), separators=(",", ":"))
    get = {"methods": ["GET"], "provide_automatic_options": False}

    @app.route("/healthz", **get)
    def healthz() -> Response:
        return json_response({"status": "ok"})

    @app.route("/readyz", **get)
    def readyz() -> Response:
        problem = state.not_ready()
        if problem is not None:
            return error_response(503, "not_ready", problem)
        return json_response({"status": "ready"})

    @app.route("/version", **get)
    def version() -> Response:
        manifest = state.require_model().manifest
        return json_response(
            {
                "app": {"version": settings.app_version, "commit": settings.git_commit},
                "model": {"name": manifest.name, "version": manifest.version, "sha256": manifest.sha256},
            }
        )

    @app.route("/openapi.json", **get)
    def openapi() -> Response:
        return Response(openapi_body, mimetype="application/json")

    # The plain JSON case of this route is served by app.fastlane without Flask (_fast_lane_handlers), through
    # the same require_model, parse_json_body and predict_body: a change here must keep the two in step
    # (tests/app/test_fastlane.py).
    @app.route(PREDICT_PATH, methods=["POST"], provide_automatic_options=False)
    def predict() -> Response:
        model = state.require_digits_model()
        features = parse_predict_request(
            request, settings.max_batch, settings.max_image_pixels, settings.max_body_bytes
        )
        return json_bytes_response(predict_body(model, features, state.metrics))


def _fast_lane_handlers(state: ServingState) -> dict[str, JsonHandler]:
    """What app.fastlane answers before Flask: a JSON route's path -> its plain JSON case (body -> 200 body),
    made of the same functions as its Flask route above; it raises for anything else, and Flask answers."""
    settings = state.settings

    def predict(body: bytes) -> bytes:
        model = state.require_digits_model()
        features = parse_json_body(body, settings.max_batch, settings.max_image_pixels)
        return predict_body(model, features, state.metrics)

    return {PREDICT_PATH: predict, **oip_lane_handlers(state)}
