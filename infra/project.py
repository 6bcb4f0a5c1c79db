"""Where the image is built from: the project directory (the one holding Pulumi.yaml and __main__.py)."""

from __future__ import annotations

from pathlib import Path

# The Docker build context. One module attribute, read at call time, so the tests can point the program at
# a copy of the source tree instead of writing into the repository's build/ directory.
PROJECT_ROOT: Path = Path(__file__).resolve().parent.parent


def project_root() -> Path:
    return PROJECT_ROOT
