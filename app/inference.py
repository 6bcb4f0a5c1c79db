"""The served model: any verified ONNX file, in one onnxruntime session per worker process.

Nothing here knows what the model computes. Its inputs and outputs come from the ONNX file itself (and must be
the ones its manifest declares); `digits` says whether it also has the reference digits model's interface,
which is what `/v1/predict` needs (model.manifest.SERVED_INPUT/SERVED_OUTPUT).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import onnxruntime as ort

from app.session_options import session_options
from app.tensors import TensorSpec, tensor_specs
from model.errors import IntegrityError
from model.manifest import MODEL_FILE, Manifest, describe, sha256_of, spec_problems, verify_model_dir

# The digits interface (/v1/predict): one 8x8 digit per row in, a label and ten probabilities out.
INPUT_NAME = "input"
OUTPUT_NAMES = ["label", "probabilities"]
FEATURES = 64  # one 8x8 digit, values 0..16
CLASSES = 10
PLATFORM = "onnx_onnxv1"  # OIP's platform name for an ONNX model


class RunError(Exception):
    """onnxruntime refused to run the model on these inputs (a shape or value the graph cannot take)."""


@dataclass(frozen=True)
class ServedModel:
    manifest: Manifest
    session: ort.InferenceSession
    inputs: tuple[TensorSpec, ...]
    outputs: tuple[TensorSpec, ...]
    digits: bool  # the digits interface: /v1/predict is offered

    @classmethod
    def load(cls, model_dir: Path) -> ServedModel:
        """Verify `model_dir` against its manifest, then load exactly the bytes that were verified, check that
        the model's real interface is the one the manifest declares and that OIP can carry it, and run it
        once on zeros.

        Raises model.errors.ModelError (ModelNotFound, IntegrityError) with a message that says what to do.
        """
        manifest = verify_model_dir(model_dir)
        model_path = model_dir / MODEL_FILE
        # Read once and check these very bytes: the file cannot change between the check and the load.
        model_bytes = model_path.read_bytes()
        if sha256_of(model_bytes) != manifest.sha256:
            raise IntegrityError(f"{model_path} changed while it was being loaded; fetch the model again")
        try:
            session = ort.InferenceSession(model_bytes, session_options(), providers=["CPUExecutionProvider"])
        # onnxruntime raises its own pybind exception types (Fail, InvalidProtobuf, ...), no common base.
        except Exception as exc:
            raise IntegrityError(f"{model_path} is not a model onnxruntime can load: {exc}") from None
        declared = (manifest.input, manifest.output)
        real = (describe(session.get_inputs()), describe(session.get_outputs()))
        if declared != real:
            raise IntegrityError(
                f"{model_dir / 'manifest.json'} declares inputs {declared[0]} and outputs {declared[1]}, but "
                f"the model's are {real[0]} and {real[1]}; republish this model version"
            )
        try:
            inputs = tensor_specs(session.get_inputs(), "input")
            outputs = tensor_specs(session.get_outputs(), "output")
        except ValueError as exc:
            raise IntegrityError(f"{model_path} cannot be served: {exc}") from None
        model = cls(manifest, session, inputs, outputs, digits=not spec_problems(*real))
        model._warm_up(model_path)
        return model

    def _warm_up(self, model_path: Path) -> None:
        """One run on zeros (every dynamic dimension 1): the first run allocates, and a model that cannot
        run at all is found here, at start, rather than by the first caller."""
        feeds = {
            spec.name: np.zeros([1 if d < 0 else d for d in spec.shape], dtype=spec.dtype)
            if spec.datatype != "BYTES"
            else np.full([1 if d < 0 else d for d in spec.shape], "", dtype=object)
            for spec in self.inputs
        }
        try:
            self.run(feeds, [spec.name for spec in self.outputs])
        except RunError as exc:
            raise IntegrityError(f"{model_path} does not run on zeros: {exc}") from None

    def run(self, feeds: Mapping[str, np.ndarray], output_names: Sequence[str]) -> list[np.ndarray]:
        """The named outputs for these inputs; RunError when onnxruntime refuses them."""
        try:
            return self.session.run(output_names, feeds)  # type: ignore[arg-type]
        # Validated inputs can still break a graph's own rules (two dynamic dimensions that must agree, an
        # index out of range): onnxruntime's exception types share no base.
        except Exception as exc:
            raise RunError(str(exc).splitlines()[0] if str(exc) else type(exc).__name__) from None

    def predict(self, features: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """The digits interface only: features float32 [n, 64] -> (labels int64 [n], probabilities float32
        [n, 10]). Straight to the session, without run()'s checks: /v1/predict validated the batch."""
        labels, probabilities = self.session.run(OUTPUT_NAMES, {INPUT_NAME: features})
        return labels, probabilities
