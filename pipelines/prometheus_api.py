"""The release watch's questions to Prometheus' HTTP API (/api/v1/query): is the new build's first (and
last) sample in, and what did its pods answer in the window. Prometheus itself, or in Azure the stack's Azure
Monitor workspace (pipelines/watch.py says which, and with what token)."""

from __future__ import annotations

import json
import math
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import requests

from pipelines.promotion import Promotion

# The app's requests that users make (app/metrics.py): the probes are left out, as in monitoring/alerts.yml.
USER_ROUTES = 'route!~"/healthz|/readyz"'
REQUESTS = f"http_requests_total{{{USER_ROUTES}}}"
ERRORS = f'http_requests_total{{{USER_ROUTES}, status=~"5.."}}'
LATENCY_BUCKETS = f"http_request_duration_seconds_bucket{{{USER_ROUTES}}}"


class NoData(Exception):
    """Prometheus has no evidence of the new build; the watch fails."""


def build_selector(build: Promotion) -> str:
    """app_build_info of the new build (app/__main__.py labels it with what /version says)."""
    labels = {
        "commit": build.commit,
        "model_name": build.model_name,
        "model_version": build.model_version,
        "model_sha256": build.model_sha256,
    }
    # json.dumps writes a PromQL string literal for these values (Go's escapes are a superset of JSON's).
    return "app_build_info{" + ",".join(f"{k}={json.dumps(v)}" for k, v in labels.items()) + "}"


class PrometheusApi:
    """Instant queries (POST /api/v1/query, form-encoded, as Prometheus and Azure Monitor both take them)."""

    def __init__(self, endpoint: str, token: str | None, session: requests.Session) -> None:
        self.endpoint, self.session = endpoint, session
        self.headers = {"Authorization": f"Bearer {token}"} if token else {}

    def query(self, expr: str, at: float) -> list[dict[str, Any]]:
        url = f"{self.endpoint}/api/v1/query"
        try:
            answer = self.session.post(
                url, data={"query": expr, "time": f"{at:.3f}"}, headers=self.headers, timeout=30
            )
        except requests.RequestException as exc:
            raise NoData(f"cannot query {url} ({exc})") from None
        if answer.status_code in (401, 403):
            raise NoData(
                f"{url} refused the query (HTTP {answer.status_code}): the release's identity needs "
                "Monitoring Data Reader on the stack's Azure Monitor workspace (the program assigns it)"
            )
        try:
            body = answer.json()
        except ValueError:
            body = None
        if answer.status_code != 200 or not isinstance(body, dict) or body.get("status") != "success":
            raise NoData(f"{url} answered HTTP {answer.status_code} to {expr!r}: {answer.text[:300]}")
        return body["data"]["result"]

    def scalar(self, expr: str, at: float) -> float | None:
        """The one value of an aggregated query, or None when it returns no series."""
        result = self.query(expr, at)
        return float(result[0]["value"][1]) if result else None


def sample_times(api: PrometheusApi, selector: str, lookback_s: int, at: float) -> list[float]:
    """The times of the samples of `selector` in the `lookback_s` seconds before `at` (a range vector)."""
    return [float(t) for series in api.query(f"{selector}[{lookback_s}s]", at) for t, _ in series["values"]]


def wait_for_sample(
    api: PrometheusApi,
    selector: str,
    accept: Callable[[list[float]], float | None],
    timeout: float,
    poll: float,
    lookback_s: int,
) -> float | None:
    """Poll until `accept(sample times)` gives a time, at most `timeout` seconds; None when it never does."""
    deadline = time.monotonic() + timeout
    while True:
        found = accept(sample_times(api, selector, lookback_s, time.time()))
        if found is not None or time.monotonic() >= deadline:
            return found
        time.sleep(poll)


@dataclass(frozen=True)
class Measured:
    requests: float
    errors: float
    p99_ms: float | None


def measure(api: PrometheusApi, selector: str, start: float, end: float, scrape: float) -> Measured:
    """The new build's pods' user requests, 5xx answers and p99 latency in [start, end]."""
    # The window, plus half a scrape interval so that the first sample at `start` is in the range.
    span = f"{math.ceil(end - start + scrape / 2)}s"
    new_pods = f"on(namespace, pod) group_left() max by (namespace, pod) (max_over_time({selector}[{span}]))"

    def of_new_pods(series: str) -> str:
        return f"increase({series}[{span}]) * {new_pods}"

    requests_ = api.scalar(f"sum({of_new_pods(REQUESTS)})", end)
    errors = api.scalar(f"sum({of_new_pods(ERRORS)})", end)
    buckets = of_new_pods(LATENCY_BUCKETS)
    p99 = api.scalar(f"histogram_quantile(0.99, sum by (le) ({buckets}))", end)
    return Measured(
        requests=requests_ or 0.0,
        errors=errors or 0.0,  # no 5xx series at all: none answered
        p99_ms=None if p99 is None or math.isnan(p99) else p99 * 1000,
    )
