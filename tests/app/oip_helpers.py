"""Helpers of the /v2 tests: requests in the binary tensor data extension's layout, written here with numpy
and struct (not with the app's own codec, app.tensors), and the check of the protocol's error body."""

from __future__ import annotations

import json
import struct
from typing import Any

import numpy as np

HEADER_LENGTH = "Inference-Header-Content-Length"


def tensor(name: str, array: np.ndarray, datatype: str, binary: bool = False) -> tuple[dict[str, Any], bytes]:
    """A request input and its binary bytes (b"" when sent as JSON data)."""
    entry: dict[str, Any] = {"name": name, "shape": list(array.shape), "datatype": datatype}
    if not binary:
        entry["data"] = array.ravel().tolist()
        return entry, b""
    if datatype == "BYTES":
        raw = b"".join(struct.pack("<I", len(s.encode())) + s.encode() for s in array.ravel().tolist())
    else:
        raw = array.astype(array.dtype.newbyteorder("<")).tobytes()
    entry["parameters"] = {"binary_data_size": len(raw)}
    return entry, raw


def binary_body(request: dict[str, Any], raws: list[bytes]) -> tuple[bytes, dict[str, str]]:
    header = json.dumps(request).encode()
    return header + b"".join(raws), {
        HEADER_LENGTH: str(len(header)),
        "Content-Type": "application/octet-stream",
    }


def read_outputs(body: bytes, header_length: str | None) -> tuple[dict[str, Any], dict[str, np.ndarray]]:
    """The answer's JSON object and each output as an array, from JSON data or binary data."""
    size = len(body) if header_length is None else int(header_length)
    answer, offset, arrays = json.loads(body[:size]), size, {}
    dtypes = {"FP32": "<f4", "FP64": "<f8", "INT64": "<i8", "INT32": "<i4", "BOOL": "?"}
    for output in answer["outputs"]:
        if "data" in output:
            arrays[output["name"]] = np.array(output["data"]).reshape(output["shape"])
            continue
        size = output["parameters"]["binary_data_size"]
        raw, offset = body[offset : offset + size], offset + size
        if output["datatype"] == "BYTES":
            values, at = [], 0
            while at < len(raw):
                (length,) = struct.unpack_from("<I", raw, at)
                values.append(raw[at + 4 : at + 4 + length].decode())
                at += 4 + length
            arrays[output["name"]] = np.array(values, dtype=object).reshape(output["shape"])
        else:
            dtype = np.dtype(dtypes[output["datatype"]])
            arrays[output["name"]] = np.frombuffer(raw, dtype=dtype).reshape(output["shape"])
    assert offset == len(body), "binary data nobody claims"
    return answer, arrays


def assert_oip_error(response: Any, status: int, *message_parts: str) -> str:
    """The protocol's error body, {"error": "<message>"}, with this status; returns the message."""
    assert response.status_code == status, response.get_data(as_text=True)
    assert response.mimetype == "application/json"
    body = response.get_json()
    assert set(body) == {"error"} and isinstance(body["error"], str) and body["error"], body
    for part in message_parts:
        assert part in body["error"], (part, body["error"])
    return body["error"]
