"""The /v2 routes' part of /openapi.json: paths and schemas of the Open Inference Protocol as this app serves
it (app.openapi puts them beside /v1's; a test validates real answers against them)."""

from __future__ import annotations

from typing import Any

from app.oip.infer import HEADER_LENGTH
from app.oip.routes import EXTENSIONS
from app.settings import Settings
from app.tensors import DATATYPES

_CLOSED = {"type": "object", "additionalProperties": False}
_NAME = {"name": "name", "in": "path", "required": True, "schema": {"type": "string"}}
_VERSION = {"name": "version", "in": "path", "required": True, "schema": {"type": "string"}}


def schema_ref(name: str) -> dict[str, str]:
    """A reference to a schema of the document's components (app.openapi uses these two as well)."""
    return {"$ref": f"#/components/schemas/{name}"}


def json_answer(description: str, schema: dict[str, Any]) -> dict[str, Any]:
    """A response whose body is JSON of this schema."""
    return {"description": description, "content": {"application/json": {"schema": schema}}}


_ref, _json = schema_ref, json_answer


def _error(description: str) -> dict[str, Any]:
    return _json(description, _ref("OipError"))


def oip_schemas(settings: Settings) -> dict[str, Any]:
    parameters = {
        "type": "object",
        "additionalProperties": {"type": ["string", "number", "boolean"]},
        "description": "key/value parameters; those this server acts on are named here",
    }
    datatype = {"type": "string", "enum": list(DATATYPES)}
    tensor_metadata = _CLOSED | {
        "required": ["name", "datatype", "shape"],
        "properties": {
            "name": {"type": "string"},
            "datatype": datatype,
            "shape": {"type": "array", "items": {"type": "integer", "minimum": -1}, "description": "-1: any"},
        },
    }
    return {
        "OipError": _CLOSED | {"required": ["error"], "properties": {"error": {"type": "string"}}},
        "OipLive": _CLOSED | {"required": ["live"], "properties": {"live": {"type": "boolean"}}},
        "OipReady": _CLOSED | {"required": ["ready"], "properties": {"ready": {"type": "boolean"}}},
        "OipModelReady": _CLOSED
        | {
            "required": ["name", "ready"],
            "properties": {"name": {"type": "string"}, "ready": {"type": "boolean"}},
        },
        "OipServerMetadata": _CLOSED
        | {
            "required": ["name", "version", "extensions"],
            "properties": {
                "name": {"type": "string"},
                "version": {"type": "string"},
                "extensions": {"type": "array", "items": {"enum": list(EXTENSIONS)}},
            },
        },
        "OipTensorMetadata": tensor_metadata,
        "OipModelMetadata": _CLOSED
        | {
            "required": ["name", "versions", "platform", "inputs", "outputs"],
            "properties": {
                "name": {"type": "string"},
                "versions": {"type": "array", "items": {"type": "string"}},
                "platform": {"const": "onnx_onnxv1"},
                "inputs": {"type": "array", "items": _ref("OipTensorMetadata")},
                "outputs": {"type": "array", "items": _ref("OipTensorMetadata")},
            },
        },
        "OipRequestInput": _CLOSED
        | {
            "required": ["name", "shape", "datatype"],
            "properties": {
                "name": {"type": "string"},
                "shape": {
                    "type": "array",
                    "items": {"type": "integer", "minimum": 1},
                    "description": "the model's shape, its -1 dimensions filled in; the first dimension "
                    f"(the batch) at most {settings.max_batch} (MAX_BATCH), for every input of any model",
                },
                "datatype": datatype,
                "parameters": parameters
                | {"properties": {"binary_data_size": {"type": "integer", "minimum": 0}}},
                "data": {
                    "type": "array",
                    "description": "the elements, row-major: flat, or nested as the shape; absent when "
                    "the binary_data_size parameter says how many bytes after the JSON are this input's",
                },
            },
        },
        "OipRequestOutput": _CLOSED
        | {
            "required": ["name"],
            "properties": {
                "name": {"type": "string"},
                "parameters": parameters | {"properties": {"binary_data": {"type": "boolean"}}},
            },
        },
        "OipInferRequest": _CLOSED
        | {
            "required": ["inputs"],
            "properties": {
                "id": {"type": "string", "description": "echoed in the answer"},
                "parameters": parameters | {"properties": {"binary_data_output": {"type": "boolean"}}},
                "inputs": {"type": "array", "minItems": 1, "items": _ref("OipRequestInput")},
                "outputs": {
                    "type": "array",
                    "items": _ref("OipRequestOutput"),
                    "description": "the outputs to answer with, in this order (default: all)",
                },
                "model_name": {"type": "string", "description": "if given, the URL's model"},
                "model_version": {"type": "string", "description": "if given, the served version"},
            },
        },
        "OipInferResponse": _CLOSED
        | {
            "required": ["model_name", "model_version", "outputs"],
            "properties": {
                "model_name": {"type": "string"},
                "model_version": {"type": "string"},
                "id": {"type": "string"},
                "outputs": {
                    "type": "array",
                    "items": _CLOSED
                    | {
                        "required": ["name", "datatype", "shape"],
                        "properties": tensor_metadata["properties"]
                        | {
                            "data": {"type": "array", "description": "flat, row-major"},
                            "parameters": _CLOSED
                            | {"properties": {"binary_data_size": {"type": "integer", "minimum": 0}}},
                        },
                    },
                },
            },
        },
    }


def oip_paths(settings: Settings) -> dict[str, Any]:
    not_ready = _error("the model is not loaded yet")
    unknown = _error("no such model, or no such version of it")
    paths: dict[str, Any] = {
        "/v2/health/live": _get("oip_live", "Liveness (anonymous)", _json("alive", _ref("OipLive"))),
        "/v2/health/ready": _get(
            "oip_ready",
            "Readiness: the model is loaded (anonymous)",
            _json("ready", _ref("OipReady")),
            {"503": _json('not ready yet: {"ready": false}', _ref("OipReady"))},
        ),
        "/v2": _get(
            "oip_server_metadata",
            "Server metadata and extensions",
            _json("metadata", _ref("OipServerMetadata")),
        ),
    }
    for suffix, parameters in (("", [_NAME]), ("/versions/{version}", [_NAME, _VERSION])):
        tag = "_version" if suffix else ""
        base = f"/v2/models/{{name}}{suffix}"
        paths[base] = _get(
            f"oip_model{tag}_metadata",
            "Model metadata, read from the ONNX model: inputs and outputs with datatype and shape",
            _json("metadata", _ref("OipModelMetadata")),
            {"404": unknown, "503": not_ready},
            parameters,
        )
        paths[f"{base}/ready"] = _get(
            f"oip_model{tag}_ready",
            "Model readiness (anonymous)",
            _json("ready", _ref("OipModelReady")),
            {"404": unknown, "503": _json("not loaded yet", _ref("OipModelReady"))},
            parameters,
        )
        paths[f"{base}/infer"] = {"post": _infer(f"oip{tag}_infer", settings, parameters, unknown, not_ready)}
    return paths


def _get(
    operation_id: str,
    summary: str,
    ok: dict[str, Any],
    errors: dict[str, Any] | None = None,
    parameters: list[dict[str, Any]] | None = None,
) -> dict[str, Any]:
    operation: dict[str, Any] = {"operationId": operation_id, "summary": summary}
    if parameters:
        operation["parameters"] = parameters
    operation["responses"] = {"200": ok, **(errors or {})}
    return {"get": operation}


def _infer(
    operation_id: str,
    settings: Settings,
    parameters: list[dict[str, Any]],
    unknown: dict[str, Any],
    not_ready: dict[str, Any],
) -> dict[str, Any]:
    binary = {
        "schema": {
            "type": "string",
            "contentMediaType": "application/octet-stream",
            "description": f"binary tensor data: the JSON object ({HEADER_LENGTH} bytes long, as that "
            "header says), then each binary input's or output's bytes in order (little-endian, row-major; "
            "BOOL one byte; BYTES a 4-byte length and the bytes per element)",
        }
    }
    ok = _json("the outputs asked for (all by default), in order", _ref("OipInferResponse"))
    ok["content"]["application/octet-stream"] = binary
    ok["headers"] = {
        HEADER_LENGTH: {
            "description": "present when binary tensor data follows the JSON object: its length",
            "schema": {"type": "integer"},
        }
    }
    return {
        "operationId": operation_id,
        "summary": "Run the model on tensors (JSON, or Triton's binary tensor data extension)",
        "parameters": [
            *parameters,
            {
                "name": HEADER_LENGTH,
                "in": "header",
                "required": False,
                "schema": {"type": "integer", "minimum": 0},
                "description": "the length of the JSON object when binary tensor data follows it",
            },
        ],
        "requestBody": {
            "required": True,
            "description": f"at most {settings.max_body_bytes} bytes (MAX_BODY_BYTES); the first dimension "
            f"of every input at most {settings.max_batch} (MAX_BATCH). No content type is read as JSON.",
            "content": {
                "application/json": {"schema": _ref("OipInferRequest")},
                "application/octet-stream": binary,
            },
        },
        "responses": {
            "200": ok,
            "400": _error(
                "the request does not fit the model: unknown or missing input, datatype, shape, data"
            ),
            "404": unknown,
            "413": _error("body over MAX_BODY_BYTES, or an input's first dimension over MAX_BATCH"),
            "415": _error(
                "a content type other than JSON or application/octet-stream, or a Content-Encoding"
            ),
            "503": not_ready,
        },
    }
