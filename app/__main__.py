"""`python -m app`: THE entrypoint, here and in the image.

1. read and validate the settings (env vars);
2. verify the model: its file against its manifest (size, sha256), and what onnxruntime loads against the
   interface the manifest declares, with one run; a model that does not match is never served;
3. start the Prometheus metrics port (this master process sums the workers' multiprocess files);
4. serve the app with the production WSGI server (app.servers) until SIGTERM/SIGINT.

A failure at 1-3 exits non-zero with one line on stderr that says what is wrong, and no traceback.
"""

from __future__ import annotations

import os
import shutil
import signal
import sys
import tempfile
from pathlib import Path

from app.metrics_port import start_metrics_port
from app.servers import ServerUnavailable, serve
from app.settings import Settings, SettingsError, load_settings
from model.errors import ModelError
from model.manifest import Manifest

MULTIPROC_ENV = "PROMETHEUS_MULTIPROC_DIR"  # read by prometheus_client when it is imported


class StartError(Exception):
    """A reason not to serve, with the exit code to report it with."""

    def __init__(self, message: str, exit_code: int) -> None:
        super().__init__(message)
        self.exit_code = exit_code


def _fail(message: str, exit_code: int) -> int:
    print(f"app: {message}", file=sys.stderr, flush=True)
    return exit_code


def _settings() -> Settings:
    try:
        return load_settings()
    except SettingsError as exc:
        raise StartError(str(exc), 2) from None


def _verified_model(settings: Settings) -> Manifest:
    """Everything a worker will do with the model, done once here first: check the file against its manifest,
    load it with onnxruntime, compare its real interface with the served one, run it once. A model that
    fails any of that stops the start here, with one message, instead of crash-looping the workers.

    The imports (Flask, numpy, onnxruntime, Pillow) are not wasted: the server forks its workers from this
    process, so they start with all of it loaded. The session itself is dropped: each worker makes its own.
    """
    try:
        import app.factory  # noqa: F401  (preloaded for the forked workers)
        from app.inference import ServedModel

        return ServedModel.load(settings.model_dir).manifest
    except ModelError as exc:
        raise StartError(f"refusing to serve the model in {settings.model_dir}: {exc}", 1) from None


def _start_metrics_port(settings: Settings) -> None:
    try:
        start_metrics_port(settings.host, settings.metrics_port)
    except OSError as exc:
        where = f"{settings.host}:{settings.metrics_port}"
        raise StartError(f"cannot serve metrics on {where} (METRICS_PORT): {exc}", 1) from None


def main() -> int:
    # Until the server installs its own handlers, SIGTERM (a pod deleted while starting) unwinds normally,
    # so the `finally` below still removes the metrics directory.
    signal.signal(signal.SIGTERM, lambda signum, frame: sys.exit(128 + signum))
    try:
        settings = _settings()
    except StartError as exc:
        return _fail(str(exc), exc.exit_code)
    # Set before anything imports prometheus_client (it reads the variable once, at import): the workers,
    # forked from this process, then write their samples there. A fresh directory per start, so samples of
    # a previous run (a restarted container keeping its /tmp volume) never leak in. SIGTERM is held back
    # from its creation until inside the `try` whose `finally` removes it.
    signal.pthread_sigmask(signal.SIG_BLOCK, {signal.SIGTERM})
    metrics_dir = Path(tempfile.mkdtemp(prefix="app-metrics-"))
    try:
        signal.pthread_sigmask(signal.SIG_UNBLOCK, {signal.SIGTERM})
        os.environ[MULTIPROC_ENV] = str(metrics_dir)
        # onnxruntime 1.32 otherwise keeps a telemetry store under $HOME and knows a Microsoft endpoint.
        os.environ.setdefault("ORT_DISABLE_TELEMETRY", "1")
        try:
            manifest = _verified_model(settings)
            _start_metrics_port(settings)
        except StartError as exc:
            return _fail(str(exc), exc.exit_code)
        print(
            f"app: serving model {manifest.name} version {manifest.version} (sha256 {manifest.sha256[:12]}) "
            f"on http://{settings.host}:{settings.port} with {settings.server} x{settings.workers}; "
            f"metrics on http://{settings.host}:{settings.metrics_port}/metrics",
            file=sys.stderr,
            flush=True,
        )
        try:
            serve(settings)
        except ServerUnavailable as exc:
            return _fail(str(exc), 2)
        return 0
    finally:
        shutil.rmtree(metrics_dir, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
