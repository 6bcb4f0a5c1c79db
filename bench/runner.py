"""Start the servers side by side, then load them in interleaved rounds.

The box is shared: another job's burst would land on whichever server happened to be measured then. So all
servers under comparison run at once (idle ones cost no CPU), each measurement waits for a quiet machine
(within the run's budget), and the measurements go round-robin: round r measures every server once, starting
from a different one each round. A server's figure at a connection count is its median round by req/s
among the undisturbed rounds (other processes used at most the policy's CPU during them), or its least
disturbed round when every round was disturbed. Every round's req/s is kept in the JSON.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from bench import wrk
from bench.body import Protocol
from bench.cpu import CpuShare, cpu_share
from bench.procs import (
    Server,
    ServerGroup,
    free_port,
    predict_probe,
    ready_then,
    spawn,
    wait_until,
)
from bench.quiet import QuietPolicy
from bench.servers import Launch, ServerKind
from bench.signin import SignIn

READY_TIMEOUT_S = 120.0  # the tutorial yardstick fits its scikit-learn model at start


@dataclass(frozen=True)
class Plan:
    model_dir: Path
    protocols: Mapping[str, Protocol]  # by name: how a server kind asks for the digit
    expected_label: int
    scripts: Mapping[str, Path]  # by protocol: wrk's Lua script posting its body
    log_dir: Path
    scratch: Path  # per-server scratch directories go here (removed with it)
    repo: Path
    warmup_s: float
    duration_s: float  # per round
    rounds: int
    quiet: QuietPolicy
    sign_in: SignIn | None = None  # the issuer and token scripts of the servers with sign-in on
    model_name: str = ""  # the served model's name, for a server kind's ready_path
    ceiling_body: Path | None = None  # the app's answer to the digit, which "hello" answers (the ceiling)

    def script_for(self, kind: ServerKind) -> Path:
        """The wrk script of a server kind: its token script with sign-in, else its protocol's."""
        if kind.tokens is None:
            return self.scripts[kind.protocol]
        if self.sign_in is None:
            raise ValueError(f"{kind.name} needs the sign-in setup (bench/signin.py), and the plan has none")
        return self.sign_in.scripts[kind.tokens]


@dataclass(frozen=True)
class Running:
    name: str
    kind: ServerKind
    workers: int
    server: Server
    ready_s: float

    path: str  # what wrk posts to

    @property
    def url(self) -> str:
        return f"{self.server.base_url}{self.path}"


def start(
    group: ServerGroup,
    kind: ServerKind,
    workers: int,
    plan: Plan,
    env: dict[str, str],
    name: str | None = None,
) -> Running:
    """Start a server, wait until it answers the benchmark's request correctly, and warm it up."""
    name = name or kind.name
    workers = 1 if kind.single_process else workers
    scratch = plan.scratch / name
    scratch.mkdir()
    signed_in = plan.sign_in if kind.tokens is not None else None
    sign_in_env = dict(signed_in.env) if signed_in else {}
    launch = Launch(
        free_port(), free_port(), workers, plan.model_dir, scratch, sign_in_env, plan.ceiling_body
    )
    argv, extra_env = kind.command(launch)
    server = group.add(spawn(name, argv, {**env, **extra_env}, launch.port, plan.log_dir, plan.repo))
    protocol = plan.protocols[kind.protocol]
    headers = signed_in.headers if signed_in else None
    probe = predict_probe(protocol, plan.expected_label, headers)
    if kind.ready_path is not None:
        ready_path = kind.ready_path.format(model=plan.model_name)
        probe = ready_then(
            ready_path, predict_probe(protocol, plan.expected_label, headers, must_answer=True)
        )
    ready_s = wait_until(server, probe, READY_TIMEOUT_S)
    running = Running(name, kind, workers, server, round(ready_s, 2), protocol.path)
    # Warm-up at 16 connections: every worker and thread has served requests before any clock runs.
    wrk.run(running.url, plan.script_for(kind), 16, plan.warmup_s)
    return running


def measure_rounds(
    runnings: Sequence[Running], connection_counts: Sequence[int], plan: Plan
) -> dict[str, dict[str, Any]]:
    """{name: {"workers", "ready_s", "c1": {...}, "c16": {...}}} from plan.rounds interleaved rounds."""
    tried: dict[tuple[str, int], list[tuple[wrk.LoadResult, CpuShare]]] = {}
    for connections in connection_counts:
        for round_index in range(plan.rounds):
            shift = round_index % len(runnings)
            for running in [*runnings[shift:], *runnings[:shift]]:
                plan.quiet.wait_for_quiet()
                with cpu_share(running.server.process.pid) as share:
                    result = wrk.run(running.url, plan.script_for(running.kind), connections, plan.duration_s)
                if running.server.process.poll() is not None:
                    raise running.server.failure(
                        f"exited with status {running.server.process.returncode} during the measurement"
                    )
                tried.setdefault((running.name, connections), []).append((result, share))
    figures: dict[str, dict[str, Any]] = {}
    for running in runnings:
        figures[running.name] = {"workers": running.workers, "ready_s": running.ready_s}
        for connections in connection_counts:
            rounds = tried[(running.name, connections)]
            result, share = _representative(rounds, plan.quiet)
            figures[running.name][f"c{connections}"] = {
                **result.as_dict(),
                "cpu": share.as_dict(),
                "disturbed": plan.quiet.disturbed(share.other_cores),
                "rounds_requests_per_s": [round(r.requests_per_s, 1) for r, _ in rounds],
            }
    return figures


def _representative(
    rounds: Sequence[tuple[wrk.LoadResult, CpuShare]], quiet: QuietPolicy
) -> tuple[wrk.LoadResult, CpuShare]:
    """The median undisturbed round by req/s (a server's own round-to-round spread, e.g. how its workers
    happened to split the connections, stays in the figure), else the least disturbed round."""
    undisturbed = sorted(
        (attempt for attempt in rounds if not quiet.disturbed(attempt[1].other_cores)),
        key=lambda attempt: attempt[0].requests_per_s,
    )
    if undisturbed:
        return undisturbed[(len(undisturbed) - 1) // 2]
    return min(rounds, key=lambda attempt: attempt[1].other_cores)
