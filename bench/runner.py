"""Measure one server: start it, check its answer, warm it up, load it at each connection count, stop it."""

from __future__ import annotations

import tempfile
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from bench import wrk
from bench.cpu import CpuShare, cpu_share
from bench.procs import Server, ServerGroup, free_port, predict_probe, spawn, wait_until
from bench.quiet import QuietPolicy
from bench.servers import Launch, ServerKind

READY_TIMEOUT_S = 120.0  # the tutorial yardstick fits its scikit-learn model at start


@dataclass(frozen=True)
class Plan:
    model_dir: Path
    body: bytes
    expected_label: int
    script: Path  # wrk's Lua script posting `body`
    log_dir: Path
    repo: Path
    warmup_s: float
    duration_s: float
    connections: Sequence[int]
    quiet: QuietPolicy


def measure(
    group: ServerGroup, kind: ServerKind, workers: int, plan: Plan, env: dict[str, str]
) -> dict[str, Any]:
    """The server's figures: {"workers", "ready_s", "c1": {...}, "c16": {...}}; raises on any failure."""
    workers = 1 if kind.single_process else workers
    with tempfile.TemporaryDirectory(prefix=f"bench-{kind.name}-") as scratch:
        launch = Launch(free_port(), free_port(), workers, plan.model_dir, Path(scratch))
        argv, extra_env = kind.command(launch)
        server = spawn(kind.name, argv, {**env, **extra_env}, launch.port, plan.log_dir, plan.repo)
        with group.running(server):
            ready_s = wait_until(server, predict_probe(plan.body, plan.expected_label), READY_TIMEOUT_S)
            url = f"{server.base_url}/v1/predict"
            # Warm-up at the highest concurrency: every worker and thread gets requests before the clock runs.
            wrk.run(url, plan.script, max(plan.connections), plan.warmup_s)
            figures: dict[str, Any] = {"workers": workers, "ready_s": round(ready_s, 2)}
            for connections in plan.connections:
                figures[f"c{connections}"] = _least_disturbed(server, url, connections, plan)
            if server.process.poll() is not None:
                raise server.failure(f"exited with status {server.process.returncode} during the measurement")
    return figures


def _least_disturbed(server: Server, url: str, connections: int, plan: Plan) -> dict[str, Any]:
    """Repeat a measurement that other processes disturbed (up to the policy's attempts); keep the least
    disturbed one, flagged when even that one was."""
    tried: list[tuple[wrk.LoadResult, CpuShare]] = []
    while len(tried) < plan.quiet.attempts:
        plan.quiet.wait_for_quiet()
        with cpu_share(server.process.pid) as share:
            tried.append((wrk.run(url, plan.script, connections, plan.duration_s), share))
        if not plan.quiet.disturbed(share.other_cores):
            break
    result, share = min(tried, key=lambda attempt: attempt[1].other_cores)
    return {
        **result.as_dict(),
        "cpu": share.as_dict(),
        "attempts": len(tried),
        "disturbed": plan.quiet.disturbed(share.other_cores),
    }
