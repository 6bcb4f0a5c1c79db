"""Where the runtime's signals go, and who hears of an alert: the Azure Monitor workspace (managed
Prometheus), the Log Analytics workspace (the containers' logs) and the action group. Declared before the
cluster, whose monitoring add-on is pointed at the Log Analytics workspace."""

from __future__ import annotations

from dataclasses import dataclass

import pulumi
from pulumi_azure_native import monitor, operationalinsights

from infra.config.monitoring import MonitoringSettings
from infra.config.runtime import StackSettings
from infra.config.secret_url import https_secret

WEBHOOK_KEY = "aiapp:onCallWebhookUrl"


@dataclass(frozen=True)
class MonitoringArgs:
    resource_group: pulumi.Input[str]
    stack: StackSettings
    monitoring: MonitoringSettings


class Monitoring(pulumi.ComponentResource):
    """The Azure Monitor workspace, the Log Analytics workspace and the action group of one stack."""

    def __init__(self, name: str, args: MonitoringArgs, opts: pulumi.ResourceOptions | None = None) -> None:
        super().__init__("aiapp:infra:Monitoring", name, None, opts)
        child = pulumi.ResourceOptions(parent=self)
        stack, settings = args.stack, args.monitoring

        metrics = monitor.AzureMonitorWorkspace(
            stack.name("prom"),
            resource_group_name=args.resource_group,
            location=stack.location,
            tags=stack.tags,
            opts=child,
        )
        logs = operationalinsights.Workspace(
            stack.name("logs"),
            resource_group_name=args.resource_group,
            location=stack.location,
            sku=operationalinsights.WorkspaceSkuArgs(
                name=operationalinsights.WorkspaceSkuNameEnum.PER_GB2018
            ),
            retention_in_days=settings.log_retention_days,
            # Entra ID only: the add-on sends with its managed identity (useAADAuth, infra/cluster.py), so the
            # workspace's shared keys have nobody to serve.
            features=operationalinsights.WorkspaceFeaturesArgs(disable_local_auth=True),
            tags=stack.tags,
            opts=child,
        )

        webhooks = []
        if settings.on_call_webhook_url is not None:
            # https:// only, checked when the value resolves (in a preview too); it stays a secret.
            url = https_secret(settings.on_call_webhook_url, WEBHOOK_KEY)
            webhooks = [
                monitor.WebhookReceiverArgs(name="on-call", service_uri=url, use_common_alert_schema=True)
            ]
        self.action_group = monitor.ActionGroup(
            stack.name("on-call"),
            resource_group_name=args.resource_group,
            location="Global",  # action groups are global resources
            group_short_name=f"{stack.name_prefix}{stack.environment}"[:12],  # at most 12 characters
            enabled=True,
            email_receivers=[
                monitor.MicrosoftCommonEmailReceiverArgs(
                    name=f"email-{index}", email_address=address, use_common_alert_schema=True
                )
                for index, address in enumerate(settings.on_call_emails, start=1)
            ],
            webhook_receivers=webhooks,
            tags=stack.tags,
            # The provider returns the receivers as sent: the webhook's URL stays secret in the state too.
            opts=pulumi.ResourceOptions(parent=self, additional_secret_outputs=["webhookReceivers"]),
        )

        self.metrics_workspace_id: pulumi.Output[str] = metrics.id
        self.prometheus_query_endpoint: pulumi.Output[str] = metrics.metrics.apply(
            lambda m: (m.prometheus_query_endpoint or "") if m else ""
        )
        self.logs_workspace_id: pulumi.Output[str] = logs.id
        self.action_group_id: pulumi.Output[str] = self.action_group.id
        self.register_outputs(
            {"prometheus_query_endpoint": self.prometheus_query_endpoint, "logs_workspace_id": logs.id}
        )
