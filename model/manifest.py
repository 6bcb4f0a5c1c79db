"""The manifest that travels with every model, and the checks that decide whether a model may be served.

Imported by the serving app: keep it to the standard library (no numpy, onnx, sklearn or azure here).
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable, Mapping
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Protocol

from model.errors import IntegrityError, ModelNotFound

MODEL_FILE = "model.onnx"
MANIFEST_FILE = "manifest.json"
DEFAULT_MODEL_NAME = "digits"

# The reference digits model's interface: one 8x8 grayscale digit per row (values 0..16) in, a label and ten
# class probabilities out. Dynamic dimensions are written as null. Publishing refuses any other interface
# (publishing other models is not in scope yet); the app serves any ONNX model over the inference protocol
# (/v2) and offers /v1/predict only to a model with this interface.
SERVED_INPUT: list[dict[str, Any]] = [{"name": "input", "type": "tensor(float)", "shape": [None, 64]}]
SERVED_OUTPUT: list[dict[str, Any]] = [
    {"name": "label", "type": "tensor(int64)", "shape": [None]},
    {"name": "probabilities", "type": "tensor(float)", "shape": [None, 10]},
]

_REQUIRED = ("name", "version", "sha256", "size", "created", "metrics", "input", "output", "framework")


@dataclass(frozen=True)
class Manifest:
    name: str
    version: str
    sha256: str
    size: int
    created: str
    metrics: Mapping[str, Any]
    input: list[dict[str, Any]]
    output: list[dict[str, Any]]
    framework: Mapping[str, str] = field(default_factory=dict)

    def to_json(self) -> bytes:
        return (json.dumps(asdict(self), indent=2, sort_keys=True) + "\n").encode()

    @classmethod
    def from_json(cls, raw: bytes, source: str) -> Manifest:
        """Parse a manifest; `source` names where it came from, for the error message."""
        try:
            data = json.loads(raw)
        except (ValueError, UnicodeDecodeError) as exc:
            raise IntegrityError(
                f"{source} is not valid JSON ({exc}); republish this model version"
            ) from None
        if not isinstance(data, dict):
            raise IntegrityError(f"{source} must be a JSON object; republish this model version")
        missing = [key for key in _REQUIRED if key not in data]
        if missing:
            raise IntegrityError(f"{source} lacks {', '.join(missing)}; republish this model version")
        if not isinstance(data["size"], int) or not _is_sha256(data["sha256"]):
            raise IntegrityError(f"{source} has a malformed size or sha256; republish this model version")
        return cls(**{key: data[key] for key in _REQUIRED})


class TensorInfo(Protocol):
    """What onnxruntime's NodeArg offers: enough to describe a model's interface without importing it."""

    name: str
    type: str
    shape: list[Any]


def describe(tensors: Iterable[TensorInfo]) -> list[dict[str, Any]]:
    """A model's inputs or outputs as manifest entries; symbolic dimensions become None."""
    return [
        {"name": t.name, "type": t.type, "shape": [d if isinstance(d, int) else None for d in t.shape]}
        for t in tensors
    ]


def spec_problems(inputs: list[dict[str, Any]], outputs: list[dict[str, Any]]) -> list[str]:
    """Differences between a model's interface and the digits interface (empty when they match)."""
    problems = []
    if inputs != SERVED_INPUT:
        problems.append(f"input is {inputs}, the app serves {SERVED_INPUT}")
    if outputs != SERVED_OUTPUT:
        problems.append(f"output is {outputs}, the app serves {SERVED_OUTPUT}")
    return problems


def sha256_of(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def sha256_file(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as fh:
        for chunk in iter(lambda: fh.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def verify_model_dir(directory: Path) -> Manifest:
    """Check that `directory` holds a model and the manifest it was published with, byte for byte.

    Checks the file's size and sha256 against the manifest. (The app also checks that the loaded ONNX
    session's real inputs and outputs are the ones the manifest declares: app.inference.)
    """
    manifest_path, model_path = directory / MANIFEST_FILE, directory / MODEL_FILE
    fix = "run `python -m model fetch --dest DIR` (or `make model`) to get a verified model"
    if not manifest_path.is_file():
        raise ModelNotFound(f"no {MANIFEST_FILE} in {directory}; {fix}")
    if not model_path.is_file():
        raise ModelNotFound(f"no {MODEL_FILE} in {directory}; {fix}")
    manifest = Manifest.from_json(manifest_path.read_bytes(), str(manifest_path))
    size = model_path.stat().st_size
    if size != manifest.size:
        raise IntegrityError(f"{model_path} is {size} bytes, its manifest says {manifest.size}; {fix}")
    actual = sha256_file(model_path)
    if actual != manifest.sha256:
        raise IntegrityError(f"{model_path} has sha256 {actual}, its manifest says {manifest.sha256}; {fix}")
    return manifest


def _is_sha256(value: object) -> bool:
    return isinstance(value, str) and len(value) == 64 and all(c in "0123456789abcdef" for c in value)
