"""AKS with Entra ID and Azure RBAC (no local accounts), its pull access to ACR, and a kubernetes Provider."""

from __future__ import annotations

import asyncio
import base64
from dataclasses import dataclass, field
from typing import Any

import pulumi
import pulumi_kubernetes as k8s
import yaml
from pulumi_azure_native import containerservice

from infra import azure_ids, identity
from infra.config.runtime import ClusterSettings, StackSettings
from infra.monitoring.scrape import POD_MONITOR_API_VERSION
from infra.outside import ClusterOutside, RealOutside
from infra.propagation import Patience, wait_until


@dataclass(frozen=True)
class ClusterArgs:
    resource_group: pulumi.Input[str]
    stack: StackSettings
    cluster: ClusterSettings
    registry_id: pulumi.Input[str]  # the kubelet identity gets AcrPull on it
    azure: identity.AzureContext  # its deployer gets the AKS RBAC role it deploys with
    logs_workspace_id: pulumi.Input[str]  # the Log Analytics workspace the monitoring add-on sends logs to
    # The API server, asked (on a real update) whether that role has reached it: the real one unless a test
    # passes its own.
    outside: ClusterOutside = field(default_factory=RealOutside)
    patience: Patience = field(default_factory=Patience)  # how long, how often it is asked


# The AKS server application (the audience of tokens the API server accepts with Entra ID on), and the login
# kubelogin uses: the Azure CLI's, i.e. whoever runs pulumi (a person's `az login`, the pipeline's federated
# identity under AzureCLI@2). The token is minted when the provider talks to the cluster, never stored.
KUBELOGIN_ARGS = ("get-token", "--login", "azurecli", "--server-id", azure_ids.AKS_SERVER_APP_ID)
KUBECONFIG_USER = "pulumi-deployer"
# The autoscaler owns the system pool's node count once the pool exists. An update must send the count the
# pool has, never the one declared for its creation: AKS refuses a manual count while the autoscaler is on
# ("Cannot manually scale AgentPool ... with cluster autoscaler enabled", quoted in
# hashicorp/terraform-provider-azurerm PR 4543), yet a PUT must carry a count (azurerm's
# internal/services/containers/kubernetes_nodepool.go, ExpandDefaultNodePool: "Count must always be set ...
# Count must be set for the initial creation when using AutoScaling but cannot be updated"). Ignored here,
# Pulumi sends the count recorded in the state's inputs, which azure-native's refresh replaces with the live
# one (pulumi/pulumi-azure-native provider/pkg/provider/provider.go, Read: changed outputs are applied to
# the inputs): so `pulumi up --refresh`, as the release runs it, sends the autoscaler's own count, and a
# change to aiapp:nodeMinCount updates the bounds only.
SYSTEM_POOL_COUNT = "agentPoolProfiles[0].count"


def kubelogin_kubeconfig(user_kubeconfig_b64: str) -> str:
    """The cluster's endpoint and CA from AKS's user kubeconfig, with kubelogin's Azure CLI login as the user.

    The kubeconfig holds no credential (the provider's inputs are in the state, which the read-only preview
    identity can read): the provider runs kubelogin, which asks the Azure CLI for a token of the caller's own
    identity, so a preview gets only the preview identity's rights. AKS's own user kubeconfig uses kubelogin's
    interactive device-code login, which a pipeline cannot answer.
    """
    source = yaml.safe_load(base64.b64decode(user_kubeconfig_b64))
    clusters = source.get("clusters") if isinstance(source, dict) else None
    if not clusters or not isinstance(clusters[0], dict) or "cluster" not in clusters[0]:
        raise ValueError("AKS returned a user kubeconfig without a cluster entry (server and CA)")
    cluster = clusters[0]
    config: dict[str, Any] = {
        "apiVersion": "v1",
        "kind": "Config",
        "clusters": [cluster],
        "users": [
            {
                "name": KUBECONFIG_USER,
                "user": {
                    "exec": {
                        "apiVersion": "client.authentication.k8s.io/v1beta1",
                        "command": "kubelogin",
                        "args": list(KUBELOGIN_ARGS),
                        "interactiveMode": "Never",  # no prompt inside `pulumi up`: fail and say so
                        "provideClusterInfo": False,
                        "installHint": "kubelogin is not on PATH: install it (`az aks install-cli`, or "
                        "https://github.com/Azure/kubelogin/releases) where pulumi runs, then `az login`",
                    }
                },
            }
        ],
        "contexts": [{"name": "aiapp", "context": {"cluster": cluster["name"], "user": KUBECONFIG_USER}}],
        "current-context": "aiapp",
    }
    return yaml.safe_dump(config, sort_keys=False)


def _once_allowed(kubeconfig: str, outside: ClusterOutside, patience: Patience) -> str | asyncio.Future[str]:
    """The kubeconfig: at once in a preview (it uses nothing); on a real update once a SelfSubjectAccessReview
    through it says the deployer may create namespaces, the workload's first step, and once the cluster serves
    the managed Prometheus add-on's PodMonitor API, which the add-on installs after the cluster exists
    (cluster_access.py). pulumi-kubernetes retries a create whose kind is unknown for about a minute only
    (pulumi/pulumi-kubernetes, provider/pkg/retry/retry.go: 1 s doubling, 5 retries)."""
    if pulumi.runtime.is_dry_run():
        return kubeconfig

    def work() -> str:
        wait_until(
            "the deployer's access to the cluster (may it create namespaces?)",
            lambda: outside.review_cluster_access(kubeconfig, "create", "namespaces"),
            advice="The identity running `pulumi up` needs Azure Kubernetes Service RBAC Cluster Admin on "
            "the cluster (this stack assigns it to aiapp:deployerObjectId, by default the logged-in "
            "identity); if it has it, run `pulumi up` again.",
            patience=patience,
        )
        wait_until(
            f"the managed Prometheus add-on's PodMonitor API ({POD_MONITOR_API_VERSION})",
            lambda: outside.api_served(kubeconfig, f"/apis/{POD_MONITOR_API_VERSION}"),
            advice="The cluster's metrics add-on (azureMonitorProfile) installs it: check that its "
            "ama-metrics pods run in kube-system (`kubectl get pods -n kube-system -l rsName=ama-metrics`).",
            patience=patience,
        )
        return kubeconfig

    # Off the event loop: the wait blocks (kubelogin, HTTP, sleeps) while other resources go on registering.
    return asyncio.get_running_loop().run_in_executor(None, work)


class Cluster(pulumi.ComponentResource):
    """The AKS cluster the app runs on, and the Provider that deploys to it as the deploying identity."""

    def __init__(self, name: str, args: ClusterArgs, opts: pulumi.ResourceOptions | None = None) -> None:
        super().__init__("aiapp:infra:Cluster", name, None, opts)
        child = pulumi.ResourceOptions(parent=self)
        settings, stack = args.cluster, args.stack
        system_pool = containerservice.ManagedClusterAgentPoolProfileArgs(
            name="system",
            mode=containerservice.AgentPoolMode.SYSTEM,
            type=containerservice.AgentPoolType.VIRTUAL_MACHINE_SCALE_SETS,
            os_type=containerservice.OSType.LINUX,
            os_sku=containerservice.OSSKU.AZURE_LINUX,
            vm_size=settings.vm_size,
            enable_auto_scaling=True,
            count=settings.min_nodes,  # at creation only: see SYSTEM_POOL_COUNT below
            min_count=settings.min_nodes,
            max_count=settings.max_nodes,
            availability_zones=list(settings.zones) or None,
            max_pods=110,
        )
        cluster_name = stack.name("aks")
        cluster = containerservice.ManagedCluster(
            cluster_name,
            resource_group_name=args.resource_group,
            location=stack.location,
            dns_prefix=cluster_name,
            kubernetes_version=settings.kubernetes_version,
            sku=containerservice.ManagedClusterSKUArgs(name="Base", tier=settings.tier),
            identity=containerservice.ManagedClusterIdentityArgs(
                type=containerservice.ResourceIdentityType.SYSTEM_ASSIGNED
            ),
            agent_pool_profiles=[system_pool],
            enable_rbac=True,
            disable_local_accounts=True,  # every stack: only Entra identities reach the API server
            aad_profile=containerservice.ManagedClusterAADProfileArgs(
                managed=True, enable_azure_rbac=True, tenant_id=args.azure.tenant_id
            ),
            oidc_issuer_profile=containerservice.ManagedClusterOIDCIssuerProfileArgs(enabled=True),
            security_profile=containerservice.ManagedClusterSecurityProfileArgs(
                workload_identity=containerservice.ManagedClusterSecurityProfileWorkloadIdentityArgs(
                    enabled=True
                ),
            ),
            network_profile=containerservice.ContainerServiceNetworkProfileArgs(
                network_plugin=containerservice.NetworkPlugin.AZURE,
                network_plugin_mode=containerservice.NetworkPluginMode.OVERLAY,
                network_dataplane=containerservice.NetworkDataplane.CILIUM,
                network_policy=containerservice.NetworkPolicy.CILIUM,  # enforces the app's NetworkPolicy
                load_balancer_sku=containerservice.LoadBalancerSku.STANDARD,
            ),
            # Managed Prometheus: the ama-metrics add-on scrapes the cluster (kube-state-metrics, cAdvisor)
            # and the app's PodMonitor; its collection rule and association: infra/monitoring/collection.py.
            azure_monitor_profile=containerservice.ManagedClusterAzureMonitorProfileArgs(
                metrics=containerservice.ManagedClusterAzureMonitorProfileMetricsArgs(enabled=True)
            ),
            # Container logs: the omsagent add-on with its managed identity (useAADAuth; the workspace takes
            # no shared key), as microsoft/Docker-Provider's onboarding-using-msi-auth template configures it.
            addon_profiles={
                "omsagent": containerservice.ManagedClusterAddonProfileArgs(
                    enabled=True,
                    config={"logAnalyticsWorkspaceResourceID": args.logs_workspace_id, "useAADAuth": "true"},
                )
            },
            auto_upgrade_profile=containerservice.ManagedClusterAutoUpgradeProfileArgs(
                upgrade_channel=containerservice.UpgradeChannel.PATCH,
                node_os_upgrade_channel=containerservice.NodeOSUpgradeChannel.NODE_IMAGE,
            ),
            tags=stack.tags,
            opts=pulumi.ResourceOptions(parent=self, ignore_changes=[SYSTEM_POOL_COUNT]),
        )
        kubelet = cluster.identity_profile.apply(lambda profile: (profile or {})["kubeletidentity"])
        self.acr_pull = identity.assign_role(
            f"{name}-kubelet-acrpull",
            scope=args.registry_id,
            role=azure_ids.ACR_PULL,
            principal=identity.Principal(kubelet.object_id, "ServicePrincipal"),
            subscription_id=args.azure.subscription_id,
            description="AKS nodes pull the app image.",
            opts=child,
        )
        self.deployer_access = args.azure.grant_deployer(
            f"{name}-deployer-rbac-admin",
            scope=cluster.id,
            role=azure_ids.AKS_RBAC_CLUSTER_ADMIN,
            description="The identity running `pulumi up` creates the app's namespace and workload.",
            opts=child,
        )

        credentials = containerservice.list_managed_cluster_user_credentials_output(
            resource_group_name=args.resource_group, resource_name=cluster.name
        )
        user_kubeconfig_b64 = credentials.kubeconfigs[0].value
        # No token in it, so no secret: the endpoint, the CA and the kubelogin command. On a real update it
        # resolves only once the API server lets the deployer create there (every workload object waits on
        # the provider, and the provider on it); the first time, that can take minutes: infra/propagation.py.
        provider_kubeconfig = pulumi.Output.all(user_kubeconfig_b64, self.deployer_access.id).apply(
            lambda values: _once_allowed(kubelogin_kubeconfig(values[0]), args.outside, args.patience)
        )
        self.provider = k8s.Provider(
            f"{name}-k8s",
            kubeconfig=provider_kubeconfig,
            # A rotated CA or a new endpoint changes the kubeconfig; the cluster's ARM id does not. With it, a
            # new kubeconfig updates the provider in place instead of replacing every workload object.
            cluster_identifier=cluster.id,
            delete_unreachable=False,
            opts=pulumi.ResourceOptions(parent=self, depends_on=[self.deployer_access]),
        )
        self.id: pulumi.Output[str] = cluster.id
        self.name: pulumi.Output[str] = cluster.name
        self.oidc_issuer_url: pulumi.Output[str] = cluster.oidc_issuer_profile.apply(
            lambda profile: profile.issuer_url if profile else ""
        )
        self.kubelet_object_id: pulumi.Output[str] = kubelet.object_id
        # For people: AKS's own user kubeconfig (kubelogin with a device-code login).
        self.kubeconfig: pulumi.Output[str] = pulumi.Output.secret(
            user_kubeconfig_b64.apply(lambda b64: base64.b64decode(b64).decode())
        )
        self.register_outputs({"name": self.name, "oidc_issuer_url": self.oidc_issuer_url})
