"""Resolve, once per release, the model version both stacks deploy.

`latest` (or the version asked for) is looked up in the model store, downloaded and verified (sha256, size,
ONNX signature: `model.registry.fetch`), so a missing or corrupt model stops the release before any stack
changes. The resolved version is set as the Azure Pipelines output variable MODEL_VERSION (and MODEL_SHA256)
of the step; the dev stage builds it (`pulumi up --config aiapp:modelVersion=<version>`), and prod runs the
image dev built (scripts/deploy.sh).

    python pipelines/resolve_model.py --store https://<account>.blob.core.windows.net/models --version latest
"""

from __future__ import annotations

import argparse
import os
import re
import sys
import tempfile
from collections.abc import Sequence
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parent.parent
if str(REPO_ROOT) not in sys.path:  # run as a script from the checkout: import the repo's `model` package
    sys.path.insert(0, str(REPO_ROOT))

from model.errors import ModelError  # noqa: E402 (after the path set-up above)
from model.manifest import Manifest  # noqa: E402
from model.registry import LATEST, fetch  # noqa: E402
from model.store import open_store  # noqa: E402

_VERSION = re.compile(r"^(latest|[1-9][0-9]*)$")


def resolve(store_url: str, name: str, requested: str) -> Manifest:
    """The verified manifest of `requested` (a version number, or `latest`) in the store."""
    if not _VERSION.match(requested):
        raise ModelError(f"model version {requested!r} is not 'latest' or a positive whole number")
    with tempfile.TemporaryDirectory(prefix="resolve-model-") as scratch:
        return fetch(open_store(store_url), Path(scratch) / "model", name, requested)


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--store", default=os.environ.get("MODEL_STORE"), help="model store URL (env MODEL_STORE)"
    )
    parser.add_argument("--name", default=os.environ.get("MODEL_NAME") or "digits", help="model name")
    parser.add_argument("--version", default=LATEST, help="a version number, or latest (default)")
    args = parser.parse_args(argv)
    if not args.store:
        parser.error("no model store: pass --store or set MODEL_STORE")
    try:
        manifest = resolve(args.store, args.name, args.version.strip())
    except (ModelError, ValueError) as exc:  # ValueError: a malformed store URL
        print(f"##vso[task.logissue type=error]cannot resolve the model to release: {exc}", file=sys.stderr)
        print(f"error: cannot resolve the model to release: {exc}", file=sys.stderr)
        return 1
    print(f"##vso[task.setvariable variable=MODEL_VERSION;isOutput=true]{manifest.version}")
    print(f"##vso[task.setvariable variable=MODEL_SHA256;isOutput=true]{manifest.sha256}")
    print(
        f"releasing {manifest.name} version {manifest.version} (sha256 {manifest.sha256}, "
        f"accuracy {manifest.metrics.get('accuracy')}) from {args.store}"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
