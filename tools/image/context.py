"""Build contexts outside the checkout, for builds that change something (a benchmark's app-code edit, a
test's corrupted model): the checkout itself is never modified.

The copy holds the paths the root .dockerignore lets through (it is copied too and still filters): app/,
model/ and the fetched model. A whitelist entry outside CONTEXT_PATHS fails loudly instead of building
without it.
"""

from __future__ import annotations

import shutil
from pathlib import Path

DOCKERFILE = Path("app/Dockerfile")
MODEL_SUBDIR = Path("build/model")
CONTEXT_PATHS = (Path("app"), Path("model"), MODEL_SUBDIR, Path(".dockerignore"))
_SKIP = shutil.ignore_patterns("__pycache__", "*.pyc", ".pytest_cache")


class ContextError(RuntimeError):
    """The build context cannot be assembled; the message says what is missing."""


def whitelisted(repo: Path) -> list[Path]:
    """The `!path` entries of the repo's .dockerignore: what the image may take from the context."""
    ignore = repo / ".dockerignore"
    if not ignore.is_file():
        raise ContextError(f"{ignore} is missing: the build context (the repo root) would ship everything")
    lines = (line.strip() for line in ignore.read_text().splitlines())
    return [Path(line[1:]) for line in lines if line.startswith("!")]


def copy_context(repo: Path, dest: Path, model_dir: Path | None = None) -> Path:
    """Copy the build context of `repo` into `dest` (created); the model from `model_dir` if given.

    Returns `dest`. `model_dir` defaults to the repo's build/model, where `python -m model fetch` puts it.
    """
    for entry in whitelisted(repo):
        if not any(entry == path or path in entry.parents for path in CONTEXT_PATHS):
            raise ContextError(f".dockerignore lets {entry} into the image but {__name__} does not copy it")
    model_source = model_dir or repo / MODEL_SUBDIR
    for name in ("model.onnx", "manifest.json"):
        if not (model_source / name).is_file():
            raise ContextError(
                f"no {name} in {model_source}: run `python -m model fetch --dest {model_source}`"
            )
    dest.mkdir(parents=True, exist_ok=True)
    shutil.copytree(repo / "app", dest / "app", ignore=_SKIP)
    shutil.copytree(repo / "model", dest / "model", ignore=_SKIP)
    shutil.copytree(model_source, dest / MODEL_SUBDIR, ignore=_SKIP)
    shutil.copy2(repo / ".dockerignore", dest / ".dockerignore")
    return dest


def touch_app_code(context: Path, marker: str) -> Path:
    """An app-code-only change: append a comment to app/__init__.py in `context`; returns the file changed."""
    target = context / "app" / "__init__.py"
    if not target.is_file():
        raise ContextError(f"{target} is missing: the app package must have an __init__.py")
    with target.open("a") as handle:
        handle.write(f"\n# {marker}\n")
    return target
