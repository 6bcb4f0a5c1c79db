"""The one request every server gets: a real digit from scikit-learn's bundled data set."""

from __future__ import annotations

import json
from dataclasses import dataclass

import numpy as np
from sklearn.datasets import load_digits

# A fixed sample, so every run and every server sees byte-identical requests.
SAMPLE_INDEX = 0


@dataclass(frozen=True)
class Digit:
    features: np.ndarray  # float32 [1, 64], values 0..16
    label: int
    body: bytes  # {"instances": [[64 ints]]}


def reference_digit(index: int = SAMPLE_INDEX) -> Digit:
    digits = load_digits()
    pixels = digits.data[index]
    body = json.dumps({"instances": [[int(value) for value in pixels]]}).encode()
    return Digit(pixels.astype(np.float32).reshape(1, -1), int(digits.target[index]), body)
