"""What the Azure DevOps side is built from: its settings (validated once, by infra/config) and the stack's
context (location, name prefix and tags; tenant and subscription; the model and its store)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from urllib.parse import quote

import pulumi

from infra import azure_ids
from infra.config import Settings
from infra.config.devops import PipelinesSettings, PulumiCloudState
from infra.config.runtime import StackSettings
from infra.identity import AzureContext

# The roles the stack itself assigns (AcrPull to the kubelet identity, blob roles on the model store, AcrPush
# and AKS admin to the deployer, DNS Zone Contributor on a custom domain's zone to cert-manager's DNS-01
# identity, Monitoring Data Reader on the Azure Monitor workspace to the deployer and a Grafana): the
# only roles the deploy identity may hand out. None can assign roles.
DEFAULT_ASSIGNABLE_ROLES = (
    azure_ids.ACR_PULL,
    azure_ids.ACR_PUSH,
    azure_ids.STORAGE_BLOB_DATA_READER,
    azure_ids.STORAGE_BLOB_DATA_CONTRIBUTOR,
    azure_ids.AKS_RBAC_CLUSTER_ADMIN,
    azure_ids.AKS_CLUSTER_USER,
    azure_ids.DNS_ZONE_CONTRIBUTOR,
    azure_ids.MONITORING_DATA_READER,
)


@dataclass(frozen=True)
class PipelinesArgs:
    """devops: the aiapp:* keys of the Azure DevOps side. stack: location, name prefix, tags. azure: tenant
    and subscription. model_store_url: the one store dev and prod read, where the release resolves the model
    version. assignable_roles: what the deploy identity's RBAC-administrator condition allows."""

    devops: PipelinesSettings
    stack: StackSettings
    azure: AzureContext
    model_name: str
    model_store_url: str
    assignable_roles: Sequence[str] = DEFAULT_ASSIGNABLE_ROLES

    @property
    def project_url(self) -> str:
        return f"{self.devops.organization_url.rstrip('/')}/{quote(self.devops.project_name)}"

    def qualified_stack(self, env: str) -> str:
        """The stack the release deploys to `env`; with Pulumi Cloud state, qualified by org and project."""
        stack, state = self.devops.stacks[env], self.devops.state
        if isinstance(state, PulumiCloudState) and "/" not in stack:
            return f"{state.organization}/{pulumi.get_project()}/{stack}"
        return stack


def pipelines_args(settings: Settings, azure: AzureContext) -> PipelinesArgs:
    """The component's args from the stack's settings (aiapp:pipelinesEnabled true) and its login."""
    if settings.pipelines is None or settings.model_store.existing_url is None:
        raise ValueError("aiapp:pipelinesEnabled is not true: this stack declares no pipelines")
    return PipelinesArgs(
        devops=settings.pipelines,
        stack=settings.stack,
        azure=azure,
        model_name=settings.model.name,
        model_store_url=settings.model_store.existing_url,
    )


@dataclass(frozen=True)
class Context:
    """Where the component's parts declare their resources: names prefixed with `name`, parented to the
    component, Azure DevOps resources and lookups through its provider (`opts`, `invoke`)."""

    name: str
    args: PipelinesArgs
    opts: pulumi.ResourceOptions
    invoke: pulumi.InvokeOptions
