"""NVIDIA's tritonclient[http], a client nobody here wrote, against the real app over HTTP: health, metadata,
readiness, inference with JSON tensors and with binary tensors (its defaults), for the digits model (the same
labels and probabilities as /v1) and the second model; and each bad request as the client sees it."""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import pytest
import tritonclient.http as triton
from tritonclient.utils import InferenceServerException

from tests.conftest import Digits, LiveApp
from tests.oip.conftest import PAIR_MAX_BATCH, v1_predictions
from tests.onnx_models import DIGITS_METADATA, pair_expected


def _client(app: LiveApp) -> triton.InferenceServerClient:
    return triton.InferenceServerClient(
        app.url.removeprefix("http://"), connection_timeout=10, network_timeout=10
    )


def test_health_metadata_and_readiness(live_app: LiveApp, pair_live_app: LiveApp) -> None:
    client = _client(live_app)
    assert client.is_server_live() and client.is_server_ready()
    assert client.get_server_metadata() == {
        "name": "aiapp",
        "version": "dev",
        "extensions": ["binary_tensor_data"],
    }
    assert client.is_model_ready("digits") and client.is_model_ready("digits", "1")
    assert not client.is_model_ready("mnist") and not client.is_model_ready("digits", "2")
    metadata = client.get_model_metadata("digits")
    assert metadata == client.get_model_metadata("digits", "1")
    assert metadata == DIGITS_METADATA
    pair = _client(pair_live_app).get_model_metadata("pair")
    assert [(t["name"], t["datatype"], t["shape"]) for t in pair["inputs"] + pair["outputs"]] == [
        ("a", "FP64", [-1, 2]),
        ("b", "INT32", [-1, 2]),
        ("total", "FP32", [-1, 2]),
        ("positive", "BOOL", [-1, 2]),
    ]


@pytest.mark.parametrize("binary", [False, True], ids=["json", "binary"])
def test_inference_gives_the_v1_labels_and_probabilities(
    live_app: LiveApp, digits: Digits, binary: bool
) -> None:
    rows = digits.x[:12]
    expected = v1_predictions(live_app.url, rows.tolist())
    infer_input = triton.InferInput("input", list(rows.shape), "FP32")
    infer_input.set_data_from_numpy(rows, binary_data=binary)
    outputs = [triton.InferRequestedOutput(name, binary_data=binary) for name in ("label", "probabilities")]
    result = _client(live_app).infer("digits", [infer_input], outputs=outputs, request_id=f"r-{binary}")
    assert result.get_response()["id"] == f"r-{binary}"
    assert all(("parameters" in output) is binary for output in result.get_response()["outputs"])
    assert result.as_numpy("label").tolist() == [p["label"] for p in expected] == digits.y[:12].tolist()
    probabilities = result.as_numpy("probabilities")
    assert probabilities.dtype == np.float32 and probabilities.shape == (12, 10)
    assert np.round(probabilities.astype(np.float64), 6).tolist() == [p["probabilities"] for p in expected]


def test_inference_with_the_clients_defaults(live_app: LiveApp, digits: Digits) -> None:
    """Binary input, no outputs named: tritonclient asks for every output as binary data."""
    rows = digits.x[20:23]
    infer_input = triton.InferInput("input", list(rows.shape), "FP32").set_data_from_numpy(rows)
    result = _client(live_app).infer("digits", [infer_input], model_version="1")
    assert result.as_numpy("label").tolist() == [
        p["label"] for p in v1_predictions(live_app.url, rows.tolist())
    ]
    assert result.get_response()["model_version"] == "1"


@pytest.mark.parametrize("binary", [False, True], ids=["json", "binary"])
def test_the_second_model(pair_live_app: LiveApp, binary: bool) -> None:
    a = np.array([[0.25, -1.0], [3.5, 1e-9], [-8.0, 2.0]], dtype=np.float64)
    b = np.array([[1, 0], [-4, 7], [8, -3]], dtype=np.int32)
    inputs = [triton.InferInput("a", [3, 2], "FP64"), triton.InferInput("b", [3, 2], "INT32")]
    inputs[0].set_data_from_numpy(a, binary_data=binary)
    inputs[1].set_data_from_numpy(b, binary_data=binary)
    outputs = [triton.InferRequestedOutput(name, binary_data=binary) for name in ("positive", "total")]
    result = _client(pair_live_app).infer("pair", inputs, outputs=outputs)
    total, positive = pair_expected(a, b)
    assert result.as_numpy("total").tobytes() == total.tobytes()
    assert result.as_numpy("positive").tolist() == positive.tolist()
    assert [o["name"] for o in result.get_response()["outputs"]] == ["positive", "total"]


def _server_error(call: Callable[[], object]) -> InferenceServerException:
    with pytest.raises(InferenceServerException) as raised:
        call()
    return raised.value


def test_bad_requests_as_the_client_sees_them(live_app: LiveApp, pair_live_app: LiveApp) -> None:
    digits_client, pair_client = _client(live_app), _client(pair_live_app)

    def digit_input(rows: int, columns: int = 64, datatype: str = "FP32") -> triton.InferInput:
        dtype = {"FP32": np.float32, "FP64": np.float64}[datatype]
        return triton.InferInput("input", [rows, columns], datatype).set_data_from_numpy(
            np.zeros((rows, columns), dtype)
        )

    def pair_inputs(a_rows: int, b_rows: int) -> list[triton.InferInput]:
        return [
            triton.InferInput("a", [a_rows, 2], "FP64").set_data_from_numpy(np.ones((a_rows, 2))),
            triton.InferInput("b", [b_rows, 2], "INT32").set_data_from_numpy(np.ones((b_rows, 2), np.int32)),
        ]

    cases = [
        (lambda: digits_client.infer("mnist", [digit_input(1)]), "404", "unknown model 'mnist'"),
        (lambda: digits_client.infer("digits", [digit_input(1)], model_version="9"), "404", "no version '9'"),
        (lambda: digits_client.get_model_metadata("mnist"), "404", "unknown model 'mnist'"),
        (
            lambda: digits_client.infer("digits", [digit_input(1, datatype="FP64")]),
            "400",
            "is FP32, not 'FP64'",
        ),
        (lambda: digits_client.infer("digits", [digit_input(1, 63)]), "400", "the model takes [-1, 64]"),
        (
            lambda: digits_client.infer("digits", [digit_input(65)]),
            "413",
            "more than the limit of 64 (MAX_BATCH)",
        ),
        (
            lambda: digits_client.infer(
                "digits", [digit_input(1)], outputs=[triton.InferRequestedOutput("logits")]
            ),
            "400",
            "no output 'logits'",
        ),
        (
            lambda: pair_client.infer("pair", pair_inputs(1, 1)[:1]),
            "400",
            "missing input(s) 'b' (INT32 [-1, 2])",
        ),
        (
            lambda: pair_client.infer("pair", pair_inputs(PAIR_MAX_BATCH + 1, 1)),
            "413",
            "input 'a' has a batch of 5",
        ),
        (lambda: pair_client.infer("pair", pair_inputs(2, 3)), "400", "the model cannot run on these inputs"),
        (
            lambda: pair_client.infer("pair", pair_inputs(1, 1), request_id="x" * 5000),
            "413",
            "MAX_BODY_BYTES",
        ),
    ]
    for call, status, message in cases:
        error = _server_error(call)
        assert (error.status(), message in error.message()) == (status, True), (status, message, str(error))
