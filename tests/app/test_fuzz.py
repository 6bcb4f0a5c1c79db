"""Generated bodies for /v1/predict: never a 5xx, always the JSON error shape; and for feature-row bodies,
the app accepts exactly what the documented request schema accepts."""

from __future__ import annotations

import json
import math
from typing import Any

import jsonschema
import numpy as np
from flask import Flask
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.app.helpers import b64

FUZZ = settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])

json_scalars = st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=20)
json_values = st.recursive(
    json_scalars,
    lambda children: (
        st.lists(children, max_size=5) | st.dictionaries(st.text(max_size=10), children, max_size=5)
    ),
    max_leaves=30,
)
good_numbers = st.integers(min_value=0, max_value=16) | st.floats(min_value=0, max_value=16)
bad_numbers = st.sampled_from(
    [
        -1,
        17,
        16.000001,
        -1e-9,
        math.nan,
        math.inf,
        -math.inf,
        True,
        False,
        None,
        "3",
        [1],
        {},
        10**40,
        -(10**400),
    ]
)


@st.composite
def feature_rows(draw: st.DrawFn) -> Any:
    """Mostly valid 64-number rows, some with one bad element, a wrong length or not a row at all."""
    row = draw(st.lists(good_numbers, min_size=64, max_size=64))
    kind = draw(st.sampled_from(["valid"] * 12 + ["bad_element", "short", "long", "junk"]))
    if kind == "bad_element":
        row[draw(st.integers(0, 63))] = draw(bad_numbers)
    elif kind == "short":
        row = row[: draw(st.integers(0, 63))]
    elif kind == "long":
        row = row + draw(st.lists(good_numbers, min_size=1, max_size=3))
    elif kind == "junk":
        return draw(json_values)
    return row


instance_bodies = st.fixed_dictionaries({"instances": st.lists(feature_rows(), max_size=3)}) | st.one_of(
    st.fixed_dictionaries({"instances": json_values}),
    st.fixed_dictionaries(
        {"instances": st.lists(feature_rows(), max_size=3)},
        optional={"images": json_values, "extra": json_values},
    ),
)
image_payloads = st.binary(max_size=200).map(b64) | st.text(max_size=50) | json_scalars
image_bodies = st.fixed_dictionaries({"images": st.lists(image_payloads, max_size=3) | json_values})
bodies = instance_bodies | image_bodies | json_values


def _assert_not_5xx(response: Any) -> None:
    assert response.status_code < 500, response.get_data(as_text=True)
    body = response.get_json()
    if response.status_code >= 400:
        assert set(body) == {"error"} and set(body["error"]) == {"code", "message"}, body


@FUZZ
@given(body=bodies)
def test_generated_json_bodies_never_get_a_5xx(shared_app: Flask, body: Any) -> None:
    text = json.dumps(
        body
    )  # allow_nan: NaN/Infinity literals go over the wire as Python's parser accepts them
    response = shared_app.test_client().post(
        "/v1/predict", data=text, headers={"Content-Type": "application/json"}
    )
    _assert_not_5xx(response)


@FUZZ
@given(
    raw=st.binary(max_size=300),
    content_type=st.sampled_from(
        [
            "application/json",
            "multipart/form-data",
            "multipart/form-data; boundary=x",
            "text/plain",
            "",
            "image/png",
        ]
    ),
)
def test_generated_raw_bodies_never_get_a_5xx(shared_app: Flask, raw: bytes, content_type: str) -> None:
    headers = {"Content-Type": content_type} if content_type else {}
    _assert_not_5xx(shared_app.test_client().post("/v1/predict", data=raw, headers=headers))


@FUZZ
@given(
    parts=st.lists(st.tuples(st.sampled_from(["image", "img", "file"]), st.binary(max_size=100)), max_size=4)
)
def test_generated_multipart_never_gets_a_5xx(shared_app: Flask, parts: list[tuple[str, bytes]]) -> None:
    import io

    data: dict[str, list[Any]] = {}
    for name, content in parts:
        data.setdefault(name, []).append((io.BytesIO(content), "x.png"))
    response = shared_app.test_client().post("/v1/predict", data=data, content_type="multipart/form-data")
    _assert_not_5xx(response)


@FUZZ
@given(body=instance_bodies)
def test_feature_rows_are_accepted_exactly_when_the_schema_accepts_them(shared_app: Flask, body: Any) -> None:
    client = shared_app.test_client()
    document = client.get("/openapi.json").get_json()
    schema = document["paths"]["/v1/predict"]["post"]["requestBody"]["content"]["application/json"]["schema"]
    # NaN and infinities are not JSON: a strict client could not send them, the schema cannot speak of them.
    text = json.dumps(body)
    strict_json = "NaN" not in text and "Infinity" not in text
    schema_accepts = strict_json and jsonschema.Draft202012Validator(
        {**schema, "components": document["components"]}
    ).is_valid(body)
    response = client.post("/v1/predict", data=text, headers={"Content-Type": "application/json"})
    _assert_not_5xx(response)
    assert (response.status_code == 200) == schema_accepts, (body, response.get_json())


def _valid_images() -> list[bytes]:
    from tests.app.helpers import render_digit

    digit = np.arange(64, dtype=np.float32) % 17
    return [render_digit(digit, size=16), render_digit(digit, size=24, fmt="JPEG", mode="RGB")]


VALID_IMAGES = _valid_images()


@FUZZ
@given(
    which=st.integers(0, len(VALID_IMAGES) - 1),
    flips=st.lists(st.tuples(st.integers(0, 10_000), st.integers(1, 255)), max_size=6),
    cut=st.none() | st.integers(0, 2_000),
)
def test_damaged_png_and_jpeg_files_never_get_a_5xx(
    shared_app: Flask, which: int, flips: list[tuple[int, int]], cut: int | None
) -> None:
    """Real image files with flipped bytes and truncations: Pillow's decoders fail in many ways, the app
    answers each with a 422 (or a 200 when the damage is harmless)."""
    data = bytearray(VALID_IMAGES[which])
    for position, mask in flips:
        data[position % len(data)] ^= mask
    if cut is not None:
        data = data[:cut]
    response = shared_app.test_client().post("/v1/predict", json={"images": [b64(bytes(data))]})
    _assert_not_5xx(response)
    assert response.status_code in (200, 422)
