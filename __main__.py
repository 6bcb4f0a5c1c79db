"""The stack, composed; reads like the architecture:

data scientist --publish--> ModelStore --latest verified model--> AppImage --push--> Registry
Registry --AcrPull--> Cluster --> Workload (Deployment, Service with LB + DNS, HPA, PDB, NetworkPolicy)
"""

import pulumi
from pulumi_azure_native import resources

from infra.app_image import AppImage, AppImageArgs
from infra.cluster import Cluster, ClusterArgs
from infra.config import load_settings
from infra.identity import current_context
from infra.model_store import ModelStore, ModelStoreArgs
from infra.naming import dns_label
from infra.registry import Registry, RegistryArgs
from infra.workload import Workload, WorkloadArgs

settings = load_settings()  # every config error is raised here, before any resource is declared
stack = settings.stack
azure = current_context(settings.deployer)  # subscription, tenant, and who runs `pulumi up`

group = resources.ResourceGroup(stack.name("rg"), location=stack.location, tags=stack.tags)
rg = group.name

store = ModelStore("model-store", ModelStoreArgs(stack, settings.model_store, azure))  # a group of its own
registry = Registry("registry", RegistryArgs(rg, stack, settings.registry, azure))
cluster = Cluster("cluster", ClusterArgs(rg, stack, settings.cluster, registry.id, azure))

image = AppImage(
    "app-image",
    AppImageArgs(
        login_server=registry.login_server,
        tenant_id=azure.tenant_id,
        image=settings.image,
        model=settings.model,
        store_url=store.url,
        push_after=[registry.push_role],
        fetch_after=[store.deployer_access],
    ),
)

app = Workload(
    "app",
    WorkloadArgs(
        provider=cluster.provider,
        stack=stack,
        workload=settings.workload,
        image=image.repo_digest,  # by digest, never a moving tag
        model_name=image.model_name,
        model_version=image.model_version,
        dns_label=settings.workload.dns_label or dns_label(stack, azure.subscription_id),
        start_after=[cluster.acr_pull],
    ),
)

pulumi.export("app_url", app.url)
pulumi.export("app_ip", app.ip)
pulumi.export("acr_login_server", registry.login_server)
pulumi.export("image", image.repo_digest)
pulumi.export("model_version", image.model_version)
pulumi.export("model_sha256", image.model_sha256)
pulumi.export("cluster_name", cluster.name)
pulumi.export("model_store_url", store.url)
pulumi.export("kubeconfig", cluster.kubeconfig)
