"""`python -m bench [--image]`: the serving benchmark (issue 2); with --image, the image figures (issue 3).

In one run on 127.0.0.1, with wrk and one fixed request body (a real digit from the data set):
  1. the worker count, chosen by measurement (unless --workers): the app at 16 connections per candidate;
  2. the app under its production entrypoint (`python -m app`), and the same Flask app under granian (WSGI),
     gunicorn sync and gunicorn gthread; the yardsticks "tutorial" (Flask dev server + scikit-learn, one
     process) and "peer" (FastAPI on uvicorn[standard], ONNX): req/s and p50/p99 at 1 and 16 connections;
  3. the floor: onnxruntime's own inference time per request, in-process; and the app's WSGI callable's;
  4. the app's start to ready (spawn `python -m app` -> first 200 on /readyz), median of --start-runs;
  5. with --image: `python -m tools.image.build --bench` (cold build, app-code-only rebuild).
It prints a table, the targets met or missed, and as its LAST line one JSON object with every figure.
Exit status: 0 when it measured everything (1 with --strict if a target is missed), 1 when something failed.
Server logs: --log-dir (default build/bench/).
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import os
import signal
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any

from bench import wrk
from bench.body import reference_digit
from bench.cpu import idle_check
from bench.floor import inference_floor
from bench.image import image_figures, require_image_tool
from bench.machine import describe_machine, now_utc
from bench.procs import BenchError, ServerGroup
from bench.quiet import QuietPolicy
from bench.report import check_targets, headline, table, target_lines
from bench.runner import Plan, measure
from bench.servers import APP, BY_NAME, SERVER_KINDS
from bench.startup import start_to_ready

REPO = Path(__file__).resolve().parent.parent
CONNECTIONS = (1, 16)
# Inherited variables that would silently reconfigure a server under test: each server gets its settings
# from this benchmark only, so the figures are the defaults' figures.
_FOREIGN_PREFIXES = ("GRANIAN_", "UVICORN_", "GUNICORN_", "PROMETHEUS_")
_APP_SETTINGS = (
    "MODEL_DIR", "HOST", "PORT", "METRICS_PORT", "WORKERS", "THREADS", "SERVER", "MAX_BATCH",
    "MAX_BODY_BYTES", "MAX_IMAGE_PIXELS", "LOG_LEVEL", "ACCESS_LOG", "WEB_CONCURRENCY",
)  # fmt: skip


def _say(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


def server_env() -> dict[str, str]:
    return {
        key: value
        for key, value in os.environ.items()
        if key not in _APP_SETTINGS and not key.startswith(_FOREIGN_PREFIXES)
    }


def positive_int(text: str) -> int:
    value = int(text)
    if value < 1:
        raise argparse.ArgumentTypeError(f"{text} is not a positive integer")
    return value


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    cli = argparse.ArgumentParser(prog="python -m bench", description=__doc__.split("\n\n")[0])
    cli.add_argument(
        "--image", action="store_true", help="add the image figures (python -m tools.image.build --bench)"
    )
    cli.add_argument("--duration", type=float, default=10.0, help="seconds per measurement (default 10)")
    cli.add_argument("--warmup", type=float, default=3.0, help="seconds of warm-up per server (default 3)")
    cli.add_argument("--workers", type=positive_int, help="worker count for every server (default: measured)")
    cli.add_argument("--start-runs", type=positive_int, default=5, help="start-to-ready samples (default 5)")
    cli.add_argument(
        "--servers", default=",".join(kind.name for kind in SERVER_KINDS),
        help="comma-separated subset to measure (a partial run prints no ratios)",
    )  # fmt: skip
    cli.add_argument(
        "--model-dir", type=Path, help="model.onnx + manifest.json (default: $MODEL_DIR or build/model)"
    )
    cli.add_argument(
        "--log-dir", type=Path, default=REPO / "build" / "bench", help="server logs (default build/bench)"
    )
    cli.add_argument("--out", type=Path, help="also write the JSON summary to this file")
    cli.add_argument(
        "--max-other-load", type=float, default=0.25,
        help="cores other processes may use during a measurement before it is repeated (default 0.25)",
    )  # fmt: skip
    cli.add_argument(
        "--attempts", type=positive_int, default=3, help="tries per disturbed measurement (default 3)"
    )
    cli.add_argument(
        "--quiet-wait",
        type=float,
        default=300.0,
        help="seconds to wait in all for a quiet machine (default 300)",
    )
    cli.add_argument("--strict", action="store_true", help="exit 1 when a target is missed")
    options = cli.parse_args(argv)
    unknown = [name for name in options.servers.split(",") if name not in BY_NAME]
    if unknown:
        cli.error(f"unknown server(s) {', '.join(unknown)}; choose from {', '.join(BY_NAME)}")
    if options.duration <= 0 or options.warmup < 0:
        cli.error("--duration must be > 0 and --warmup >= 0")
    return options


def model_dir_for(options: argparse.Namespace, scratch: Path) -> Path:
    """The model to serve: verified; when no directory was named and the default is empty, a fresh one."""
    from model.errors import ModelError
    from model.manifest import verify_model_dir

    named = options.model_dir or (Path(os.environ["MODEL_DIR"]) if os.environ.get("MODEL_DIR") else None)
    directory = named or REPO / "build" / "model"
    try:
        verify_model_dir(directory)
        return directory
    except ModelError as exc:
        if named is not None or (directory / "manifest.json").exists():
            raise BenchError(f"the model in {directory} cannot be served: {exc}") from None
    # Nothing fetched yet (`make model` does it): train, publish and fetch the reference model privately.
    from model.registry import fetch, publish
    from model.store import open_store
    from model.train import train

    _say(f"bench: no model in {directory}; training the reference model into a temporary store")
    store = open_store((scratch / "store").as_uri())
    trained = train()
    publish(store, trained.onnx, trained.metrics, trained.framework)
    fetch(store, scratch / "model")
    return scratch / "model"


def app_time_inprocess(model_dir: Path, env: dict[str, str]) -> dict[str, Any]:
    argv = [sys.executable, "-m", "bench.inprocess", "--model-dir", str(model_dir)]
    try:
        done = subprocess.run(argv, cwd=REPO, env=env, capture_output=True, text=True, timeout=300)
    except subprocess.TimeoutExpired:
        raise BenchError("`python -m bench.inprocess` did not finish within 300 s") from None
    if done.returncode != 0:
        raise BenchError(
            f"`python -m bench.inprocess` failed (exit {done.returncode}): {done.stderr.strip()}"
        )
    return dict(json.loads(done.stdout.strip().splitlines()[-1]))


def choose_workers(
    group: ServerGroup, plan: Plan, env: dict[str, str]
) -> tuple[int, dict[str, float], list[str]]:
    """The app's worker count with the most req/s at 16 connections (1 .. CPUs + 1); within 3 %, the fewer
    workers win (less memory). Returns it, req/s by worker count, and the disturbed measurements."""
    candidates = range(1, len(os.sched_getaffinity(0)) + 2)
    sweep_plan = dataclasses.replace(plan, duration_s=min(plan.duration_s, 5.0), connections=(16,))
    sweep: dict[str, float] = {}
    disturbed: list[str] = []
    for workers in candidates:
        figures = measure(group, APP, workers, sweep_plan, env)["c16"]
        sweep[str(workers)] = round(figures["requests_per_s"], 1)
        if figures["disturbed"]:
            disturbed.append(f"app c16 with {workers} worker(s), in the worker sweep")
        _say(f"bench: workers={workers}: {sweep[str(workers)]:.0f} req/s at 16 connections")
    best = max(sweep.values())
    return min(int(w) for w, rps in sweep.items() if rps >= 0.97 * best), sweep, disturbed


def run(options: argparse.Namespace, group: ServerGroup, scratch: Path) -> dict[str, Any]:
    if options.image:
        require_image_tool(REPO)
    wrk.require_wrk()
    options.log_dir.mkdir(parents=True, exist_ok=True)
    for old in options.log_dir.glob("*.log"):
        old.unlink()
    env = server_env()
    digit = reference_digit()
    model_dir = model_dir_for(options, scratch)
    plan = Plan(
        model_dir=model_dir, body=digit.body, expected_label=digit.label,
        script=wrk.write_script(digit.body, scratch), log_dir=options.log_dir, repo=REPO,
        warmup_s=options.warmup, duration_s=options.duration, connections=CONNECTIONS,
        quiet=QuietPolicy(options.max_other_load, options.attempts, options.quiet_wait),
    )  # fmt: skip
    summary: dict[str, Any] = {"date": now_utc(), "machine": describe_machine()}
    background = idle_check()
    summary["load_before"] = {"other_cores": round(background, 2), "loadavg": os.getloadavg()}
    _say(f"bench: background load {background:.2f} cores busy; logs in {options.log_dir}")

    if options.workers:
        workers, sweep, disturbed = options.workers, {}, []
    else:
        workers, sweep, disturbed = choose_workers(group, plan, env)
    _say(f"bench: {workers} worker(s) for every multi-process server")

    servers: dict[str, Any] = {}
    for name in options.servers.split(","):
        _say(f"bench: measuring {name}")
        servers[name] = measure(group, BY_NAME[name], workers, plan, env)
    plan.quiet.wait_for_quiet()
    floor = inference_floor(model_dir, digit.features)
    plan.quiet.wait_for_quiet()
    app_inprocess = app_time_inprocess(model_dir, env)
    _say("bench: measuring start to ready")
    start = start_to_ready(group, plan, workers, env, options.start_runs)
    summary["load_after"] = {"other_cores": round(idle_check(), 2), "loadavg": os.getloadavg()}

    summary.update(
        settings={
            "workers": workers, "workers_sweep_c16_rps": sweep, "duration_s": options.duration,
            "warmup_s": options.warmup, "connections": list(CONNECTIONS), "wrk_threads": 1,
            "body_bytes": len(digit.body), "model_dir": str(model_dir),
            "max_other_load_cores": options.max_other_load, "attempts": options.attempts,
            "waited_for_quiet_s": round(plan.quiet.waited_s, 1),
        },
        disturbed=disturbed
        + [
            f"{name} c{connections}"
            for name, figures in servers.items()
            for connections in CONNECTIONS
            if figures[f"c{connections}"]["disturbed"]
        ],
        servers=servers, inference_floor_us=floor, app_inprocess_us=app_inprocess, start_to_ready=start,
    )  # fmt: skip
    if {"app", "tutorial", "peer", "granian", "gunicorn-sync", "gunicorn-gthread"} <= servers.keys():
        from app.settings import DEFAULT_SERVER

        summary.update(headline(servers, start), app_default_server=DEFAULT_SERVER)
    if options.image:
        _say("bench: measuring the image (cold build, then an app-code-only rebuild)")
        summary.update(image_figures(REPO, os.environ.copy(), options.log_dir / "image.log"))
        summary["image_rebuild_ratio"] = round(summary["image_rebuild_s"] / summary["image_cold_build_s"], 3)
    summary["targets"] = check_targets(summary)
    return summary


def print_report(summary: dict[str, Any]) -> None:
    machine, settings = summary["machine"], summary["settings"]
    print(
        f"\nServing benchmark, {summary['date']}, {machine['cpu']} x{machine['cores']} cores, "
        "127.0.0.1, wrk with 1 thread"
    )
    print(
        f"workers {settings['workers']} "
        f"(req/s at c16 by workers: {settings['workers_sweep_c16_rps'] or 'not swept'}); "
        f"{settings['duration_s']:g} s per measurement after {settings['warmup_s']:g} s warm-up; "
        f"background load {summary['load_before']['other_cores']} cores busy before, "
        f"{summary['load_after']['other_cores']} after\n"
    )
    print(table(summary["servers"]))
    if summary["disturbed"]:
        print(
            f"\nWARNING: other processes used more than {settings['max_other_load_cores']} cores during "
            f"{', '.join(summary['disturbed'])} in every attempt: those figures understate the server"
        )
    floor, start = summary["inference_floor_us"], summary["start_to_ready"]
    print(
        f"\nfloor, onnxruntime inference per request in-process: "
        f"p50 {floor['p50_us']} us, p99 {floor['p99_us']} us"
    )
    app = summary["app_inprocess_us"]
    print(
        f"the app's WSGI callable per request, in-process, no server: "
        f"p50 {app['p50_us']} us, p99 {app['p99_us']} us"
    )
    print(
        f"start to ready (python -m app -> /readyz 200): median {start['median_s']} s of {start['samples_s']}"
    )
    if "fastest_wsgi_server" in summary:
        lead = summary["fastest_wsgi_server_lead_c16"]
        print(
            f"fastest WSGI server at c16: {summary['fastest_wsgi_server']} (x{lead} the next); "
            f"the app's default: {summary['app_default_server']}"
        )
    for key in ("image_total_mb", "image_app_layers_mb", "image_cold_build_s", "image_rebuild_s"):
        if key in summary:
            print(f"{key}: {summary[key]}")
    print("targets:")
    print(target_lines(summary["targets"]))


def _raise_on_signal(signum: int, _frame: object) -> None:
    raise SystemExit(128 + signum)  # unwinds through `finally`: every server is stopped


def main(argv: list[str] | None = None) -> int:
    options = parse_args(argv)
    signal.signal(signal.SIGTERM, _raise_on_signal)
    signal.signal(signal.SIGHUP, _raise_on_signal)
    group = ServerGroup()
    try:
        with tempfile.TemporaryDirectory(prefix="bench-") as scratch:
            summary = run(options, group, Path(scratch))
    except (BenchError, wrk.LoadError) as exc:
        _say(f"bench: FAILED: {exc}")
        return 1
    finally:
        group.stop_all()
    print_report(summary)
    line = json.dumps(summary, sort_keys=True)
    if options.out:
        options.out.parent.mkdir(parents=True, exist_ok=True)
        options.out.write_text(line + "\n")
    print(line, flush=True)
    missed = [key for key, result in summary["targets"].items() if not result["met"]]
    return 1 if options.strict and missed else 0


if __name__ == "__main__":
    sys.exit(main())
