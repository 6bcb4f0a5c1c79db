"""Yardstick "mlserver": Seldon MLServer serving the same ONNX model through this minimal custom runtime.

MLServer is the model server a user would pick instead of writing an app: it speaks the Open Inference
Protocol (v2) and runs a model through a runtime class. None of its packaged runtimes serves ONNX, so this is
the smallest one that does, written as MLServer's documentation shows: `load` opens an onnxruntime session
with the app's settings (one thread, sequential, all graph optimisations), `predict` decodes each input with
MLServer's NumpyCodec, runs the session and encodes every output back.

It runs inside MLServer's own virtualenv (.venv-mlserver, tools/mlserver/requirements.txt), which has
onnxruntime and numpy but not the app: of this repository it imports only app/session_options.py, the
app's onnxruntime settings, which needs onnxruntime alone.
bench/mlserver.py writes the settings and starts it: `mlserver start <dir>` with PYTHONPATH at the repository.
"""

from __future__ import annotations

import onnxruntime as ort
from mlserver import MLModel
from mlserver.codecs import NumpyCodec
from mlserver.types import InferenceRequest, InferenceResponse
from mlserver.utils import get_model_uri

from app.session_options import session_options  # onnxruntime alone: importable here


class OnnxRuntime(MLModel):
    async def load(self) -> bool:
        uri = await get_model_uri(self.settings)  # the model-settings' parameters.uri: the .onnx file
        self._session = ort.InferenceSession(uri, session_options(), providers=["CPUExecutionProvider"])
        self._outputs = [output.name for output in self._session.get_outputs()]
        return True

    async def predict(self, payload: InferenceRequest) -> InferenceResponse:
        feeds = {
            request_input.name: NumpyCodec.decode_input(request_input) for request_input in payload.inputs
        }
        results = self._session.run(self._outputs, feeds)
        return InferenceResponse(
            model_name=self.name,
            model_version=self.version,
            id=payload.id,
            outputs=[
                NumpyCodec.encode_output(name, array)
                for name, array in zip(self._outputs, results, strict=True)
            ],
        )
