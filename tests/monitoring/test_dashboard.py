"""The dashboard as code (monitoring/dashboard.json, Grafana's JSON model): what it shows, that it imports
into any Grafana (its data source is a variable), and its queries over cluster metrics evaluated by
promtool on series shaped as the managed agent scrapes them (monitoring/dashboard.test.yml). Its queries
over the app's own metrics run against a real Prometheus scraping the real app in test_live.py."""

from __future__ import annotations

import yaml

from tests.conftest import require_tool
from tests.monitoring.queries import DASHBOARD_TESTS_FILE, dashboard, dashboard_queries
from tests.monitoring.test_rules import promtool

DATASOURCE = {"type": "prometheus", "uid": "${datasource}"}


def test_the_dashboard_shows_what_the_issue_asks_for() -> None:
    titles = [panel["title"] for panel in dashboard()["panels"]]
    assert titles == [
        "Serving: app version, commit and model per pod",
        "Requests per second by route and status",
        "Error ratio (5xx of user requests)",
        "Latency quantiles (user requests)",
        "p99 latency by route",
        "Predictions per second by label",
        "Ready replicas",
        "CPU against requests and limits",
        "Memory against requests and limits",
    ]
    queries = {q.source: q for q in dashboard_queries()}
    assert "sum by (route, status)" in queries["panel Requests per second by route and status (A)"].expr
    assert [q.expr.split(",")[0] for s, q in queries.items() if s.startswith("panel Latency quantiles")] == [
        "histogram_quantile(0.5",
        "histogram_quantile(0.9",
        "histogram_quantile(0.99",
    ]
    assert "sum by (label)" in queries["panel Predictions per second by label (A)"].expr
    assert "app_build_info" in queries["panel Serving: app version, commit and model per pod (A)"].expr
    for resource in ("cpu", "memory"):
        panel = "CPU" if resource == "cpu" else "Memory"
        limit = queries[f"panel {panel} against requests and limits (C)"].expr
        assert "kube_pod_container_resource_limits" in limit and f'resource="{resource}"' in limit


def test_it_imports_into_any_grafana() -> None:
    """No data source of one Grafana is baked in: every panel and query uses the `datasource` variable, of
    type prometheus (Azure Managed Grafana's workspace data source, or any Prometheus)."""
    board = dashboard()
    variables = {v["name"]: v for v in board["templating"]["list"]}
    assert (variables["datasource"]["type"], variables["datasource"]["query"]) == ("datasource", "prometheus")
    assert variables["namespace"]["query"] == "aiapp"
    assert board["uid"] == "aiapp-serving" and isinstance(board["schemaVersion"], int)
    ids = [panel["id"] for panel in board["panels"]]
    assert len(ids) == len(set(ids))
    for panel in board["panels"]:
        assert panel["datasource"] == DATASOURCE, panel["title"]
        refs = [t["refId"] for t in panel["targets"]]
        assert len(refs) == len(set(refs)) and all(t["datasource"] == DATASOURCE for t in panel["targets"])


def test_the_panels_tile_the_24_column_grid_without_overlapping() -> None:
    cells: set[tuple[int, int]] = set()
    for panel in dashboard()["panels"]:
        grid = panel["gridPos"]
        assert grid["x"] >= 0 and grid["x"] + grid["w"] <= 24, panel["title"]
        area = {
            (x, y)
            for x in range(grid["x"], grid["x"] + grid["w"])
            for y in range(grid["y"], grid["y"] + grid["h"])
        }
        assert not area & cells, f"{panel['title']} overlaps another panel"
        cells |= area


def test_every_query_is_over_the_apps_metrics_or_the_clusters() -> None:
    for query in dashboard_queries():
        assert query.over_app_metrics != query.over_cluster_metrics, query


def test_the_cluster_queries_give_the_expected_values_under_promtool() -> None:
    """kube-state-metrics and cAdvisor have no real series here: these queries are proven by promtool only,
    on series shaped as the managed agent scrapes them; the test file holds exactly the dashboard's."""
    require_tool("promtool")
    cluster = sorted(q.expr for q in dashboard_queries() if q.over_cluster_metrics)
    tested = sorted(
        case["expr"]
        for test in yaml.safe_load(DASHBOARD_TESTS_FILE.read_text())["tests"]
        for case in test["promql_expr_test"]
    )
    assert tested == cluster and len(cluster) == 9
    result = promtool("test", "rules", DASHBOARD_TESTS_FILE)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "SUCCESS" in result.stdout
