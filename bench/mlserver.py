"""Seldon MLServer as a yardstick: its virtualenv, its settings files and its command line.

MLServer (PyPI `mlserver`, pinned in tools/mlserver/requirements.txt) lives in a virtualenv of its own,
.venv-mlserver, which `make tools` creates: its pins (FastAPI 0.115, starlette 0.46, protobuf 6, pandas 3...)
clash with the app's, and 1.7.1 needs `uvloop<0.22` to start at all (SeldonIO/MLServer#2286). It serves the
benchmark's model through bench/yardsticks/mlserver_runtime.py, on the Open Inference Protocol's JSON.

Its two ways to run a model, both measured by `make bench`: `parallel_workers` 0, the model in the one
process that also serves HTTP (uvicorn, uvloop), or N inference worker processes that the HTTP process hands
each request to (and its answer back from) over multiprocessing queues. The rest is MLServer's fastest here,
as a user tuning it for speed would set it: no debug (no access log), no gzip middleware (wrk asks for no
compression, so it would only cost), no metrics endpoint (its Prometheus middleware costs per request; the
app keeps its own metrics, so this only favours MLServer). Its gRPC server listens too: MLServer always
starts it, on a port of its own here.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

from model.manifest import MANIFEST_FILE, MODEL_FILE, Manifest

REPO = Path(__file__).resolve().parent.parent
VENV = Path(os.environ.get("MLSERVER_VENV", REPO / ".venv-mlserver"))
RUNTIME = "bench.yardsticks.mlserver_runtime.OnnxRuntime"
# Its readiness of the model itself: /v2/health/ready can answer 200 while the model failed to load.
READY_PATH = "/v2/models/{model}/ready"


class MLServerMissing(RuntimeError):
    """MLServer's virtualenv is not there: `make tools` creates it."""


def mlserver_command() -> Path:
    command = VENV / "bin" / "mlserver"
    if not command.exists():
        raise MLServerMissing(
            f"MLServer is not installed at {VENV}: `make tools` creates it (python3 -m venv "
            ".venv-mlserver && .venv-mlserver/bin/pip install -r tools/mlserver/requirements.txt)"
        )
    return command


def model_name(model_dir: Path) -> str:
    return Manifest.from_json((model_dir / MANIFEST_FILE).read_bytes(), str(model_dir)).name


def write_repository(
    directory: Path,
    model_dir: Path,
    *,
    http_port: int,
    grpc_port: int,
    metrics_port: int,
    parallel_workers: int,
) -> Path:
    """An MLServer model repository in `directory`: settings.json (the server) and <name>/model-settings.json
    (the model, served by the runtime under its manifest's name and version). Returns `directory`."""
    manifest = Manifest.from_json((model_dir / MANIFEST_FILE).read_bytes(), str(model_dir))
    settings = {
        "debug": False,
        "parallel_workers": parallel_workers,
        "host": "127.0.0.1",
        "http_port": http_port,
        "grpc_port": grpc_port,
        "metrics_port": metrics_port,
        "metrics_endpoint": None,
        "gzip_enabled": False,
        # Both default to folders under the working directory (the repository): keep them in the scratch.
        "metrics_dir": str(directory / "metrics"),
        "environments_dir": str(directory / "envs"),
    }
    model_settings = {
        "name": manifest.name,
        "implementation": RUNTIME,
        "parameters": {"uri": str((model_dir / MODEL_FILE).resolve()), "version": manifest.version},
    }
    (directory / manifest.name).mkdir(parents=True, exist_ok=True)
    (directory / "settings.json").write_text(json.dumps(settings, indent=2))
    (directory / manifest.name / "model-settings.json").write_text(json.dumps(model_settings, indent=2))
    return directory


def command(repository: Path) -> tuple[list[str], dict[str, str]]:
    """`mlserver start <repository>`, able to import the runtime (PYTHONPATH: this repository only)."""
    return [str(mlserver_command()), "start", str(repository)], {"PYTHONPATH": str(REPO)}
