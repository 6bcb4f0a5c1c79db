"""The stack, composed; reads like the architecture:

data scientist --publish--> ModelStore --latest verified model--> AppImage --push--> Registry
Registry --AcrPull--> Cluster --> Workload (Deployment, ClusterIP Service, HPA, PDB, NetworkPolicy,
  PodMonitor)
Edge (Envoy Gateway: HTTPS with a Let's Encrypt certificate from cert-manager) --> the app's Service
Cluster --metrics, logs--> Monitoring (Azure Monitor and Log Analytics workspaces) --alerts--> action group
Azure DevOps: Pipelines (ci: tests + preview on every change; release: nightly pulumi up of dev, then prod)
Entra ID: ApiRegistration (the app's API, its app role, held by the release's identity) --audience--> Workload

A stack may read another stack's model store (aiapp:modelStoreUrl), so that dev and prod serve models from
one store, and pull from another stack's registry (aiapp:sharedRegistryId) the image that stack built and
tested (aiapp:promotedImage): then it builds nothing and fetches no model. The Azure DevOps side lives in a
stack of its own (aiapp:pipelinesEnabled, aiapp:runtimeEnabled), with the API's Entra registration, whose
client id the runtime stacks read (aiapp:authAudience) for sign-in.
"""

import pulumi
from pulumi_azure_native import resources

from infra.api_registration import ApiRegistration, ApiRegistrationArgs
from infra.app_image import AppImage, AppImageArgs
from infra.cluster import Cluster, ClusterArgs
from infra.config import load_settings
from infra.edge import Edge, EdgeArgs
from infra.identity import current_context
from infra.model_store import ModelStore, ModelStoreArgs
from infra.monitoring import ClusterMonitoring, ClusterMonitoringArgs, Monitoring, MonitoringArgs, Parameters
from infra.monitoring.watch import release_watch
from infra.naming import dns_label
from infra.outside import Outside, RealOutside
from infra.pipelines import Pipelines, pipelines_args
from infra.registry import Registry, RegistryArgs, SharedRegistry
from infra.served import built, promoted
from infra.signin import SignIn, entra_issuer, token_command, token_scope
from infra.workload import Workload, WorkloadArgs

settings = load_settings()  # every config error is raised here, before any resource is declared
stack = settings.stack
azure = current_context(settings.deployer)  # subscription, tenant, and who runs `pulumi up`
# The model store: another stack's (aiapp:modelStoreUrl), or, when None, one this stack creates.
store_url: pulumi.Input[str] | None = settings.model_store.existing_url
# What the program reaches outside the engine (infra/outside.py): the real world, unless this file is run
# with `outside` already set, as tests/harness runs it (runpy's init_globals) with recording fakes.
outside: Outside = globals().get("outside") or RealOutside()

if settings.runtime_enabled:
    group = resources.ResourceGroup(stack.name("rg"), location=stack.location, tags=stack.tags)
    rg = group.name

    store_access: list[pulumi.Resource] = []  # another stack's store: read access is granted there
    if store_url is None:
        store = ModelStore("model-store", ModelStoreArgs(stack, settings.model_store, azure))  # own group
        store_url, store_access = store.url, [store.deployer_access]
    # The registry: another stack's (aiapp:sharedRegistryId), only read, or one this stack creates (kept).
    shared_registry = settings.registry.shared_id
    registry = (
        SharedRegistry("registry", shared_registry)
        if shared_registry is not None
        else Registry("registry", RegistryArgs(stack, settings.registry, azure))
    )
    monitoring = Monitoring("monitoring", MonitoringArgs(rg, stack, settings.monitoring))
    cluster = Cluster(
        "cluster",
        ClusterArgs(
            rg, stack, settings.cluster, registry.id, azure, monitoring.logs_workspace_id, outside=outside
        ),
    )

    # What the stack serves: an image another stack built and tested (aiapp:promotedImage; nothing is built or
    # fetched), or the one it builds and pushes here.
    if settings.image.promoted is not None:
        served = promoted(settings.image.promoted, registry.login_server)
    else:
        assert isinstance(registry, Registry)  # infra/config: a shared registry needs aiapp:promotedImage
        image = AppImage(
            "app-image",
            AppImageArgs(
                login_server=registry.login_server,
                tenant_id=azure.tenant_id,
                image=settings.image,
                model=settings.model,
                store_url=store_url,
                push_after=[registry.push_role],
                fetch_after=store_access,
                store_is_shared=settings.model_store.existing_url is not None,
                outside=outside,
            ),
        )
        served = built(image)

    # Sign-in: the audience of the registration the cicd stack made (aiapp:authAudience), else none.
    sign_in = None
    if settings.sign_in.audience is not None:
        issuer = settings.sign_in.issuer or entra_issuer(azure.tenant_id)
        sign_in = SignIn(settings.sign_in.audience, issuer, settings.sign_in.role)

    app = Workload(
        "app",
        WorkloadArgs(
            provider=cluster.provider,
            stack=stack,
            workload=settings.workload,
            image=served.image,  # by digest, never a moving tag
            model_name=served.model_name,
            model_version=served.model_version,
            start_after=[cluster.acr_pull],
            sign_in=sign_in,
        ),
    )
    edge = Edge(
        "edge",
        EdgeArgs(
            provider=cluster.provider,
            stack=stack,
            edge=settings.edge,
            namespace=app.namespace,
            service_name=app.service.metadata.name,
            service_port=app.service_port,
            dns_label=settings.workload.dns_label or dns_label(stack, azure.subscription_id),
            subscription_id=azure.subscription_id,
            resource_group=rg,
            oidc_issuer_url=cluster.oidc_issuer_url,
            after=[app.namespace_resource, app.service],
        ),
    )

    ClusterMonitoring(
        "cluster-monitoring",
        ClusterMonitoringArgs(
            resource_group=rg,
            stack=stack,
            workspaces=monitoring,
            cluster_id=cluster.id,
            cluster_name=cluster.name,
            rules=Parameters(
                namespace=settings.workload.namespace,
                min_ready_replicas=settings.workload.replicas,  # the HPA's minimum
                latency_p99_seconds=settings.monitoring.latency_p99_ms / 1000,
            ),
            azure=azure,
            grafana_principal_id=settings.monitoring.grafana_principal_id,
        ),
    )

    pulumi.export("app_url", edge.url)  # https://, with a Let's Encrypt certificate
    pulumi.export("acme_server", edge.acme_server)  # `staging`: the smoke test trusts the staging roots
    pulumi.export("acr_login_server", registry.login_server)  # the registry the nodes pull from
    pulumi.export("registry_id", registry.id)  # another stack's aiapp:sharedRegistryId
    pulumi.export("image", served.image)
    pulumi.export("app_commit", served.commit)
    pulumi.export("app_version", served.app_version)
    pulumi.export("model_name", served.model_name)
    pulumi.export("model_version", served.model_version)
    pulumi.export("model_sha256", served.model_sha256)
    # The release's contract: `pulumi stack output promotion --json` is the next stack's aiapp:promotedImage,
    # and release_watch what its SLO watch judges this update by.
    pulumi.export("promotion", served.promotion())
    pulumi.export("release_watch", release_watch(settings.monitoring))
    pulumi.export("cluster_name", cluster.name)
    pulumi.export("kubeconfig", cluster.kubeconfig)
    pulumi.export("prometheus_query_endpoint", monitoring.prometheus_query_endpoint)
    pulumi.export("logs_workspace_id", monitoring.logs_workspace_id)
    if sign_in is not None:  # what the smoke test and a person need to call the app
        pulumi.export("auth_audience", sign_in.audience)
        pulumi.export("auth_issuer", sign_in.issuer)
        pulumi.export("auth_token_scope", token_scope(sign_in.audience))
        pulumi.export("auth_token_command", token_command(sign_in.audience))

if settings.pipelines is not None:  # the Azure DevOps project, its connections and the two pipelines
    pipelines = Pipelines("pipelines", pipelines_args(settings, azure))
    for name, value in pipelines.exports.items():  # project and pipeline URLs, identities' principal ids
        pulumi.export(name, value)
    # The API's Entra registration, and the app role for the release's deploy identity (its smoke test).
    api = ApiRegistration(
        "api",
        ApiRegistrationArgs(
            stack=stack,
            settings=settings.pipelines.api,
            role=settings.sign_in.role,
            callers=[pipelines.exports["deploy_principal_id"]],
        ),
    )
    for name, value in api.exports.items():  # auth_audience, its identifier URI, the token command
        pulumi.export(name, value)

pulumi.export("model_store_url", store_url)  # the store this stack's image reads, or its release resolves in
