"""The servers under test, each as the command line and environment that start it on 127.0.0.1.

"app" is the production entrypoint exactly as the image runs it (`python -m app`, its default server);
"app-no-fast-lane" the same with FAST_LANE=false, so the fast lane's worth is measured over HTTP in each run;
"app-v2" the same app asked for the same digit with the Open Inference Protocol (v2 JSON), so the two
protocols are compared in each run; "app-signin" and "app-signin-fresh" the same app with sign-in on
(bench/signin.py), sent one token again and again, or a new token each time, so the cost of checking tokens
is measured beside "app" in each run.
"hello" is the ceiling: the same WSGI server as the app (granian, the same worker count and settings)
answering a fixed body, the app's own answer, with no work (bench/yardsticks/hello.py).
"granian", "gunicorn-sync" and "gunicorn-gthread" load the same WSGI callable, `app.wsgi:application`,
through each server's own command line, each tuned as it serves best here (below): the comparison that picks
the app's default server does not depend on how the app's launcher configures them. The yardsticks are in
bench/yardsticks/: the tutorial pattern, the FastAPI peer, and Seldon MLServer (bench/mlserver.py) with
`parallel_workers` 0 ("mlserver": the model in its HTTP process) and N ("mlserver-workers": N inference
worker processes, N the app's worker count), asked the digit as v2 JSON, its native request.
"""

from __future__ import annotations

import sys
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path

from bench import mlserver
from bench.procs import LOCALHOST, free_port

WSGI_TARGET = "app.wsgi:application"
# Each server as it serves best here, measured (2 workers, 2 cores shared with wrk): gthread with 4 threads
# per worker beat 1 thread at 16 connections (~3500 vs ~3100 req/s). Granian with 1 blocking thread per
# worker (as the app runs it) matched its default (backpressure/2 = 256 threads) at 16 connections and
# beat it at 1 connection (~2450 vs ~1950 req/s), with half the p99 at 16 (6.5 vs 14 ms).
GTHREAD_THREADS = 4
GRANIAN_BLOCKING_THREADS = 1


@dataclass(frozen=True)
class Launch:
    """What spawn() needs: the ports are free ports picked for this start."""

    port: int
    metrics_port: int
    workers: int
    model_dir: Path
    scratch: Path  # a fresh directory of this server's own (prometheus multiprocess files)
    sign_in_env: Mapping[str, str] = field(default_factory=dict)  # AUTH_*: the servers with sign-in on
    ceiling_body: Path | None = None  # the file with the body "hello" answers: the app's answer


@dataclass(frozen=True)
class ServerKind:
    name: str
    label: str  # for the table
    role: str  # "app", "server" (same app, another WSGI server), "ceiling" or "yardstick"
    command: Callable[[Launch], tuple[list[str], dict[str, str]]]
    single_process: bool = False  # the tutorial pattern: one process whatever the worker count
    protocol: str = "v1"  # what wrk posts: the digit as /v1/predict's JSON, or as an OIP v2 JSON inference
    # With sign-in on: a token reused ("signin-repeat") or a new one each request ("signin-fresh"), the wrk
    # script of that name (bench/signin.py); None: no token.
    tokens: str | None = None
    # A path that must answer 200 before the benchmark's request is tried ({model}: the model's name), for a
    # server whose readiness says nothing of its model (MLServer's /v2/health/ready answers 200 while the
    # model failed to load).
    ready_path: str | None = None


def _python(*args: str) -> list[str]:
    return [sys.executable, *args]


def _app_env(launch: Launch) -> dict[str, str]:
    # The same app configuration whichever server loads it; multiprocess metrics as under `python -m app`.
    return {"MODEL_DIR": str(launch.model_dir), "PROMETHEUS_MULTIPROC_DIR": str(launch.scratch)}


def _app(launch: Launch) -> tuple[list[str], dict[str, str]]:
    env = {
        "MODEL_DIR": str(launch.model_dir),
        "HOST": LOCALHOST,
        "PORT": str(launch.port),
        "METRICS_PORT": str(launch.metrics_port),
        "WORKERS": str(launch.workers),
    }
    return _python("-m", "app"), env


def _app_no_fast_lane(launch: Launch) -> tuple[list[str], dict[str, str]]:
    """The app as above with FAST_LANE=false: Flask serves every request, so the pair measures the lane."""
    argv, env = _app(launch)
    return argv, {**env, "FAST_LANE": "false"}


def _app_sign_in(launch: Launch) -> tuple[list[str], dict[str, str]]:
    """The app with sign-in on: AUTH_* naming the benchmark's issuer and its key endpoint."""
    argv, env = _app(launch)
    return argv, {**env, **launch.sign_in_env}


def _granian(launch: Launch) -> tuple[list[str], dict[str, str]]:
    argv = _python(
        "-m", "granian", "--interface", "wsgi", "--host", LOCALHOST, "--port", str(launch.port),
        "--workers", str(launch.workers), "--blocking-threads", str(GRANIAN_BLOCKING_THREADS),
        "--http", "1", "--no-ws", WSGI_TARGET,
    )  # fmt: skip
    return argv, _app_env(launch)


def _hello(launch: Launch) -> tuple[list[str], dict[str, str]]:
    """The ceiling: the same server as `python -m app` runs (app.servers: granian, one blocking thread per
    worker, HTTP/1.1, no websockets), the same worker count, a fixed answer and no work."""
    if launch.ceiling_body is None:
        raise ValueError("hello needs the app's answer to serve (Launch.ceiling_body)")
    argv = _python(
        "-m", "granian", "--interface", "wsgi", "--host", LOCALHOST, "--port", str(launch.port),
        "--workers", str(launch.workers), "--blocking-threads", str(GRANIAN_BLOCKING_THREADS),
        "--http", "1", "--no-ws", "bench.yardsticks.hello:application",
    )  # fmt: skip
    return argv, {"HELLO_BODY_FILE": str(launch.ceiling_body)}


def _mlserver(
    parallel_workers: Callable[[Launch], int],
) -> Callable[[Launch], tuple[list[str], dict[str, str]]]:
    def command(launch: Launch) -> tuple[list[str], dict[str, str]]:
        repository = mlserver.write_repository(
            launch.scratch / "repository", launch.model_dir, http_port=launch.port, grpc_port=free_port(),
            metrics_port=launch.metrics_port, parallel_workers=parallel_workers(launch),
        )  # fmt: skip
        return mlserver.command(repository)

    return command


def _gunicorn(worker_class: str) -> Callable[[Launch], tuple[list[str], dict[str, str]]]:
    def command(launch: Launch) -> tuple[list[str], dict[str, str]]:
        argv = _python(
            "-m", "gunicorn", "--worker-class", worker_class, "--workers", str(launch.workers),
            "--bind", f"{LOCALHOST}:{launch.port}", "--worker-tmp-dir", str(launch.scratch),
        )  # fmt: skip
        if worker_class == "gthread":
            argv += ["--threads", str(GTHREAD_THREADS)]
        return [*argv, WSGI_TARGET], _app_env(launch)

    return command


def _tutorial(launch: Launch) -> tuple[list[str], dict[str, str]]:
    return _python("-m", "bench.yardsticks.tutorial", "--port", str(launch.port)), {}


def _peer(launch: Launch) -> tuple[list[str], dict[str, str]]:
    argv = _python(
        "-m", "uvicorn", "bench.yardsticks.peer:app", "--host", LOCALHOST, "--port", str(launch.port),
        "--workers", str(launch.workers), "--no-access-log", "--log-level", "warning",
    )  # fmt: skip
    return argv, {"MODEL_DIR": str(launch.model_dir)}


APP = ServerKind("app", "app (python -m app)", "app", _app)
SERVER_KINDS: tuple[ServerKind, ...] = (
    APP,
    ServerKind("app-no-fast-lane", "app, fast lane off (FAST_LANE=false)", "app", _app_no_fast_lane),
    ServerKind("app-v2", "app, the digit as OIP v2 JSON (/v2/.../infer)", "app", _app, protocol="v2"),
    ServerKind(
        "app-signin", "app, sign-in on, one token reused", "app", _app_sign_in, tokens="signin-repeat"
    ),
    ServerKind(
        "app-signin-fresh", "app, sign-in on, a new token each", "app", _app_sign_in, tokens="signin-fresh"
    ),
    ServerKind("granian", "Flask app on granian (WSGI), 1 thread", "server", _granian),
    ServerKind("gunicorn-sync", "Flask app on gunicorn sync", "server", _gunicorn("sync")),
    ServerKind(
        "gunicorn-gthread",
        f"Flask app on gunicorn gthread, {GTHREAD_THREADS} thr",
        "server",
        _gunicorn("gthread"),
    ),
    ServerKind("hello", "ceiling: granian, a fixed answer, no work", "ceiling", _hello),
    ServerKind("peer", "peer: FastAPI on uvicorn[standard]", "yardstick", _peer),
    ServerKind(
        "mlserver",
        "MLServer, parallel_workers 0 (v2 JSON)",
        "yardstick",
        _mlserver(lambda _: 0),
        single_process=True,
        protocol="v2",
        ready_path=mlserver.READY_PATH,
    ),
    ServerKind(
        "mlserver-workers",
        "MLServer, parallel_workers N (v2 JSON)",
        "yardstick",
        _mlserver(lambda launch: launch.workers),
        protocol="v2",
        ready_path=mlserver.READY_PATH,
    ),
    ServerKind(
        "tutorial", "tutorial: Flask dev server + sklearn", "yardstick", _tutorial, single_process=True
    ),
)
BY_NAME: Mapping[str, ServerKind] = {kind.name: kind for kind in SERVER_KINDS}
