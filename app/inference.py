"""The served model: a verified ONNX file in one onnxruntime session per worker process."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import onnxruntime as ort

from model.errors import IntegrityError
from model.manifest import MODEL_FILE, Manifest, describe, sha256_of, spec_problems, verify_model_dir

INPUT_NAME = "input"
OUTPUT_NAMES = ["label", "probabilities"]
FEATURES = 64  # one 8x8 digit, values 0..16
CLASSES = 10


def _session_options() -> ort.SessionOptions:
    options = ort.SessionOptions()
    # One request is two small matrix products: a thread pool costs more than it saves, and the server
    # already runs one process per core. Spinning threads would steal CPU from the other workers.
    options.intra_op_num_threads = 1
    options.inter_op_num_threads = 1
    options.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
    options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
    options.log_severity_level = 3  # errors only: the INFO/WARNING chatter is not actionable at serve time
    return options


@dataclass(frozen=True)
class DigitModel:
    manifest: Manifest
    session: ort.InferenceSession

    @classmethod
    def load(cls, model_dir: Path) -> DigitModel:
        """Verify `model_dir` against its manifest, then load exactly the bytes that were verified.

        Raises model.errors.ModelError (ModelNotFound, IntegrityError) with a message that says what to do.
        """
        manifest = verify_model_dir(model_dir)
        model_path = model_dir / MODEL_FILE
        # Read once and check these very bytes: the file cannot change between the check and the load.
        model_bytes = model_path.read_bytes()
        if sha256_of(model_bytes) != manifest.sha256:
            raise IntegrityError(f"{model_path} changed while it was being loaded; fetch the model again")
        try:
            session = ort.InferenceSession(
                model_bytes, _session_options(), providers=["CPUExecutionProvider"]
            )
        # onnxruntime raises its own pybind exception types (Fail, InvalidProtobuf, ...), no common base.
        except Exception as exc:
            raise IntegrityError(f"{model_path} is not a model onnxruntime can load: {exc}") from None
        problems = spec_problems(describe(session.get_inputs()), describe(session.get_outputs()))
        if problems:
            raise IntegrityError(
                f"{model_path} has an interface the app does not serve: {'; '.join(problems)}"
            )
        model = cls(manifest, session)
        model.predict(np.zeros((1, FEATURES), dtype=np.float32))  # warm-up: the first run allocates
        return model

    def predict(self, features: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """features float32 [n, 64] -> (labels int64 [n], probabilities float32 [n, 10])."""
        labels, probabilities = self.session.run(OUTPUT_NAMES, {INPUT_NAME: features})
        return labels, probabilities
