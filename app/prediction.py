"""The predict job after parsing, shared by the Flask route and the WSGI fast lane (app.fastlane): features
-> model -> response body bytes, with the predictions counted. One function, so both answer the same bytes."""

from __future__ import annotations

import numpy as np

from app.errors import json_bytes
from app.inference import ServedModel
from app.metrics import AppMetrics

PREDICT_PATH = "/v1/predict"
PROBABILITY_DECIMALS = 6


def predict_body(model: ServedModel, features: np.ndarray, metrics: AppMetrics) -> bytes:
    """The 200 body of POST /v1/predict for a parsed float32 [n, 64] batch.

    The predictions are counted last, once the body exists: if anything before raises, nothing was counted,
    so the fast lane can hand the request to Flask without counting it twice.
    """
    labels, probabilities = model.predict(features)
    # float64 before rounding: a rounded float32 would print as 0.12345699965953827.
    rounded = np.round(probabilities.astype(np.float64), PROBABILITY_DECIMALS).tolist()
    body = json_bytes(
        {
            "model": {"name": model.manifest.name, "version": model.manifest.version},
            "predictions": [
                {"label": label, "probabilities": row}
                for label, row in zip(labels.tolist(), rounded, strict=True)
            ],
        }
    )
    metrics.count_predictions(labels)
    return body
