"""POST /v1/predict: the success contract, and every row of the error table."""

from __future__ import annotations

import io
import json
from collections.abc import Callable
from typing import Any

import numpy as np
import onnxruntime as ort
import pytest
from flask import Flask
from flask.testing import FlaskClient
from PIL import Image

from model.manifest import Manifest
from tests.app.helpers import assert_error, b64, render_digit
from tests.conftest import Digits

ZERO_ROW = [0] * 64


def test_instances_match_onnxruntime_one_per_input_in_order(
    client: FlaskClient, digits: Digits, reference_model_dir: Any, reference_manifest: Manifest
) -> None:
    rows = digits.x[:40]
    response = client.post("/v1/predict", json={"instances": rows.tolist()})
    assert response.status_code == 200, response.get_data(as_text=True)
    body = response.get_json()
    assert body["model"] == {"name": "digits", "version": reference_manifest.version}
    session = ort.InferenceSession(
        str(reference_model_dir / "model.onnx"), providers=["CPUExecutionProvider"]
    )
    labels, probabilities = session.run(["label", "probabilities"], {"input": rows})
    assert [p["label"] for p in body["predictions"]] == labels.tolist()
    got = np.array([p["probabilities"] for p in body["predictions"]])
    np.testing.assert_allclose(got, probabilities, atol=1e-6)
    assert all(len(p["probabilities"]) == 10 for p in body["predictions"])
    # The reference model is good: the labels are the data set's (the quality gate demands 0.95).
    assert np.mean(np.array(labels) == digits.y[:40]) >= 0.95


def test_ints_floats_and_bounds_are_numbers(client: FlaskClient) -> None:
    row = [0, 16, 0.0, 16.0, 7.5, 1e-9] + [3] * 58
    response = client.post("/v1/predict", json={"instances": [row]})
    assert response.status_code == 200, response.get_data(as_text=True)
    probabilities = response.get_json()["predictions"][0]["probabilities"]
    assert abs(sum(probabilities) - 1.0) < 1e-4


def test_json_content_type_with_charset_and_suffix(client: FlaskClient) -> None:
    body = json.dumps({"instances": [ZERO_ROW]})
    for content_type in ("application/json; charset=utf-8", "application/vnd.digits+json"):
        response = client.post("/v1/predict", data=body, headers={"Content-Type": content_type})
        assert response.status_code == 200, (content_type, response.get_data(as_text=True))


def test_batch_limit_is_inclusive(app_factory: Callable[..., Flask]) -> None:
    client = app_factory(max_batch=3).test_client()
    assert client.post("/v1/predict", json={"instances": [ZERO_ROW] * 3}).status_code == 200
    error = assert_error(client.post("/v1/predict", json={"instances": [ZERO_ROW] * 4}), 413, "too_large")
    assert "batch limit of 3" in error["message"] and "MAX_BATCH" in error["message"]


# --- 400 invalid_json


@pytest.mark.parametrize(
    "body",
    [b"", b"{", b'{"instances": [[1, 2]', b"instances=1", b"\xff\xfe\x00", b"[" * 100_000, b"{'a': 1}"],
    ids=["empty", "open-brace", "truncated", "form-encoded", "bad-utf", "deeply-nested", "single-quotes"],
)
def test_unparseable_json_is_400(client: FlaskClient, body: bytes) -> None:
    response = client.post("/v1/predict", data=body, headers={"Content-Type": "application/json"})
    assert_error(response, 400, "invalid_json")


# --- 422 invalid_input: JSON shape and values


@pytest.mark.parametrize(
    ("payload", "message_part"),
    [
        ({}, "neither"),
        ({"instances": [ZERO_ROW], "images": []}, "both"),
        ({"instance": [ZERO_ROW]}, "unknown key(s) 'instance'"),
        ({"instances": [ZERO_ROW], "extra": 1}, "unknown key(s) 'extra'"),
        ([ZERO_ROW], "JSON object"),
        ("instances", "JSON object"),
        ({"instances": []}, "instances is empty"),
        ({"instances": ZERO_ROW}, "instances[0] must be an array of 64 numbers"),
        ({"instances": "x"}, '"instances" must be an array'),
        ({"instances": {"0": ZERO_ROW}}, '"instances" must be an array'),
        ({"instances": [[0] * 63]}, "got 63 elements"),
        ({"instances": [[0] * 65]}, "got 65 elements"),
        ({"instances": [ZERO_ROW, [0] * 8]}, "instances[1]"),
        ({"instances": [[[0] * 8] * 8]}, "got 8 elements"),
        ({"instances": [[*[0] * 63, "1"]]}, "instances[0][63] is a string, not a number"),
        ({"instances": [[True, *[0] * 63]]}, "instances[0][0] is a boolean, not a number"),
        ({"instances": [[*[0] * 10, None, *[0] * 53]]}, "instances[0][10] is null"),
        ({"instances": [[*[0] * 10, [1], *[0] * 53]]}, "instances[0][10] is an array"),
        ({"instances": [[-1, *[0] * 63]]}, "instances[0][0] = -1.0 is outside 0..16"),
        ({"instances": [[*[0] * 5, 16.0001, *[0] * 58]]}, "instances[0][5] = 16.0001 is outside 0..16"),
        ({"instances": [[*[0] * 63, 10**400]]}, "far outside 0..16"),
        ({"images": "iVBOR"}, '"images" must be an array'),
        ({"images": []}, "images is empty"),
        ({"images": [7]}, "images[0] must be a base64 string, not a number"),
        ({"images": ["not base64!"]}, "images[0] is not valid base64"),
        ({"images": [b64(b"hello, I am not an image")]}, "images[0] is not a PNG or JPEG image"),
    ],
)
def test_wrong_json_is_422(client: FlaskClient, payload: Any, message_part: str) -> None:
    error = assert_error(client.post("/v1/predict", json=payload), 422, "invalid_input")
    assert message_part in error["message"]


def test_json_null_body_is_422(client: FlaskClient) -> None:
    response = client.post("/v1/predict", data="null", headers={"Content-Type": "application/json"})
    assert "JSON object" in assert_error(response, 422, "invalid_input")["message"]


@pytest.mark.parametrize(("literal", "index"), [("NaN", 3), ("Infinity", 0), ("-Infinity", 63), ("1e999", 7)])
def test_non_finite_numbers_are_422(client: FlaskClient, literal: str, index: int) -> None:
    row = ["0"] * 64
    row[index] = literal  # Python's JSON parser accepts these non-standard literals: the app must refuse them
    body = '{"instances": [[' + ",".join(row) + "]]}"
    response = client.post("/v1/predict", data=body, headers={"Content-Type": "application/json"})
    error = assert_error(response, 422, "invalid_input")
    assert f"instances[0][{index}]" in error["message"] and "not a finite number" in error["message"]


def test_undecodable_images_are_422(client: FlaskClient, digits: Digits) -> None:
    png = render_digit(digits.x[0])
    jpeg = render_digit(digits.x[0], fmt="JPEG")
    gif = io.BytesIO()
    Image.new("L", (8, 8)).save(gif, "GIF")
    for data, expected in [
        (png[: len(png) // 2], "could not be decoded as PNG"),
        (jpeg[: len(jpeg) // 2], "could not be decoded as JPEG"),
        (gif.getvalue(), "is not a PNG or JPEG image"),  # a real image, but not a format the API accepts
        (b"", "is not a PNG or JPEG image"),
    ]:
        error = assert_error(client.post("/v1/predict", json={"images": [b64(data)]}), 422, "invalid_input")
        assert error["message"].startswith("images[0] ") and expected in error["message"], error


# --- 413 too_large


def test_body_over_the_limit_is_413(app_factory: Callable[..., Flask]) -> None:
    client = app_factory(max_body_bytes=4096).test_client()
    small = json.dumps({"instances": [ZERO_ROW] * 2})
    assert (
        client.post("/v1/predict", data=small, headers={"Content-Type": "application/json"}).status_code
        == 200
    )
    big = json.dumps({"instances": [[16.0] * 64] * 20})  # ~6 kB
    response = client.post("/v1/predict", data=big, headers={"Content-Type": "application/json"})
    error = assert_error(response, 413, "too_large")
    assert "4096 bytes" in error["message"] and "MAX_BODY_BYTES" in error["message"]
    files = {"image": (io.BytesIO(b"\0" * 8000), "big.png", "image/png")}
    assert_error(client.post("/v1/predict", data=files), 413, "too_large")


def test_more_inputs_than_the_batch_limit_is_413(client: FlaskClient, digits: Digits) -> None:
    assert_error(client.post("/v1/predict", json={"instances": [ZERO_ROW] * 65}), 413, "too_large")
    png = b64(render_digit(digits.x[0], size=8))
    assert_error(client.post("/v1/predict", json={"images": [png] * 65}), 413, "too_large")
    files = {"image": [(io.BytesIO(render_digit(digits.x[0], size=8)), f"{i}.png") for i in range(65)]}
    assert_error(client.post("/v1/predict", data=files), 413, "too_large")


# --- 415 unsupported_media_type


@pytest.mark.parametrize(
    "content_type",
    [
        None,
        "text/plain",
        "application/x-www-form-urlencoded",
        "application/xml",
        "image/png",
        "application/jsonx",
    ],
)
def test_other_content_types_are_415(client: FlaskClient, content_type: str | None) -> None:
    headers = {"Content-Type": content_type} if content_type else {}
    response = client.post("/v1/predict", data=json.dumps({"instances": [ZERO_ROW]}), headers=headers)
    error = assert_error(response, 415, "unsupported_media_type")
    assert "application/json" in error["message"] and "multipart/form-data" in error["message"]


# --- multipart


def test_multipart_errors_are_422(client: FlaskClient, digits: Digits) -> None:
    png = render_digit(digits.x[0])
    cases: list[tuple[dict[str, Any], str]] = [
        ({}, "no file field named 'image'"),
        ({"image": "not a file"}, "upload it as a file"),
        ({"picture": (io.BytesIO(png), "d.png")}, "unknown file field(s) 'picture'"),
        ({"image": (io.BytesIO(png), "d.png"), "note": "hi"}, "form field 'note'"),
        ({"image": (io.BytesIO(b""), "empty.png")}, "image[0] is not a PNG or JPEG image"),
        ({"image": [(io.BytesIO(png), "a.png"), (io.BytesIO(b"junk"), "b.png")]}, "image[1] is not a PNG"),
    ]
    for data, message_part in cases:
        response = client.post("/v1/predict", data=data, content_type="multipart/form-data")
        error = assert_error(response, 422, "invalid_input")
        assert message_part in error["message"], (data, error)


def test_multipart_without_boundary_is_422(client: FlaskClient) -> None:
    response = client.post("/v1/predict", data=b"--x\r\n", headers={"Content-Type": "multipart/form-data"})
    assert_error(response, 422, "invalid_input")


# --- bodies without Content-Length (chunked transfer encoding)


def _post_streamed(client: FlaskClient, body: bytes, content_type: str = "application/json") -> Any:
    """What a server that de-chunks a request hands the app: a terminated stream and no Content-Length."""
    return client.post(
        "/v1/predict",
        input_stream=io.BytesIO(body),
        headers={"Content-Type": content_type, "Transfer-Encoding": "chunked"},
        environ_overrides={"wsgi.input_terminated": True},
    )


def test_streamed_body_over_the_limit_is_413_not_a_truncated_parse(app_factory: Callable[..., Flask]) -> None:
    client = app_factory(max_body_bytes=4096).test_client()
    body = json.dumps({"instances": [ZERO_ROW]}).encode()
    assert _post_streamed(client, body).status_code == 200
    exactly = body[:-1] + b" " * (4096 - len(body)) + b"}"  # padded with whitespace to exactly the limit
    assert len(exactly) == 4096 and _post_streamed(client, exactly).status_code == 200
    error = assert_error(_post_streamed(client, exactly + b" "), 413, "too_large")
    assert "MAX_BODY_BYTES" in error["message"]


def test_streamed_multipart_body(app_factory: Callable[..., Flask], digits: Digits) -> None:
    client = app_factory(max_body_bytes=4096).test_client()
    boundary = "b0undary"

    def form(png: bytes) -> bytes:
        return (
            f'--{boundary}\r\nContent-Disposition: form-data; name="image"; filename="d.png"\r\n'
            f"Content-Type: image/png\r\n\r\n".encode()
            + png
            + f"\r\n--{boundary}--\r\n".encode()
        )

    content_type = f"multipart/form-data; boundary={boundary}"
    response = _post_streamed(client, form(render_digit(digits.x[0], size=16)), content_type)
    assert response.status_code == 200, response.get_data(as_text=True)
    assert_error(_post_streamed(client, form(b"\0" * 5000), content_type), 413, "too_large")
