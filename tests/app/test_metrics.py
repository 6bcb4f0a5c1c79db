"""Metrics in one process: requests by route, method and status; latency; predictions by label."""

from __future__ import annotations

from collections.abc import Callable

from flask import Flask
from prometheus_client import generate_latest

from app.metrics import OTHER_METHOD, UNMATCHED_ROUTE
from app.state import STATE_KEY
from tests.conftest import Digits


def test_requests_latency_and_predictions_are_counted(
    app_factory: Callable[..., Flask], digits: Digits
) -> None:
    app = app_factory()
    registry = app.extensions[STATE_KEY].metrics.registry
    client = app.test_client()
    rows = digits.x[:12]
    body = client.post("/v1/predict", json={"instances": rows.tolist()}).get_json()
    client.post("/v1/predict", json={"instances": [rows[0].tolist()]})
    client.post("/v1/predict", json={"instances": []})
    client.get("/healthz")
    client.get("/no/such/route/123")
    client.get("/another/unknown")
    client.open("/healthz", method="BREW")

    def value(name: str, **labels: str) -> float | None:
        return registry.get_sample_value(name, labels)

    assert value("http_requests_total", route="/v1/predict", method="POST", status="200", model="digits") == 2
    assert value("http_requests_total", route="/v1/predict", method="POST", status="422", model="digits") == 1
    assert value("http_requests_total", route="/healthz", method="GET", status="200", model="") == 1
    # Unknown paths and methods share one series each: a scanner cannot blow up the metric's cardinality.
    assert value("http_requests_total", route=UNMATCHED_ROUTE, method="GET", status="404", model="") == 2
    assert value("http_requests_total", route="/healthz", method=OTHER_METHOD, status="405", model="") == 1
    assert value("http_request_duration_seconds_count", route="/v1/predict", model="digits") == 3
    assert 0 < value("http_request_duration_seconds_sum", route="/v1/predict", model="digits") < 10

    labels = [p["label"] for p in body["predictions"]] + [body["predictions"][0]["label"]]
    for label in range(10):
        assert value("model_predictions_total", label=str(label)) == labels.count(label), label
    assert b"model_predictions_total" in generate_latest(registry)


def test_observations_are_prometheus_clients_own() -> None:
    """The hot path's cached increments leave the samples that Counter.inc and Histogram.observe leave,
    bucket by bucket, bounds included."""
    from prometheus_client import CollectorRegistry, Counter, Histogram

    from app.metrics import LATENCY_BUCKETS, AppMetrics

    metrics = AppMetrics(10)
    reference = CollectorRegistry()
    requests = Counter("http_requests_total", "", ["route", "method", "status", "model"], registry=reference)
    latency = Histogram(
        "http_request_duration_seconds", "", ["route", "model"], buckets=LATENCY_BUCKETS, registry=reference
    )
    predictions = Counter("model_predictions_total", "", ["label"], registry=reference)
    for seconds in (0.0, 0.0001, 0.0005, 0.00050001, 0.001, 0.0075, 2.5, 3.0, 1e9, *LATENCY_BUCKETS):
        metrics.observe_request("/v1/predict", "digits", "POST", "200", seconds)
        requests.labels("/v1/predict", "POST", "200", "digits").inc()
        latency.labels("/v1/predict", "digits").observe(seconds)
    metrics.observe_request("/healthz", "", "GET", "503", 0.01)
    requests.labels("/healthz", "GET", "503", "").inc()
    latency.labels("/healthz", "").observe(0.01)
    for labels in ([3], [1, 1, 2], list(range(10)), [12]):
        metrics.count_predictions(labels)
        for label in labels:
            predictions.labels(str(label)).inc()

    def samples(registry: CollectorRegistry) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
        return {
            (sample.name, tuple(sorted(sample.labels.items()))): sample.value
            for family in registry.collect()
            for sample in family.samples
            if not sample.name.endswith("_created")
        }

    assert samples(metrics.registry) == samples(reference)
