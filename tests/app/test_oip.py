"""The Open Inference Protocol (/v2) in-process: health, metadata read from the model, inference with JSON and
binary tensors, for the digits model, a second model (two inputs, FP64 and INT32; FP32 and BOOL out) and a
BYTES model; every mismatch a 4xx with the protocol's error body. The real clients: tests/oip/."""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

import numpy as np
import pytest
from flask import Flask
from flask.testing import FlaskClient

from app.state import STATE_KEY
from tests.app.helpers import assert_error
from tests.app.oip_helpers import HEADER_LENGTH, assert_oip_error, binary_body, read_outputs, tensor
from tests.conftest import Digits
from tests.onnx_models import DIGITS_METADATA, pair_expected

INFER = "/v2/models/digits/infer"
ZERO_ROW = [0] * 64


def _digit_input(rows: Any, datatype: str = "FP32") -> dict[str, Any]:
    rows = np.asarray(rows, dtype=np.float32)
    return {"name": "input", "shape": list(rows.shape), "datatype": datatype, "data": rows.ravel().tolist()}


def test_health_and_server_metadata(client: FlaskClient) -> None:
    assert client.get("/v2/health/live").get_json() == {"live": True}
    assert client.get("/v2/health/ready").get_json() == {"ready": True}
    assert client.get("/v2").get_json() == {
        "name": "aiapp",
        "version": "dev",
        "extensions": ["binary_tensor_data"],
    }
    assert client.get("/v2/models/digits/ready").get_json() == {"name": "digits", "ready": True}
    assert client.get("/v2/models/digits/versions/1/ready").status_code == 200


def test_not_ready_until_the_model_is_loaded(app_factory: Callable[..., Flask]) -> None:
    app = app_factory(load_model=False)
    client = app.test_client()
    assert client.get("/v2/health/live").status_code == 200
    ready = client.get("/v2/health/ready")
    assert (ready.status_code, ready.get_json()) == (503, {"ready": False})
    model_ready = client.get("/v2/models/digits/ready")
    assert (model_ready.status_code, model_ready.get_json()) == (503, {"name": "digits", "ready": False})
    assert_oip_error(client.get("/v2/models/digits"), 503, "not loaded")
    assert_oip_error(client.post(INFER, json={"inputs": [_digit_input([ZERO_ROW])]}), 503, "not loaded")
    app.extensions[STATE_KEY].load_model()
    assert client.get("/v2/health/ready").get_json() == {"ready": True}
    assert client.post(INFER, json={"inputs": [_digit_input([ZERO_ROW])]}).status_code == 200


def test_model_metadata_is_read_from_the_model(client: FlaskClient, pair_app: Flask) -> None:
    digits = DIGITS_METADATA
    assert client.get("/v2/models/digits").get_json() == digits
    assert client.get("/v2/models/digits/versions/1").get_json() == digits
    pair = pair_app.test_client().get("/v2/models/pair/versions/3").get_json()
    assert pair == {
        "name": "pair",
        "versions": ["3"],
        "platform": "onnx_onnxv1",
        "inputs": [
            {"name": "a", "datatype": "FP64", "shape": [-1, 2]},
            {"name": "b", "datatype": "INT32", "shape": [-1, 2]},
        ],
        "outputs": [
            {"name": "total", "datatype": "FP32", "shape": [-1, 2]},
            {"name": "positive", "datatype": "BOOL", "shape": [-1, 2]},
        ],
    }


@pytest.mark.parametrize("suffix", ["", "/ready", "/infer"])
def test_an_unknown_model_or_version_is_404(client: FlaskClient, suffix: str) -> None:
    method = client.post if suffix == "/infer" else client.get
    kwargs = {"json": {"inputs": [_digit_input([ZERO_ROW])]}} if suffix == "/infer" else {}
    assert_oip_error(method(f"/v2/models/mnist{suffix}", **kwargs), 404, "unknown model 'mnist'", "'digits'")
    assert_oip_error(method(f"/v2/models/digits/versions/2{suffix}", **kwargs), 404, "no version '2'", "'1'")


def test_json_inference_gives_what_v1_gives(client: FlaskClient, digits: Digits) -> None:
    rows = digits.x[:5]
    v1 = client.post("/v1/predict", json={"instances": rows.tolist()}).get_json()["predictions"]
    response = client.post(INFER, json={"id": "req-7", "inputs": [_digit_input(rows)]})
    assert response.status_code == 200 and response.mimetype == "application/json"
    answer = response.get_json()
    assert [answer[key] for key in ("model_name", "model_version", "id")] == ["digits", "1", "req-7"]
    label, probabilities = answer["outputs"]
    assert label == {"name": "label", "datatype": "INT64", "shape": [5], "data": [p["label"] for p in v1]}
    assert (probabilities["name"], probabilities["datatype"], probabilities["shape"]) == (
        "probabilities",
        "FP32",
        [5, 10],
    )
    rounded = np.round(np.array(probabilities["data"]).reshape(5, 10), 6).tolist()
    assert rounded == [p["probabilities"] for p in v1]
    assert label["data"] == digits.y[:5].tolist()
    # The same request nested as its shape, and without any Content-Type: the same answer.
    nested = {"id": "req-7", "inputs": [_digit_input(rows) | {"data": rows.tolist()}]}
    assert client.post(INFER, json=nested).get_json() == answer
    untyped = client.post(INFER, data=json.dumps({"id": "req-7", "inputs": [_digit_input(rows)]}))
    assert untyped.request.content_type is None and untyped.get_json() == answer


def test_outputs_choose_and_order_the_answer_and_parameters_are_accepted(client: FlaskClient) -> None:
    request = {
        "parameters": {"priority": 1, "note": "x", "flag": True},
        "inputs": [_digit_input([ZERO_ROW, [16] * 64]) | {"parameters": {"source": "test"}}],
        "outputs": [{"name": "probabilities", "parameters": {"kept": 1}}, {"name": "label"}],
    }
    answer = client.post(INFER, json=request).get_json()
    assert "id" not in answer
    assert [output["name"] for output in answer["outputs"]] == ["probabilities", "label"]
    only = client.post(INFER, json=request | {"outputs": [{"name": "label"}]}).get_json()
    assert only["outputs"] == [answer["outputs"][1]]


def test_binary_tensor_data_in_and_out(client: FlaskClient, digits: Digits) -> None:
    rows = digits.x[:3]
    json_answer = client.post(INFER, json={"inputs": [_digit_input(rows)]}).get_json()
    entry, raw = tensor("input", rows, "FP32", binary=True)
    for request, content_type in [
        ({"inputs": [entry], "parameters": {"binary_data_output": True}}, "application/octet-stream"),
        (
            {
                "inputs": [entry],
                "outputs": [
                    {"name": "label", "parameters": {"binary_data": True}},
                    {"name": "probabilities", "parameters": {"binary_data": True}},
                ],
            },
            None,
        ),
    ]:
        body, headers = binary_body(request, [raw])
        if content_type is None:
            del headers["Content-Type"]
        response = client.post(INFER, data=body, headers=headers)
        assert response.status_code == 200, response.get_data()
        assert response.mimetype == "application/octet-stream"
        answer, arrays = read_outputs(response.get_data(), response.headers[HEADER_LENGTH])
        assert [o["parameters"]["binary_data_size"] for o in answer["outputs"]] == [3 * 8, 3 * 10 * 4]
        assert arrays["label"].tolist() == json_answer["outputs"][0]["data"]
        assert (
            arrays["probabilities"].ravel().tolist() == json_answer["outputs"][1]["data"]
        )  # the same float32 bits
    # One output as binary data, the other as JSON: binary_data on an output overrides binary_data_output.
    body, headers = binary_body(
        {
            "inputs": [entry],
            "parameters": {"binary_data_output": True},
            "outputs": [{"name": "label", "parameters": {"binary_data": False}}, {"name": "probabilities"}],
        },
        [raw],
    )
    response = client.post(INFER, data=body, headers=headers)
    answer, arrays = read_outputs(response.get_data(), response.headers[HEADER_LENGTH])
    assert "data" in answer["outputs"][0] and "parameters" in answer["outputs"][1]


def test_the_second_model_is_served_over_v2_only(pair_app: Flask) -> None:
    client = pair_app.test_client()
    a = np.array([[0.5, -2.25], [1e10, -1e-3]], dtype=np.float64)
    b = np.array([[1, 2], [-7, 0]], dtype=np.int32)
    total, positive = pair_expected(a, b)
    request = {"inputs": [tensor("a", a, "FP64")[0], tensor("b", b, "INT32")[0]]}
    answer = client.post("/v2/models/pair/infer", json=request).get_json()
    assert answer["outputs"] == [
        {"name": "total", "datatype": "FP32", "shape": [2, 2], "data": total.ravel().tolist()},
        {"name": "positive", "datatype": "BOOL", "shape": [2, 2], "data": positive.ravel().tolist()},
    ]
    (a_entry, a_raw), (b_entry, b_raw) = tensor("a", a, "FP64", True), tensor("b", b, "INT32", True)
    body, headers = binary_body(
        {"inputs": [a_entry, b_entry], "parameters": {"binary_data_output": True}}, [a_raw, b_raw]
    )
    response = client.post("/v2/models/pair/versions/3/infer", data=body, headers=headers)
    _, arrays = read_outputs(response.get_data(), response.headers[HEADER_LENGTH])
    assert arrays["total"].tobytes() == total.tobytes() and arrays["positive"].tolist() == positive.tolist()
    error = assert_error(client.post("/v1/predict", json={"instances": [ZERO_ROW]}), 404, "not_supported")
    assert "POST /v2/models/pair/infer" in error["message"]
    assert (
        client.get("/readyz").status_code == 200
        and client.get("/version").get_json()["model"]["name"] == "pair"
    )


def test_bytes_tensors_in_json_and_binary(echo_app: Flask) -> None:
    client = echo_app.test_client()
    words = np.array(["héllo", "", "wörld ✓"], dtype=object)
    answer = client.post(
        "/v2/models/echo/infer", json={"inputs": [tensor("text", words, "BYTES")[0]]}
    ).get_json()
    assert answer["outputs"] == [{"name": "same", "datatype": "BYTES", "shape": [3], "data": words.tolist()}]
    entry, raw = tensor("text", words, "BYTES", binary=True)
    body, headers = binary_body({"inputs": [entry], "parameters": {"binary_data_output": True}}, [raw])
    response = client.post("/v2/models/echo/infer", data=body, headers=headers)
    assert (
        read_outputs(response.get_data(), response.headers[HEADER_LENGTH])[1]["same"].tolist()
        == words.tolist()
    )
    broken = raw[:-1]
    body, headers = binary_body(
        {"inputs": [entry | {"parameters": {"binary_data_size": len(broken)}}]}, [broken]
    )
    assert_oip_error(client.post("/v2/models/echo/infer", data=body, headers=headers), 400, "past the end")
    not_utf8 = b"\x02\x00\x00\x00\xff\xfe"
    body, headers = binary_body(
        {
            "inputs": [
                {"name": "text", "shape": [1], "datatype": "BYTES", "parameters": {"binary_data_size": 6}}
            ]
        },
        [not_utf8],
    )
    assert_oip_error(client.post("/v2/models/echo/infer", data=body, headers=headers), 400, "not UTF-8")


def _bad_json_requests() -> list[tuple[str, Any, int, str]]:
    good = _digit_input([ZERO_ROW])
    return [
        ("not-json", b'{"inputs": [', 400, "not valid JSON"),
        ("not-object", [good], 400, "must be a JSON object"),
        ("unknown-key", {"inputs": [good], "input": 1}, 400, "unknown key(s) 'input'"),
        ("no-inputs", {}, 400, '"inputs" must be a non-empty array'),
        ("empty-inputs", {"inputs": []}, 400, "'input' (FP32 [-1, 64])"),
        ("unknown-input", {"inputs": [good | {"name": "x"}]}, 400, "no input 'x'; its inputs are 'input'"),
        ("twice", {"inputs": [good, good]}, 400, "named twice"),
        ("input-key", {"inputs": [good | {"contents": 1}]}, 400, "unknown key(s) 'contents'"),
        ("datatype", {"inputs": [good | {"datatype": "FP64"}]}, 400, "is FP32, not 'FP64'"),
        ("no-datatype", {"inputs": [good | {"datatype": "FLOAT"}]}, 400, "the datatypes are BOOL"),
        ("rank", {"inputs": [good | {"shape": [64]}]}, 400, "has shape [64]; the model takes [-1, 64]"),
        ("fixed-dim", {"inputs": [good | {"shape": [1, 63]}]}, 400, "the model takes [-1, 64]"),
        ("zero-dim", {"inputs": [good | {"shape": [0, 64]}]}, 400, "positive integers"),
        ("shape-type", {"inputs": [good | {"shape": "1,64"}]}, 400, "positive integers"),
        (
            "count",
            {"inputs": [good | {"shape": [2, 64]}]},
            400,
            "that is 128 elements, but its data holds 64",
        ),
        ("nested", {"inputs": [good | {"data": [[0] * 63]}]}, 400, "data[0] must be an array of 64"),
        ("string", {"inputs": [good | {"data": ["a"] * 64}]}, 400, "must be numbers, not 'a'"),
        ("boolean", {"inputs": [good | {"data": [True] * 64}]}, 400, "must be numbers, not True"),
        ("overflow", {"inputs": [good | {"data": [1e39] * 64}]}, 400, "outside the range of FP32"),
        ("no-data", {"inputs": [{k: v for k, v in good.items() if k != "data"}]}, 400, 'has no "data"'),
        ("id", {"inputs": [good], "id": 7}, 400, '"id" must be a string'),
        (
            "parameters",
            {"inputs": [good], "parameters": []},
            400,
            '"parameters" of the request must be an object',
        ),
        (
            "binary-flag",
            {"inputs": [good], "parameters": {"binary_data_output": "yes"}},
            400,
            "true or false",
        ),
        ("unknown-output", {"inputs": [good], "outputs": [{"name": "logits"}]}, 400, "no output 'logits'"),
        ("output-twice", {"inputs": [good], "outputs": [{"name": "label"}] * 2}, 400, "named twice"),
        (
            "classification",
            {"inputs": [good], "outputs": [{"name": "label", "parameters": {"classification": 3}}]},
            400,
            "classification extension is not supported",
        ),
        (
            "shared-memory",
            {"inputs": [good | {"parameters": {"shared_memory_region": "r"}}]},
            400,
            "shared memory extension",
        ),
        (
            "model-name",
            {"inputs": [good], "model_name": "mnist"},
            400,
            "\"model_name\" in the body is 'mnist'",
        ),
        (
            "batch",
            {"inputs": [_digit_input([ZERO_ROW] * 65)]},
            413,
            "a batch of 65 (its first dimension), more than the limit of 64 (MAX_BATCH)",
        ),
        (
            "binary-size",
            {"inputs": [good | {"data": None, "parameters": {"binary_data_size": 10}}]},
            400,
            'without "data"',
        ),
        (
            "no-binary",
            {
                "inputs": [
                    {
                        **{k: v for k, v in good.items() if k != "data"},
                        "parameters": {"binary_data_size": 256},
                    }
                ]
            },
            400,
            "only 0 bytes of binary data",
        ),
    ]


@pytest.mark.parametrize(
    ("case", "payload", "status", "message"),
    _bad_json_requests(),
    ids=lambda v: v if isinstance(v, str) else "",
)
def test_every_mismatch_is_a_4xx_with_the_protocols_error_body(
    client: FlaskClient, case: str, payload: Any, status: int, message: str
) -> None:
    body = payload if isinstance(payload, bytes) else json.dumps(payload).encode()
    assert_oip_error(client.post(INFER, data=body, content_type="application/json"), status, message)


def test_binary_layout_mismatches_are_400(client: FlaskClient) -> None:
    entry, raw = tensor("input", np.zeros((1, 64), dtype=np.float32), "FP32", binary=True)
    cases = [
        (
            {"inputs": [entry | {"parameters": {"binary_data_size": 100}}]},
            raw[:100],
            None,
            "that is 256 bytes, but its binary_data_size is 100",
        ),
        (
            {"inputs": [entry]},
            raw + b"xx",
            None,
            "2 bytes of binary data after the JSON object belong to no input",
        ),
        ({"inputs": [entry]}, raw, "abc", "Inference-Header-Content-Length is 'abc'"),
        ({"inputs": [entry]}, raw, "99999", "Inference-Header-Content-Length is '99999'"),
    ]
    for request, binary, header_length, message in cases:
        body, headers = binary_body(request, [binary])
        if header_length is not None:
            headers[HEADER_LENGTH] = header_length
        assert_oip_error(client.post(INFER, data=body, headers=headers), 400, message)


def test_content_type_encoding_method_and_size_errors(app_factory: Callable[..., Flask]) -> None:
    client = app_factory(max_body_bytes=4096).test_client()
    request = json.dumps({"inputs": [_digit_input([ZERO_ROW])]})
    assert_oip_error(
        client.post(INFER, data=request, content_type="text/plain"), 415, "'text/plain' is not supported"
    )
    gzip = {"Content-Encoding": "gzip", "Content-Type": "application/json"}
    assert_oip_error(client.post(INFER, data=request, headers=gzip), 415, "Content-Encoding 'gzip'")
    big = json.dumps({"inputs": [_digit_input([[1.5] * 64] * 40)]})
    assert_oip_error(client.post(INFER, data=big, content_type="application/json"), 413, "MAX_BODY_BYTES")
    response = client.get(INFER)
    assert_oip_error(response, 405, "GET is not allowed") and response.headers["Allow"] == "POST"
    assert_oip_error(client.post("/v2/health/live"), 405, "use GET")
    assert_oip_error(client.get("/v2/models"), 404, "no route /v2/models")


def test_max_batch_bounds_the_first_dimension_of_every_input(pair_app: Flask) -> None:
    client = pair_app.test_client()  # MAX_BATCH 4

    def request(a_rows: int, b_rows: int) -> dict[str, Any]:
        return {
            "inputs": [
                tensor("a", np.ones((a_rows, 2)), "FP64")[0],
                tensor("b", np.ones((b_rows, 2), dtype=np.int32), "INT32")[0],
            ]
        }

    assert client.post("/v2/models/pair/infer", json=request(4, 4)).status_code == 200
    assert_oip_error(
        client.post("/v2/models/pair/infer", json=request(5, 4)),
        413,
        "input 'a' has a batch of 5",
        "MAX_BATCH",
    )
    assert_oip_error(
        client.post("/v2/models/pair/infer", json=request(4, 5)),
        413,
        "input 'b' has a batch of 5",
        "MAX_BATCH",
    )
    # Shapes that fit the declared interface but not the graph (n differs between a and b): the caller's, 400.
    assert_oip_error(
        client.post("/v2/models/pair/infer", json=request(2, 3)), 400, "the model cannot run on these inputs"
    )
    out_of_range = request(1, 1)
    out_of_range["inputs"][1]["data"] = [2**31, 0]
    assert_oip_error(
        client.post("/v2/models/pair/infer", json=out_of_range),
        400,
        "2147483648 is outside the range of INT32",
    )
    out_of_range["inputs"][1]["data"] = [1.5, 0]
    assert_oip_error(
        client.post("/v2/models/pair/infer", json=out_of_range), 400, "must be integers, not 1.5"
    )


def test_v2_requests_are_counted_by_route_and_model(app_factory: Callable[..., Flask]) -> None:
    app = app_factory()
    client = app.test_client()
    registry = app.extensions[STATE_KEY].metrics.registry
    client.post(INFER, json={"inputs": [_digit_input([ZERO_ROW])]})
    client.post("/v2/models/digits/versions/1/infer", json={"inputs": []})
    client.get("/v2/models/mnist")
    client.get("/v2/health/ready")

    def count(route: str, status: str, model: str, method: str = "POST") -> float | None:
        labels = {"route": route, "method": method, "status": status, "model": model}
        return registry.get_sample_value("http_requests_total", labels)

    assert count("/v2/models/{name}/infer", "200", "digits") == 1
    assert count("/v2/models/{name}/versions/{version}/infer", "400", "digits") == 1
    assert count("/v2/models/{name}", "404", "<other>", "GET") == 1  # a client's name is not a label value
    assert count("/v2/health/ready", "200", "", "GET") == 1
    latency = {"route": "/v2/models/{name}/infer", "model": "digits"}
    assert registry.get_sample_value("http_request_duration_seconds_count", latency) == 1
