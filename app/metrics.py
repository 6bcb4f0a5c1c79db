"""Prometheus metrics: requests by route and status, latency, predictions by label.

Under `python -m app` the workers are separate processes, so prometheus_client runs in multiprocess mode:
each worker writes its samples to mmapped files in PROMETHEUS_MULTIPROC_DIR (a fresh directory under /tmp,
set by the master before any worker starts) and the metrics port, served by the master, sums them.
In a single process (tests, a debugger) the app's own registry is the source.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from time import perf_counter
from typing import Any

import numpy as np
from prometheus_client import CollectorRegistry, Counter, Histogram

UNMATCHED_ROUTE = "<unmatched>"  # every 404 path in one series: paths are client input, routes are not
OTHER_METHOD = "OTHER"  # likewise for made-up methods: label values must stay a small, fixed set
KNOWN_METHODS = frozenset({"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"})
# The predict path answers in about a millisecond; the buckets resolve that and still see slow image batches.
LATENCY_BUCKETS = (0.0005, 0.001, 0.002, 0.003, 0.005, 0.0075, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5)


class AppMetrics:
    def __init__(self, classes: int) -> None:
        self.registry = CollectorRegistry(auto_describe=True)
        self.requests = Counter(
            "http_requests_total",
            "HTTP requests answered, by route, method and status",
            ["route", "method", "status"],
            registry=self.registry,
        )
        self.latency = Histogram(
            "http_request_duration_seconds",
            "Time from the app receiving a request to its response, by route",
            ["route"],
            buckets=LATENCY_BUCKETS,
            registry=self.registry,
        )
        self.predictions = Counter(
            "model_predictions_total",
            "Predictions returned, by predicted label",
            ["label"],
            registry=self.registry,
        )
        # Children are cached: .labels() hashes and locks on every call, the hot path should not.
        self._by_label = [self.predictions.labels(str(label)) for label in range(classes)]
        self._request_children: dict[tuple[str, str, int], Counter] = {}
        self._latency_children: dict[str, Histogram] = {}

    def observe_request(self, route: str, method: str, status: int, seconds: float) -> None:
        key = (route, method, status)
        counter = self._request_children.get(key)
        if counter is None:
            counter = self._request_children[key] = self.requests.labels(route, method, str(status))
        counter.inc()
        histogram = self._latency_children.get(route)
        if histogram is None:
            histogram = self._latency_children[route] = self.latency.labels(route)
        histogram.observe(seconds)

    def count_predictions(self, labels: np.ndarray) -> None:
        classes = len(self._by_label)
        if len(labels) == 1 and 0 <= labels[0] < classes:
            self._by_label[int(labels[0])].inc()
        elif labels.min() >= 0 and labels.max() < classes:
            for label, count in enumerate(np.bincount(labels, minlength=classes).tolist()):
                if count:
                    self._by_label[label].inc(count)
        else:  # a model with other class labels than 0..9 still gets counted, on the slow path
            for label in labels.tolist():
                self.predictions.labels(str(label)).inc()


class MetricsMiddleware:
    """Times and counts every request around the whole Flask app (errors and 404s included).

    A WSGI wrapper rather than Flask before/after_request hooks: those cost ~30 us per request here (15% of
    a prediction), this a few. The app's routes are all static paths, so the route label is the path when
    it is one of them: no routing needed.
    """

    def __init__(self, wsgi_app: Callable[..., Iterable[bytes]], metrics: AppMetrics, routes: Iterable[str]):
        self.wsgi_app, self.metrics, self.routes = wsgi_app, metrics, frozenset(routes)

    def __call__(self, environ: dict[str, Any], start_response: Callable[..., Any]) -> Iterable[bytes]:
        started = perf_counter()
        statuses: list[str] = []

        def recording_start_response(status: str, headers: Any, exc_info: Any = None) -> Any:
            statuses.append(status)
            return start_response(status, headers, exc_info)

        try:
            return self.wsgi_app(environ, recording_start_response)
        finally:
            path, method = environ.get("PATH_INFO", ""), environ.get("REQUEST_METHOD", "")
            self.metrics.observe_request(
                path if path in self.routes else UNMATCHED_ROUTE,
                method if method in KNOWN_METHODS else OTHER_METHOD,
                int(statuses[-1][:3]) if statuses else 500,
                perf_counter() - started,
            )
