"""Timing a call in-process: the one loop behind the floor and the app's own per-request figure."""

from __future__ import annotations

import statistics
import time
from collections.abc import Callable, Mapping


def time_calls(call: Callable[[], object], runs: int, warmup: int) -> dict[str, float]:
    """Median, p99 and mean of `call()` over `runs` calls after `warmup` untimed ones, in microseconds."""
    return time_interleaved({"call": call}, runs, warmup)["call"]


def time_interleaved(
    calls: Mapping[str, Callable[[], object]], runs: int, warmup: int
) -> dict[str, dict[str, float]]:
    """time_calls for several calls taking turns, one of each per round: a burst of other load on a shared
    machine lands on all of them alike, so their figures compare even when each alone would be noisy."""
    for _ in range(warmup):
        for call in calls.values():
            call()
    timings: dict[str, list[float]] = {name: [] for name in calls}
    for _ in range(runs):
        for name, call in calls.items():
            started = time.perf_counter_ns()
            call()
            timings[name].append((time.perf_counter_ns() - started) / 1000)
    return {name: _figures(sorted(values)) for name, values in timings.items()}


def _figures(timings: list[float]) -> dict[str, float]:
    runs = len(timings)
    return {
        "runs": runs,
        "p50_us": round(statistics.median(timings), 1),
        "p99_us": round(timings[int(0.99 * (runs - 1))], 1),
        "mean_us": round(statistics.fmean(timings), 1),
    }
