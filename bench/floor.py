"""The floor: onnxruntime's own time for one request's inference, in-process, no HTTP, no JSON."""

from __future__ import annotations

import statistics
import time
from pathlib import Path

import numpy as np
import onnxruntime as ort

from model.manifest import MODEL_FILE


def _session(model_path: Path) -> ort.InferenceSession:
    # The serving app's settings: one thread, sequential, all graph optimisations.
    options = ort.SessionOptions()
    options.intra_op_num_threads = 1
    options.inter_op_num_threads = 1
    options.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
    options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
    return ort.InferenceSession(str(model_path), options, providers=["CPUExecutionProvider"])


def inference_floor(
    model_dir: Path, features: np.ndarray, runs: int = 5000, warmup: int = 200
) -> dict[str, float]:
    """Median and p99 of `session.run` on one request's [1, 64] batch, in microseconds."""
    session = _session(model_dir / MODEL_FILE)
    feed = {session.get_inputs()[0].name: features}
    outputs = [output.name for output in session.get_outputs()]
    for _ in range(warmup):
        session.run(outputs, feed)
    timings: list[float] = []
    for _ in range(runs):
        started = time.perf_counter_ns()
        session.run(outputs, feed)
        timings.append((time.perf_counter_ns() - started) / 1000)
    timings.sort()
    return {
        "runs": runs,
        "p50_us": round(statistics.median(timings), 1),
        "p99_us": round(timings[int(0.99 * (runs - 1))], 1),
        "mean_us": round(statistics.fmean(timings), 1),
    }
