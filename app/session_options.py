"""The onnxruntime session settings every server of the model uses: the app (app/inference.py) and the
benchmark's MLServer runtime (bench/yardsticks/mlserver_runtime.py, which runs without the app's other
dependencies: so this module imports onnxruntime alone)."""

from __future__ import annotations

import onnxruntime as ort


def session_options() -> ort.SessionOptions:
    options = ort.SessionOptions()
    # One request is a few small matrix products: a thread pool costs more than it saves, and the server
    # already runs one process per core. Spinning threads would steal CPU from the other workers.
    options.intra_op_num_threads = 1
    options.inter_op_num_threads = 1
    options.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
    options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
    options.log_severity_level = 3  # errors only: the INFO/WARNING chatter is not actionable at serve time
    return options
