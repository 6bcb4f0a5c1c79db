"""Images in, predictions out: dataset digits rendered as real PNG/JPEG files come back with their labels,
on the JSON base64 path and the multipart path; conversion details; decompression bombs."""

from __future__ import annotations

import base64
import io
import struct
import zlib
from collections.abc import Callable
from typing import Any

import numpy as np
import pytest
from flask import Flask
from flask.testing import FlaskClient
from PIL import Image

from app.images import ImageRejected, digit_features
from tests.app.helpers import assert_error, b64, render_digit
from tests.conftest import Digits

SAMPLES = slice(0, 1797, 29)  # 62 digits spread over the data set, every class several times


def _full_contrast(digits: Digits) -> np.ndarray:
    """Indices of the sampled digits whose darkest cell is full ink (16): 98% of the data set. On these the
    image path must reproduce the features exactly (the others are stretched to full contrast)."""
    indices = np.arange(len(digits.y))[SAMPLES]
    return indices[digits.x[indices].max(axis=1) == 16]


def _labels(response: Any) -> list[int]:
    assert response.status_code == 200, response.get_data(as_text=True)
    return [p["label"] for p in response.get_json()["predictions"]]


def _instance_labels(client: FlaskClient, rows: np.ndarray) -> list[int]:
    return _labels(client.post("/v1/predict", json={"instances": rows.tolist()}))


@pytest.mark.parametrize(
    ("size", "dark_on_light", "mode"),
    [
        (32, False, "L"),
        (32, True, "L"),
        (64, False, "RGB"),
        (64, True, "RGB"),
        (8, True, "L"),
        (100, True, "RGB"),
    ],
    ids=[
        "32-white-on-black",
        "32-black-on-white",
        "64-rgb-white-on-black",
        "64-rgb-black-on-white",
        "8-native",
        "100-rgb-black-on-white",
    ],
)
def test_png_features_are_the_dataset_features(
    digits: Digits, size: int, dark_on_light: bool, mode: str
) -> None:
    for i in _full_contrast(digits):
        png = render_digit(digits.x[i], size=size, dark_on_light=dark_on_light, mode=mode)
        features = digit_features(png, max_pixels=1 << 20)
        # Exact up to the 8-bit rendering (v * 255/16 rounded: 0.03 at most) when cells are whole pixels;
        # 100 px makes 12.5 px cells whose edge pixels are shared by two cells.
        tolerance = 0.035 if size % 8 == 0 else 2.0
        np.testing.assert_allclose(features, digits.x[i], atol=tolerance, err_msg=f"digit {i}")


def _post_base64_json(client: FlaskClient, pngs: dict[int, bytes]) -> Any:
    return client.post("/v1/predict", json={"images": [b64(png) for png in pngs.values()]})


def _post_multipart(client: FlaskClient, pngs: dict[int, bytes]) -> Any:
    files = [(io.BytesIO(png), f"{i}.png", "image/png") for i, png in pngs.items()]
    return client.post("/v1/predict", data={"image": files}, content_type="multipart/form-data")


@pytest.mark.parametrize("post", [_post_base64_json, _post_multipart], ids=["json-base64", "multipart"])
@pytest.mark.parametrize("dark_on_light", [False, True], ids=["white-on-black", "black-on-white"])
@pytest.mark.parametrize("size", [32, 64])
def test_png_round_trip(
    client: FlaskClient,
    digits: Digits,
    size: int,
    dark_on_light: bool,
    post: Callable[[FlaskClient, dict[int, bytes]], Any],
) -> None:
    indices = np.arange(len(digits.y))[SAMPLES]
    pngs = {i: render_digit(digits.x[i], size=size, dark_on_light=dark_on_light) for i in indices}
    got = _labels(post(client, pngs))
    assert got == _instance_labels(client, digits.x[indices]), "images and their features predict alike"
    assert np.mean(np.array(got) == digits.y[indices]) >= 0.95, "the images come back with their labels"


def test_jpeg_round_trip(client: FlaskClient, digits: Digits) -> None:
    """JPEG is lossy: not the exact features, but still the labels."""
    indices = np.arange(len(digits.y))[SAMPLES]
    images = [b64(render_digit(digits.x[i], size=64, dark_on_light=True, fmt="JPEG")) for i in indices]
    got = _labels(client.post("/v1/predict", json={"images": images}))
    assert np.mean(np.array(got) == digits.y[indices]) >= 0.9


def test_one_request_mixes_one_image_per_prediction_in_order(client: FlaskClient, digits: Digits) -> None:
    indices = [i for i in _full_contrast(digits)][:10]
    images = [b64(render_digit(digits.x[i], dark_on_light=bool(k % 2))) for k, i in enumerate(indices)]
    assert _labels(client.post("/v1/predict", json={"images": images})) == _instance_labels(
        client, digits.x[indices]
    )


def test_data_url_and_wrapped_base64_are_accepted(client: FlaskClient, digits: Digits) -> None:
    i = int(_full_contrast(digits)[0])
    png = render_digit(digits.x[i])
    wrapped = base64.encodebytes(png).decode()  # 76-column lines, as `base64` prints without -w0
    assert "\n" in wrapped
    images = ["data:image/png;base64," + b64(png), wrapped]
    expected = _instance_labels(client, digits.x[[i]])
    assert _labels(client.post("/v1/predict", json={"images": images})) == expected * 2


def _png(image: Image.Image) -> bytes:
    buffer = io.BytesIO()
    image.save(buffer, "PNG")
    return buffer.getvalue()


def test_transparent_background_is_paper(digits: Digits) -> None:
    """A drawing canvas exports black strokes on a transparent background."""
    i = int(_full_contrast(digits)[0])
    ink = Image.open(io.BytesIO(render_digit(digits.x[i], size=32))).convert("L")  # white ink = alpha
    canvas = Image.new("RGBA", (32, 32), (0, 0, 0, 0))
    canvas.putalpha(ink)
    np.testing.assert_allclose(digit_features(_png(canvas), 1 << 20), digits.x[i], atol=0.035)


def test_sixteen_bit_grayscale_is_scaled_not_clipped(digits: Digits) -> None:
    i = int(_full_contrast(digits)[0])
    cells = np.rint(digits.x[i].reshape(8, 8) * (65535 / 16)).astype(np.uint16)
    image = Image.fromarray(np.kron(cells, np.ones((4, 4), dtype=np.uint16)))
    assert image.mode == "I;16"
    np.testing.assert_allclose(digit_features(_png(image), 1 << 20), digits.x[i], atol=0.05)


def test_aspect_ratio_is_kept_by_padding() -> None:
    """A 64x32 white-on-black image with a full-width ink band: padded to a square with paper (not
    stretched), its 32 rows land in the middle of 64, i.e. cell rows 2..5."""
    band = Image.new("L", (64, 32), 0)
    band.paste(255, (0, 4, 64, 28))  # ink rows 4..27 of 32; black paper above and below
    features = digit_features(_png(band), 1 << 20).reshape(8, 8)
    assert not features[:2].any() and not features[6:].any()
    np.testing.assert_allclose(features[2:6], [[8.0] * 8, [16.0] * 8, [16.0] * 8, [8.0] * 8], atol=1e-4)


def test_blank_image_is_all_paper(client: FlaskClient) -> None:
    white = _png(Image.new("L", (40, 40), 255))
    assert not digit_features(white, 1 << 20).any()
    assert client.post("/v1/predict", json={"images": [b64(white)]}).status_code == 200


# --- decompression bombs


def _png_header_only(width: int, height: int) -> bytes:
    """A PNG whose header claims width x height pixels, followed by a tiny (broken) image data chunk: a
    decoder that trusted it would allocate gigabytes. The app must refuse it from the header alone."""

    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    ihdr = struct.pack(">IIBBBBB", width, height, 8, 0, 0, 0, 0)
    return (
        b"\x89PNG\r\n\x1a\n"
        + chunk(b"IHDR", ihdr)
        + chunk(b"IDAT", zlib.compress(b"\0" * 64))
        + chunk(b"IEND", b"")
    )


@pytest.mark.parametrize(("width", "height"), [(4096, 4096), (30000, 30000), (2049, 2048)])
def test_pixel_cap_is_checked_before_decoding(client: FlaskClient, width: int, height: int) -> None:
    error = assert_error(
        client.post("/v1/predict", json={"images": [b64(_png_header_only(width, height))]}),
        422,
        "invalid_input",
    )
    assert "MAX_IMAGE_PIXELS" in error["message"], error
    assert "decoded" not in error["message"], "refused from the header, before any decoding"


def test_pixel_cap_is_configurable(app_factory: Callable[..., Flask], digits: Digits) -> None:
    client = app_factory(max_image_pixels=32 * 32).test_client()
    assert (
        client.post("/v1/predict", json={"images": [b64(render_digit(digits.x[0], 32))]}).status_code == 200
    )
    files = {"image": (io.BytesIO(render_digit(digits.x[0], 33)), "d.png")}
    error = assert_error(client.post("/v1/predict", data=files), 422, "invalid_input")
    assert error["message"].startswith("image[0] is 33x33 = 1089 pixels, over the limit of 1024")


def test_digit_features_rejects_with_reasons() -> None:
    with pytest.raises(ImageRejected, match="over the limit"):
        digit_features(_png_header_only(100, 100), max_pixels=9999)
    with pytest.raises(ImageRejected, match="could not be decoded as PNG"):
        digit_features(_png_header_only(100, 100), max_pixels=10_000)
