"""The predict job after parsing, shared by the Flask route and the WSGI fast lane (app.fastlane): features
-> model -> response body bytes, with the predictions counted. One function, so both answer the same bytes."""

from __future__ import annotations

import numpy as np

from app.inference import ServedModel
from app.jsonio import answer_bytes
from app.metrics import AppMetrics

PREDICT_PATH = "/v1/predict"
PROBABILITY_DECIMALS = 6
_SCALE = 10.0**PROBABILITY_DECIMALS  # 1e6 exactly, as numpy's round computes it


def predict_body(model: ServedModel, features: np.ndarray, metrics: AppMetrics) -> bytes:
    """The 200 body of POST /v1/predict for a parsed float32 [n, 64] batch.

    The predictions are counted last, once the body exists: if anything before raises, nothing was counted,
    so the fast lane can hand the request to Flask without counting it twice.
    """
    labels, probabilities = model.predict(features)
    labels = labels.tolist()
    body = answer_bytes(
        {
            "model": {"name": model.manifest.name, "version": model.manifest.version},
            "predictions": [
                {"label": label, "probabilities": row}
                for label, row in zip(labels, rounded(probabilities), strict=True)
            ],
        }
    )
    metrics.count_predictions(labels)
    return body


def rounded(probabilities: np.ndarray) -> list[list[float]]:
    """np.round(probabilities.astype(np.float64), 6).tolist(), for a batch's few values without numpy's
    three array operations: numpy rounds x as rint(x * 1e6) / 1e6 in float64, and round(x * 1e6) is that
    rint (half to even) as an exact int, so the division gives the same float; `or x * 0.0` keeps the sign of
    a zero as rint does (-0.0 for a small negative x). A NaN or an infinity (round raises) takes numpy's way.
    In float64 before rounding: a rounded float32 would print as 0.12345699965953827.
    """
    try:
        return [[round(x * _SCALE) / _SCALE or x * 0.0 for x in row] for row in probabilities.tolist()]
    except (ValueError, OverflowError):
        return np.round(probabilities.astype(np.float64), PROBABILITY_DECIMALS).tolist()
