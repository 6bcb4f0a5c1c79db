"""What flows from the cluster to the workspaces, and the alert rules over it: the data collection endpoint,
the data collection rules for Prometheus metrics and for container logs, their associations with the cluster,
the Prometheus rule groups read from monitoring/alerts.yml, and who may read the metrics.

The shape follows Microsoft's own templates for a cluster made in the same deployment: Azure/prometheus-
collector AddonTerraformTemplate/main.tf and AddonBicepTemplate/FullAzureMonitorMetricsProfile.bicep (managed
Prometheus: a Linux DCE, a DCR forwarding `Microsoft-PrometheusMetrics` to the workspace, its association
with the cluster, which has `azureMonitorProfile.metrics.enabled`), and microsoft/Docker-Provider scripts/
onboarding/aks/onboarding-using-msi-auth/existingClusterOnboarding.json (container logs: a DCR with the
ContainerInsights extension, associated as "ContainerInsightsExtension", the omsagent add-on on with
`useAADAuth`). Neither grants the agents a role: ingestion is authorised through the associations.
"""

from __future__ import annotations

from dataclasses import dataclass

import pulumi
from pulumi_azure_native import alertsmanagement, monitor

from infra import azure_ids, identity
from infra.config.runtime import StackSettings
from infra.monitoring.rules import Parameters, iso_duration, load, rule_args, specialise
from infra.monitoring.workspaces import Monitoring

PROMETHEUS_STREAM = "Microsoft-PrometheusMetrics"
# Logs, Kubernetes events and pod inventory: the "Logs and Events" choice of Container Insights. Performance
# counters are left out: managed Prometheus already has the same numbers, cheaper.
LOG_STREAMS = ("Microsoft-ContainerLogV2", "Microsoft-KubeEvents", "Microsoft-KubePodInventory")
LOGS_ASSOCIATION = "ContainerInsightsExtension"  # the name the portal and the CLI look for


@dataclass(frozen=True)
class ClusterMonitoringArgs:
    resource_group: pulumi.Input[str]
    stack: StackSettings
    workspaces: Monitoring
    cluster_id: pulumi.Input[str]
    cluster_name: pulumi.Input[str]
    rules: Parameters  # the stack's namespace and thresholds, for monitoring/alerts.yml
    azure: identity.AzureContext
    grafana_principal_id: str | None = None


class ClusterMonitoring(pulumi.ComponentResource):
    """The cluster's metrics and logs collected into the stack's workspaces, and the alerts over them."""

    def __init__(
        self, name: str, args: ClusterMonitoringArgs, opts: pulumi.ResourceOptions | None = None
    ) -> None:
        super().__init__("aiapp:infra:ClusterMonitoring", name, None, opts)
        child = pulumi.ResourceOptions(parent=self)
        stack, workspaces = args.stack, args.workspaces
        where = {"resource_group_name": args.resource_group, "location": stack.location, "tags": stack.tags}

        endpoint = monitor.DataCollectionEndpoint(
            stack.name("prom-dce"),
            kind="Linux",
            description="Managed Prometheus of the cluster",
            **where,
            opts=child,
        )
        metrics_rule = monitor.DataCollectionRule(
            stack.name("prom-dcr"),
            kind="Linux",
            description="The cluster's Prometheus metrics (ama-metrics) to the Azure Monitor workspace",
            data_collection_endpoint_id=endpoint.id,
            data_sources=monitor.DataCollectionRuleDataSourcesArgs(
                prometheus_forwarder=[
                    monitor.PrometheusForwarderDataSourceArgs(
                        name="PrometheusDataSource", streams=[PROMETHEUS_STREAM]
                    )
                ]
            ),
            destinations=monitor.DataCollectionRuleDestinationsArgs(
                monitoring_accounts=[
                    monitor.MonitoringAccountDestinationArgs(
                        account_resource_id=workspaces.metrics_workspace_id, name="MonitoringAccount1"
                    )
                ]
            ),
            data_flows=[
                monitor.DataFlowArgs(streams=[PROMETHEUS_STREAM], destinations=["MonitoringAccount1"])
            ],
            **where,
            opts=child,
        )
        logs_rule = monitor.DataCollectionRule(
            stack.name("logs-dcr"),
            kind="Linux",
            description="The cluster's container logs, events, pod inventory to the Log Analytics workspace",
            data_sources=monitor.DataCollectionRuleDataSourcesArgs(
                extensions=[
                    monitor.ExtensionDataSourceArgs(
                        name="ContainerInsightsExtension",
                        extension_name="ContainerInsights",
                        streams=list(LOG_STREAMS),
                        # Free-form in the API; these three keys are what the template above sends.
                        extension_settings={
                            "dataCollectionSettings": {
                                "interval": "1m",
                                "namespaceFilteringMode": "Off",
                                "enableContainerLogV2": True,
                            }
                        },
                    )
                ]
            ),
            destinations=monitor.DataCollectionRuleDestinationsArgs(
                log_analytics=[
                    monitor.LogAnalyticsDestinationArgs(
                        workspace_resource_id=workspaces.logs_workspace_id, name="ciworkspace"
                    )
                ]
            ),
            data_flows=[monitor.DataFlowArgs(streams=list(LOG_STREAMS), destinations=["ciworkspace"])],
            **where,
            opts=child,
        )
        deleting = "Deleting this association stops the collection for this cluster."
        monitor.DataCollectionRuleAssociation(
            f"{name}-prometheus",
            resource_uri=args.cluster_id,
            # Microsoft's templates' name, so `az aks update --enable-azure-monitor-metrics` finds it.
            association_name=pulumi.Output.concat("MSProm-", stack.location, "-", args.cluster_name),
            data_collection_rule_id=metrics_rule.id,
            description=deleting,
            opts=child,
        )
        monitor.DataCollectionRuleAssociation(
            f"{name}-logs",
            resource_uri=args.cluster_id,
            association_name=LOGS_ASSOCIATION,
            data_collection_rule_id=logs_rule.id,
            description=deleting,
            opts=child,
        )

        self.rule_groups = [
            alertsmanagement.PrometheusRuleGroup(
                f"{name}-{group.name}",
                description=f"monitoring/alerts.yml, group {group.name}",
                scopes=[workspaces.metrics_workspace_id],  # exactly one workspace (the API's limit)
                cluster_name=args.cluster_name,  # only this cluster's series
                interval=iso_duration(group.interval),
                enabled=True,
                rules=[rule_args(rule, workspaces.action_group_id) for rule in group.rules],
                **where,
                opts=child,
            )
            for group in specialise(load(), args.rules)
        ]

        # Monitoring Data Reader on the workspace: the identity running `pulumi up` (a person, or the release
        # whose watch queries the workspace's Prometheus API) and, when configured, a Grafana's identity.
        readers = [("deployer", args.azure.deployer)]
        if args.grafana_principal_id:
            readers.append(("grafana", identity.Principal(args.grafana_principal_id, "ServicePrincipal")))
        self.reader_access = [
            identity.assign_role(
                f"{name}-{who}-metrics-reader",
                scope=workspaces.metrics_workspace_id,
                role=azure_ids.MONITORING_DATA_READER,
                principal=principal,
                subscription_id=args.azure.subscription_id,
                description=f"The {who} queries the app's metrics (PromQL) in the Azure Monitor workspace.",
                opts=child,
            )
            for who, principal in readers
        ]
        self.register_outputs({})
