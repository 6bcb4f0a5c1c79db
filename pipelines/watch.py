"""The release's SLO watch: after a stack's update and smoke test, is the new build healthy under real load?

From the stack's outputs (`pulumi stack output --json`): app_url, prometheus_query_endpoint, auth_token_scope
(sign-in on), promotion (the build: commit and model) and release_watch = {"minutes", "latencyP99Ms",
"maxErrorRatio"}. For the window it sends its own steady, low load of real predictions (pipelines/digits.py)
through the public URL, with a token for the app when sign-in is on, and then judges the new build:

- from Prometheus, the new build's pods' requests (probes left out, as the alert rules do): the share answered
  5xx, and the p99 latency of their histogram. The query API is Prometheus' HTTP API (/api/v1/query); in Azure
  the stack's Azure Monitor workspace, with a bearer token for https://prometheus.monitor.azure.com from `az`
  (MicrosoftDocs/azure-monitor-docs, articles/azure-monitor/essentials/prometheus-api-promql.md: "Instant
  queries", "Request a token"; the deploy identity has Monitoring Data Reader on the workspace). The new
  build's pods are those whose app_build_info carries its commit and model (app/metrics_port.py);
- from its own requests: the share that failed (no answer, not a 200, or a wrong prediction) and their p99.

Each error ratio must be at most maxErrorRatio and each p99 at most latencyP99Ms. The window starts at the
new build's first sample in Prometheus, or when the load started if that is later: managed Prometheus ingests
with a delay, so the watch waits for that sample (at most --ingestion-timeout), and after the window for a
sample of the new build at or after its end (as long at most). No data fails the watch: no sample of the new
build, no request of it in Prometheus, no own request answered. It never passes for lack of evidence.

The window is release_watch.minutes (--window-seconds instead, for tests and trials); --scrape-interval is
the scrape interval of the app's metrics (30 s, infra/monitoring/scrape.py). The watch must end within
--budget-minutes (the step's limit in pipelines/templates/deploy.yml): a window that cannot fails at once.

Exit 0: passed; 1: failed (the release rolls back); 2: unusable input. The last line is the verdict, also
written to --verdict-file. Tokens are never printed.

    python -m pipelines.watch --outputs outputs.json --stack dev --budget-minutes 10
"""

from __future__ import annotations

import argparse
import math
import sys
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import requests

from pipelines.azcli import PROMETHEUS_RESOURCE, TokenError, access_token
from pipelines.load import Load, Tally
from pipelines.prometheus_api import (
    Measured,
    NoData,
    PrometheusApi,
    build_selector,
    measure,
    wait_for_sample,
)
from pipelines.promotion import Promotion, PromotionError, read_outputs, served

# Tokens, the queries and the process itself, on top of the window and the two ingestion waits.
OVERHEAD_SECONDS = 30.0
DEFAULT_INGESTION_TIMEOUT = 180.0  # the most the watch waits for a sample to be ingested, at each end


class UsageError(Exception):
    """The outputs or arguments cannot be watched; the message says what to fix."""


# ------------------------------------------------------------------------------------------- the target


@dataclass(frozen=True)
class Slo:
    minutes: float
    latency_p99_ms: float
    max_error_ratio: float

    @classmethod
    def parse(cls, value: Any) -> Slo:
        where = "the stack output release_watch"
        if not isinstance(value, Mapping):
            raise UsageError(f"{where} is {value!r}, not an object with minutes, latencyP99Ms, maxErrorRatio")

        def number(key: str, fits: Callable[[float], bool], expected: str) -> float:
            found = value.get(key)
            if isinstance(found, bool) or not isinstance(found, int | float) or not fits(found):
                raise UsageError(f"{where}: {key} is {found!r}, not {expected}")
            return float(found)

        return cls(
            minutes=number("minutes", lambda v: v > 0, "a positive number of minutes"),
            latency_p99_ms=number("latencyP99Ms", lambda v: v > 0, "a positive number of milliseconds"),
            max_error_ratio=number(
                "maxErrorRatio", lambda v: 0 <= v < 1, "a ratio from 0 up to, not with, 1"
            ),
        )


@dataclass(frozen=True)
class Target:
    stack: str
    app_url: str
    query_endpoint: str
    token_scope: str | None
    build: Promotion
    slo: Slo


def read_target(outputs: Mapping[str, Any], stack: str) -> Target:
    needed = ("app_url", "prometheus_query_endpoint", "promotion", "release_watch")
    missing = [key for key in needed if not outputs.get(key)]
    if missing:
        raise UsageError(
            f"stack {stack}'s outputs lack {', '.join(missing)}: the watch needs the app's URL, the "
            "workspace's Prometheus query endpoint, the build it serves (promotion) and release_watch"
        )
    for key in ("app_url", "prometheus_query_endpoint"):
        if not str(outputs[key]).startswith(("https://", "http://")):
            raise UsageError(f"the stack output {key} is {outputs[key]!r}, not an http(s) URL")
    try:
        build = served(outputs, f"stack {stack}")
    except PromotionError as exc:
        raise UsageError(str(exc)) from None
    assert build is not None  # checked above
    return Target(
        stack=stack,
        app_url=str(outputs["app_url"]).rstrip("/"),
        query_endpoint=str(outputs["prometheus_query_endpoint"]).rstrip("/"),
        token_scope=outputs.get("auth_token_scope") or None,
        build=build,
        slo=Slo.parse(outputs["release_watch"]),
    )


# ------------------------------------------------------------------------------------------- the watch


@dataclass(frozen=True)
class Settings:
    window_s: float
    scrape_s: float
    ingestion_timeout_s: float
    rate: float
    budget_s: float


def _utc(at: float) -> str:
    return datetime.fromtimestamp(at, UTC).strftime("%H:%M:%SZ")


def _ms(value: float | None) -> str:
    return "none" if value is None else f"{value:.1f} ms"


def judge_prometheus(slo: Slo, measured: Measured) -> list[str]:
    """Every way the new build's pods missed the SLO in Prometheus' figures, or an empty list."""
    if measured.requests <= 0:
        return ["no data: Prometheus counted no request of the new build's pods in the window"]
    problems, ratio = [], measured.errors / measured.requests
    if ratio > slo.max_error_ratio:
        problems.append(f"5xx ratio {ratio:.4f} > {slo.max_error_ratio:g} (Prometheus)")
    if measured.p99_ms is None:
        problems.append("no data: Prometheus has no latency of the new build's pods in the window")
    elif measured.p99_ms > slo.latency_p99_ms:
        problems.append(f"p99 latency {_ms(measured.p99_ms)} > {slo.latency_p99_ms:g} ms (Prometheus)")
    return problems


def judge_own(slo: Slo, own: Tally) -> list[str]:
    """Every way the watch's own requests missed the SLO, or an empty list."""
    if own.sent == 0:
        return ["no data: the watch sent no request"]
    problems, ratio = [], own.failed / own.sent
    if ratio > slo.max_error_ratio:
        problems.append(
            f"{own.failed} of {own.sent} own requests failed ({ratio:.4f} > {slo.max_error_ratio:g}: "
            f"{_kinds(own)})"
        )
    if own.p99_ms is None:
        problems.append("no data: none of the watch's requests was answered")
    elif own.p99_ms > slo.latency_p99_ms:
        problems.append(f"p99 latency {_ms(own.p99_ms)} > {slo.latency_p99_ms:g} ms (own requests)")
    return problems


def _kinds(own: Tally) -> str:
    return ", ".join(f"{n}x {kind}" for kind, n in own.failures.most_common())


def _own_figures(own: Tally) -> str:
    failures = f" ({_kinds(own)})" if own.failed else ""
    return f"own requests: {own.sent} sent, {own.failed} failed{failures}, p99 {_ms(own.p99_ms)}"


def watch(target: Target, settings: Settings, ca_bundle: str | None, log: Callable[[str], None]) -> list[str]:
    """Run the watch; the problems found (an empty list: passed)."""
    needed = settings.window_s + 2 * settings.ingestion_timeout_s + OVERHEAD_SECONDS
    if needed > settings.budget_s:
        return [
            f"cannot watch {settings.window_s:g} s within the step's {settings.budget_s / 60:g} minutes: the "
            f"window plus up to 2 x {settings.ingestion_timeout_s:g} s waiting for Prometheus' ingestion "
            f"needs {needed / 60:.1f}; shorten release_watch.minutes or raise the watch step's budget "
            "(pipelines/templates/deploy.yml)"
        ]
    build, selector = target.build, build_selector(target.build)
    try:
        prometheus_token = access_token(resource=PROMETHEUS_RESOURCE)
        app_token = access_token(scope=target.token_scope) if target.token_scope else None
    except TokenError as exc:
        return [str(exc)]
    poll = max(0.5, settings.scrape_s / 2)
    lookback = math.ceil(settings.window_s + 2 * settings.ingestion_timeout_s + 15 * 60)
    log(
        f"watching stack {target.stack}: {settings.window_s:g} s of {settings.rate:g} predictions/s to "
        f"{target.app_url}, judged against p99 <= {target.slo.latency_p99_ms:g} ms and error ratio <= "
        f"{target.slo.max_error_ratio:g}; the new build: commit {build.commit[:12]}, model "
        f"{build.model_name} {build.model_version}"
    )
    load = Load(target.app_url, target.build.model_version, app_token, settings.rate, ca_bundle or True)
    load_started = time.time()
    load.start()
    try:
        with requests.Session() as session:
            api = PrometheusApi(target.query_endpoint, prometheus_token, session)
            first = wait_for_sample(
                api, selector, lambda t: min(t) if t else None, settings.ingestion_timeout_s, poll, lookback
            )
            if first is None:
                raise NoData(
                    f"no sample of {selector} in {target.query_endpoint} within "
                    f"{settings.ingestion_timeout_s:g} s: Prometheus does not see the new build's pods"
                )
            start = max(first, load_started)
            end = start + settings.window_s
            log(
                f"own load since {_utc(load_started)}, the new build's first sample at {_utc(first)}: window "
                f"{_utc(start)} to {_utc(end)} ({settings.window_s:g} s)"
            )
            time.sleep(max(0.0, end - time.time()))
            own = load.stop()
            last = wait_for_sample(
                api,
                selector,
                lambda t: max(t) if t and max(t) >= end else None,
                settings.ingestion_timeout_s,
                poll,
                lookback,
            )
            if last is None:
                raise NoData(
                    f"no sample of the new build at or after the window's end ({_utc(end)}) within "
                    f"{settings.ingestion_timeout_s:g} s: its pods stopped being scraped"
                )
            measured = measure(api, selector, start, end, settings.scrape_s)
    except NoData as exc:
        own = load.stop()
        log(_own_figures(own))
        return [f"no data: {exc}", *judge_own(target.slo, own)]
    slo = target.slo
    log(
        f"Prometheus: {measured.requests:.0f} requests of the new build, {measured.errors:.0f} answered 5xx, "
        f"p99 {_ms(measured.p99_ms)} (max {slo.latency_p99_ms:g} ms, error ratio max {slo.max_error_ratio:g})"
    )
    log(_own_figures(own))
    return judge_prometheus(slo, measured) + judge_own(slo, own)


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--outputs", type=Path, required=True, help="`pulumi stack output --json` of the stack"
    )
    parser.add_argument("--stack", required=True, help="the stack's name, for the messages")
    parser.add_argument("--budget-minutes", type=float, required=True, help="the most the watch may take")
    parser.add_argument("--window-seconds", type=float, help="instead of release_watch.minutes")
    parser.add_argument("--scrape-interval", type=float, default=30.0, help="seconds between scrapes (30)")
    parser.add_argument(
        "--ingestion-timeout",
        type=float,
        default=DEFAULT_INGESTION_TIMEOUT,
        help=f"seconds to wait for a sample to arrive ({DEFAULT_INGESTION_TIMEOUT:g})",
    )
    parser.add_argument("--rate", type=float, default=2.0, help="own predictions a second (2)")
    parser.add_argument(
        "--ca-bundle", help="a PEM file of roots to trust for the app (Let's Encrypt staging's)"
    )
    parser.add_argument("--verdict-file", type=Path, help="where to write the one-line verdict, too")
    args = parser.parse_args(argv)
    for name in ("budget_minutes", "scrape_interval", "ingestion_timeout", "rate"):
        if getattr(args, name) <= 0:
            parser.error(f"--{name.replace('_', '-')} must be positive")
    return args


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    try:
        outputs = read_outputs(args.outputs)
        target = read_target(outputs, args.stack)
        window = args.window_seconds if args.window_seconds is not None else target.slo.minutes * 60
        if window < 2 * args.scrape_interval:
            raise UsageError(
                f"a window of {window:g} s holds fewer than two scrapes {args.scrape_interval:g} s apart"
            )
    except (OSError, PromotionError, UsageError) as exc:
        line = f"WATCH FAILED for stack {args.stack}: cannot watch: {exc}"
        print(line, file=sys.stderr)
        if args.verdict_file:
            args.verdict_file.write_text(line + "\n", encoding="utf-8")
        return 2
    settings = Settings(
        window, args.scrape_interval, args.ingestion_timeout, args.rate, args.budget_minutes * 60
    )
    problems = watch(target, settings, args.ca_bundle, lambda message: print(message, flush=True))
    if problems:  # the rollback step's one error message quotes it
        line = f"WATCH FAILED for stack {args.stack}: " + "; ".join(problems)
    else:
        line = (
            f"WATCH PASSED for stack {args.stack}: {window:g} s of the new build within p99 "
            f"{target.slo.latency_p99_ms:g} ms and error ratio {target.slo.max_error_ratio:g}"
        )
    print(line, file=sys.stderr if problems else sys.stdout, flush=True)
    if args.verdict_file:
        args.verdict_file.write_text(line + "\n", encoding="utf-8")
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
