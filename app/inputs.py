"""Parse a /v1/predict request into a float32 [n, 64] batch, or raise the ApiError the client gets.

Three ways in: JSON `{"instances": [[64 numbers], ...]}`, JSON `{"images": ["<base64 PNG/JPEG>", ...]}` and
multipart/form-data with file fields named `image`. Validation is strict and its messages point at the
offending element (`instances[2][17] ...`), because the caller is usually a developer wiring a client.
"""

from __future__ import annotations

import base64
import binascii
import io
import math
import re
from collections.abc import Sequence
from typing import Any

import numpy as np
from flask import Request

from app import jsonio
from app.errors import ApiError, invalid_input, too_large
from app.images import ImageRejected, digit_features
from app.inference import FEATURES

JSON_KEYS = ("instances", "images")
_NUMBER_TYPES = frozenset({int, float})  # exact types: JSON booleans (bool subclasses int) are not numbers
_DATA_URL = re.compile(r"\Adata:image/(?:png|jpeg);base64,", re.IGNORECASE)
_JSON_TYPE_NAMES = {
    dict: "an object",
    list: "an array",
    str: "a string",
    bool: "a boolean",
    type(None): "null",
}


def parse_predict_request(
    request: Request, max_batch: int, max_image_pixels: int, max_body_bytes: int
) -> np.ndarray:
    mimetype = request.mimetype
    if mimetype == "application/json" or (mimetype.startswith("application/") and mimetype.endswith("+json")):
        return parse_json_body(read_body(request, max_body_bytes), max_batch, max_image_pixels)
    if mimetype == "multipart/form-data":
        _buffer_streamed_body(request, max_body_bytes)
        return _parse_multipart(request, max_batch, max_image_pixels)
    shown = mimetype or "none"
    raise ApiError(
        415,
        "unsupported_media_type",
        f'content type {shown!r} is not supported; send application/json ({{"instances": ...}} or '
        '{"images": ...}) or multipart/form-data with file fields named "image"',
    )


def read_body(request: Request, max_body_bytes: int) -> bytes:
    """The whole request body, at most max_body_bytes (413 over it, with or without a Content-Length).
    Shared by /v1/predict's JSON form and the inference protocol's infer route (app.oip.routes)."""
    _buffer_streamed_body(request, max_body_bytes)
    return request.get_data(cache=False)


def _buffer_streamed_body(request: Request, max_body_bytes: int) -> None:
    """A body without Content-Length (chunked transfer encoding), read into memory up to the limit.

    With a Content-Length werkzeug refuses an oversized body (413) before reading it. Without one, it stops
    reading at MAX_CONTENT_LENGTH *silently*: the app would parse a truncated body and answer a misleading
    400 or 422. So such a body is read here, one byte past the limit to tell "at" from "over", and handed
    back to werkzeug as a body of known length. Must run before anything touches request.stream.
    """
    environ = request.environ
    if request.content_length is not None or "wsgi.input_terminated" not in environ:
        return  # a known length; or a server that does not de-chunk, where werkzeug reads nothing (safe)
    stream, chunks, size = environ["wsgi.input"], [], 0
    while size <= max_body_bytes:
        chunk = stream.read(min(65536, max_body_bytes + 1 - size))
        if not chunk:
            break
        chunks.append(chunk)
        size += len(chunk)
    if size > max_body_bytes:
        raise too_large(f"the request body is over the limit of {max_body_bytes} bytes (MAX_BODY_BYTES)")
    body = b"".join(chunks)
    environ["wsgi.input"], environ["CONTENT_LENGTH"] = io.BytesIO(body), str(len(body))


def parse_json_body(body: bytes, max_batch: int, max_image_pixels: int) -> np.ndarray:
    """A JSON body (bytes, any UTF-8/16/32) -> float32 [n, 64], or the ApiError the client gets.

    Public because two callers share it: the Flask route (via parse_predict_request) and app.fastlane.
    """
    try:
        payload = jsonio.loads(body)
    except (ValueError, UnicodeDecodeError) as exc:  # JSONDecodeError is a ValueError
        raise ApiError(400, "invalid_json", f"the body is not valid JSON: {exc}") from None
    except RecursionError:
        raise ApiError(400, "invalid_json", "the body is JSON nested too deeply to parse") from None
    if not isinstance(payload, dict):
        raise invalid_input(
            f'the body must be a JSON object with "instances" or "images", not {_kind(payload)}'
        )
    present = [key for key in JSON_KEYS if key in payload]
    unknown = sorted(key for key in payload if key not in JSON_KEYS)
    if unknown:
        raise invalid_input(f'unknown key(s) {", ".join(map(repr, unknown))}; send "instances" or "images"')
    if len(present) != 1:
        which = "both" if present else "neither"
        raise invalid_input(f'the body has {which} of "instances" and "images"; send exactly one')
    if present[0] == "instances":
        plain = _plain_instances(payload["instances"], body, max_batch)
        return plain if plain is not None else instances_to_array(payload["instances"], max_batch)
    return _images_to_array(_decode_base64_images(payload["images"], max_batch), max_image_pixels, "images")


_MAX = np.maximum.reduce
_SIXTEEN = np.float64(16.0).view(np.uint64)


def _plain_instances(instances: Any, body: bytes, max_batch: int) -> np.ndarray | None:
    """The common request's batch, checked with a few passes in C, or None: then instances_to_array checks it
    element by element and says what is wrong, if anything is (what passes here, it accepts too).

    The body holds no string but the key (two quotes) and no true or false, so every element of every row is
    a number, an array, an object or null: numpy makes a float64 array of the right shape only if each row is
    64 numbers or nulls (NaN). Read as unsigned integers, the non-negative floats keep their order and every
    negative one is above them all, so one maximum below 16's bits means every value is in 0..16 and none is
    NaN or infinite (-0.0, which is valid, takes the long way).
    """
    if type(instances) is not list or not 0 < len(instances) <= max_batch:
        return None
    if body.count(b'"') != 2 or b"true" in body or b"false" in body:
        return None
    try:
        values = np.array(instances, dtype=np.float64)
    except (TypeError, ValueError, OverflowError):
        return None
    if values.shape != (len(instances), FEATURES) or _MAX(values.view(np.uint64), None) > _SIXTEEN:
        return None
    return values.astype(np.float32)


def instances_to_array(instances: Any, max_batch: int) -> np.ndarray:
    if not isinstance(instances, list):
        raise invalid_input(
            f'"instances" must be an array of rows of {FEATURES} numbers, not {_kind(instances)}'
        )
    _check_count(len(instances), max_batch, "instances")
    for i, row in enumerate(instances):
        if type(row) is not list or len(row) != FEATURES:
            got = f"{len(row)} elements" if type(row) is list else _kind(row)
            raise invalid_input(
                f"instances[{i}] must be an array of {FEATURES} numbers (an 8x8 digit), got {got}"
            )
        if not _NUMBER_TYPES.issuperset(map(type, row)):
            j = next(j for j, value in enumerate(row) if type(value) not in _NUMBER_TYPES)
            raise invalid_input(f"instances[{i}][{j}] is {_kind(row[j])}, not a number")
    try:
        values = np.array(instances, dtype=np.float64)
    except OverflowError:  # a JSON integer beyond float range, e.g. 1e400 written out as digits
        raise invalid_input("instances hold an integer far outside 0..16") from None
    # One vectorised check for NaN, +-inf and range: NaN fails every comparison.
    bad = ~((values >= 0.0) & (values <= 16.0))
    if bad.any():
        i, j = (int(k) for k in np.argwhere(bad)[0])
        value = float(values[i, j])
        what = "not a finite number" if not math.isfinite(value) else "outside 0..16"
        raise invalid_input(f"instances[{i}][{j}] = {value!r} is {what}; values are 0..16 (ink 16, paper 0)")
    return values.astype(np.float32)


def _decode_base64_images(images: Any, max_batch: int) -> list[bytes]:
    if not isinstance(images, list):
        raise invalid_input(
            f'"images" must be an array of base64-encoded PNG or JPEG strings, not {_kind(images)}'
        )
    _check_count(len(images), max_batch, "images")
    decoded = []
    for i, text in enumerate(images):
        if not isinstance(text, str):
            raise invalid_input(f"images[{i}] must be a base64 string, not {_kind(text)}")
        # Accept a data URL (what a browser canvas exports) and line-wrapped base64 (`base64` without -w0).
        text = "".join(_DATA_URL.sub("", text, count=1).split())
        try:
            decoded.append(base64.b64decode(text, validate=True))
        except (binascii.Error, ValueError):
            raise invalid_input(f"images[{i}] is not valid base64") from None
    return decoded


def _parse_multipart(request: Request, max_batch: int, max_image_pixels: int) -> np.ndarray:
    # werkzeug enforces MAX_CONTENT_LENGTH (413) while parsing, and spools large parts to a temp file.
    files, form = request.files, request.form
    if form:
        name = next(iter(form))
        hint = ' (upload it as a file: curl -F "image=@digit.png")' if name == "image" else ""
        raise invalid_input(f"form field {name!r} is not a file field named 'image'{hint}")
    unknown = sorted(name for name in files if name != "image")
    if unknown:
        raise invalid_input(
            f"unknown file field(s) {', '.join(map(repr, unknown))}; name each file field 'image'"
        )
    uploads = files.getlist("image")
    if not uploads:
        raise invalid_input("no file field named 'image' in the form (curl -F \"image=@digit.png\")")
    _check_count(len(uploads), max_batch, "images")
    return _images_to_array([upload.read() for upload in uploads], max_image_pixels, "image")


def _images_to_array(blobs: Sequence[bytes], max_image_pixels: int, label: str) -> np.ndarray:
    batch = np.empty((len(blobs), FEATURES), dtype=np.float32)
    for i, blob in enumerate(blobs):
        try:
            batch[i] = digit_features(blob, max_image_pixels)
        except ImageRejected as exc:
            raise invalid_input(f"{label}[{i}] {exc}") from None
    return batch


def _check_count(count: int, max_batch: int, what: str) -> None:
    if count == 0:
        raise invalid_input(f"{what} is empty; send 1 to {max_batch} inputs")
    if count > max_batch:
        raise too_large(
            f"{count} {what} is more than the batch limit of {max_batch} (MAX_BATCH); split the request"
        )


def _kind(value: Any) -> str:
    if type(value) in (int, float):
        return "a number"
    return _JSON_TYPE_NAMES.get(type(value), type(value).__name__)
