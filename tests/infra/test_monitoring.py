"""Monitoring under Pulumi's mocks, dev and prod as configured: the Azure Monitor and Log Analytics
workspaces, the data collection endpoint, rules and associations, the cluster's metrics profile and logs
add-on, the Prometheus rule groups (their expressions the rules file's, with the stack's values), the action
group, the readers of the metrics, and the PodMonitor the managed agent scrapes."""

from __future__ import annotations

import pytest

from infra.azure_ids import MONITORING_DATA_READER
from infra.config import ConfigError
from infra.monitoring.promql import replace_threshold
from infra.monitoring.rules import load
from tests.harness import CLIENT_OBJECT_ID, SUBSCRIPTION_ID, Recorded, StackRun, run_program

AMW = "azure-native:monitor:AzureMonitorWorkspace"
LOGS = "azure-native:operationalinsights:Workspace"
DCE = "azure-native:monitor:DataCollectionEndpoint"
DCR = "azure-native:monitor:DataCollectionRule"
DCRA = "azure-native:monitor:DataCollectionRuleAssociation"
RULE_GROUP = "azure-native:alertsmanagement:PrometheusRuleGroup"
ACTION_GROUP = "azure-native:monitor:ActionGroup"
CLUSTER = "azure-native:containerservice:ManagedCluster"
ROLE_ASSIGNMENT = "azure-native:authorization:RoleAssignment"
# What each stack file sets (Pulumi.<stack>.yaml): the replica minimum, the log retention, who is told.
STACKS = {
    "dev": {"replicas": 1, "retention": 30, "emails": []},
    "prod": {"replicas": 3, "retention": 90, "emails": ["ai-platform-oncall@example.com"]},
}
WEBHOOK = "https://events.pagerduty.example/integration/0123456789abcdef/enqueue"
GRAFANA = "9a9a9a9a-1111-4222-8333-444444444444"


def data_collection_rule(run: StackRun, stream: str) -> Recorded:
    (found,) = [r for r in run.of_type(DCR) if stream in r.inputs["dataFlows"][0]["streams"]]
    return found


def expected_expressions(stack: str, namespace: str = "aiapp", latency: str = "0.5") -> dict[str, str]:
    """Each alert's expression: the file's, with the stack's namespace and thresholds."""
    replicas = str(STACKS[stack]["replicas"])
    expected = {}
    for group in load():
        for rule in group.rules:
            expr = rule.expr.replace('namespace="aiapp"', f'namespace="{namespace}"')
            if rule.alert == "AppReadyReplicasBelowMinimum":
                expr = replace_threshold(expr, replicas)
            elif rule.alert == "AppLatencyP99High":
                expr = replace_threshold(expr, latency)
            expected[rule.alert] = expr
    return expected


def test_the_workspaces_keep_logs_as_configured_and_take_no_shared_key(stack_run: StackRun) -> None:
    logs = stack_run.one(LOGS)
    assert logs.inputs["retentionInDays"] == STACKS[stack_run.stack]["retention"]
    assert logs.inputs["sku"] == {"name": "PerGB2018"}
    assert logs.inputs["features"] == {"disableLocalAuth": True}
    assert stack_run.one(AMW).inputs["resourceGroupName"] == logs.inputs["resourceGroupName"]


def test_the_cluster_has_managed_prometheus_and_sends_logs_with_its_identity(stack_run: StackRun) -> None:
    cluster = stack_run.one(CLUSTER).inputs
    assert cluster["azureMonitorProfile"] == {"metrics": {"enabled": True}}
    assert cluster["addonProfiles"] == {
        "omsagent": {
            "enabled": True,
            "config": {
                "logAnalyticsWorkspaceResourceID": stack_run.one(LOGS).id,
                "useAADAuth": "true",
            },
        }
    }


def test_prometheus_metrics_flow_from_the_cluster_to_the_azure_monitor_workspace(stack_run: StackRun) -> None:
    rule = data_collection_rule(stack_run, "Microsoft-PrometheusMetrics").inputs
    assert rule["kind"] == "Linux"
    assert rule["dataCollectionEndpointId"] == stack_run.one(DCE).id
    assert rule["dataSources"] == {
        "prometheusForwarder": [{"name": "PrometheusDataSource", "streams": ["Microsoft-PrometheusMetrics"]}]
    }
    account = {"accountResourceId": stack_run.one(AMW).id, "name": "MonitoringAccount1"}
    assert rule["destinations"] == {"monitoringAccounts": [account]}
    assert rule["dataFlows"] == [
        {"streams": ["Microsoft-PrometheusMetrics"], "destinations": ["MonitoringAccount1"]}
    ]


def test_container_logs_flow_from_the_cluster_to_the_log_analytics_workspace(stack_run: StackRun) -> None:
    rule = data_collection_rule(stack_run, "Microsoft-ContainerLogV2").inputs
    streams = ["Microsoft-ContainerLogV2", "Microsoft-KubeEvents", "Microsoft-KubePodInventory"]
    (extension,) = rule["dataSources"]["extensions"]
    assert (extension["extensionName"], extension["streams"]) == ("ContainerInsights", streams)
    assert extension["extensionSettings"]["dataCollectionSettings"]["enableContainerLogV2"] is True
    workspace = {"workspaceResourceId": stack_run.one(LOGS).id, "name": "ciworkspace"}
    assert rule["destinations"] == {"logAnalytics": [workspace]}
    assert rule["dataFlows"] == [{"streams": streams, "destinations": ["ciworkspace"]}]


def test_both_rules_are_associated_with_the_cluster(stack_run: StackRun) -> None:
    cluster = stack_run.one(CLUSTER)
    associations = {a.inputs["associationName"]: a.inputs for a in stack_run.of_type(DCRA)}
    metrics = data_collection_rule(stack_run, "Microsoft-PrometheusMetrics").id
    logs = data_collection_rule(stack_run, "Microsoft-ContainerLogV2").id
    assert {name: (a["resourceUri"], a["dataCollectionRuleId"]) for name, a in associations.items()} == {
        f"MSProm-westeurope-{cluster.outputs['name']}": (cluster.id, metrics),
        "ContainerInsightsExtension": (cluster.id, logs),
    }


def test_the_rule_groups_are_the_rules_files_groups_with_the_stacks_values(stack_run: StackRun) -> None:
    groups = {g.inputs["description"].rsplit(" ", 1)[-1]: g.inputs for g in stack_run.of_type(RULE_GROUP)}
    file_groups = load()
    assert sorted(groups) == sorted(g.name for g in file_groups)
    expected = expected_expressions(stack_run.stack)
    action = [{"actionGroupId": stack_run.one(ACTION_GROUP).id}]
    seen = []
    for file_group in file_groups:
        group = groups[file_group.name]
        assert group["scopes"] == [stack_run.one(AMW).id]
        assert group["clusterName"] == stack_run.one(CLUSTER).outputs["name"]
        assert (group["interval"], group["enabled"]) == ("PT1M", True)
        assert [r["alert"] for r in group["rules"]] == [r.alert for r in file_group.rules]
        for rule, written in zip(group["rules"], file_group.rules, strict=True):
            assert rule["expression"] == expected[rule["alert"]]
            assert (rule["labels"], rule["annotations"]) == (written.labels, written.annotations)
            assert rule["severity"] == {"critical": 1, "warning": 3}[written.labels["severity"]]
            assert rule.get("for") == (
                {"5m": "PT5M", "10m": "PT10M", "15m": "PT15M"}[written.for_] if written.for_ else None
            )
            assert rule["actions"] == action and rule["enabled"] is True
            assert rule["resolveConfiguration"] == {"autoResolved": True, "timeToResolve": "PT10M"}
            seen.append(rule["alert"])
    assert sorted(seen) == sorted(expected) and len(seen) == 5


def test_a_stacks_namespace_and_latency_threshold_reach_every_rule(store_url: str) -> None:
    run = run_program(
        {"aiapp:namespace": "ml-serving", "aiapp:alertLatencyP99Ms": "250"}, model_store=store_url
    )
    expected = expected_expressions("dev", namespace="ml-serving", latency="0.25")
    found = {r["alert"]: r["expression"] for g in run.of_type(RULE_GROUP) for r in g.inputs["rules"]}
    assert found == expected
    assert all('namespace="aiapp"' not in expression for expression in found.values())


def test_the_action_group_mails_the_stacks_on_call(stack_run: StackRun) -> None:
    group = stack_run.one(ACTION_GROUP).inputs
    assert (group["location"], group["enabled"], group["groupShortName"]) == (
        "Global",
        True,
        f"aiapp{stack_run.stack}",
    )
    assert group["emailReceivers"] == [
        {"name": f"email-{i}", "emailAddress": address, "useCommonAlertSchema": True}
        for i, address in enumerate(STACKS[stack_run.stack]["emails"], start=1)
    ]
    assert group.get("webhookReceivers", []) == []


def test_the_webhook_is_a_secret_in_the_action_group(store_url: str) -> None:
    run = run_program(secrets={"aiapp:onCallWebhookUrl": WEBHOOK}, model_store=store_url)
    group = run.one(ACTION_GROUP)
    assert group.inputs["webhookReceivers"] == [
        {"name": "on-call", "serviceUri": WEBHOOK, "useCommonAlertSchema": True, "useAadAuth": False}
    ]
    assert "webhookReceivers" in group.secret_inputs
    assert "webhookReceivers" in group.additional_secret_outputs
    assert [r.name for r in run.resources if WEBHOOK in str(r.inputs) and r is not group] == []


def test_a_webhook_that_is_not_https_stops_the_program_without_showing_it(store_url: str) -> None:
    with pytest.raises(Exception) as raised:
        run_program(secrets={"aiapp:onCallWebhookUrl": "http://hooks.example/t0ken"}, model_store=store_url)
    assert "aiapp:onCallWebhookUrl: is not an https:// URL" in str(raised.value)
    assert "t0ken" not in str(raised.value)


def test_prod_refuses_alerts_that_reach_nobody(store_url: str) -> None:
    with pytest.raises(
        ConfigError, match=r"aiapp:onCallEmails: is empty and aiapp:onCallWebhookUrl is not set"
    ):
        run_program({"aiapp:onCallEmails": None}, stack="prod", model_store=store_url)
    webhook_only = run_program(
        {"aiapp:onCallEmails": None},
        stack="prod",
        secrets={"aiapp:onCallWebhookUrl": WEBHOOK},
        model_store=store_url,
    )
    assert webhook_only.one(ACTION_GROUP).inputs["webhookReceivers"][0]["name"] == "on-call"


def readers(run: StackRun) -> dict[str, str]:
    role = f"/subscriptions/{SUBSCRIPTION_ID}/providers/Microsoft.Authorization/roleDefinitions/"
    role += MONITORING_DATA_READER
    return {
        a.inputs["principalId"]: a.inputs["principalType"]
        for a in run.of_type(ROLE_ASSIGNMENT)
        if a.inputs["roleDefinitionId"] == role and a.inputs["scope"] == run.one(AMW).id
    }


def test_the_deployer_and_a_configured_grafana_may_read_the_metrics(
    stack_run: StackRun, store_url: str
) -> None:
    assert readers(stack_run) == {CLIENT_OBJECT_ID: "User"}
    with_grafana = run_program({"aiapp:grafanaPrincipalId": GRAFANA}, model_store=store_url)
    assert readers(with_grafana) == {CLIENT_OBJECT_ID: "User", GRAFANA: "ServicePrincipal"}


def test_the_pod_monitor_scrapes_the_apps_metrics_port(stack_run: StackRun) -> None:
    monitor = stack_run.one("kubernetes:azmonitoring.coreos.com/v1:PodMonitor").inputs
    deployment = stack_run.one("kubernetes:apps/v1:Deployment").inputs
    (container,) = deployment["spec"]["template"]["spec"]["containers"]
    assert {"name": "metrics", "containerPort": 9090, "protocol": "TCP"} in container["ports"]
    assert (monitor["apiVersion"], monitor["kind"]) == ("azmonitoring.coreos.com/v1", "PodMonitor")
    assert monitor["metadata"]["namespace"] == deployment["metadata"]["namespace"] == "aiapp"
    assert monitor["spec"] == {
        "selector": {"matchLabels": deployment["spec"]["selector"]["matchLabels"]},
        "podMetricsEndpoints": [{"port": "metrics", "path": "/metrics", "interval": "30s"}],
        "labelLimit": 63,
        "labelNameLengthLimit": 511,
        "labelValueLengthLimit": 1023,
    }
