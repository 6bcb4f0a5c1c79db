"""The two real handwritten digits the release predicts with (the smoke test and the SLO watch), and what a
right answer to them is. Standard library only: the smoke test runs without the project's dependencies."""

from __future__ import annotations

import math
from typing import Any

# Two real 8x8 digits (values 0..16, one row of the image per line) from scikit-learn's bundled digits data
# set, `load_digits()` rows 1290 and 1455, with their true labels. Both are in the reference model's held-out
# test split; several retrained models and a plain logistic regression all give them > 0.99.
DIGITS: tuple[tuple[int, tuple[int, ...]], ...] = (
    (3, (
         0,  4, 14, 16, 16, 15,  2,  0,
         0, 12, 11,  2,  4, 16,  5,  0,
         0,  2,  0,  1, 11, 12,  0,  0,
         0,  0,  0, 15, 16,  3,  0,  0,
         0,  0,  0,  4, 15, 10,  0,  0,
         0,  0,  0,  0,  1, 14, 10,  0,
         0,  1,  7,  0,  3, 14,  8,  0,
         0,  4, 15, 16, 16, 11,  0,  0,
    )),
    (8, (
         0,  0,  2, 11, 13,  5,  0,  0,
         0,  0, 16, 10, 13, 16,  7,  0,
         0,  0, 14, 10,  0, 10, 11,  0,
         0,  0,  4, 14, 16, 13,  1,  0,
         0,  0,  0, 11, 13, 12,  1,  0,
         0,  0,  8, 10,  2, 14,  3,  0,
         0,  0, 10, 10,  3, 15,  1,  0,
         0,  0,  2, 15, 16,  6,  0,  0,
    )),
)  # fmt: skip

# The body of POST /v1/predict with both digits.
PAYLOAD = {"instances": [list(pixels) for _, pixels in DIGITS]}


def answer_problems(body: Any, expected_version: str) -> list[str]:
    """Why the JSON answer of /v1/predict to PAYLOAD is wrong (an empty list when it is right): the model
    version, then each digit's label and probabilities."""
    if not isinstance(body, dict):
        return [f"/v1/predict answered {body!r}, not a JSON object"]
    problems = []
    model = body.get("model") if isinstance(body.get("model"), dict) else {}
    if str(model.get("version")) != expected_version:
        problems.append(
            f"/v1/predict answered with model version {model.get('version')!r}, not {expected_version!r}"
        )
    predictions = body.get("predictions")
    if not isinstance(predictions, list) or len(predictions) != len(DIGITS):
        return [*problems, f"/v1/predict returned {predictions!r}, not {len(DIGITS)} predictions"]
    for index, ((label, _), prediction) in enumerate(zip(DIGITS, predictions, strict=True)):
        problems += [f"digit #{index} (a {label}): {p}" for p in _one_prediction_problems(label, prediction)]
    return problems


def _one_prediction_problems(label: int, prediction: Any) -> list[str]:
    if not isinstance(prediction, dict):
        return [f"the prediction is {prediction!r}, not an object"]
    problems = []
    got = prediction.get("label")
    if not isinstance(got, int) or isinstance(got, bool) or got != label:
        problems.append(f"predicted label {got!r}")
    probabilities = prediction.get("probabilities")
    if not (
        isinstance(probabilities, list)
        and len(probabilities) == 10
        and all(isinstance(p, int | float) and not isinstance(p, bool) and 0 <= p <= 1 for p in probabilities)
    ):
        return [*problems, f"probabilities {probabilities!r} are not 10 numbers in 0..1"]
    if not math.isclose(sum(probabilities), 1.0, abs_tol=1e-3):
        problems.append(f"probabilities sum to {sum(probabilities):.4f}, not 1")
    if max(range(10), key=lambda k: probabilities[k]) != label:
        problems.append(f"the most probable class is not the label {label}")
    return problems
