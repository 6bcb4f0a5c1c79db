"""Fixtures shared by every test folder: the reference model, model stores (file and Azurite), a live app, a
fake HTTP server playing another service's API (`fake_http`), and a token issuer for sign-in (`issuer`).

Tools the tests need are installed by `make test`; a missing one fails the test that needs it, loudly.
"""

from __future__ import annotations

import contextlib
import gc
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import IO

import numpy as np
import pytest
from pytest_httpserver import HTTPServer

from model.manifest import Manifest, verify_model_dir
from model.registry import fetch, publish
from model.store import CONNECTION_STRING_ENV, FileStore
from model.train import train
from tools.issuer import ROLE, Issuer, key_server, sign_in_env

REPO = Path(__file__).resolve().parent.parent
AZURITE = REPO / "node_modules" / ".bin" / "azurite-blob"
# Azurite's documented development account; it exists only inside the emulator.
AZURITE_ACCOUNT = "devstoreaccount1"
AZURITE_KEY = "Eby8vdM02xNOcqFlqUwJPLlmEtlCDXJ1OUzFT50uSRZ6IFsuFq2UVErCz4I6tq/K1SZFPTOtr/KBHBeksoGMGw=="


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on right now."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def wait_http(url: str, timeout: float, proc: subprocess.Popen | None = None) -> None:
    """Poll `url` until it answers 200; fail early if `proc` exits first."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc is not None and proc.poll() is not None:
            raise RuntimeError(f"process exited with {proc.returncode} before {url} answered")
        with contextlib.suppress(OSError), urllib.request.urlopen(url, timeout=1) as response:
            if response.status == 200:
                return
        time.sleep(0.05)
    raise TimeoutError(f"{url} did not answer 200 within {timeout} s")


@pytest.fixture(autouse=True)
def _collect_garbage_after_each_test() -> Iterator[None]:
    """A program run that fails inside an apply leaves an asyncio Future whose exception nobody retrieved;
    when the collector frees it, asyncio logs it with a traceback, and CPython 3.11 formats tracebacks with
    ast.parse. If that happens in the middle of another ast.parse (pytest rewriting a module a later test
    imports), 3.11 raises "AST constructor recursion depth mismatch" (seen twice). Collect here instead,
    between tests, where nothing is being parsed."""
    yield
    gc.collect()
    gc.freeze()  # what survived stays: later collections walk only newer objects (a full one costs ~0.1 s)


def stand_in(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, command: str, script: str) -> Path:
    """Put an executable `script` first on PATH as `command`; returns the log it is told to append to
    (FAKE_<COMMAND>_LOG), with FAKE_<COMMAND>_FAIL unset."""
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir(exist_ok=True)
    executable = bin_dir / command
    executable.write_text(script)
    executable.chmod(0o755)
    log = tmp_path / f"{command}.log"
    monkeypatch.setenv("PATH", f"{bin_dir}{os.pathsep}{os.environ['PATH']}")
    monkeypatch.setenv(f"FAKE_{command.upper()}_LOG", str(log))
    monkeypatch.delenv(f"FAKE_{command.upper()}_FAIL", raising=False)
    return log


@pytest.fixture(scope="session")
def httpserver_listen_address() -> tuple[str, int]:
    """pytest-httpserver's server listens on 127.0.0.1 (its default, "localhost", may resolve to ::1)."""
    return ("127.0.0.1", 0)


@pytest.fixture
def fake_http(httpserver: HTTPServer) -> Iterator[HTTPServer]:
    """A real HTTP server on 127.0.0.1 playing another service's API: pytest-httpserver's `httpserver`.

    Declare what it answers (`fake_http.expect_request("/path", method="POST").respond_with_json(body,
    status=201)`, or `.respond_with_handler(fn)` for an answer computed from the request), point the code
    under test (a subprocess too) at `fake_http.url_for("/")`, then read what it was sent from
    `fake_http.log` ((werkzeug Request, Response) pairs, in order). One server per test session, cleared for
    each test; after the test, a request nothing was declared for, or a handler that raised, fails it.
    """
    yield httpserver
    httpserver.check()


@pytest.fixture(scope="session")
def issuer() -> Issuer:
    """A stand-in for Entra ID: a key pair, its JWKS, tokens signed with it (tools/issuer.py)."""
    return Issuer()


@dataclass(frozen=True)
class Digits:
    x: np.ndarray  # float32 [n, 64], values 0..16
    y: np.ndarray  # int labels


@pytest.fixture(scope="session")
def digits() -> Digits:
    from sklearn.datasets import load_digits

    data = load_digits()
    return Digits(x=data.data.astype(np.float32), y=data.target)


@pytest.fixture(scope="session")
def reference_trained():
    """The reference model, trained once per test session."""
    return train()


@pytest.fixture
def file_store(tmp_path: Path) -> FileStore:
    return FileStore(tmp_path / "store")


@pytest.fixture(scope="session")
def reference_store(tmp_path_factory: pytest.TempPathFactory, reference_trained) -> FileStore:
    """A file store with the reference model published as version 1 (treat as read-only)."""
    store = FileStore(tmp_path_factory.mktemp("reference-store"))
    publish(store, reference_trained.onnx, reference_trained.metrics, reference_trained.framework)
    return store


@pytest.fixture(scope="session")
def reference_model_dir(tmp_path_factory: pytest.TempPathFactory, reference_store: FileStore) -> Path:
    """model.onnx + manifest.json of the reference model, fetched exactly as the image build does."""
    dest = tmp_path_factory.mktemp("reference-model") / "model"
    fetch(reference_store, dest)
    return dest


@pytest.fixture(scope="session")
def reference_manifest(reference_model_dir: Path) -> Manifest:
    return verify_model_dir(reference_model_dir)


@pytest.fixture(scope="session")
def pair_model_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A second model, not the digits one (tests/onnx_models.py): inputs FP64 and INT32; FP32 and BOOL out."""
    from tests.onnx_models import pair_model, write_model_dir

    return write_model_dir(tmp_path_factory.mktemp("pair-model") / "model", pair_model(), "pair", "3")


@dataclass(frozen=True)
class Azurite:
    blob_endpoint: str  # http://127.0.0.1:<port>/devstoreaccount1
    connection_string: str


@pytest.fixture(scope="session")
def azurite(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Azurite]:
    """Microsoft's Azure Storage emulator (npm `azurite`) on a free 127.0.0.1 port, stopped afterwards."""
    if not AZURITE.exists():
        pytest.fail(f"{AZURITE} is missing: `make test` installs it (npm ci)")
    port = free_port()
    workdir = tmp_path_factory.mktemp("azurite")
    # --skipApiVersionCheck: the Python SDK sends API versions newer than the emulator lists.
    command = [str(AZURITE), "--blobHost", "127.0.0.1", "--blobPort", str(port), "--location", str(workdir)]
    command += ["--skipApiVersionCheck", "--loose", "--silent"]
    proc = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    endpoint = f"http://127.0.0.1:{port}/{AZURITE_ACCOUNT}"
    try:
        deadline = time.monotonic() + 30
        while True:
            with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", port), timeout=1):
                break
            if proc.poll() is not None or time.monotonic() > deadline:
                pytest.fail(f"azurite did not start: {proc.stderr.read().decode() if proc.stderr else ''}")
            time.sleep(0.1)
        yield Azurite(
            blob_endpoint=endpoint,
            connection_string=(
                f"DefaultEndpointsProtocol=http;AccountName={AZURITE_ACCOUNT};"
                f"AccountKey={AZURITE_KEY};BlobEndpoint={endpoint};"
            ),
        )
    finally:
        proc.kill()  # it holds nothing worth a graceful close: its data dir is a throwaway
        proc.wait()


@pytest.fixture
def azurite_store_url(azurite: Azurite, monkeypatch: pytest.MonkeyPatch) -> str:
    """A fresh, empty, private container in Azurite; its URL is a model store URL."""
    from azure.storage.blob import BlobServiceClient

    container = f"models-{uuid.uuid4().hex[:12]}"
    BlobServiceClient.from_connection_string(azurite.connection_string).create_container(container)
    monkeypatch.setenv(CONNECTION_STRING_ENV, azurite.connection_string)
    return f"{azurite.blob_endpoint}/{container}"


@dataclass(frozen=True)
class LiveApp:
    url: str  # http://127.0.0.1:<port>
    metrics_url: str
    process: subprocess.Popen
    log: IO[bytes] | None = None  # what the app printed (stdout and stderr), read by `output()`

    def output(self) -> str:
        if self.log is None:
            return ""
        self.log.seek(0)
        return self.log.read().decode(errors="replace")


def stop_process(proc: subprocess.Popen, timeout: float = 10) -> None:
    """SIGTERM, and SIGKILL if it has not exited within `timeout` seconds."""
    proc.terminate()
    try:
        proc.wait(timeout=timeout)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()


@contextlib.contextmanager
def serve_app(
    model_dir: Path, *, log_path: Path | None = None, wait_for: str = "/readyz", **env: str
) -> Iterator[LiveApp]:
    """Run the real `python -m app` on free 127.0.0.1 ports until the block ends; it has started when
    `wait_for` answers 200 (/healthz for an app that is not ready on purpose). Its output goes to `log_path`
    when given (read it after the block), else to a temporary file; `LiveApp.output()` reads it meanwhile."""
    port, metrics_port = free_port(), free_port()
    environment = os.environ | {
        "MODEL_DIR": str(model_dir),
        "HOST": "127.0.0.1",
        "PORT": str(port),
        "METRICS_PORT": str(metrics_port),
        "WORKERS": "1",
    }
    # A file, not a pipe: a chatty server never blocks on a full pipe. Closed in the finally below.
    log = log_path.open("w+b") if log_path else tempfile.TemporaryFile()  # noqa: SIM115
    proc = subprocess.Popen(
        [sys.executable, "-m", "app"], cwd=REPO, env=environment | env, stdout=log, stderr=subprocess.STDOUT
    )
    url = f"http://127.0.0.1:{port}"
    try:
        live = LiveApp(url=url, metrics_url=f"http://127.0.0.1:{metrics_port}", process=proc, log=log)
        try:
            wait_http(f"{url}{wait_for}", timeout=30, proc=proc)
        except (RuntimeError, TimeoutError) as exc:
            raise RuntimeError(f"{exc}; app output:\n{live.output()}") from None
        yield live
    finally:
        stop_process(proc)
        log.close()


@contextlib.contextmanager
def serve_signed_in(
    model_dir: Path, issuer: Issuer, role: str | None = ROLE, **env: str
) -> Iterator[tuple[LiveApp, HTTPServer]]:
    """The real app with sign-in on, trusting `issuer`, whose keys a key server of its own serves (the app and
    the key server, which a test may stop)."""
    with (
        key_server(issuer.jwks()) as keys,
        serve_app(model_dir, **sign_in_env(issuer, keys.url_for("/keys"), role), **env) as app,
    ):
        yield app, keys


@pytest.fixture(scope="session")
def live_app(reference_model_dir: Path) -> Iterator[LiveApp]:
    """The real app server on the reference model, shared by the tests that only read from it."""
    with serve_app(reference_model_dir) as app:
        yield app


def require_tool(name: str) -> str:
    """The path of a command-line tool the test needs; a missing one fails the test (never a skip)."""
    path = shutil.which(name)
    if path is None:
        pytest.fail(f"{name} is not installed: `make test` installs it (see the Makefile's tools target)")
    return path
