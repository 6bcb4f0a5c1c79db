"""The image figures of issue 3, measured by the image's own tool: `python -m tools.image.build --bench`.

It makes a cold build and an app-code-only rebuild in a temporary copy of the context and prints one JSON
line; this module runs it, bounded in time, and keeps its `image_*` figures.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

from bench.procs import BenchError, log_tail

MODULE = "tools.image.build"
REQUIRED = ("image_total_mb", "image_app_layers_mb", "image_cold_build_s", "image_rebuild_s")
TIMEOUT_S = 45 * 60  # a cold build with buildah on vfs takes minutes; a hung build must still end


def require_image_tool(repo: Path) -> None:
    """Fail before the serving benchmark runs, not after it, when the image's script is missing."""
    if not (repo / "tools" / "image" / "build.py").is_file():
        raise BenchError(
            f"--image needs {repo}/tools/image/build.py (`python -m {MODULE} --bench`); it is missing"
        )


def image_figures(repo: Path, env: dict[str, str], log: Path) -> dict[str, Any]:
    argv = [sys.executable, "-m", MODULE, "--bench"]
    try:
        with log.open("wb") as stderr:
            finished = subprocess.run(
                argv, cwd=repo, env=env, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=stderr,
                timeout=TIMEOUT_S,
            )  # fmt: skip
    except subprocess.TimeoutExpired:
        raise BenchError(
            f"`{' '.join(argv[1:])}` did not finish within {TIMEOUT_S // 60} min; see {log}"
        ) from None
    lines = finished.stdout.decode(errors="replace").strip().splitlines()
    if finished.returncode != 0 or not lines:
        raise BenchError(
            f"`python -m {MODULE} --bench` failed (exit {finished.returncode}); "
            f"its log {log}:\n{log_tail(log)}"
        )
    try:
        report = json.loads(lines[-1])
    except ValueError:
        raise BenchError(
            f"`python -m {MODULE} --bench` did not end with a JSON line: {lines[-1]!r}"
        ) from None
    missing = [key for key in REQUIRED if key not in report]
    if missing:
        raise BenchError(f"`python -m {MODULE} --bench` printed no {', '.join(missing)}: {lines[-1]}")
    return {key: value for key, value in report.items() if key.startswith("image_")}
