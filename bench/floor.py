"""The floor: onnxruntime's own time for one request's inference, in-process, no HTTP, no JSON."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from app.inference import ServedModel
from bench.timing import time_calls


def inference_floor(
    model_dir: Path, features: np.ndarray, runs: int = 5000, warmup: int = 200
) -> dict[str, float]:
    """Median and p99 of one [1, 64] prediction by the app's own model object (same session settings)."""
    model = ServedModel.load(model_dir)
    return time_calls(lambda: model.predict(features), runs, warmup)
