"""The real app (`python -m app` under granian) for the inference protocol's real clients: the digits model
(tests/conftest.py's live_app) and the second model, with small limits so the clients can reach them."""

from __future__ import annotations

import json
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import LiveApp, serve_app

PAIR_MAX_BATCH = 4
PAIR_MAX_BODY_BYTES = 4096


@pytest.fixture(scope="session")
def pair_live_app(pair_model_dir: Path) -> Iterator[LiveApp]:
    with serve_app(
        pair_model_dir, MAX_BATCH=str(PAIR_MAX_BATCH), MAX_BODY_BYTES=str(PAIR_MAX_BODY_BYTES)
    ) as app:
        yield app


def v1_predictions(url: str, rows: list[list[float]]) -> list[dict[str, Any]]:
    """What /v1/predict answers for these rows: the reference the v2 answers are held to."""
    request = urllib.request.Request(
        f"{url}/v1/predict",
        data=json.dumps({"instances": rows}).encode(),
        headers={"Content-Type": "application/json"},
    )
    with urllib.request.urlopen(request, timeout=10) as response:
        return json.load(response)["predictions"]
