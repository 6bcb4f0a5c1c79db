"""Measure when the shared machine is quiet, and say so when it was not.

Other people's tests run on this box. Before each measurement the benchmark waits, within a budget for the
whole run, until the CPU used by other processes is under a threshold; a measurement during which they
still used more than that is flagged as disturbed.
"""

from __future__ import annotations

import time
from dataclasses import dataclass

from bench.cpu import idle_check


@dataclass
class QuietPolicy:
    max_other_cores: float = 0.25  # CPU used by processes other than the server and wrk
    wait_budget_s: float = 300.0  # total waiting for quiet in one run
    waited_s: float = 0.0

    def wait_for_quiet(self) -> float:
        """Sleep until the background load is under the threshold or the budget is spent; returns the load."""
        while True:
            started = time.perf_counter()
            load = idle_check(0.5)
            if load <= self.max_other_cores or self.waited_s >= self.wait_budget_s:
                return load
            time.sleep(1.5)
            self.waited_s += time.perf_counter() - started

    def disturbed(self, other_cores: float) -> bool:
        return other_cores > self.max_other_cores
