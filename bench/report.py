"""The summary: headline figures, the targets they meet or miss, a readable table and the last JSON line."""

from __future__ import annotations

import operator
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from bench.servers import BY_NAME

WSGI_SERVERS = ("granian", "gunicorn-sync", "gunicorn-gthread")
COMPARED = {"app", "tutorial", "peer", *WSGI_SERVERS}  # the headline needs every one of them
IMAGE_KEYS = ("image_total_mb", "image_app_layers_mb", "image_cold_build_s", "image_rebuild_s")


@dataclass(frozen=True)
class Target:
    key: str
    compare: Callable[[float, float], bool]
    bound: float
    text: str


TARGETS = (
    Target("throughput_ratio_c16", operator.ge, 5.0, ">= 5x the tutorial pattern at 16 connections"),
    Target("throughput_ratio_peer_c16", operator.ge, 1.0, ">= 1x the FastAPI peer at 16 connections"),
    Target(
        "throughput_ratio_mlserver_c16", operator.ge, 4.0, ">= 4x Seldon MLServer (fastest) at 16 connections"
    ),
    Target("ceiling_fraction_c16", operator.ge, 0.5, ">= 0.5 of the bare server's req/s at 16 connections"),
    Target("p99_ms_c1", operator.le, 2.0, "p99 <= 2 ms at 1 connection"),
    Target("p99_ms_c16", operator.le, 15.0, "p99 <= 15 ms at 16 connections"),
    Target("start_to_ready_s", operator.le, 1.5, "start to ready <= 1.5 s"),
    Target("image_app_layers_mb", operator.le, 200.0, "image app layers <= 200 MB"),
    Target("image_rebuild_ratio", operator.le, 0.25, "app-code-only rebuild <= 25% of the cold build"),
)


def _rps(servers: Mapping[str, Any], name: str, connections: int) -> float:
    return float(servers[name][f"c{connections}"]["requests_per_s"])


def headline(servers: Mapping[str, Any], start: Mapping[str, Any]) -> dict[str, Any]:
    app_c1, app_c16 = servers["app"]["c1"], servers["app"]["c16"]
    fastest = max(WSGI_SERVERS, key=lambda name: _rps(servers, name, 16))
    return {
        "throughput_ratio_c16": round(_rps(servers, "app", 16) / _rps(servers, "tutorial", 16), 2),
        "throughput_ratio_peer_c16": round(_rps(servers, "app", 16) / _rps(servers, "peer", 16), 2),
        "requests_per_s_c1": round(app_c1["requests_per_s"], 1),
        "requests_per_s_c16": round(app_c16["requests_per_s"], 1),
        "p50_ms_c1": app_c1["p50_ms"],
        "p99_ms_c1": app_c1["p99_ms"],
        "p50_ms_c16": app_c16["p50_ms"],
        "p99_ms_c16": app_c16["p99_ms"],
        "start_to_ready_s": start["median_s"],
        "fastest_wsgi_server": fastest,
        "fastest_wsgi_server_lead_c16": round(
            _rps(servers, fastest, 16) / max(_rps(servers, n, 16) for n in WSGI_SERVERS if n != fastest), 3
        ),
    }


FAST_LANE_PAIR = ("app", "app-no-fast-lane")


def fast_lane_gain(servers: Mapping[str, Any]) -> dict[str, float]:
    """The app's req/s over the same app with FAST_LANE=false, at each connection count, from the same run."""
    on, off = FAST_LANE_PAIR
    return {f"c{c}": round(_rps(servers, on, c) / _rps(servers, off, c), 3) for c in (1, 16)}


PROTOCOL_PAIR = ("app", "app-v2")


def v2_over_v1(servers: Mapping[str, Any]) -> dict[str, float]:
    """The same digit asked as OIP v2 JSON over asked as /v1/predict, same app, same run: req/s and p50/p99
    ratios at each connection count (req/s above 1 and latency below 1: v2 is the cheaper)."""
    v1, v2 = PROTOCOL_PAIR
    ratios = {}
    for c in (1, 16):
        ratios[f"requests_per_s_c{c}"] = round(_rps(servers, v2, c) / _rps(servers, v1, c), 3)
        for figure in ("p50_ms", "p99_ms"):
            ratios[f"{figure}_c{c}"] = round(servers[v2][f"c{c}"][figure] / servers[v1][f"c{c}"][figure], 3)
    return ratios


MLSERVER_KINDS = ("mlserver", "mlserver-workers")  # parallel_workers 0 and N


def ceiling_and_mlserver(servers: Mapping[str, Any]) -> dict[str, Any]:
    """The figures against the ceiling and against MLServer, each when its servers ran:
    ceiling_fraction_c1/_c16, the app's req/s over the bare server's ("hello": same server, same workers, a
    fixed answer, no work); throughput_ratio_mlserver_c1/_c16, the app's req/s on /v1 over MLServer's in its
    faster configuration at 16 connections (mlserver_fastest, its parallel_workers), and the same with the
    app asked the very same v2 JSON (throughput_ratio_mlserver_v2_c16); v2_rps_c16 and v2_p99_ms_c16, the
    app's figures for the digit as v2 JSON."""
    figures: dict[str, Any] = {}
    if {"app", "hello"} <= servers.keys():
        for c in (1, 16):
            figures[f"ceiling_fraction_c{c}"] = round(_rps(servers, "app", c) / _rps(servers, "hello", c), 3)
    measured = [name for name in MLSERVER_KINDS if name in servers]
    if measured:
        fastest = max(measured, key=lambda name: _rps(servers, name, 16))
        figures["mlserver_fastest"] = fastest
        figures["mlserver_parallel_workers"] = 0 if fastest == "mlserver" else servers[fastest]["workers"]
        if "app" in servers:
            for c in (1, 16):
                figures[f"throughput_ratio_mlserver_c{c}"] = round(
                    _rps(servers, "app", c) / _rps(servers, fastest, c), 2
                )
        if "app-v2" in servers:
            figures["throughput_ratio_mlserver_v2_c16"] = round(
                _rps(servers, "app-v2", 16) / _rps(servers, fastest, 16), 2
            )
    if "app-v2" in servers:
        figures["v2_rps_c16"] = round(_rps(servers, "app-v2", 16), 1)
        figures["v2_p99_ms_c16"] = servers["app-v2"]["c16"]["p99_ms"]
    return figures


SIGN_IN_SERVERS = {"app", "app-signin", "app-signin-fresh"}


def sign_in_cost(summary: Mapping[str, Any], servers: Mapping[str, Any] | None) -> dict[str, Any]:
    """What checking a token costs, from one run: in-process, the extra microseconds per request (p50) of the
    app with sign-in over the app without, a reused token and a new one (measured taking turns); over HTTP
    (when those servers ran), the req/s of each over the app without sign-in, at each connection count."""
    inprocess = summary["app_inprocess_sign_in_us"]
    cost: dict[str, Any] = {
        f"inprocess_{tokens}_extra_us_p50": round(inprocess[tokens]["p50_us"] - inprocess["off"]["p50_us"], 1)
        for tokens in ("repeat", "fresh")
    }
    if servers is not None:
        for name, tokens in (("app-signin", "repeat"), ("app-signin-fresh", "fresh")):
            for c in (1, 16):
                cost[f"http_{tokens}_rps_ratio_c{c}"] = round(
                    _rps(servers, name, c) / _rps(servers, "app", c), 3
                )
    return cost


def check_targets(figures: Mapping[str, Any]) -> dict[str, dict[str, Any]]:
    """Each target whose figure was measured: {"value", "target" (its text), "met"}."""
    checked: dict[str, dict[str, Any]] = {}
    for target in TARGETS:
        if target.key in figures:
            value = figures[target.key]
            checked[target.key] = {
                "value": value,
                "target": target.text,
                "met": target.compare(value, target.bound),
            }
    return checked


def table(servers: Mapping[str, Any]) -> str:
    header = (
        f"{'server':<44} {'wk':>3} | {'c1 req/s':>9} {'p50 ms':>7} {'p99 ms':>7} | "
        f"{'c16 req/s':>9} {'p50 ms':>7} {'p99 ms':>7} | {'other load':>10}"
    )
    rows = [header, "-" * len(header)]
    for name, figures in servers.items():
        c1, c16 = figures["c1"], figures["c16"]
        other = max(c1["cpu"]["other_cores"], c16["cpu"]["other_cores"])
        rows.append(
            f"{BY_NAME[name].label:<44} {figures['workers']:>3} | {c1['requests_per_s']:>9.0f} "
            f"{c1['p50_ms']:>7.2f} {c1['p99_ms']:>7.2f} | {c16['requests_per_s']:>9.0f} "
            f"{c16['p50_ms']:>7.2f} {c16['p99_ms']:>7.2f} | {other:>7.2f} cores"
        )
    return "\n".join(rows)


def target_lines(checked: Mapping[str, Mapping[str, Any]]) -> str:
    return "\n".join(
        f"  [{'ok' if result['met'] else 'MISSED'}] {key} = {result['value']}  (target {result['target']})"
        for key, result in checked.items()
    )


def render(summary: Mapping[str, Any]) -> str:
    """The human-readable report: conditions, the table, the in-process figures, the targets."""
    machine, settings = summary["machine"], summary["settings"]
    sweep = settings["workers_sweep_c16_rps"] or "not swept, --workers given"
    lines = [
        f"Serving benchmark, {summary['date']}, {machine['cpu']}, {machine['cores']} cores, 127.0.0.1, "
        "wrk with 1 thread",
        f"{settings['workers']} worker(s) for every multi-process server (req/s at c16 by workers: {sweep}); "
        f"{settings['rounds']} interleaved rounds of {settings['duration_s']:g} s per figure, "
        f"the median undisturbed one kept; {settings['warmup_s']:g} s warm-up; background load "
        f"{summary['load_before']['other_cores']} cores before, "
        f"{summary['load_after']['other_cores']} after; "
        f"waited {settings['waited_for_quiet_s']} s for quiet",
        "",
        table(summary["servers"]),
    ]
    if summary["disturbed"]:
        lines += [
            "",
            f"WARNING: other processes used more than {settings['max_other_load_cores']} cores during every "
            f"round of: {', '.join(summary['disturbed'])}; those figures understate the server",
        ]
    floor, start = summary["inference_floor_us"], summary["start_to_ready"]
    app, no_lane = summary["app_inprocess_us"], summary["app_inprocess_no_fast_lane_us"]
    v2 = summary["app_inprocess_v2_us"]
    lines += [
        "",
        f"floor, onnxruntime inference per request, in-process: "
        f"p50 {floor['p50_us']} us, p99 {floor['p99_us']} us",
        f"the app's WSGI callable per request, in-process, no server: p50 {app['p50_us']} us, "
        f"p99 {app['p99_us']} us; with FAST_LANE=false: p50 {no_lane['p50_us']} us, "
        f"p99 {no_lane['p99_us']} us; the digit as OIP v2 JSON: p50 {v2['p50_us']} us, "
        f"p99 {v2['p99_us']} us",
        f"start to ready (python -m app -> /readyz 200): "
        f"median {start['median_s']} s of {start['samples_s']}",
    ]
    signed, cost = summary["app_inprocess_sign_in_us"], summary["sign_in_cost"]
    lines.append(
        f"sign-in, in-process per /v1 request, taking turns: off p50 {signed['off']['p50_us']} us; a reused "
        f"token {signed['repeat']['p50_us']} us ({cost['inprocess_repeat_extra_us_p50']:+} us); a new token "
        f"each {signed['fresh']['p50_us']} us ({cost['inprocess_fresh_extra_us_p50']:+} us: RS256 checks)"
    )
    if "http_repeat_rps_ratio_c1" in cost:
        lines.append(
            "sign-in over HTTP (req/s with sign-in / without): a reused token "
            f"x{cost['http_repeat_rps_ratio_c1']} at c1, x{cost['http_repeat_rps_ratio_c16']} at c16; a new "
            f"token each x{cost['http_fresh_rps_ratio_c1']} at c1, x{cost['http_fresh_rps_ratio_c16']} at c16"
        )
    if "fast_lane_gain" in summary:
        gain = summary["fast_lane_gain"]
        lines.append(
            f"fast lane over HTTP (app / app with FAST_LANE=false, req/s): x{gain['c1']} at c1, "
            f"x{gain['c16']} at c16"
        )
    if "v2_over_v1" in summary:
        ratio = summary["v2_over_v1"]
        lines.append(
            "OIP v2 JSON over /v1 (same digit, same app, same run): "
            f"req/s x{ratio['requests_per_s_c1']} at c1, x{ratio['requests_per_s_c16']} at c16; "
            f"p50 x{ratio['p50_ms_c1']} / p99 x{ratio['p99_ms_c1']} at c1, "
            f"p50 x{ratio['p50_ms_c16']} / p99 x{ratio['p99_ms_c16']} at c16"
        )
    if "ceiling_fraction_c16" in summary:
        lines.append(
            "the app against its server's ceiling (req/s of the app on /v1 / of the same server, same "
            f"workers, answering a fixed body with no work): {summary['ceiling_fraction_c1']} at c1, "
            f"{summary['ceiling_fraction_c16']} at c16"
        )
    if "mlserver_fastest" in summary:
        ratio = (
            f"x{summary['throughput_ratio_mlserver_c1']} at c1, "
            f"x{summary['throughput_ratio_mlserver_c16']} at c16"
            if "throughput_ratio_mlserver_c16" in summary
            else "(the app did not run)"
        )
        same = (
            f"; the app asked the same v2 JSON: x{summary['throughput_ratio_mlserver_v2_c16']} at c16"
            if "throughput_ratio_mlserver_v2_c16" in summary
            else ""
        )
        lines.append(
            f"the app over Seldon MLServer in its faster configuration ({summary['mlserver_fastest']}, "
            f"parallel_workers {summary['mlserver_parallel_workers']}), req/s: {ratio}{same}"
        )
    if "v2_rps_c16" in summary:
        lines.append(
            f"the app asked v2 JSON at c16: {summary['v2_rps_c16']} req/s, p99 {summary['v2_p99_ms_c16']} ms"
        )
    if "fastest_wsgi_server" in summary:
        lines.append(
            f"fastest WSGI server at c16: {summary['fastest_wsgi_server']} "
            f"(x{summary['fastest_wsgi_server_lead_c16']} the next one); the app's default: "
            f"{summary['app_default_server']}"
        )
    lines += [f"{key}: {summary[key]}" for key in IMAGE_KEYS if key in summary]
    lines += ["targets:", target_lines(summary["targets"])]
    return "\n".join(lines)
