"""Start servers as child processes in their own session, wait for them, and always stop them.

Each server gets its own process group so a stop reaches its workers too (gunicorn, granian and uvicorn
fork), and nothing but the processes this benchmark started is ever signalled. Output goes to a log file,
never a pipe: a chatty server would block on a full pipe and distort the figures.
"""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import subprocess
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

from bench.body import Protocol

LOCALHOST = "127.0.0.1"
# Straight to 127.0.0.1: an HTTP(S)_PROXY in the environment must not route the probes elsewhere.
_DIRECT = urllib.request.build_opener(urllib.request.ProxyHandler({}))


class BenchError(RuntimeError):
    """The benchmark cannot go on; the message says what failed and where its log is."""


def free_port() -> int:
    """A TCP port that is free on 127.0.0.1 right now (the kernel picks it)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((LOCALHOST, 0))
        return int(sock.getsockname()[1])


def log_tail(path: Path, lines: int = 25) -> str:
    try:
        return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])
    except OSError:
        return "(no log)"


@dataclass
class Server:
    name: str
    process: subprocess.Popen[bytes]
    port: int
    log: Path

    @property
    def base_url(self) -> str:
        return f"http://{LOCALHOST}:{self.port}"

    def failure(self, what: str) -> BenchError:
        return BenchError(f"{self.name}: {what}; the last lines of its log {self.log}:\n{log_tail(self.log)}")


def spawn(
    name: str, argv: Sequence[str], env: Mapping[str, str], port: int, log_dir: Path, cwd: Path
) -> Server:
    log = log_dir / f"{name}.log"
    with log.open("ab") as out:
        process = subprocess.Popen(
            list(argv),
            cwd=cwd,
            env=dict(env),
            stdin=subprocess.DEVNULL,
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,  # its own process group: stop() signals the workers with the master
        )
    return Server(name, process, port, log)


def stop(server: Server, grace_s: float = 10.0) -> None:
    """SIGTERM the server's process group, then SIGKILL what is left after the grace period."""
    if server.process.poll() is None:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(server.process.pid, signal.SIGTERM)
        with contextlib.suppress(subprocess.TimeoutExpired):
            server.process.wait(grace_s)
    # Workers may outlive their master for a moment: the group is ours alone (start_new_session).
    with contextlib.suppress(ProcessLookupError):
        os.killpg(server.process.pid, signal.SIGKILL)
    with contextlib.suppress(subprocess.TimeoutExpired):
        server.process.wait(5)


def http(
    method: str,
    url: str,
    body: bytes | None = None,
    timeout_s: float = 2.0,
    headers: Mapping[str, str] | None = None,
) -> tuple[int, bytes]:
    request = urllib.request.Request(url, data=body, method=method, headers=dict(headers or {}))
    if body is not None:
        request.add_header("Content-Type", "application/json")
    try:
        with _DIRECT.open(request, timeout=timeout_s) as response:
            return response.status, response.read()
    except urllib.error.HTTPError as error:
        return error.code, error.read()


def wait_until(
    server: Server, probe: Callable[[Server], bool], timeout_s: float, poll_s: float = 0.01
) -> float:
    """Poll `probe` until true; returns the seconds waited. Raises if the server dies or time runs out."""
    started = time.perf_counter()
    deadline = started + timeout_s
    while time.perf_counter() < deadline:
        if server.process.poll() is not None:
            raise server.failure(f"exited with status {server.process.returncode} before it was ready")
        try:
            if probe(server):
                return time.perf_counter() - started
        except (OSError, ValueError):
            pass  # not listening yet, or an answer that is not the one we wait for
        time.sleep(poll_s)
    raise server.failure(f"not ready within {timeout_s:.0f} s")


def readyz_probe(server: Server) -> bool:
    status, _ = http("GET", f"{server.base_url}/readyz", timeout_s=1.0)
    return status == 200


def predict_probe(
    protocol: Protocol,
    expected_label: int,
    headers: Mapping[str, str] | None = None,
    must_answer: bool = False,
) -> Callable[[Server], bool]:
    """Ready means: the protocol's route answers 200 with its contract's shape and the digit's right label
    (with `headers`: a token, for a server with sign-in on). Any other answer is "not yet", or with
    `must_answer` (the server already said it is ready) a failure."""

    def probe(server: Server) -> bool:
        url = f"{server.base_url}{protocol.path}"
        try:
            status, payload = http("POST", url, protocol.body, 2.0, headers)
        except OSError as exc:
            if must_answer:
                raise server.failure(
                    f"said it is ready, then failed the benchmark's request: {exc}"
                ) from None
            raise
        if status != 200:
            if must_answer:
                raise server.failure(
                    f"said it is ready, then answered {status} {payload[:300]!r} to the benchmark's digit "
                    f"on {protocol.path}"
                )
            return False
        try:
            correct = protocol.label_of(payload) == expected_label
        except (ValueError, KeyError, IndexError, TypeError):
            correct = False
        if not correct:
            raise server.failure(
                f"answered {payload[:300]!r} to the benchmark's digit on {protocol.path}; expected the "
                f"{protocol.name} contract's JSON with label {expected_label} and 10 probabilities"
            )
        return True

    return probe


def ready_then(ready_path: str, probe: Callable[[Server], bool]) -> Callable[[Server], bool]:
    """Ready means: `ready_path` answers 200 (the model itself is loaded), then `probe` (a predict_probe
    with must_answer): a server whose model says it is ready but that cannot answer the benchmark's request
    correctly fails the benchmark at once, rather than being polled until the time runs out."""

    def probe_after_ready(server: Server) -> bool:
        status, _ = http("GET", f"{server.base_url}{ready_path}", timeout_s=1.0)
        return status == 200 and probe(server)

    return probe_after_ready


class ServerGroup:
    """Every server this run started; `stop_all` in a finally stops them even when a phase fails."""

    def __init__(self) -> None:
        self._servers: list[Server] = []

    def add(self, server: Server) -> Server:
        self._servers.append(server)
        return server

    def stop_all(self) -> None:
        while self._servers:
            stop(self._servers.pop())

    @contextlib.contextmanager
    def running(self, server: Server) -> Iterator[Server]:
        self.add(server)
        try:
            yield server
        finally:
            stop(server)
            self._servers.remove(server)
