"""Small ONNX models the tests make, to prove the app serves any model and not only the digits one, each
written as a model directory (model.onnx + manifest.json) exactly as `python -m model fetch` leaves one.

- "pair": two inputs of other datatypes, `a` FP64 [-1, 2] and `b` INT32 [-1, 2]; outputs `total` FP32 [-1, 2]
  (a + b) and `positive` BOOL [-1, 2] (total > 0). Its expected answer: pair_expected().
- "echo": one BYTES (ONNX string) input `text` [-1], returned as is in `same`.
"""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import numpy as np
import onnx
import onnxruntime
from onnx import TensorProto, helper

from model.manifest import MANIFEST_FILE, MODEL_FILE, Manifest, describe, sha256_of

# What GET /v2/models/digits must answer for the reference model (model/train.py), read from its ONNX file.
DIGITS_METADATA = {
    "name": "digits",
    "versions": ["1"],
    "platform": "onnx_onnxv1",
    "inputs": [{"name": "input", "datatype": "FP32", "shape": [-1, 64]}],
    "outputs": [
        {"name": "label", "datatype": "INT64", "shape": [-1]},
        {"name": "probabilities", "datatype": "FP32", "shape": [-1, 10]},
    ],
}
OPSET = 17
IR_VERSION = 9  # what onnxruntime 1.32 loads; onnx's own default may be newer


def _model(graph: onnx.GraphProto) -> bytes:
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", OPSET)], ir_version=IR_VERSION)
    onnx.checker.check_model(model, full_check=True)
    return model.SerializeToString()


def pair_model() -> bytes:
    nodes = [
        helper.make_node("Cast", ["b"], ["b_double"], to=TensorProto.DOUBLE),
        helper.make_node("Add", ["a", "b_double"], ["sum"]),
        helper.make_node("Cast", ["sum"], ["total"], to=TensorProto.FLOAT),
        helper.make_node("Greater", ["total", "zero"], ["positive"]),
    ]
    graph = helper.make_graph(
        nodes,
        "pair",
        [
            helper.make_tensor_value_info("a", TensorProto.DOUBLE, ["n", 2]),
            helper.make_tensor_value_info("b", TensorProto.INT32, ["n", 2]),
        ],
        [
            helper.make_tensor_value_info("total", TensorProto.FLOAT, ["n", 2]),
            helper.make_tensor_value_info("positive", TensorProto.BOOL, ["n", 2]),
        ],
        initializer=[helper.make_tensor("zero", TensorProto.FLOAT, [], [0.0])],
    )
    return _model(graph)


def pair_expected(a: np.ndarray, b: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    total = (a + b.astype(np.float64)).astype(np.float32)
    return total, total > 0


def echo_model() -> bytes:
    graph = helper.make_graph(
        [helper.make_node("Identity", ["text"], ["same"])],
        "echo",
        [helper.make_tensor_value_info("text", TensorProto.STRING, ["n"])],
        [helper.make_tensor_value_info("same", TensorProto.STRING, ["n"])],
    )
    return _model(graph)


def write_model_dir(dest: Path, model_bytes: bytes, name: str, version: str = "1") -> Path:
    """model.onnx and the manifest publishing would write for it (interface read by onnxruntime)."""
    session = onnxruntime.InferenceSession(model_bytes, providers=["CPUExecutionProvider"])
    manifest = Manifest(
        name=name,
        version=version,
        sha256=sha256_of(model_bytes),
        size=len(model_bytes),
        created=datetime.now(UTC).isoformat(timespec="seconds"),
        metrics={},
        input=describe(session.get_inputs()),
        output=describe(session.get_outputs()),
        framework={"onnx": onnx.__version__},
    )
    dest.mkdir(parents=True, exist_ok=True)
    (dest / MODEL_FILE).write_bytes(model_bytes)
    (dest / MANIFEST_FILE).write_bytes(manifest.to_json())
    return dest
