"""The one digit every server gets, and how each protocol asks for it and answers.

A real digit from scikit-learn's bundled data set, posted as /v1/predict's JSON or as the same digit in an
Open Inference Protocol (v2) JSON inference request: the two rows of `make bench` that compare the
protocols send the very same 64 values.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
from sklearn.datasets import load_digits

# A fixed sample, so every run and every server sees byte-identical requests.
SAMPLE_INDEX = 0
V1_PATH = "/v1/predict"


@dataclass(frozen=True)
class Digit:
    features: np.ndarray  # float32 [1, 64], values 0..16
    label: int
    body: bytes  # {"instances": [[64 ints]]}
    v2_body: bytes  # {"inputs": [{"name": "input", "shape": [1, 64], "datatype": "FP32", "data": [64 ints]}]}


@dataclass(frozen=True)
class Protocol:
    name: str  # "v1" or "v2"
    path: str
    body: bytes
    label_of: Callable[[bytes], int]  # the answer's label; raises (KeyError, ValueError...) on another answer


def reference_digit(index: int = SAMPLE_INDEX) -> Digit:
    digits = load_digits()
    pixels = [int(value) for value in digits.data[index]]
    body = json.dumps({"instances": [pixels]}).encode()
    v2_body = json.dumps(
        {"inputs": [{"name": "input", "shape": [1, 64], "datatype": "FP32", "data": pixels}]}
    )
    features = np.array(pixels, dtype=np.float32).reshape(1, -1)
    return Digit(features, int(digits.target[index]), body, v2_body.encode())


def _v1_label(answer: bytes) -> int:
    prediction = json.loads(answer)["predictions"][0]
    if len(prediction["probabilities"]) != 10:
        raise ValueError("not 10 probabilities")
    return int(prediction["label"])


def _v2_label(answer: bytes) -> int:
    outputs = {output["name"]: output for output in json.loads(answer)["outputs"]}
    if outputs["probabilities"]["shape"] != [1, 10]:
        raise ValueError("not 10 probabilities")
    return int(outputs["label"]["data"][0])


def protocols(digit: Digit, model_name: str) -> dict[str, Protocol]:
    """How each protocol asks for `digit`: v2 names the served model in its path."""
    return {
        "v1": Protocol("v1", V1_PATH, digit.body, _v1_label),
        "v2": Protocol("v2", f"/v2/models/{model_name}/infer", digit.v2_body, _v2_label),
    }
