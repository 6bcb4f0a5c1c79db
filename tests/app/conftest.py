"""Fixtures of the app tests: an app on the reference model (fetched as the image build does), a client."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient

from app.factory import create_app
from tests.app.helpers import make_settings


@pytest.fixture(scope="session")
def app_factory(reference_model_dir: Path) -> Callable[..., Flask]:
    def factory(load_model: bool = True, **overrides: Any) -> Flask:
        return create_app(make_settings(reference_model_dir, **overrides), load_model=load_model)

    return factory


@pytest.fixture(scope="session")
def shared_app(app_factory: Callable[..., Flask]) -> Flask:
    """One app for the tests that only read from it (its metrics accumulate across tests)."""
    return app_factory()


@pytest.fixture
def client(shared_app: Flask) -> FlaskClient:
    return shared_app.test_client()


@pytest.fixture(scope="session")
def pair_app(pair_model_dir: Path) -> Flask:
    """The app on the second model (tests/onnx_models.py "pair"): no digits interface."""
    return create_app(make_settings(pair_model_dir, max_batch=4))


@pytest.fixture(scope="session")
def echo_app(tmp_path_factory: pytest.TempPathFactory) -> Flask:
    """The app on a model with a BYTES (ONNX string) input and output."""
    from tests.onnx_models import echo_model, write_model_dir

    model_dir = write_model_dir(tmp_path_factory.mktemp("echo-model") / "model", echo_model(), "echo")
    return create_app(make_settings(model_dir))
