"""Where the app's time per request goes: its WSGI callable in-process under cProfile, per request.

`python -m bench.profile --model-dir DIR [--protocol v1|v2] [--requests N] [--top K]` prints the time per
request without the profiler (the best of a few rounds: a shared machine only ever adds time), then the
top K functions by their own time, each as calls and microseconds per request (own and cumulative). The
profiler adds its own cost to every Python call, so read the entries against each other, not as absolute
figures. It loads the app in this process, configured as a server worker is (MODEL_DIR, multiprocess
metrics in a temporary directory), and asks it the benchmark's digit as /v1 or as v2 JSON.
"""

from __future__ import annotations

import argparse
import cProfile
import os
import pstats
import sys
import tempfile
import time
from pathlib import Path

from bench.body import protocols, reference_digit
from bench.inprocess import wsgi_request
from model.manifest import verify_model_dir


def _best_us(call: object, requests: int, rounds: int = 5) -> float:
    best = float("inf")
    for _ in range(rounds):
        started = time.perf_counter()
        for _ in range(requests):
            call()  # type: ignore[operator]
        best = min(best, (time.perf_counter() - started) / requests)
    return best * 1e6


def _where(function: tuple[str, int, str]) -> str:
    filename, line, name = function
    if filename == "~":  # a built-in: cProfile names it in place of a file
        return name
    path = Path(filename)
    for base in (Path(__file__).resolve().parent.parent, Path(sys.prefix), Path(sys.base_prefix)):
        if path.is_relative_to(base):
            path = path.relative_to(base)
            break
    return f"{path}:{line}({name})"


def profile(model_dir: Path, protocol: str, requests: int, top: int) -> str:
    from app.wsgi import application  # after MODEL_DIR and PROMETHEUS_MULTIPROC_DIR are set (main)

    asked = protocols(reference_digit(), verify_model_dir(model_dir).name)[protocol]
    one = wsgi_request(application, asked)
    for _ in range(1000):
        one()
    wall_us = _best_us(one, requests)
    profiler = cProfile.Profile()
    profiler.enable()
    for _ in range(requests):
        one()
    profiler.disable()
    stats = pstats.Stats(profiler).stats  # type: ignore[attr-defined]
    rows = sorted(stats.items(), key=lambda item: item[1][2], reverse=True)[:top]
    lines = [
        f"{asked.path}: {wall_us:.1f} us per request without the profiler (best of 5 rounds of {requests}); "
        f"under cProfile, top {top} by own time, per request:",
        f"{'calls':>6} {'own us':>8} {'cum us':>8}  function",
    ]
    for function, (_, calls, own_s, cumulative_s, _) in rows:
        lines.append(
            f"{calls / requests:>6.1f} {own_s / requests * 1e6:>8.2f} {cumulative_s / requests * 1e6:>8.2f}  "
            f"{_where(function)}"
        )
    return "\n".join(lines)


def main() -> None:
    cli = argparse.ArgumentParser(prog="python -m bench.profile", description=__doc__.splitlines()[0])
    cli.add_argument("--model-dir", type=Path, required=True)
    cli.add_argument("--protocol", choices=("v1", "v2"), default="v1")
    cli.add_argument("--requests", type=int, default=5000)
    cli.add_argument("--top", type=int, default=20)
    options = cli.parse_args()
    with tempfile.TemporaryDirectory(prefix="bench-profile-") as metrics_dir:
        os.environ["MODEL_DIR"] = str(options.model_dir)
        os.environ["PROMETHEUS_MULTIPROC_DIR"] = metrics_dir
        print(profile(options.model_dir, options.protocol, options.requests, options.top))


if __name__ == "__main__":
    main()
