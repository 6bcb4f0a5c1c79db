"""The kserve Python SDK's InferenceRESTClient (protocol v2), a client nobody here wrote, against the real app
over HTTP: readiness and inference with JSON and binary tensors for both models, and bad requests as the
client reports them. The SDK lives in its own virtualenv (tools/kserve/requirements.txt says why), so its
calls run in tests/oip/kserve_calls.py under that virtualenv's Python and come back as JSON."""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from tests.conftest import REPO, Digits, LiveApp
from tests.oip.conftest import PAIR_MAX_BATCH, v1_predictions
from tests.onnx_models import pair_expected

KSERVE_VENV = Path(os.environ.get("KSERVE_VENV", REPO / ".venv-kserve"))
CALLS = Path(__file__).with_name("kserve_calls.py")


def kserve_calls(app: LiveApp, model: str, calls: list[dict[str, Any]]) -> dict[str, Any]:
    python = KSERVE_VENV / "bin" / "python"
    if not python.exists():
        pytest.fail(
            f"the kserve SDK is not installed at {KSERVE_VENV}: `make tools` creates it (python3 -m venv "
            ".venv-kserve && .venv-kserve/bin/pip install -r tools/kserve/requirements.txt)"
        )
    done = subprocess.run(
        [str(python), str(CALLS), app.url, model],
        input=json.dumps(calls),
        capture_output=True,
        text=True,
        timeout=120,
        cwd=REPO,
    )
    assert done.returncode == 0, done.stderr[-4000:]
    return json.loads(done.stdout.strip().splitlines()[-1])


def _call(
    inputs: list[dict[str, Any]], binary: bool, outputs: list[str] | None = None, **extra: Any
) -> dict[str, Any]:
    return {
        "id": None,
        "binary": binary,
        "binary_outputs": binary,
        "inputs": inputs,
        "outputs": outputs,
    } | extra


def _tensor(name: str, array: np.ndarray, datatype: str) -> dict[str, Any]:
    return {
        "name": name,
        "datatype": datatype,
        "shape": list(array.shape),
        "data": array.ravel().tolist(),
        "dtype": str(array.dtype),
    }


def test_the_digits_model_answers_as_v1_does(live_app: LiveApp, digits: Digits) -> None:
    rows = digits.x[:10]
    expected = v1_predictions(live_app.url, rows.tolist())
    digit = _tensor("input", rows, "FP32")
    result = kserve_calls(
        live_app,
        "digits",
        [
            _call([digit], binary=False, id="json-1"),
            _call([digit], binary=True, outputs=["label", "probabilities"], id="binary-1"),
            _call([digit | {"datatype": "FP64", "dtype": "float64"}], binary=False),
            _call([_tensor("input", np.zeros((65, 64), np.float32), "FP32")], binary=True),
            _call([_tensor("input", np.zeros((1, 63), np.float32), "FP32")], binary=False),
        ],
    )
    assert (result["live"], result["ready"], result["model_ready"]) == (True, True, True)
    json_answer, binary_answer, *errors = result["answers"]
    assert (json_answer["id"], binary_answer["id"]) == ("json-1", "binary-1")
    for answer in (json_answer, binary_answer):
        assert answer["model_name"] == "digits"
        assert answer["outputs"]["label"]["data"] == [p["label"] for p in expected] == digits.y[:10].tolist()
        probabilities = np.array(answer["outputs"]["probabilities"]["data"]).reshape(10, 10)
        assert np.round(probabilities, 6).tolist() == [p["probabilities"] for p in expected]
    # The SDK raises httpx.HTTPStatusError whose text carries the server's "error" message and status.
    wrong_type, over_batch, wrong_shape = errors
    assert wrong_type["status"] == 400 and "is FP32, not 'FP64'" in wrong_type["message"]
    assert over_batch["status"] == 413 and "(MAX_BATCH)" in over_batch["message"]
    assert wrong_shape["status"] == 400 and "the model takes [-1, 64]" in wrong_shape["message"]


def test_the_second_model(pair_live_app: LiveApp) -> None:
    a = np.array([[1.5, -2.0], [0.0, 4.25]], dtype=np.float64)
    b = np.array([[-3, 2], [0, -9]], dtype=np.int32)
    total, positive = pair_expected(a, b)
    inputs = [_tensor("a", a, "FP64"), _tensor("b", b, "INT32")]
    too_many = PAIR_MAX_BATCH + 1
    result = kserve_calls(
        pair_live_app,
        "pair",
        [
            _call(inputs, binary=False),
            _call(inputs, binary=True, outputs=["total", "positive"]),
            _call(inputs[:1], binary=False),
            _call(
                [
                    _tensor("a", np.ones((too_many, 2)), "FP64"),
                    _tensor("b", np.ones((too_many, 2), np.int32), "INT32"),
                ],
                binary=True,
            ),
        ],
    )
    assert result["model_ready"] is True
    for answer in result["answers"][:2]:
        assert answer["outputs"]["total"] == {
            "datatype": "FP32",
            "shape": [2, 2],
            "data": total.ravel().tolist(),
        }
        assert answer["outputs"]["positive"] == {
            "datatype": "BOOL",
            "shape": [2, 2],
            "data": positive.ravel().tolist(),
        }
    missing, over_batch = result["answers"][2:]
    assert missing["status"] == 400 and "missing input(s) 'b'" in missing["message"]
    assert over_batch["status"] == 413 and "input 'a' has a batch of 5" in over_batch["message"]
