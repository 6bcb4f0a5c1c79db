"""Which model the benchmark serves: a verified model directory, made on the spot only when none exists."""

from __future__ import annotations

import os
import sys
from pathlib import Path

from bench.procs import BenchError
from model.errors import ModelError
from model.manifest import MANIFEST_FILE, verify_model_dir


def model_dir_for(named: Path | None, default: Path, scratch: Path) -> Path:
    """`named` (--model-dir), else $MODEL_DIR, else `default` (what `make model` fetches), verified.

    A named directory that does not verify is an error. Only when nothing was named and the default holds no
    model yet is the reference model trained, published into a private file store and fetched, exactly as
    `make model` would, so the benchmark also runs on a fresh clone.
    """
    named = named or (Path(os.environ["MODEL_DIR"]) if os.environ.get("MODEL_DIR") else None)
    directory = named or default
    try:
        verify_model_dir(directory)
        return directory
    except ModelError as exc:
        if named is not None or (directory / MANIFEST_FILE).exists():
            raise BenchError(f"the model in {directory} cannot be served: {exc}") from None
    from model.registry import fetch, publish
    from model.store import open_store
    from model.train import train

    print(
        f"bench: no model in {directory}; training the reference model into a private store", file=sys.stderr
    )
    store = open_store((scratch / "store").as_uri())
    trained = train()
    publish(store, trained.onnx, trained.metrics, trained.framework)
    fetch(store, scratch / "model")
    return scratch / "model"
