"""CPU accounting around a measurement: how much of the machine the server, wrk and everything else used.

The box is shared (other people's tests run on it): "other_cores" is the CPU that neither the server under
test, nor wrk, nor this process used during the measurement, so a noisy figure can be told from a slow server.
"""

from __future__ import annotations

import os
import resource
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

_TICKS = os.sysconf("SC_CLK_TCK")


def machine_busy_s() -> float:
    """Non-idle CPU seconds of the whole machine since boot (all cores)."""
    values = [int(v) for v in Path("/proc/stat").read_text().splitlines()[0].split()[1:]]
    idle, iowait = values[3], values[4]
    # user nice system idle iowait irq softirq steal: steal counts as busy, so a noisy neighbour VM shows up
    # as other load too. Guest time is already inside user.
    return (sum(values[:8]) - idle - iowait) / _TICKS


def group_cpu_s(pgid: int) -> float:
    """CPU seconds (user + system) of the live processes in process group `pgid`."""
    total = 0
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            fields = (entry / "stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue  # exited meanwhile
        if int(fields[2]) == pgid:
            total += int(fields[11]) + int(fields[12])
    return total / _TICKS


def _own_and_children_s() -> float:
    own = resource.getrusage(resource.RUSAGE_SELF)
    children = resource.getrusage(resource.RUSAGE_CHILDREN)  # wrk, once it has been waited for
    return own.ru_utime + own.ru_stime + children.ru_utime + children.ru_stime


@dataclass
class CpuShare:
    wall_s: float = 0.0
    server_cores: float = 0.0
    load_generator_cores: float = 0.0  # wrk (+ this idle process)
    other_cores: float = 0.0

    def as_dict(self) -> dict[str, float]:
        return {
            "server_cores": round(self.server_cores, 2),
            "wrk_cores": round(self.load_generator_cores, 2),
            "other_cores": round(self.other_cores, 2),
        }


@contextmanager
def cpu_share(server_pgid: int) -> Iterator[CpuShare]:
    share = CpuShare()
    wall, busy, server, ours = (
        time.perf_counter(),
        machine_busy_s(),
        group_cpu_s(server_pgid),
        _own_and_children_s(),
    )
    yield share
    share.wall_s = time.perf_counter() - wall
    busy = machine_busy_s() - busy
    server = group_cpu_s(server_pgid) - server
    ours = _own_and_children_s() - ours
    share.server_cores = server / share.wall_s
    share.load_generator_cores = ours / share.wall_s
    share.other_cores = max(0.0, busy - server - ours) / share.wall_s


def idle_check(seconds: float = 2.0) -> float:
    """Cores busy with other work while this process sleeps: the machine's background load."""
    busy = machine_busy_s()
    time.sleep(seconds)
    return (machine_busy_s() - busy) / seconds
