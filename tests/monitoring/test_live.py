"""A real Prometheus (Debian's `prometheus`, started here on a free port of 127.0.0.1, never 9090, the app's
metrics port) scraping the real app (`python -m app`, two workers) under a short load: every expression of
the alert rules and the dashboard is evaluated against it without error, and those over the app's own
metrics, evaluated without their thresholds, return data.

The expressions over cluster metrics (kube-state-metrics, cAdvisor) have no real series on this machine:
here they are only evaluated without error; what they compute is proven by `promtool test rules` alone
(monitoring/alerts.test.yml, monitoring/dashboard.test.yml; test_rules.py, test_dashboard.py).
"""

from __future__ import annotations

import contextlib
import json
import threading
import time
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from prometheus_client.parser import text_string_to_metric_families

from infra.monitoring.promql import measures
from tests.conftest import LiveApp, serve_app
from tests.monitoring.prometheus import Prometheus, run_prometheus
from tests.monitoring.queries import Query, alert_queries, dashboard_queries

LOAD_SECONDS = 6.0
LOAD_REQUESTS_MAX = 3000  # per client thread: bounded in count as well as in time


def _post(url: str, body: bytes) -> None:
    request = urllib.request.Request(url, data=body, headers={"Content-Type": "application/json"})
    with contextlib.suppress(urllib.error.HTTPError), urllib.request.urlopen(request, timeout=5) as response:
        response.read()


def _get(url: str) -> None:
    with contextlib.suppress(urllib.error.HTTPError), urllib.request.urlopen(url, timeout=5) as response:
        response.read()


def put_load(app: LiveApp, digits: Any) -> None:
    """Predictions (good and bad), other routes and an unknown one, from three clients for a few seconds."""
    good = json.dumps({"instances": digits.x[:8].tolist()}).encode()
    bad = json.dumps({"instances": [[99] * 64]}).encode()  # 422: out of range
    deadline = time.monotonic() + LOAD_SECONDS

    def client(index: int) -> None:
        for n in range(LOAD_REQUESTS_MAX):
            if time.monotonic() > deadline:
                return
            _post(f"{app.url}/v1/predict", bad if n % 5 == 4 else good)
            if n % 10 == index:
                _get(f"{app.url}/version")
                _get(f"{app.url}/no-such-route")

    threads = [threading.Thread(target=client, args=(i,)) for i in range(3)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()


def wait_for_scrapes(prometheus: Prometheus, app: LiveApp, timeout: float = 60) -> None:
    """Until Prometheus has scraped the app after the load: its count of good predictions equals the app's."""
    with urllib.request.urlopen(f"{app.metrics_url}/metrics", timeout=5) as response:
        families = text_string_to_metric_families(response.read().decode())
        served = sum(
            sample.value
            for family in families
            for sample in family.samples
            if sample.name == "http_requests_total"
            and (sample.labels.get("route"), sample.labels.get("status")) == ("/v1/predict", "200")
        )
    assert served > 0, "the load made no good prediction"
    query = 'sum(http_requests_total{route="/v1/predict", status="200"})'
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        result = prometheus.vector(query)
        if result and float(result[0]["value"][1]) == served:
            return
        time.sleep(0.5)
    raise TimeoutError(f"prometheus never saw {served} predictions: {prometheus.vector(query)}")


@pytest.fixture(scope="module")
def scraped(
    reference_model_dir: Path, digits: Any, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Prometheus]:
    """A real Prometheus that has scraped the real app before, during and after a short load."""
    workdir = tmp_path_factory.mktemp("prometheus")
    with (
        serve_app(reference_model_dir, WORKERS="2") as app,
        run_prometheus(app.metrics_url, workdir) as prometheus,
    ):
        wait_for_scrapes_started(prometheus)
        put_load(app, digits)
        wait_for_scrapes(prometheus, app)
        yield prometheus


def wait_for_scrapes_started(prometheus: Prometheus, timeout: float = 30) -> None:
    """Until the app's target is up: samples from before the load give rate() its first point."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if [r for r in prometheus.vector('up{job="aiapp"}') if r["value"][1] == "1"]:
            time.sleep(2)  # two more scrapes before the load
            return
        time.sleep(0.2)
    raise TimeoutError("the app's metrics target never came up")


ALL = alert_queries() + dashboard_queries(rate_interval="1m")


@pytest.mark.parametrize("query", ALL, ids=[q.source for q in ALL])
def test_every_expression_evaluates_without_error(scraped: Prometheus, query: Query) -> None:
    answer = scraped.query(query.expr)
    assert answer["status"] == "success", answer
    for measure in measures(query.expr):
        assert scraped.query(measure)["status"] == "success", measure


APP = [q for q in ALL if q.over_app_metrics]
CLUSTER = [q for q in ALL if q.over_cluster_metrics]


@pytest.mark.parametrize("query", APP, ids=[q.source for q in APP])
def test_each_expression_over_the_apps_metrics_returns_data_without_its_threshold(
    scraped: Prometheus, query: Query
) -> None:
    for measure in measures(query.expr):
        assert scraped.vector(measure), f"{query.source}: no data for {measure}"


def test_the_queries_are_split_between_the_apps_metrics_and_the_clusters() -> None:
    """Every expression is one or the other; the cluster's are the ones proven by promtool only."""
    assert len(APP) + len(CLUSTER) == len(ALL)
    assert {q.source for q in CLUSTER if q.source.startswith("alert ")} == {
        "alert AppReadyReplicasBelowMinimum",
        "alert AppContainerRestarting",
    }
    assert len(APP) >= 10


@pytest.mark.parametrize("query", CLUSTER, ids=[q.source for q in CLUSTER])
def test_expressions_over_cluster_metrics_have_no_series_here(scraped: Prometheus, query: Query) -> None:
    """Said plainly: no kube-state-metrics or cAdvisor here, so these return nothing; promtool proves them."""
    assert scraped.vector(query.expr) == []


def test_the_scrape_sees_what_the_app_served(scraped: Prometheus) -> None:
    """The load reached the app and the scrape: good and bad predictions, predictions by label, version."""
    statuses = {r["metric"]["status"] for r in scraped.vector('http_requests_total{route="/v1/predict"}')}
    assert statuses == {"200", "422"}
    assert len(scraped.vector("model_predictions_total > 0")) >= 5  # several digits predicted
    (info,) = scraped.vector("app_build_info")
    assert info["metric"]["namespace"] == "aiapp" and info["metric"]["model_name"] == "digits"
