"""Tensors as the Open Inference Protocol carries them: datatypes, and data to and from JSON and binary.

One table maps each ONNX tensor type onnxruntime serves to its OIP datatype and numpy dtype. The codecs
check what a client sent against a tensor's declared datatype and shape and raise a 400 ApiError saying
what does not fit; they know nothing of any particular model. Binary data (Triton's binary tensor data
extension) is little-endian, row-major, without padding; a BOOL is one byte 0 or 1; a BYTES element is a
4-byte little-endian length and then its bytes.
"""

from __future__ import annotations

import math
import struct
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from app.errors import ApiError

# (ONNX type as onnxruntime names it, OIP datatype, numpy dtype). ONNX strings are OIP's BYTES; onnxruntime
# takes and gives them as numpy object arrays of str, so they must be UTF-8 on the wire.
_TYPES: tuple[tuple[str, str, Any], ...] = (
    ("tensor(bool)", "BOOL", np.bool_),
    ("tensor(uint8)", "UINT8", np.uint8),
    ("tensor(uint16)", "UINT16", np.uint16),
    ("tensor(uint32)", "UINT32", np.uint32),
    ("tensor(uint64)", "UINT64", np.uint64),
    ("tensor(int8)", "INT8", np.int8),
    ("tensor(int16)", "INT16", np.int16),
    ("tensor(int32)", "INT32", np.int32),
    ("tensor(int64)", "INT64", np.int64),
    ("tensor(float16)", "FP16", np.float16),
    ("tensor(float)", "FP32", np.float32),
    ("tensor(double)", "FP64", np.float64),
    ("tensor(string)", "BYTES", np.object_),
)
DATATYPE_OF_ONNX = {onnx_type: datatype for onnx_type, datatype, _ in _TYPES}
DTYPE_OF = {datatype: np.dtype(dtype) for _, datatype, dtype in _TYPES}
DATATYPES = tuple(DTYPE_OF)
# JSON element types each kind of datatype accepts: exact types, so a JSON boolean is never a number.
_JSON_TYPES = {
    "b": frozenset({bool}),
    "i": frozenset({int}),
    "u": frozenset({int}),
    "f": frozenset({int, float}),
}
_LENGTH = struct.Struct("<I")


def bad_request(message: str) -> ApiError:
    return ApiError(400, "invalid_input", message)


@dataclass(frozen=True)
class TensorSpec:
    """One input or output of the model: its name, OIP datatype and shape (-1 for a dynamic dimension)."""

    name: str
    datatype: str
    shape: tuple[int, ...]

    @property
    def dtype(self) -> np.dtype:
        return DTYPE_OF[self.datatype]

    def metadata(self) -> dict[str, Any]:
        return {"name": self.name, "datatype": self.datatype, "shape": list(self.shape)}

    def __str__(self) -> str:
        return f"{self.name!r} ({self.datatype} {list(self.shape)})"


def tensor_specs(node_args: Iterable[Any], what: str) -> tuple[TensorSpec, ...]:
    """onnxruntime's NodeArgs as TensorSpecs; ValueError naming any that OIP cannot carry (a sequence or map,
    such as scikit-learn's ZipMap output, or a tensor type numpy has no dtype for, such as bfloat16)."""
    specs = []
    for arg in node_args:
        datatype = DATATYPE_OF_ONNX.get(arg.type)
        if datatype is None:
            raise ValueError(
                f"{what} {arg.name!r} is {arg.type}, which the inference protocol cannot carry; the served "
                f"types are {', '.join(DATATYPE_OF_ONNX)} (export a classifier without ZipMap)"
            )
        shape = tuple(d if isinstance(d, int) and d >= 0 else -1 for d in arg.shape)
        specs.append(TensorSpec(arg.name, datatype, shape))
    return tuple(specs)


def element_count(shape: Sequence[int]) -> int:
    return math.prod(shape)


def from_json(data: Any, spec: TensorSpec, shape: Sequence[int]) -> np.ndarray:
    """A request input's `data` (flat, or nested as the shape, row-major) -> an array of spec's dtype."""
    where = f"input {spec.name!r}"
    if type(data) is not list:
        raise bad_request(f'{where}: "data" must be an array, not {type(data).__name__}')
    # One pass in C over the elements' types answers both questions: nested or flat, and of the right kind.
    types = set(map(type, data))
    if list in types:
        if len(shape) <= 1 or len(types) > 1:
            raise bad_request(
                f"{where}: its data mixes arrays and values, or is nested deeper than {list(shape)}"
            )
        data = _nested(data, shape, where, [])
        types = set(map(type, data))
    elif len(data) != element_count(shape):
        raise bad_request(
            f"{where} has shape {list(shape)}, that is {element_count(shape)} elements, but its data holds "
            f"{len(data)}"
        )
    accepted = _JSON_TYPES.get(spec.dtype.kind, frozenset({str}))
    if not accepted.issuperset(types):
        bad = next(value for value in data if type(value) not in accepted)
        wanted = {"b": "true or false", "i": "integers", "u": "integers", "f": "numbers"}.get(
            spec.dtype.kind, "strings"
        )
        raise bad_request(f"{where} is {spec.datatype}: its data must be {wanted}, not {bad!r}")
    return _array(data, spec, where).reshape(shape)


def _nested(data: Any, shape: Sequence[int], where: str, index: list[int]) -> list[Any]:
    at = "".join(f"[{i}]" for i in index)
    if type(data) is not list or len(data) != shape[0]:
        got = f"{len(data)} elements" if type(data) is list else repr(data)
        raise bad_request(f"{where}: data{at} must be an array of {shape[0]} (its shape), got {got}")
    if len(shape) == 1:
        if any(type(item) is list for item in data):
            raise bad_request(f"{where}: data{at} is nested deeper than its shape {list(shape)}")
        return data
    flat: list[Any] = []
    for i, item in enumerate(data):
        flat.extend(_nested(item, shape[1:], where, [*index, i]))
    return flat


def _array(flat: list[Any], spec: TensorSpec, where: str) -> np.ndarray:
    dtype = spec.dtype
    if dtype.kind in "iu" and flat:
        info = np.iinfo(dtype)
        low, high = min(flat), max(flat)
        if low < info.min or high > info.max:
            value = low if low < info.min else high
            raise bad_request(f"{where}: {value} is outside the range of {spec.datatype}")
    if dtype.kind == "f":
        # numpy turns a number too large for the dtype into inf with an overflow warning (raised here), and
        # an integer too large for any float (hundreds of digits) into an OverflowError.
        with np.errstate(over="raise"):
            try:
                return np.array(flat, dtype=dtype)
            except (OverflowError, FloatingPointError):
                raise bad_request(f"{where} holds a number outside the range of {spec.datatype}") from None
    return np.array(flat, dtype=dtype)


def from_binary(raw: bytes, spec: TensorSpec, shape: Sequence[int]) -> np.ndarray:
    """A request input's binary data -> an array of spec's dtype and the given shape."""
    where = f"input {spec.name!r}"
    count = element_count(shape)
    if spec.datatype == "BYTES":
        return _strings(raw, count, where).reshape(shape)
    expected = count * spec.dtype.itemsize
    if len(raw) != expected:
        raise bad_request(
            f"{where} has shape {list(shape)} of {spec.datatype}, that is {expected} bytes, but its "
            f"binary_data_size is {len(raw)}"
        )
    if spec.datatype == "BOOL" and raw and max(raw) > 1:
        raise bad_request(f"{where} is BOOL: each element is one byte, 0 or 1")
    array = np.frombuffer(raw, dtype=spec.dtype.newbyteorder("<"))
    return array.astype(spec.dtype, copy=False).reshape(shape)


def _strings(raw: bytes, count: int, where: str) -> np.ndarray:
    values, offset = [], 0
    while offset < len(raw):
        if offset + 4 > len(raw):
            raise bad_request(f"{where}: its BYTES data ends inside an element's 4-byte length")
        (size,) = _LENGTH.unpack_from(raw, offset)
        end = offset + 4 + size
        if end > len(raw):
            raise bad_request(f"{where}: a BYTES element claims {size} bytes, past the end of its data")
        try:
            values.append(raw[offset + 4 : end].decode("utf-8"))
        except UnicodeDecodeError:
            raise bad_request(f"{where}: element {len(values)} is not UTF-8 (ONNX strings are)") from None
        offset = end
    if len(values) != count:
        raise bad_request(f"{where}: its shape holds {count} elements, its BYTES data {len(values)}")
    return np.array(values, dtype=object)


def to_json(array: np.ndarray) -> list[Any]:
    """An output's data for JSON: flat, row-major. Non-finite floats come out as NaN/Infinity, as Python's
    json writes them (Triton does the same); a client that cannot read those asks for binary data."""
    return array.ravel().tolist()


def to_binary(array: np.ndarray, datatype: str) -> bytes:
    if datatype == "BYTES":
        parts = []
        for value in array.ravel().tolist():
            encoded = value if isinstance(value, bytes) else str(value).encode("utf-8")
            parts += (_LENGTH.pack(len(encoded)), encoded)
        return b"".join(parts)
    return np.ascontiguousarray(array, dtype=array.dtype.newbyteorder("<")).tobytes()
