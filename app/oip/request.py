"""An inference request of the Open Inference Protocol, checked against the served model's own interface.

`parse_infer_request(header, binary, model, max_batch)` reads the request's JSON object (`header`) and, for
inputs sent with Triton's binary tensor data extension, their bytes (`binary`, in input order), and returns
the feeds for onnxruntime and the outputs to answer with; anything that does not fit the model is a 400
ApiError that says what (a batch over MAX_BATCH: 413). Shared by the Flask route and the fast lane
(app.oip.routes), so both accept and refuse exactly the same requests.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from types import MappingProxyType
from typing import Any

import numpy as np

from app import jsonio
from app.errors import too_large
from app.inference import ServedModel
from app.tensors import DATATYPES, TensorSpec, bad_request, from_binary, from_json

_REQUEST_KEYS = frozenset({"id", "parameters", "inputs", "outputs", "model_name", "model_version"})
_INPUT_KEYS = frozenset({"name", "shape", "datatype", "parameters", "data"})
_OUTPUT_KEYS = frozenset({"name", "parameters"})
# Triton extensions this server does not implement: refused by name rather than silently ignored.
_UNSUPPORTED_PARAMETERS = {
    "shared_memory_region": "the shared memory extension is not supported; send the data in the request",
    "classification": "the classification extension is not supported; ask for the output itself",
}


_NO_PARAMETERS: Mapping[str, Any] = MappingProxyType({})
_INT = frozenset({int})  # exact: a JSON boolean is not a dimension


@dataclass(frozen=True)
class InferRequest:
    id: str | None
    feeds: dict[str, np.ndarray]
    outputs: tuple[tuple[TensorSpec, bool], ...]  # (output, as binary data), in the order to answer them
    binary_outputs: bool  # any output asked for as binary data


def split_body(body: bytes, header_length: str | None) -> tuple[bytes, bytes]:
    """(JSON header, binary tensor data) by the Inference-Header-Content-Length header; without it the
    whole body is the JSON object."""
    if header_length is None:
        return body, b""
    text = header_length.strip()
    if not (text.isascii() and text.isdigit()) or int(text) > len(body):
        raise bad_request(
            f"Inference-Header-Content-Length is {header_length!r}: it must be the length in bytes of the "
            f"JSON object at the start of the body ({len(body)} bytes)"
        )
    return body[: int(text)], body[int(text) :]


def parse_infer_request(header: bytes, binary: bytes, model: ServedModel, max_batch: int) -> InferRequest:
    payload = _json_object(header)
    if not _REQUEST_KEYS.issuperset(payload):
        unknown = sorted(set(payload) - _REQUEST_KEYS)
        raise bad_request(
            f"unknown key(s) {', '.join(map(repr, unknown))}; an inference request has "
            f"{', '.join(sorted(_REQUEST_KEYS))}"
        )
    _check_names_the_model(payload, model)
    request_id = payload.get("id")
    if request_id is not None and type(request_id) is not str:
        raise bad_request(f'"id" must be a string, not {request_id!r}')
    parameters = _parameters(payload, "the request")
    binary_default = _flag(parameters, "binary_data_output", "the request")
    feeds = _feeds(payload.get("inputs"), binary, model, max_batch)
    outputs = _outputs(payload.get("outputs"), model, binary_default)
    return InferRequest(request_id, feeds, outputs, any(binary for _, binary in outputs))


def _json_object(header: bytes) -> dict[str, Any]:
    try:
        payload = jsonio.loads(header)
    except (ValueError, UnicodeDecodeError) as exc:  # JSONDecodeError is a ValueError
        raise bad_request(f"the inference request is not valid JSON: {exc}") from None
    except RecursionError:
        raise bad_request("the inference request is JSON nested too deeply to parse") from None
    if type(payload) is not dict:
        raise bad_request('the inference request must be a JSON object with "inputs"')
    return payload


def _check_names_the_model(payload: Mapping[str, Any], model: ServedModel) -> None:
    """Some clients (the kserve SDK) repeat the model's name in the body: it must be the URL's."""
    for key, served in (("model_name", model.manifest.name), ("model_version", model.manifest.version)):
        if key in payload and payload[key] != served:
            raise bad_request(f'"{key}" in the body is {payload[key]!r}, but the URL names {served!r}')


def _parameters(holder: Mapping[str, Any], where: str) -> Mapping[str, Any]:
    parameters = holder.get("parameters")
    if parameters is None:  # the common case, first: this runs for the request and every tensor in it
        return _NO_PARAMETERS
    if type(parameters) is not dict:
        raise bad_request(f'"parameters" of {where} must be an object, not {parameters!r}')
    for name, reason in _UNSUPPORTED_PARAMETERS.items():
        if name in parameters:
            raise bad_request(f'{where}: parameter "{name}": {reason}')
    return parameters


def _flag(parameters: Mapping[str, Any], name: str, where: str, default: bool = False) -> bool:
    value = parameters.get(name, default)
    if type(value) is not bool:
        raise bad_request(f'parameter "{name}" of {where} must be true or false, not {value!r}')
    return value


def _feeds(inputs: Any, binary: bytes, model: ServedModel, max_batch: int) -> dict[str, np.ndarray]:
    if type(inputs) is not list or not inputs:
        raise bad_request(
            f'"inputs" must be a non-empty array; the model\'s inputs are {_listed(model.inputs)}'
        )
    feeds: dict[str, np.ndarray] = {}
    offset = 0
    for position, tensor in enumerate(inputs):
        spec = _named(tensor, position, "input", model.inputs, feeds, _INPUT_KEYS)
        name = spec.name
        shape = _shape(tensor, spec, max_batch)
        size = (
            _parameters(tensor, f"input {name!r}").get("binary_data_size") if "parameters" in tensor else None
        )
        if size is None:
            if "data" not in tensor:
                raise bad_request(f'input {name!r} has no "data" (nor a "binary_data_size" parameter)')
            feeds[name] = from_json(tensor["data"], spec, shape)
            continue
        if type(size) is not int or size < 0 or "data" in tensor:
            raise bad_request(f'input {name!r}: "binary_data_size" must be a byte count, without "data"')
        if offset + size > len(binary):
            raise bad_request(
                f"input {name!r} has binary_data_size {size}, but only {len(binary) - offset} bytes of "
                "binary data are left after the JSON object (is Inference-Header-Content-Length its length?)"
            )
        feeds[name] = from_binary(binary[offset : offset + size], spec, shape)
        offset += size
    missing = [spec for spec in model.inputs if spec.name not in feeds]
    if missing:
        raise bad_request(f"missing input(s) {_listed(missing)}: the model needs every one")
    if offset != len(binary):
        raise bad_request(
            f"{len(binary) - offset} bytes of binary data after the JSON object belong to no "
            "input (their binary_data_size parameters add up to less)"
        )
    return feeds


def _shape(tensor: Mapping[str, Any], spec: TensorSpec, max_batch: int) -> list[int]:
    shape, datatype = tensor.get("shape"), tensor.get("datatype")
    if datatype != spec.datatype:
        known = "" if datatype in DATATYPES else f" (the datatypes are {', '.join(DATATYPES)})"
        raise bad_request(f"input {spec.name!r} is {spec.datatype}, not {datatype!r}{known}")
    # Plain loops and C-level checks: this runs for every input of every request (the fast lane's too).
    if type(shape) is not list or not _INT.issuperset(map(type, shape)) or (shape and min(shape) < 1):
        raise bad_request(
            f'input {spec.name!r}: "shape" must be an array of positive integers, not {shape!r}'
        )
    fits = len(shape) == len(spec.shape)
    for given, declared in zip(shape, spec.shape, strict=False):
        fits = fits and declared in (-1, given)
    if not fits:
        raise bad_request(
            f"input {spec.name!r} has shape {shape}; the model takes {list(spec.shape)} (-1: any)"
        )
    if shape and shape[0] > max_batch:
        raise too_large(
            f"input {spec.name!r} has a batch of {shape[0]} (its first dimension), more than the limit of "
            f"{max_batch} (MAX_BATCH); split the request"
        )
    return shape


def _outputs(requested: Any, model: ServedModel, binary_default: bool) -> tuple[tuple[TensorSpec, bool], ...]:
    """The outputs to answer with: those asked for, in that order, or else every output of the model."""
    if requested is None or requested == []:
        return tuple((spec, binary_default) for spec in model.outputs)
    if type(requested) is not list:
        raise bad_request(f'"outputs" must be an array of {{"name": ...}}, not {requested!r}')
    chosen: dict[str, tuple[TensorSpec, bool]] = {}
    for position, output in enumerate(requested):
        spec = _named(output, position, "output", model.outputs, chosen, _OUTPUT_KEYS)
        where = f"output {spec.name!r}"
        chosen[spec.name] = (spec, _flag(_parameters(output, where), "binary_data", where, binary_default))
    return tuple(chosen.values())


def _named(
    entry: Any,
    position: int,
    kind: str,
    specs: tuple[TensorSpec, ...],
    seen: Mapping[str, Any],
    keys: frozenset[str],
) -> TensorSpec:
    """The model's input or output that a request's entry names, once, with only the protocol's keys."""
    if type(entry) is not dict:
        raise bad_request(f'{kind}s[{position}] must be an object with a "name", not {entry!r}')
    name = entry.get("name")
    for spec in specs:
        if spec.name == name:
            break
    else:
        raise bad_request(
            f"{kind}s[{position}]: the model has no {kind} {name!r}; its {kind}s are {_listed(specs)}"
        )
    if name in seen:
        raise bad_request(f"{kind} {name!r} is named twice")
    if not keys.issuperset(entry):
        unknown = sorted(set(entry) - keys)
        raise bad_request(f"{kind} {name!r}: unknown key(s) {', '.join(map(repr, unknown))}")
    return spec


def _listed(specs: Any) -> str:
    return ", ".join(map(str, specs))
