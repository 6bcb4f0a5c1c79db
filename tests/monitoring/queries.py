"""The PromQL the repository ships, in one place for the tests: the alert rules' expressions and the
dashboard's queries (with Grafana's variables filled in), and which metrics each reads: the app's own, or
the cluster's (kube-state-metrics, cAdvisor), which have no real series on a machine without a cluster."""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from pathlib import Path

from infra.monitoring.rules import RULES_FILE, load

DASHBOARD_FILE = RULES_FILE.parent / "dashboard.json"
DASHBOARD_TESTS_FILE = RULES_FILE.parent / "dashboard.test.yml"
APP_METRICS = frozenset(
    {
        "http_requests_total",
        "http_request_duration_seconds_bucket",
        "model_predictions_total",
        "app_build_info",
    }
)
CLUSTER_METRIC_PREFIXES = ("kube_", "container_")  # kube-state-metrics, cAdvisor
# Every metric in these expressions has a label matcher: a name right before `{` is a metric name.
_METRIC = re.compile(r"([a-zA-Z_:][a-zA-Z0-9_:]*)\{")


@dataclass(frozen=True)
class Query:
    source: str  # "alert AppErrorRatioHigh" or "panel <title> (A)"
    expr: str

    @property
    def metrics(self) -> frozenset[str]:
        return frozenset(_METRIC.findall(self.expr))

    @property
    def over_app_metrics(self) -> bool:
        return bool(self.metrics) and self.metrics <= APP_METRICS

    @property
    def over_cluster_metrics(self) -> bool:
        return bool(self.metrics) and all(m.startswith(CLUSTER_METRIC_PREFIXES) for m in self.metrics)


def alert_queries(path: Path = RULES_FILE) -> list[Query]:
    return [Query(f"alert {rule.alert}", rule.expr) for group in load(path) for rule in group.rules]


def dashboard() -> dict:
    return json.loads(DASHBOARD_FILE.read_text())


def dashboard_queries(namespace: str = "aiapp", rate_interval: str = "5m") -> list[Query]:
    """Each panel's queries as Grafana sends them: $namespace and $__rate_interval filled in."""
    return [
        Query(
            f"panel {panel['title']} ({target['refId']})",
            target["expr"].replace("$namespace", namespace).replace("$__rate_interval", rate_interval),
        )
        for panel in dashboard()["panels"]
        for target in panel["targets"]
    ]
