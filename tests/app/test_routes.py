"""Every route of the app, and the errors that are not about a predict body: 404, 405, 503, 500."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np
import pytest
from flask import Flask
from flask.testing import FlaskClient

from app.state import STATE_KEY
from model.manifest import Manifest
from tests.app.helpers import assert_error

ONE_INSTANCE = {"instances": [[0.0] * 64]}


def test_healthz(client: FlaskClient) -> None:
    response = client.get("/healthz")
    assert response.status_code == 200 and response.get_json() == {"status": "ok"}
    assert response.headers["X-Content-Type-Options"] == "nosniff"


def test_readyz_when_loaded(client: FlaskClient) -> None:
    response = client.get("/readyz")
    assert response.status_code == 200 and response.get_json() == {"status": "ready"}


def test_version(client: FlaskClient, reference_manifest: Manifest) -> None:
    response = client.get("/version")
    assert response.status_code == 200
    assert response.get_json() == {
        "app": {"version": "dev", "commit": "unknown"},
        "model": {
            "name": "digits",
            "version": reference_manifest.version,
            "sha256": reference_manifest.sha256,
        },
    }


def test_version_shows_app_version_and_commit(app_factory: Callable[..., Flask]) -> None:
    app = app_factory(app_version="2.0.1", git_commit="0123abcd")
    assert app.test_client().get("/version").get_json()["app"] == {"version": "2.0.1", "commit": "0123abcd"}


def test_not_ready_until_the_model_is_loaded(app_factory: Callable[..., Flask]) -> None:
    app = app_factory(load_model=False)
    client = app.test_client()
    assert client.get("/healthz").status_code == 200, "liveness does not involve the model"
    assert_error(client.get("/readyz"), 503, "not_ready")
    assert_error(client.get("/version"), 503, "not_ready")
    assert_error(client.post("/v1/predict", json=ONE_INSTANCE), 503, "not_ready")

    app.extensions[STATE_KEY].load_model()
    assert client.get("/readyz").status_code == 200
    assert client.get("/version").status_code == 200
    assert client.post("/v1/predict", json=ONE_INSTANCE).status_code == 200


@pytest.mark.parametrize(
    "path", ["/index.html", "/nope", "/v1/predict/", "/v1/infer", "/metrics", "/static/x.js"]
)
def test_unknown_route_is_404(client: FlaskClient, path: str) -> None:
    error = assert_error(client.get(path), 404, "not_found")
    assert path in error["message"] and "/openapi.json" in error["message"]


def test_a_huge_unknown_path_is_not_echoed_in_full(client: FlaskClient) -> None:
    error = assert_error(client.get("/" + "a" * 10_000), 404, "not_found")
    assert len(error["message"]) < 400


@pytest.mark.parametrize(
    ("method", "path", "allowed"),
    [
        ("POST", "/healthz", "GET"),
        ("DELETE", "/readyz", "GET"),
        ("PUT", "/version", "GET"),
        ("POST", "/openapi.json", "GET"),
        ("GET", "/v1/predict", "POST"),
        ("PATCH", "/v1/predict", "POST"),
        ("OPTIONS", "/v1/predict", "POST"),
    ],
)
def test_wrong_method_is_405(client: FlaskClient, method: str, path: str, allowed: str) -> None:
    response = client.open(path, method=method)
    error = assert_error(response, 405, "method_not_allowed")
    assert error["message"] == f"{method} is not allowed on {path}; use {allowed}"
    assert allowed in response.headers["Allow"]


def test_openapi_route_serves_json(client: FlaskClient) -> None:
    response = client.get("/openapi.json")
    assert response.status_code == 200 and response.mimetype == "application/json"
    assert response.get_json()["openapi"].startswith("3.")


class _BrokenModel:
    """A model whose inference fails: a server-side bug, not client input."""

    digits = True

    def __init__(self, manifest: Manifest) -> None:
        self.manifest = manifest

    def predict(self, features: np.ndarray) -> Any:
        raise RuntimeError("secret internal detail in /srv/app/inference.py")


def test_a_bug_is_a_500_without_a_traceback(app_factory: Callable[..., Flask], caplog: Any) -> None:
    app = app_factory()
    state = app.extensions[STATE_KEY]
    state.model = _BrokenModel(state.model.manifest)
    response = app.test_client().post("/v1/predict", json=ONE_INSTANCE)
    assert_error(response, 500, "internal_error")
    assert "secret internal detail" not in response.get_data(as_text=True)
    assert "secret internal detail" in caplog.text, "the traceback goes to the server log"
