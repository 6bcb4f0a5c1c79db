"""Timing a call in-process: the one loop behind the floor and the app's own per-request figure."""

from __future__ import annotations

import statistics
import time
from collections.abc import Callable


def time_calls(call: Callable[[], object], runs: int, warmup: int) -> dict[str, float]:
    """Median, p99 and mean of `call()` over `runs` calls after `warmup` untimed ones, in microseconds."""
    for _ in range(warmup):
        call()
    timings: list[float] = []
    for _ in range(runs):
        started = time.perf_counter_ns()
        call()
        timings.append((time.perf_counter_ns() - started) / 1000)
    timings.sort()
    return {
        "runs": runs,
        "p50_us": round(statistics.median(timings), 1),
        "p99_us": round(timings[int(0.99 * (runs - 1))], 1),
        "mean_us": round(statistics.fmean(timings), 1),
    }
