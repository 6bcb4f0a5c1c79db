"""The app's own time per request: its WSGI callable called in-process, no server, no socket, no client.

Between the floor (onnxruntime alone) and the figures over HTTP, this says how much of a request is the
Flask app (parsing, validation, metrics, JSON) and how much is the server and the network stack.
Run in a process of its own, configured as a server worker is (MODEL_DIR, multiprocess metrics); with
--sign-in, the v1 request to the app without sign-in and to it with sign-in on, taking turns
(bench/signin.py):
`python -m bench.inprocess --model-dir DIR` prints one JSON line.
"""

from __future__ import annotations

import argparse
import io
import json
import os
import subprocess
import sys
import tempfile
from collections.abc import Callable, Iterable, Sequence
from pathlib import Path
from typing import Any

from bench.body import Protocol, protocols, reference_digit
from bench.procs import BenchError
from bench.timing import time_interleaved
from model.manifest import verify_model_dir

WsgiApp = Callable[[dict[str, Any], Callable[..., object]], Iterable[bytes]]


def _environ(path: str, body: bytes) -> dict[str, Any]:
    return {
        "REQUEST_METHOD": "POST",
        "PATH_INFO": path,
        "QUERY_STRING": "",
        "SERVER_NAME": "127.0.0.1",
        "SERVER_PORT": "8080",
        "SERVER_PROTOCOL": "HTTP/1.1",
        "CONTENT_TYPE": "application/json",
        "CONTENT_LENGTH": str(len(body)),
        "wsgi.input": io.BytesIO(body),
        "wsgi.errors": sys.stderr,
        "wsgi.url_scheme": "http",
        "wsgi.version": (1, 0),
        "wsgi.multithread": False,
        "wsgi.multiprocess": True,
        "wsgi.run_once": False,
    }


def wsgi_request(
    application: WsgiApp, protocol: Protocol, token: Callable[[], str] | None = None
) -> Callable[[], bytes]:
    """One call of the app's WSGI callable with the protocol's request of the digit (and, with `token`, the
    token it returns as a bearer token), which must answer 200; it returns the answer's body."""
    statuses: list[str] = []

    def start_response(status: str, _headers: object, _exc_info: object = None) -> None:
        statuses.append(status)

    def one() -> bytes:
        environ = _environ(protocol.path, protocol.body)
        if token is not None:
            environ["HTTP_AUTHORIZATION"] = f"Bearer {token()}"
        response = application(environ, start_response)
        answer = b"".join(response)
        getattr(response, "close", lambda: None)()
        if not statuses[-1].startswith("200"):
            raise SystemExit(f"bench.inprocess: the app answered {statuses[-1]} to {protocol.path}")
        return answer

    return one


def time_requests(
    application: WsgiApp, protocols: Sequence[Protocol], runs: int, warmup: int
) -> dict[str, dict[str, float]]:
    """Each protocol's request of the digit, taking turns (time_interleaved): figures by protocol name."""
    calls = {protocol.name: wsgi_request(application, protocol) for protocol in protocols}
    return time_interleaved(calls, runs, warmup)


def _in_fresh_process(args: list[str], env: dict[str, str], repo: Path, timeout_s: float) -> Any:
    """Run this module in a fresh process (the benchmark's own must not load the app): its last JSON line."""
    command = f"`python -m bench.inprocess{' --answer' if '--answer' in args else ''}`"
    argv = [sys.executable, "-m", "bench.inprocess", *args]
    try:
        done = subprocess.run(argv, cwd=repo, env=env, capture_output=True, text=True, timeout=timeout_s)
    except subprocess.TimeoutExpired:
        raise BenchError(f"{command} did not finish within {timeout_s:.0f} s") from None
    if done.returncode != 0:
        raise BenchError(f"{command} failed (exit {done.returncode}): {done.stderr.strip()}")
    return json.loads(done.stdout.strip().splitlines()[-1])


def app_answer(model_dir: Path, env: dict[str, str], repo: Path, timeout_s: float = 120) -> bytes:
    """The app's answer to the digit on /v1, from a fresh process (what the ceiling server answers)."""
    return str(_in_fresh_process(["--model-dir", str(model_dir), "--answer"], env, repo, timeout_s)).encode()


def app_time_inprocess(
    model_dir: Path,
    env: dict[str, str],
    repo: Path,
    timeout_s: float = 300,
    protocols: str = "v1",
    sign_in: bool = False,
) -> dict[str, Any]:
    """This module's figures from a fresh process: by protocol name, for the comma-separated `protocols`;
    with `sign_in`, bench.signin.time_sign_in's."""
    args = ["--model-dir", str(model_dir), "--protocols", protocols, *(["--sign-in"] if sign_in else [])]
    return dict(_in_fresh_process(args, env, repo, timeout_s))


def main() -> None:
    cli = argparse.ArgumentParser(prog="python -m bench.inprocess", description=__doc__.splitlines()[0])
    cli.add_argument("--model-dir", type=Path, required=True)
    cli.add_argument("--runs", type=int, default=5000)
    cli.add_argument("--protocols", default="v1", help="v1, v2 or v1,v2: the digit as /v1 or OIP v2 JSON")
    cli.add_argument(
        "--answer", action="store_true", help="instead: print the app's /v1 answer (JSON string)"
    )
    cli.add_argument(
        "--sign-in",
        action="store_true",
        help="instead: /v1 with sign-in off, on with one token, on with new ones",
    )
    options = cli.parse_args()
    with tempfile.TemporaryDirectory(prefix="bench-inprocess-") as metrics_dir:
        # As in a worker under `python -m app`; both are read when app.wsgi (and prometheus_client) load.
        os.environ["MODEL_DIR"] = str(options.model_dir)
        os.environ["PROMETHEUS_MULTIPROC_DIR"] = metrics_dir
        if options.sign_in:
            from bench.signin import time_sign_in

            print(json.dumps(time_sign_in(options.model_dir, options.runs, warmup=500)))
            return
        from app.wsgi import application

        asked = protocols(reference_digit(), verify_model_dir(options.model_dir).name)
        if options.answer:
            print(json.dumps(wsgi_request(application, asked["v1"])().decode()))
            return
        chosen = [asked[name] for name in options.protocols.split(",")]
        print(json.dumps(time_requests(application, chosen, options.runs, warmup=500)))


if __name__ == "__main__":
    main()
