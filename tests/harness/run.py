"""Running the program, or one component, in a fresh mock stack: config, project directory, model store,
and the outside world the program is handed (tests/harness/outside.py)."""

from __future__ import annotations

import atexit
import json
import runpy
import shutil
import sys
import tempfile
import threading
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

import yaml
from pulumi.runtime.mocks import MockResourceArgs

from tests.harness.mocks import AzureMocks
from tests.harness.outside import RecordingOutside
from tests.harness.records import StackRun
from tests.harness.sdk import RecordingMonitor, run_mock_program

REPO_ROOT = Path(__file__).resolve().parents[2]
PROGRAM = REPO_ROOT / "__main__.py"
PROJECT = "aiapp"
NO_STORE = "file:///nonexistent-model-store"

ExtraOutputs = Mapping[str, Callable[[MockResourceArgs], dict]]
ExtraCalls = Mapping[str, Callable[[dict], dict]]

_RUN_LOCK = threading.Lock()
_TEMP_ROOT = Path(tempfile.mkdtemp(prefix="aiapp-harness-"))
atexit.register(shutil.rmtree, _TEMP_ROOT, True)
_last_run: list[StackRun] = []
_default_store: dict[str, str] = {}


def reference_store() -> str:
    """A file store (created once per process) with the reference model published as version 1."""
    if "url" not in _default_store:
        from model.registry import publish
        from model.store import open_store
        from model.train import train

        root = Path(tempfile.mkdtemp(prefix="store-", dir=_TEMP_ROOT))
        url = root.as_uri()
        trained = train()
        publish(open_store(url), trained.onnx, trained.metrics, trained.framework, version="1")
        _default_store["url"] = url
    return _default_store["url"]


def stack_config(stack: str) -> dict[str, str]:
    """The stack file's config as the CLI hands it to the program: strings, structured values as JSON."""
    path = REPO_ROOT / f"Pulumi.{stack}.yaml"
    if not path.exists():
        return {}
    raw = yaml.safe_load(path.read_text()) or {}
    out = {}
    for key, value in (raw.get("config") or {}).items():
        if isinstance(value, dict) and "secure" in value:
            raise AssertionError(f"{path.name} holds an encrypted value for {key}: tests cannot decrypt it")
        out[key] = value if isinstance(value, str) else json.dumps(value)
    return out


def prepare_workdir(workdir: Path) -> Path:
    """A project directory to build from: copies of the repo's app/, model/ and .dockerignore (the image's
    build context) and pyproject.toml (the app's version) unless the directory already has them."""
    workdir.mkdir(parents=True, exist_ok=True)
    skip = shutil.ignore_patterns("__pycache__", "*.pyc", ".pytest_cache")
    for tree in ("app", "model"):
        if not (workdir / tree).exists() and (REPO_ROOT / tree).is_dir():
            shutil.copytree(REPO_ROOT / tree, workdir / tree, ignore=skip)
    for name in (".dockerignore", "pyproject.toml"):
        if (REPO_ROOT / name).is_file() and not (workdir / name).exists():
            shutil.copy2(REPO_ROOT / name, workdir / name)
    return workdir


def _new_run(
    config: Mapping[str, Any] | None,
    secrets: Mapping[str, Any] | None,
    stack: str,
    preview: bool,
    workdir: Path | None,
    store_url: str,
) -> tuple[StackRun, list[str]]:
    merged: dict[str, str] = stack_config(stack)
    for key, value in {**(config or {}), **(secrets or {})}.items():
        if value is None:
            merged.pop(key, None)
        else:
            merged[key] = value if isinstance(value, str) else json.dumps(value)
    work = prepare_workdir(workdir or Path(tempfile.mkdtemp(prefix="project-", dir=_TEMP_ROOT)))
    outside = RecordingOutside(project_root=work, store_url=store_url)
    run = StackRun(stack=stack, preview=preview, config=merged, workdir=work, outside=outside)
    return run, list((secrets or {}).keys())


def _execute(
    run: StackRun,
    body: Callable[[], Any],
    secret_keys: list[str],
    extra_outputs: ExtraOutputs | None,
    extra_calls: ExtraCalls | None,
) -> StackRun:
    with _RUN_LOCK:
        _last_run[:] = [run]
        monitor = RecordingMonitor(AzureMocks(run, extra_outputs or {}, extra_calls or {}))
        try:
            exports = run_mock_program(
                body,
                monitor,
                project=PROJECT,
                stack=run.stack,
                preview=run.preview,
                config=run.config,
                secret_keys=secret_keys,
            )
        finally:
            run.resources = list(monitor.recorded)
            run.reads = list(monitor.reads)
        run.outputs = {k: e.value for k, e in exports.items() if e.known}
        run.secret_outputs = frozenset(k for k, e in exports.items() if e.secret)
        run.unknown_outputs = frozenset(k for k, e in exports.items() if not e.known)
        return run


def run_program(
    config: Mapping[str, Any] | None = None,
    stack: str = "dev",
    preview: bool = False,
    *,
    existing_stack: bool = False,
    secrets: Mapping[str, Any] | None = None,
    model_store: str | None = None,
    workdir: Path | None = None,
    extra_outputs: ExtraOutputs | None = None,
    extra_calls: ExtraCalls | None = None,
) -> StackRun:
    """Run the real __main__.py under mocks with the stack's config overlaid by `config`."""
    run, secret_keys = _new_run(config, secrets, stack, preview, workdir, model_store or reference_store())
    run.existing_stack = existing_stack
    if str(REPO_ROOT) not in sys.path:
        sys.path.insert(0, str(REPO_ROOT))

    def main() -> None:
        # The module's globals are not exports: only `pulumi.export` makes a stack output. `outside` is the
        # program's outside world (see __main__.py): handed in, as a function argument would be.
        runpy.run_path(str(PROGRAM), init_globals={"outside": run.outside}, run_name="__main__")

    return _execute(run, main, secret_keys, extra_outputs, extra_calls)


def run_component(
    build: Callable[[], Any],
    config: Mapping[str, Any] | None = None,
    stack: str = "dev",
    preview: bool = False,
    *,
    secrets: Mapping[str, Any] | None = None,
    extra_outputs: ExtraOutputs | None = None,
    extra_calls: ExtraCalls | None = None,
) -> StackRun:
    """Run `build()` in a fresh mock stack; the stack file's config is read only when `config` is given."""
    run, secret_keys = _new_run(config, secrets, stack, preview, None, NO_STORE)
    if config is None:
        run.config.clear()
    return _execute(run, build, secret_keys, extra_outputs, extra_calls)


def last_run() -> StackRun:
    """The most recent run, also when it raised: what had been declared before the error is in .resources."""
    if not _last_run:
        raise AssertionError("no run yet")
    return _last_run[0]
