"""Prometheus metrics: requests by route, model and status, latency, predictions by label.

Under `python -m app` the workers are separate processes, so prometheus_client runs in multiprocess mode:
each worker writes its samples to mmapped files in PROMETHEUS_MULTIPROC_DIR (a fresh directory under /tmp,
set by the master before any worker starts) and the metrics port, served by the master, sums them.
In a single process (tests, a debugger) the app's own registry is the source.
"""

from __future__ import annotations

import collections
import os
import re
from collections.abc import Callable, Iterable
from time import perf_counter
from typing import Any

from prometheus_client import CollectorRegistry, Counter, Histogram, values

UNMATCHED_ROUTE = "<unmatched>"  # every 404 path in one series: paths are client input, routes are not
OTHER_MODEL = "<other>"  # likewise for a model name in a path that is not the served model's
OTHER_METHOD = "OTHER"  # likewise for made-up methods: label values must stay a small, fixed set
KNOWN_METHODS = frozenset({"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"})
# The predict path answers in about a millisecond; the buckets resolve that and still see slow image batches.
LATENCY_BUCKETS = (0.0005, 0.001, 0.002, 0.003, 0.005, 0.0075, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5)


_process_id = [os.getpid()]
os.register_at_fork(after_in_child=lambda: _process_id.__setitem__(0, os.getpid()))


def _cached_process_id() -> int:
    return _process_id[0]


# In multiprocess mode prometheus_client asks os.getpid() at every increment, to notice a fork: a system call,
# ~0.3 us here, four of them per request. The same check against this process's id, kept up to date in a
# forked child by os.register_at_fork, through prometheus_client's own public hook for the process identifier
# (prometheus_client 0.26.0, prometheus_client/values.py: MultiProcessValue(process_identifier=os.getpid),
# whose value class compares it with the pid its file was opened for, and reopens on a change).
# Here, at import, before any metric exists: values made by the two classes must never share a file.
if getattr(values.ValueClass, "_multiprocess", False):
    values.ValueClass = values.MultiProcessValue(process_identifier=_cached_process_id)


class AppMetrics:
    def __init__(self, classes: int) -> None:
        self.registry = CollectorRegistry(auto_describe=True)
        self.requests = Counter(
            "http_requests_total",
            "HTTP requests answered, by route, method, status and model (the served model's name on a "
            "route that runs or describes it, else empty)",
            ["route", "method", "status", "model"],
            registry=self.registry,
        )
        self.latency = Histogram(
            "http_request_duration_seconds",
            "Time from the app receiving a request to its response, by route and model",
            ["route", "model"],
            buckets=LATENCY_BUCKETS,
            registry=self.registry,
        )
        self.predictions = Counter(
            "model_predictions_total",
            "Predictions returned, by predicted label",
            ["label"],
            registry=self.registry,
        )
        # Children are cached: .labels() hashes and locks on every call, the hot path should not. (Their
        # public inc and observe: prometheus_client's private value objects would save a few checks a call,
        # not worth a seam into its internals.)
        self._by_label = [self.predictions.labels(str(label)).inc for label in range(classes)]
        self._observations: dict[tuple[str, str, str, str], tuple[Increment, Increment]] = {}

    def observe_request(self, route: str, model: str, method: str, status: str, seconds: float) -> None:
        """One request answered: `status` is its three digits."""
        key = (route, method, status, model)
        observation = self._observations.get(key)
        if observation is None:
            observation = self._observations[key] = (
                self.requests.labels(route, method, status, model).inc,
                self.latency.labels(route, model).observe,
            )
        count, observe = observation
        count(1)
        observe(seconds)

    def count_predictions(self, labels: list[int]) -> None:
        """Count a batch's predicted labels (Python ints, as the answer has them)."""
        by_label = self._by_label
        if len(labels) == 1 and 0 <= labels[0] < len(by_label):  # one digit: the common request
            by_label[labels[0]](1)
            return
        for label, count in collections.Counter(labels).items():
            if 0 <= label < len(by_label):
                by_label[label](count)
            else:  # a model with other class labels than 0..9 still gets counted, on the slow path
                self.predictions.labels(str(label)).inc(count)


Increment = Callable[[float], None]


class RouteLabels:
    """A request path -> its (route, model) labels, without routing the request.

    The route is the app's rule that the path matches, written as a template for a rule with variables
    (`/v2/models/{name}/infer`), or UNMATCHED_ROUTE. The model is the served model's name on a route that
    runs or describes it (a rule with a `<name>` variable naming it, or one of `model_routes`), OTHER_MODEL
    when the path names another, and empty on every other route. A set lookup for the static routes (the
    hot path), a regex per templated rule after that, and a dict of the paths whose labels are final first.
    """

    def __init__(self, rules: Iterable[str], model_routes: Iterable[str], served_name: Callable[[], str]):
        rules = list(rules)
        self.static = frozenset(rule for rule in rules if "<" not in rule)
        self.model_routes, self.served_name = frozenset(model_routes), served_name
        # re.escape leaves < and > alone (Python 3.7+), so the variables are still there to replace. The
        # infer routes first: they are the hot ones.
        self.templated = [
            (re.compile(_VARIABLE.sub(r"(?P<\1>[^/]+)", re.escape(rule))), _VARIABLE.sub(r"{\1}", rule))
            for rule in sorted(
                (rule for rule in rules if "<" in rule), key=lambda rule: (not rule.endswith("/infer"), rule)
            )
        ]
        # Paths whose labels are final, looked up before anything else: the static routes' once the model is
        # loaded, and the served model's paths of rules whose only variable is its name. Never a path a
        # client makes up (another name, a version, an unknown path): their count is bounded by the rules.
        self.known: dict[str, tuple[str, str]] = {}

    def __call__(self, path: str) -> tuple[str, str]:
        known = self.known.get(path)
        if known is not None:
            return known
        served = self.served_name()
        if path in self.static:
            labels = path, served if path in self.model_routes else ""
            if served:  # a static path's labels are final once the model is loaded: a bounded set
                self.known[path] = labels
            return labels
        for pattern, route in self.templated:
            match = pattern.fullmatch(path)
            if match:
                variables = match.groupdict()
                name = variables.get("name")
                if name is None:
                    return route, ""
                if name != served:
                    return route, OTHER_MODEL
                if len(variables) == 1:  # the served model's path of a rule with no other variable: bounded
                    self.known[path] = (route, name)
                return route, name
        return UNMATCHED_ROUTE, ""


_VARIABLE = re.compile(r"<(?:\w+:)?(\w+)>")  # werkzeug's <name> or <converter:name>


class MetricsMiddleware:
    """Times and counts every request around the whole Flask app (errors and 404s included).

    A WSGI wrapper rather than Flask before/after_request hooks: those cost ~30 us per request here (15% of
    a prediction), this a few. Its labels come from RouteLabels: no routing needed.
    """

    def __init__(
        self,
        wsgi_app: Callable[..., Iterable[bytes]],
        metrics: AppMetrics,
        labels: Callable[[str], tuple[str, str]],
    ):
        self.wsgi_app, self.metrics, self.labels = wsgi_app, metrics, labels

    def __call__(self, environ: dict[str, Any], start_response: Callable[..., Any]) -> Iterable[bytes]:
        started = perf_counter()
        statuses: list[str] = []

        def recording_start_response(status: str, headers: Any, exc_info: Any = None) -> Any:
            statuses.append(status)
            return start_response(status, headers, exc_info)

        try:
            return self.wsgi_app(environ, recording_start_response)
        finally:
            method = environ.get("REQUEST_METHOD", "")
            route, model = self.labels(environ.get("PATH_INFO", ""))
            self.metrics.observe_request(
                route,
                model,
                method if method in KNOWN_METHODS else OTHER_METHOD,
                statuses[-1][:3] if statuses else "500",
                perf_counter() - started,
            )
