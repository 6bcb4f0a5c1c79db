"""The app's start to ready: spawn `python -m app`, time until GET /readyz first answers 200."""

from __future__ import annotations

import statistics
import tempfile
import time
from pathlib import Path
from typing import Any

from bench.procs import ServerGroup, free_port, readyz_probe, spawn, wait_until
from bench.runner import Plan
from bench.servers import APP, Launch

READY_TIMEOUT_S = 30.0
POLL_S = 0.005  # 5 ms: fine enough for a figure reported to 0.01 s, light enough not to slow the start


def start_to_ready(
    group: ServerGroup, plan: Plan, workers: int, env: dict[str, str], runs: int
) -> dict[str, Any]:
    """Median of `runs` cold starts of the production entrypoint, each on a quiet machine if one comes."""
    samples: list[float] = []
    for _ in range(runs):
        with tempfile.TemporaryDirectory(prefix="bench-start-") as scratch:
            launch = Launch(free_port(), free_port(), workers, plan.model_dir, Path(scratch))
            argv, extra_env = APP.command(launch)
            plan.quiet.wait_for_quiet()
            started = time.perf_counter()
            server = spawn("app-start", argv, {**env, **extra_env}, launch.port, plan.log_dir, plan.repo)
            with group.running(server):
                wait_until(server, readyz_probe, READY_TIMEOUT_S, POLL_S)
                samples.append(time.perf_counter() - started)
    return {
        "median_s": round(statistics.median(samples), 3),
        "samples_s": [round(sample, 3) for sample in samples],
        "workers": workers,
    }
