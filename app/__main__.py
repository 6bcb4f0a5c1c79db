"""`python -m app`: THE entrypoint, here and in the image.

1. read and validate the settings (env vars);
2. verify the model: its file against its manifest (size, sha256), and what onnxruntime loads against the
   interface the manifest declares, with one run; a model that does not match is never served;
3. start the Prometheus metrics port (this master process sums the workers' multiprocess files);
4. serve the app with the production WSGI server (app.servers) until SIGTERM/SIGINT.

A failure at 1-3 exits non-zero with one line on stderr that says what is wrong, and no traceback. Every line
the app logs is one JSON object (app/logs.py), these too.
"""

from __future__ import annotations

import logging
import logging.config
import os
import shutil
import signal
import sys
import tempfile
from pathlib import Path

from app import logs
from app.metrics_port import start_metrics_port
from app.servers import ServerUnavailable, serve
from app.settings import Settings, SettingsError, load_settings
from model.errors import ModelError
from model.manifest import Manifest

MULTIPROC_ENV = "PROMETHEUS_MULTIPROC_DIR"  # read by prometheus_client when it is imported
log = logging.getLogger("app")


class StartError(Exception):
    """A reason not to serve, with the exit code to report it with."""

    def __init__(self, message: str, exit_code: int) -> None:
        super().__init__(message)
        self.exit_code = exit_code


def _fail(message: str, exit_code: int) -> int:
    log.error(message)
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


def _start_metrics_port(settings: Settings, manifest: Manifest) -> None:
    # What /version says, as the metric app_build_info: the dashboard shows what each pod serves.
    build = {
        "version": settings.app_version,
        "commit": settings.git_commit,
        "model_name": manifest.name,
        "model_version": manifest.version,
        "model_sha256": manifest.sha256,
    }
    try:
        start_metrics_port(settings.host, settings.metrics_port, build)
    except OSError as exc:
        where = f"{settings.host}:{settings.metrics_port}"
        raise StartError(f"cannot serve metrics on {where} (METRICS_PORT): {exc}", 1) from None


def _sign_in(settings: Settings) -> str:
    auth = settings.auth
    if auth is None:
        return "sign-in off (AUTH_AUDIENCE unset): anyone who reaches the app can call it"
    role = f", app role {auth.required_role}" if auth.required_role else ", any app role"
    return f"sign-in on: Entra ID tokens for {auth.audience} from {auth.issuer}{role}"


def main() -> int:
    # Until the server installs its own handlers, SIGTERM (a pod deleted while starting) unwinds normally,
    # so the `finally` below still removes the metrics directory.
    signal.signal(signal.SIGTERM, lambda signum, frame: sys.exit(128 + signum))
    # Configured once, before the settings are read (a bad one is reported as JSON too), never again here:
    # a replaced handler is freed by a later garbage collection, whose weakref callback would swallow a
    # SIGTERM arriving just then ("Exception ignored in ..."), and the start would go on.
    logging.config.dictConfig(logs.config(logs.level_from(os.environ)))
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
            _start_metrics_port(settings, manifest)
        except StartError as exc:
            return _fail(str(exc), exc.exit_code)
        log.info(
            f"serving model {manifest.name} version {manifest.version} (sha256 {manifest.sha256[:12]}) "
            f"on http://{settings.host}:{settings.port} with {settings.server} x{settings.workers}; "
            f"metrics on http://{settings.host}:{settings.metrics_port}/metrics; {_sign_in(settings)}",
            extra={
                "model_name": manifest.name,
                "model_version": manifest.version,
                "commit": settings.git_commit,
                "sign_in": settings.auth is not None,
            },
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
