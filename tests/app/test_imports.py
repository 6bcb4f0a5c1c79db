"""The app's modules import one another without a circle: counting imports under TYPE_CHECKING and inside
functions, which Python forgives at run time but which still tie two modules into one. And `python -m app`
reads its settings before anything imports prometheus_client (app/settings.py says why)."""

from __future__ import annotations

import ast
import graphlib
import subprocess
import sys
from pathlib import Path

from tests.conftest import REPO

PACKAGES = ("app", "model")


def _module_name(path: Path) -> str:
    parts = path.relative_to(REPO).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _imports(path: Path, known: set[str]) -> set[str]:
    """The project modules `path` imports, anywhere in the file (`from app import x` counts as app.x)."""
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            found |= {alias.name for alias in node.names}
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            found.add(node.module)
            found |= {f"{node.module}.{alias.name}" for alias in node.names}
    return found & known


def test_no_import_circle_in_the_app_and_model_packages() -> None:
    paths = [path for package in PACKAGES for path in sorted((REPO / package).rglob("*.py"))]
    known = {_module_name(path) for path in paths}
    graph = {_module_name(path): _imports(path, known) - {_module_name(path)} for path in paths}
    assert graph["app.fastlane"] and graph["app.factory"] and graph["app.oip.routes"], (
        "the scan found the imports"
    )
    graphlib.TopologicalSorter(graph).prepare()  # raises CycleError naming the circle


def test_the_entrypoint_module_imports_nothing_heavy_before_it_runs() -> None:
    """What `python -m app` has loaded when main() starts: it sets PROMETHEUS_MULTIPROC_DIR after reading the
    settings, and prometheus_client reads that variable once, when first imported."""
    heavy = ("prometheus_client", "flask", "numpy", "onnxruntime", "PIL")
    probe = f"import sys, app.__main__; print([m for m in {heavy!r} if m in sys.modules])"
    done = subprocess.run([sys.executable, "-c", probe], cwd=REPO, capture_output=True, text=True, check=True)
    assert done.stdout.strip() == "[]"
