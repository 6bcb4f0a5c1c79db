"""`python -m bench [--image]`: the serving benchmark (issue 2); with --image, the image figures (issue 3).

In one run on 127.0.0.1, with wrk and one fixed request body (a real digit from the data set):
  1. the worker count, chosen by measurement (unless --workers): the app at 16 connections with 1 .. CPUs+1;
  2. the app under its production entrypoint (`python -m app`), the same with its fast lane off
     (FAST_LANE=false), the same asked with the Open Inference Protocol (the digit as v2 JSON), the same
     Flask app under granian (WSGI), gunicorn sync and gunicorn gthread, the ceiling "hello" (the app's
     server and worker count answering a fixed body with no work), and the yardsticks "tutorial"
     (Flask dev server + scikit-learn, one process), "peer" (FastAPI on uvicorn[standard], ONNX) and
     Seldon MLServer (bench/mlserver.py, v2 JSON) with parallel_workers 0 and N, and
     the app with sign-in on, sent one token again and again or a new one each time (bench/signin.py):
     req/s, p50 and p99 at 1 and 16 connections, all servers up side by side and measured in
     interleaved rounds;
  3. the floor (onnxruntime alone, in-process) and the app's WSGI callable in-process, per request, with
     the fast lane on and off, and for the v2 request; and /v1 without sign-in, with sign-in and one token,
     with sign-in and a new token each time, taking turns in one process;
  4. the app's start to ready (spawn `python -m app` -> first 200 on /readyz), median of --start-runs;
  5. with --image: `python -m tools.image.build --bench` (a cold build, then an app-code-only rebuild).
It prints a table and the targets met or missed, then, as its LAST line, one JSON object with every figure.
Exit status: 0 when everything was measured (with --strict: 1 if a target is missed); 1 when anything
failed (every server it started is stopped either way). Server logs: --log-dir (default build/bench/).
"""

from __future__ import annotations

import argparse
import contextlib
import dataclasses
import json
import os
import signal
import sys
import tempfile
from pathlib import Path
from typing import Any

from bench import mlserver, wrk
from bench.body import protocols, reference_digit
from bench.cpu import idle_check
from bench.floor import inference_floor
from bench.image import image_figures, require_image_tool
from bench.inprocess import app_answer, app_time_inprocess
from bench.machine import describe_machine, now_utc
from bench.modeldir import model_dir_for
from bench.procs import BenchError, ServerGroup
from bench.quiet import QuietPolicy
from bench.report import (
    COMPARED,
    FAST_LANE_PAIR,
    PROTOCOL_PAIR,
    SIGN_IN_SERVERS,
    ceiling_and_mlserver,
    check_targets,
    fast_lane_gain,
    headline,
    render,
    sign_in_cost,
    v2_over_v1,
)
from bench.runner import Plan, measure_rounds, start
from bench.servers import APP, BY_NAME, SERVER_KINDS
from bench.signin import sign_in
from bench.startup import start_to_ready
from model.manifest import verify_model_dir

REPO = Path(__file__).resolve().parent.parent
CONNECTIONS = (1, 16)
SWEEP_CONNECTIONS = (16,)
# Inherited variables that would silently reconfigure a server under test: each server gets its settings
# from this benchmark only, so the figures are those of the defaults.
_FOREIGN_PREFIXES = ("GRANIAN_", "UVICORN_", "GUNICORN_", "PROMETHEUS_", "MLSERVER_")
_APP_SETTINGS = (
    "MODEL_DIR", "HOST", "PORT", "METRICS_PORT", "WORKERS", "THREADS", "SERVER", "MAX_BATCH",
    "MAX_BODY_BYTES", "MAX_IMAGE_PIXELS", "LOG_LEVEL", "ACCESS_LOG", "FAST_LANE", "WEB_CONCURRENCY",
)  # fmt: skip


def _say(message: str) -> None:
    print(f"bench: {message}", file=sys.stderr, flush=True)


def server_env() -> dict[str, str]:
    return {
        key: value
        for key, value in os.environ.items()
        if key not in _APP_SETTINGS and not key.startswith(_FOREIGN_PREFIXES)
    }


def _positive_int(text: str) -> int:
    value = int(text)
    if value < 1:
        raise argparse.ArgumentTypeError(f"{text} is not a positive integer")
    return value


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    cli = argparse.ArgumentParser(prog="python -m bench", description=__doc__.split("\n\n")[0])
    add = cli.add_argument
    add("--image", action="store_true", help="add the image figures (python -m tools.image.build --bench)")
    add("--duration", type=float, default=5.0, help="seconds per round of one measurement (default 5)")
    add("--rounds", type=_positive_int, default=3, help="interleaved rounds per figure (default 3)")
    add("--warmup", type=float, default=3.0, help="seconds of warm-up per server (default 3)")
    add(
        "--workers", type=_positive_int, help="worker count for every server (default: chosen by measurement)"
    )
    add("--start-runs", type=_positive_int, default=5, help="start-to-ready samples (default 5)")
    add(
        "--servers", default=",".join(kind.name for kind in SERVER_KINDS),
        help=f"comma-separated subset of {','.join(BY_NAME)} (a subset prints no ratios)",
    )  # fmt: skip
    add("--model-dir", type=Path, help="model.onnx + manifest.json (default: $MODEL_DIR, else build/model)")
    add("--log-dir", type=Path, default=REPO / "build" / "bench", help="server logs (default build/bench)")
    add("--out", type=Path, help="also write the JSON line to this file")
    add("--max-other-load", type=float, default=0.25, help="cores others may use during a measurement (0.25)")
    add("--quiet-wait", type=float, default=300.0, help="seconds to wait in all for a quiet machine (300)")
    add("--strict", action="store_true", help="exit 1 when a target is missed")
    options = cli.parse_args(argv)
    options.servers = options.servers.split(",")
    unknown = [name for name in options.servers if name not in BY_NAME]
    if unknown:
        cli.error(f"unknown server(s) {', '.join(unknown)}; choose from {', '.join(BY_NAME)}")
    if options.duration <= 0 or options.warmup < 0 or options.max_other_load < 0 or options.quiet_wait < 0:
        cli.error("--duration must be > 0; --warmup, --max-other-load and --quiet-wait >= 0")
    return options


def choose_workers(group: ServerGroup, plan: Plan, env: dict[str, str]) -> tuple[int, dict[str, Any]]:
    """The app's worker count with the most req/s at 16 connections, of 1 .. CPUs + 1; within 3 % of the
    best, the fewest workers (less memory) win. All candidates run side by side, measured in rounds."""
    candidates = range(1, len(os.sched_getaffinity(0)) + 2)
    runnings = [
        start(group, APP, workers, plan, env, name=f"app-{workers}-workers") for workers in candidates
    ]
    try:
        figures = measure_rounds(runnings, SWEEP_CONNECTIONS, plan)
    finally:
        group.stop_all()
    sweep = {str(r.workers): figures[r.name]["c16"] for r in runnings}
    best = max(result["requests_per_s"] for result in sweep.values())
    chosen = min(int(w) for w, result in sweep.items() if result["requests_per_s"] >= 0.97 * best)
    return chosen, sweep


def disturbed_figures(servers: dict[str, Any], sweep: dict[str, Any]) -> list[str]:
    found = [f"app with {w} workers c16 (sweep)" for w, result in sweep.items() if result["disturbed"]]
    for name, figures in servers.items():
        found += [f"{name} c{c}" for c in CONNECTIONS if figures[f"c{c}"]["disturbed"]]
    return found


def run(options: argparse.Namespace, group: ServerGroup, scratch: Path) -> dict[str, Any]:
    with contextlib.ExitStack() as stack:  # the sign-in key endpoint, while a server needs it
        return _run(options, group, scratch, stack)


def _run(
    options: argparse.Namespace, group: ServerGroup, scratch: Path, stack: contextlib.ExitStack
) -> dict[str, Any]:
    if options.image:
        require_image_tool(REPO)  # before minutes of measuring, not after
    wrk.require_wrk()
    if any(name.startswith("mlserver") for name in options.servers):
        try:
            mlserver.mlserver_command()  # before minutes of measuring, not after
        except mlserver.MLServerMissing as exc:
            raise BenchError(str(exc)) from None
    options.log_dir.mkdir(parents=True, exist_ok=True)
    for old_log in options.log_dir.glob("*.log"):
        old_log.unlink()
    env = server_env()
    digit = reference_digit()
    model_dir = model_dir_for(options.model_dir, REPO / "build" / "model", scratch)
    (scratch / "servers").mkdir()
    model_name = verify_model_dir(model_dir).name
    asked = protocols(digit, model_name)
    ceiling_body = None
    if "hello" in options.servers:  # the ceiling answers what the app answers, recorded in-process
        ceiling_body = scratch / "ceiling-answer.json"
        ceiling_body.write_bytes(app_answer(model_dir, env, REPO))
    plan = Plan(
        model_dir=model_dir, protocols=asked, expected_label=digit.label,
        scripts={name: wrk.write_script(protocol.body, scratch, name) for name, protocol in asked.items()},
        log_dir=options.log_dir, scratch=scratch / "servers",
        repo=REPO, warmup_s=options.warmup, duration_s=options.duration, rounds=options.rounds,
        quiet=QuietPolicy(options.max_other_load, options.quiet_wait),
        model_name=model_name, ceiling_body=ceiling_body,
    )  # fmt: skip
    summary: dict[str, Any] = {"date": now_utc(), "machine": describe_machine()}
    summary["load_before"] = {"other_cores": round(idle_check(), 2), "loadavg": os.getloadavg()}
    _say(f"background load {summary['load_before']['other_cores']} cores; server logs in {options.log_dir}")

    sweep: dict[str, Any] = {}
    if options.workers:
        workers = options.workers
    else:
        _say("choosing the worker count: the app at 16 connections with each candidate")
        workers, sweep = choose_workers(
            group, dataclasses.replace(plan, duration_s=min(plan.duration_s, 5)), env
        )
    if any(BY_NAME[name].tokens for name in options.servers):
        _say(f"sign-in: an issuer, its keys on 127.0.0.1 and tokens for {workers} worker(s)")
        plan = dataclasses.replace(plan, sign_in=stack.enter_context(sign_in(digit.body, workers, scratch)))
    _say(f"{workers} worker(s) for every multi-process server; starting {', '.join(options.servers)}")
    runnings = [start(group, BY_NAME[name], workers, plan, env) for name in options.servers]
    _say(
        f"measuring {len(runnings)} servers in {plan.rounds} interleaved rounds at {CONNECTIONS} connections"
    )
    try:
        servers = measure_rounds(runnings, CONNECTIONS, plan)
    finally:
        group.stop_all()

    _say("measuring the in-process floor and the app's start to ready")
    plan.quiet.wait_for_quiet()
    floor = inference_floor(model_dir, digit.features)
    plan.quiet.wait_for_quiet()
    # v1 and v2 in one process, taking turns: their ratio holds even on a busy machine.
    inprocess = app_time_inprocess(model_dir, env, REPO, protocols="v1,v2")
    app_inprocess, app_inprocess_v2 = inprocess["v1"], inprocess["v2"]
    plan.quiet.wait_for_quiet()
    app_inprocess_no_lane = app_time_inprocess(model_dir, {**env, "FAST_LANE": "false"}, REPO)["v1"]
    plan.quiet.wait_for_quiet()
    # Sign-in off, on with one token, on with new tokens: in one process, taking turns.
    app_inprocess_sign_in = app_time_inprocess(model_dir, env, REPO, sign_in=True)
    start_figures = start_to_ready(group, plan, workers, env, options.start_runs)
    summary["load_after"] = {"other_cores": round(idle_check(), 2), "loadavg": os.getloadavg()}
    summary.update(
        settings={
            "workers": workers, "workers_sweep_c16_rps": {w: r["requests_per_s"] for w, r in sweep.items()},
            "duration_s": plan.duration_s, "rounds": plan.rounds, "warmup_s": plan.warmup_s,
            "connections": list(CONNECTIONS), "wrk_threads": 1, "body_bytes": len(digit.body),
            "model_dir": str(model_dir), "max_other_load_cores": plan.quiet.max_other_cores,
            "waited_for_quiet_s": round(plan.quiet.waited_s, 1),
        },
        disturbed=disturbed_figures(servers, sweep), servers=servers, inference_floor_us=floor,
        app_inprocess_us=app_inprocess, app_inprocess_no_fast_lane_us=app_inprocess_no_lane,
        app_inprocess_v2_us=app_inprocess_v2,
        app_inprocess_sign_in_us=app_inprocess_sign_in,
        start_to_ready=start_figures,
    )  # fmt: skip
    if servers.keys() >= set(FAST_LANE_PAIR):
        summary["fast_lane_gain"] = fast_lane_gain(servers)
    summary["sign_in_cost"] = sign_in_cost(summary, servers if servers.keys() >= SIGN_IN_SERVERS else None)
    if servers.keys() >= set(PROTOCOL_PAIR):
        summary["v2_over_v1"] = v2_over_v1(servers)
    summary.update(ceiling_and_mlserver(servers))
    if servers.keys() >= COMPARED:
        from app.settings import DEFAULT_SERVER

        summary.update(headline(servers, start_figures), app_default_server=DEFAULT_SERVER)
    if options.image:
        # Last: a build takes the CPU for minutes, which nothing above should share.
        _say("measuring the image: a cold build, then an app-code-only rebuild (minutes)")
        summary.update(image_figures(REPO, os.environ.copy(), options.log_dir / "image.log"))
        summary["image_rebuild_ratio"] = round(summary["image_rebuild_s"] / summary["image_cold_build_s"], 3)
    summary["targets"] = check_targets(summary)
    return summary


def _raise_on_signal(signum: int, _frame: object) -> None:
    raise SystemExit(128 + signum)  # unwinds through every `finally`: all servers are stopped


def main(argv: list[str] | None = None) -> int:
    options = parse_args(argv)
    signal.signal(signal.SIGTERM, _raise_on_signal)
    signal.signal(signal.SIGHUP, _raise_on_signal)
    group = ServerGroup()
    with tempfile.TemporaryDirectory(prefix="bench-") as scratch:
        try:
            summary = run(options, group, Path(scratch))
        except (BenchError, wrk.LoadError) as exc:
            _say(f"FAILED: {exc}")
            return 1
        finally:
            group.stop_all()  # before the scratch directory (the servers' files) goes
    print(render(summary))
    line = json.dumps(summary, sort_keys=True)
    if options.out:
        options.out.parent.mkdir(parents=True, exist_ok=True)
        options.out.write_text(line + "\n")
    print(line, flush=True)
    missed = [key for key, result in summary["targets"].items() if not result["met"]]
    return 1 if options.strict and missed else 0


if __name__ == "__main__":
    sys.exit(main())
