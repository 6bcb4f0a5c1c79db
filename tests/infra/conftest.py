"""Runs of the whole program under Pulumi mocks, shared by the infra tests (each run takes about a second)."""

from __future__ import annotations

import hashlib
from pathlib import Path

import pytest

from model.registry import publish
from model.store import FileStore
from model.train import Trained
from tests.harness import StackRun, run_program


def tree_digest(root: Path) -> dict[str, str]:
    """Every file under `root` with its sha256: to prove a run did not write to a store."""
    return {
        p.relative_to(root).as_posix(): hashlib.sha256(p.read_bytes()).hexdigest()
        for p in sorted(root.rglob("*"))
        if p.is_file()
    }


def model_variant(onnx_bytes: bytes, note: str) -> bytes:
    """Another valid model (different bytes, same graph and spec) without another training run."""
    import onnx

    variant = onnx.load_from_string(onnx_bytes)
    variant.doc_string = note
    return variant.SerializeToString()


@pytest.fixture(scope="session")
def two_version_store(tmp_path_factory: pytest.TempPathFactory, reference_trained: Trained) -> FileStore:
    """Versions 1 (the reference model) and 2 (a variant of it), published with the model package."""
    store = FileStore(tmp_path_factory.mktemp("two-versions"))
    trained = reference_trained
    publish(store, trained.onnx, trained.metrics, trained.framework)
    publish(store, model_variant(trained.onnx, "version 2"), trained.metrics, trained.framework)
    return store


@pytest.fixture(scope="session")
def store_url(reference_store: FileStore) -> str:
    """A file store holding the reference model as version 1 (from tests/conftest.py; read-only)."""
    return reference_store.url


@pytest.fixture(scope="session")
def dev_run(store_url: str, reference_store: FileStore) -> StackRun:
    before = tree_digest(reference_store.root)
    run = run_program(stack="dev", model_store=store_url)
    assert tree_digest(reference_store.root) == before, "the program wrote to the model store"
    return run


@pytest.fixture(scope="session")
def prod_run(store_url: str) -> StackRun:
    return run_program(stack="prod", model_store=store_url)


@pytest.fixture(params=["dev", "prod"])
def stack_run(request: pytest.FixtureRequest, dev_run: StackRun, prod_run: StackRun) -> StackRun:
    return dev_run if request.param == "dev" else prod_run
