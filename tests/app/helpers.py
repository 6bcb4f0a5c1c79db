"""Helpers of the app tests: settings for a model dir, real PNG/JPEG renderings of dataset digits, and the
check that a response is the contract's JSON error."""

from __future__ import annotations

import base64
import dataclasses
import io
from pathlib import Path
from typing import Any

import numpy as np
from PIL import Image

from app.settings import Settings, load_settings


def make_settings(model_dir: Path, **overrides: Any) -> Settings:
    """The defaults, as `python -m app` would read them from an empty environment, with overrides."""
    return dataclasses.replace(load_settings({"MODEL_DIR": str(model_dir)}), **overrides)


def render_digit(
    features: np.ndarray, size: int = 32, dark_on_light: bool = False, fmt: str = "PNG", mode: str = "L"
) -> bytes:
    """A dataset digit (64 values 0..16, ink high) as an image file: each of the 8x8 cells a size/8 square
    block of gray value v*255/16, white ink on black, or black ink on white paper."""
    gray = np.rint(features.reshape(8, 8) * (255.0 / 16.0)).astype(np.uint8)
    if dark_on_light:
        gray = 255 - gray
    image = Image.fromarray(gray, mode="L").resize((size, size), Image.Resampling.NEAREST).convert(mode)
    buffer = io.BytesIO()
    image.save(buffer, fmt, **({"quality": 95} if fmt == "JPEG" else {}))
    return buffer.getvalue()


def b64(data: bytes) -> str:
    return base64.b64encode(data).decode("ascii")


def assert_error(response: Any, status: int, code: str) -> dict[str, Any]:
    """The response is the JSON error of the contract, with this status and code; returns the error."""
    assert response.status_code == status, response.get_data(as_text=True)
    assert response.mimetype == "application/json"
    body = response.get_json()
    assert set(body) == {"error"} and set(body["error"]) == {"code", "message"}, body
    assert body["error"]["code"] == code, body
    assert body["error"]["message"], "an error must say what was wrong"
    assert "Traceback" not in response.get_data(as_text=True)
    return body["error"]
