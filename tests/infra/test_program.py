"""The whole program under Pulumi mocks, dev and prod: every property the issue lists, asserted by value."""

from __future__ import annotations

import importlib
import inspect
import re
import tomllib
from typing import Any

import pytest
import yaml

from model.manifest import verify_model_dir
from tests import harness
from tests.harness import Recorded, StackRun

ACR_PULL = "7f951dda-4ed3-4680-a7ca-43fe172d538d"
ACR_PUSH = "8311e382-0749-4cb8-b61a-304f252e45ec"
BLOB_CONTRIBUTOR = "ba92f5b4-2d11-453d-a403-e96b0029c9fe"
AKS_RBAC_CLUSTER_ADMIN = "b1ff04bb-8a4e-4dc4-8eb5-8693973ce19b"

# What each stack file asks for (Pulumi.dev.yaml / Pulumi.prod.yaml), or the defaults where it is silent.
EXPECTED: dict[str, dict[str, Any]] = {
    "dev": {
        "acr_sku": "Basic",
        # dev owns the model store prod reads (aiapp:modelStoreUrl): zone-redundant, 30 days of soft delete
        "storage_sku": "Standard_ZRS",
        "soft_delete_days": 30,
        "kubernetes_version": "1.33",
        "vm_size": "Standard_B2s",
        "min_nodes": 1,
        "max_nodes": 2,
        "tier": "Free",
        "zones": None,
        "replicas": 1,
        "max_replicas": 3,
        "requests": {"cpu": "250m", "memory": "256Mi"},
        "limits": {"cpu": "1", "memory": "512Mi"},
    },
    "prod": {
        "acr_sku": "Standard",
        # without aiapp:modelStoreUrl, prod creates a store of its own, with the defaults
        "storage_sku": "Standard_LRS",
        "soft_delete_days": 7,
        "kubernetes_version": "1.33",
        "vm_size": "Standard_D4s_v5",
        "min_nodes": 3,
        "max_nodes": 6,
        "tier": "Standard",
        "zones": ["1", "2", "3"],
        "replicas": 3,
        "max_replicas": 10,
        "requests": {"cpu": "500m", "memory": "512Mi"},
        "limits": {"cpu": "2", "memory": "1Gi"},
    },
}

APP_LABELS = {"app.kubernetes.io/name": "aiapp"}
APP_VERSION = tomllib.loads((harness.REPO_ROOT / "pyproject.toml").read_text())["project"]["version"]


def expected(run: StackRun) -> dict[str, Any]:
    return EXPECTED[run.stack]


def role_assignments(run: StackRun, role: str) -> list[Recorded]:
    suffix = f"/providers/Microsoft.Authorization/roleDefinitions/{role}"
    found = [
        r
        for r in run.of_type("azure-native:authorization:RoleAssignment")
        if r.inputs["roleDefinitionId"] == f"/subscriptions/{harness.SUBSCRIPTION_ID}{suffix}"
    ]
    assert found, f"no assignment of role {role}"
    return found


def sdk_takes(token: str, prop: str) -> bool:
    """Whether the azure-native resource type has an input named `prop` (e.g. tags, location)."""
    _, module, kind = token.split(":")
    resource_class = getattr(importlib.import_module(f"pulumi_azure_native.{module}"), kind)
    return prop in inspect.signature(resource_class._internal_init).parameters


def deployment(run: StackRun) -> Recorded:
    return run.one("kubernetes:apps/v1:Deployment")


def pod_spec(run: StackRun) -> dict[str, Any]:
    return deployment(run).inputs["spec"]["template"]["spec"]


def app_container(run: StackRun) -> dict[str, Any]:
    (container,) = pod_spec(run)["containers"]
    return container


# ------------------------------------------------------------------------------------------- every resource


def test_the_program_declares_each_component_and_resource_once(stack_run: StackRun) -> None:
    counts: dict[str, int] = {}
    for r in stack_run.resources:
        counts[r.type] = counts.get(r.type, 0) + 1
    assert counts == {
        "azure-native:resources:ResourceGroup": 3,  # the runtime's, the model store's and the registry's
        "aiapp:infra:ModelStore": 1,
        "aiapp:infra:Registry": 1,
        "aiapp:infra:Cluster": 1,
        "aiapp:infra:AppImage": 1,
        "aiapp:infra:Workload": 1,
        "azure-native:storage:StorageAccount": 1,
        "azure-native:storage:BlobServiceProperties": 1,
        "azure-native:storage:BlobContainer": 1,
        "azure-native:containerregistry:Registry": 1,
        "azure-native:containerservice:ManagedCluster": 1,
        # deployer: AcrPush, blob contributor, AKS RBAC admin, Monitoring Data Reader; kubelet: AcrPull
        "azure-native:authorization:RoleAssignment": 5,
        "aiapp:infra:Monitoring": 1,
        "aiapp:infra:ClusterMonitoring": 1,
        "azure-native:monitor:AzureMonitorWorkspace": 1,
        "azure-native:operationalinsights:Workspace": 1,
        "azure-native:monitor:ActionGroup": 1,
        "azure-native:monitor:DataCollectionEndpoint": 1,
        "azure-native:monitor:DataCollectionRule": 2,  # Prometheus metrics, container logs
        "azure-native:monitor:DataCollectionRuleAssociation": 2,
        "azure-native:alertsmanagement:PrometheusRuleGroup": 2,  # the two groups of monitoring/alerts.yml
        "kubernetes:azmonitoring.coreos.com/v1:PodMonitor": 1,
        "pulumi:providers:kubernetes": 1,
        "docker:index/image:Image": 1,
        "kubernetes:core/v1:Namespace": 1,
        "kubernetes:core/v1:ServiceAccount": 1,
        "kubernetes:apps/v1:Deployment": 1,
        "kubernetes:core/v1:Service": 1,
        "kubernetes:autoscaling/v2:HorizontalPodAutoscaler": 1,
        "kubernetes:policy/v1:PodDisruptionBudget": 1,
        "kubernetes:networking.k8s.io/v1:NetworkPolicy": 1,
        # the edge (tests/infra/test_edge.py): two charts; EnvoyProxy, GatewayClass, Gateway, two
        # HTTPRoutes, ClusterIssuer, Certificate
        "aiapp:infra:Edge": 1,
        "kubernetes:helm.sh/v3:Release": 2,
        "kubernetes:gateway.envoyproxy.io/v1alpha1:EnvoyProxy": 1,
        "kubernetes:gateway.networking.k8s.io/v1:GatewayClass": 1,
        "kubernetes:gateway.networking.k8s.io/v1:Gateway": 1,
        "kubernetes:gateway.networking.k8s.io/v1:HTTPRoute": 2,
        "kubernetes:cert-manager.io/v1:ClusterIssuer": 1,
        "kubernetes:cert-manager.io/v1:Certificate": 1,
    }


def test_every_azure_resource_that_takes_tags_and_a_location_has_them(stack_run: StackRun) -> None:
    tagged = []
    for r in stack_run.resources:
        if not r.type.startswith("azure-native:"):
            continue
        if sdk_takes(r.type, "tags"):
            tagged.append(r.type)
            assert r.inputs["tags"] == {
                "owner": "ai-platform-team",
                "environment": stack_run.stack,
                "app": "aiapp",
            }
        if sdk_takes(r.type, "location"):
            # Action groups are global resources.
            location = "Global" if r.type == "azure-native:monitor:ActionGroup" else "westeurope"
            assert r.inputs["location"] == location, r.type
    assert sorted(tagged) == [
        "azure-native:alertsmanagement:PrometheusRuleGroup",
        "azure-native:alertsmanagement:PrometheusRuleGroup",
        "azure-native:containerregistry:Registry",
        "azure-native:containerservice:ManagedCluster",
        "azure-native:monitor:ActionGroup",
        "azure-native:monitor:AzureMonitorWorkspace",
        "azure-native:monitor:DataCollectionEndpoint",
        "azure-native:monitor:DataCollectionRule",
        "azure-native:monitor:DataCollectionRule",
        "azure-native:operationalinsights:Workspace",
        "azure-native:resources:ResourceGroup",
        "azure-native:resources:ResourceGroup",
        "azure-native:resources:ResourceGroup",
        "azure-native:storage:StorageAccount",
    ]


def test_children_are_parented_by_their_component(stack_run: StackRun) -> None:
    owners = {
        "azure-native:storage:StorageAccount": "aiapp:infra:ModelStore",
        "azure-native:containerregistry:Registry": "aiapp:infra:Registry",
        "azure-native:containerservice:ManagedCluster": "aiapp:infra:Cluster",
        "pulumi:providers:kubernetes": "aiapp:infra:Cluster",
        "docker:index/image:Image": "aiapp:infra:AppImage",
        "kubernetes:apps/v1:Deployment": "aiapp:infra:Workload",
    }
    for child, component in owners.items():
        parent = stack_run.parent_of(stack_run.one(child))
        assert parent is not None and parent.type == component, child


def test_every_role_assignment_names_its_principal_type(stack_run: StackRun) -> None:
    for r in stack_run.of_type("azure-native:authorization:RoleAssignment"):
        assert r.inputs["principalType"] in ("User", "ServicePrincipal", "Group"), r.name


@pytest.mark.parametrize(
    ("resource_type", "role"),
    [
        ("azure-native:containerregistry:Registry", ACR_PUSH),  # it pushes the image
        ("azure-native:storage:StorageAccount", BLOB_CONTRIBUTOR),  # it reads and may publish models
        ("azure-native:containerservice:ManagedCluster", AKS_RBAC_CLUSTER_ADMIN),  # it deploys the app
    ],
)
def test_the_deploying_identity_gets_its_role_on_what_it_uses(
    stack_run: StackRun, resource_type: str, role: str
) -> None:
    (grant,) = role_assignments(stack_run, role)
    assert grant.inputs["scope"] == stack_run.one(resource_type).id
    # No aiapp:deployerObjectId in the stack files: the logged-in client (getClientConfig) is the deployer.
    assert grant.inputs["principalId"] == harness.CLIENT_OBJECT_ID
    assert grant.inputs["principalType"] == "User"


# -------------------------------------------------------------------------------------------------- ACR


def test_registry_has_no_admin_user_and_the_stack_sku(stack_run: StackRun) -> None:
    acr = stack_run.one("azure-native:containerregistry:Registry")
    assert acr.inputs["adminUserEnabled"] is False
    assert acr.inputs["anonymousPullEnabled"] is False
    assert acr.inputs["sku"] == {"name": expected(stack_run)["acr_sku"]}


def test_registry_lives_in_a_protected_group_of_its_own(stack_run: StackRun) -> None:
    """Kept by `pulumi destroy` as the model store is: another stack may pull its images
    (aiapp:sharedRegistryId)."""
    group = stack_run.one("azure-native:resources:ResourceGroup", f"aiapp-{stack_run.stack}-acr-rg")
    acr = stack_run.one("azure-native:containerregistry:Registry")
    assert (group.protect, acr.protect) == (True, True)
    assert acr.inputs["resourceGroupName"] == group.outputs["name"]
    assert stack_run.parent_of(group).type == "aiapp:infra:Registry"
    # Nothing else in the registry's group.
    assert [
        r.name for r in stack_run.resources if r.inputs.get("resourceGroupName") == group.outputs["name"]
    ] == [acr.name]
    assert stack_run.reads == []  # the stack's own registry: nothing is read


# ---------------------------------------------------------------------------------------------- model store


def test_model_store_lives_in_a_protected_group_of_its_own(stack_run: StackRun) -> None:
    groups = {r.name: r for r in stack_run.of_type("azure-native:resources:ResourceGroup")}
    env = stack_run.stack
    assert set(groups) == {f"aiapp-{env}-rg", f"aiapp-{env}-models-rg", f"aiapp-{env}-acr-rg"}
    models_group = groups[f"aiapp-{env}-models-rg"]
    assert models_group.protect is True and groups[f"aiapp-{env}-rg"].protect is False
    for kind in ("StorageAccount", "BlobServiceProperties", "BlobContainer"):
        assert (
            stack_run.one(f"azure-native:storage:{kind}").inputs["resourceGroupName"]
            == models_group.outputs["name"]
        )
    # Nothing else in the store's group: destroying the runtime never reaches the models.
    others = [
        r
        for r in stack_run.resources
        if r.type.startswith("azure-native:") and not r.type.startswith("azure-native:storage:")
    ]
    assert all(r.inputs.get("resourceGroupName") != models_group.outputs["name"] for r in others)
    assert stack_run.one("azure-native:storage:BlobContainer").protect is True


def test_model_store_account_is_locked_down_and_protected(stack_run: StackRun) -> None:
    account = stack_run.one("azure-native:storage:StorageAccount")
    assert account.inputs["kind"] == "StorageV2"
    assert account.inputs["sku"] == {"name": expected(stack_run)["storage_sku"]}
    assert account.inputs["enableHttpsTrafficOnly"] is True
    assert account.inputs["minimumTlsVersion"] == "TLS1_2"
    assert account.inputs["allowBlobPublicAccess"] is False
    assert account.inputs["allowSharedKeyAccess"] is False
    assert account.inputs["defaultToOAuthAuthentication"] is True
    assert account.protect is True


def test_model_store_blobs_are_versioned_and_soft_deleted(stack_run: StackRun) -> None:
    account = stack_run.one("azure-native:storage:StorageAccount")
    service = stack_run.one("azure-native:storage:BlobServiceProperties")
    days = expected(stack_run)["soft_delete_days"]
    assert service.inputs["accountName"] == account.outputs["name"]
    assert service.inputs["isVersioningEnabled"] is True
    assert service.inputs["deleteRetentionPolicy"] == {"enabled": True, "days": days}
    assert service.inputs["containerDeleteRetentionPolicy"] == {"enabled": True, "days": days}


def test_model_container_is_private(stack_run: StackRun) -> None:
    container = stack_run.one("azure-native:storage:BlobContainer")
    assert container.inputs["publicAccess"] == "None"
    assert container.inputs["containerName"] == "models"


def test_a_data_scientists_group_may_publish_into_the_container(store_url: str) -> None:
    group = "5c5c5c5c-1111-4222-8333-444444444444"
    run = harness.run_program({"aiapp:dataScientistsGroupObjectId": group}, model_store=store_url)
    container = run.one("azure-native:storage:BlobContainer")
    publishers = [r for r in role_assignments(run, BLOB_CONTRIBUTOR) if r.inputs["principalType"] == "Group"]
    assert [(p.inputs["principalId"], p.inputs["scope"]) for p in publishers] == [(group, container.id)]


def test_a_service_principal_login_is_assigned_as_a_service_principal(store_url: str) -> None:
    """A pipeline's federated identity signs in with its own client id, not the Azure CLI's."""
    pipeline_client = {
        "clientId": "a1a1a1a1-1111-4222-8333-444444444444",
        "objectId": "b2b2b2b2-1111-4222-8333-444444444444",
        "subscriptionId": harness.SUBSCRIPTION_ID,
        "tenantId": harness.TENANT_ID,
    }
    run = harness.run_program(
        model_store=store_url,
        extra_calls={"azure-native:authorization:getClientConfig": lambda _: pipeline_client},
    )
    for role in (ACR_PUSH, BLOB_CONTRIBUTOR, AKS_RBAC_CLUSTER_ADMIN):
        (assignment,) = role_assignments(run, role)
        assert (assignment.inputs["principalId"], assignment.inputs["principalType"]) == (
            pipeline_client["objectId"],
            "ServicePrincipal",
        )


def test_a_configured_deployer_replaces_the_logged_in_client(store_url: str) -> None:
    deployer = "d0d0d0d0-1111-4222-8333-444444444444"
    run = harness.run_program(
        {"aiapp:deployerObjectId": deployer, "aiapp:deployerPrincipalType": "ServicePrincipal"},
        model_store=store_url,
    )
    for role in (ACR_PUSH, BLOB_CONTRIBUTOR, AKS_RBAC_CLUSTER_ADMIN):
        (assignment,) = role_assignments(run, role)
        assert (assignment.inputs["principalId"], assignment.inputs["principalType"]) == (
            deployer,
            "ServicePrincipal",
        )


# -------------------------------------------------------------------------------------------------- AKS


def test_cluster_uses_entra_rbac_managed_identity_and_workload_identity(stack_run: StackRun) -> None:
    aks = stack_run.one("azure-native:containerservice:ManagedCluster").inputs
    assert aks["identity"] == {"type": "SystemAssigned"}
    assert aks["oidcIssuerProfile"] == {"enabled": True}
    assert aks["securityProfile"] == {"workloadIdentity": {"enabled": True}}
    assert aks["aadProfile"] == {"managed": True, "enableAzureRBAC": True, "tenantID": harness.TENANT_ID}
    assert aks["disableLocalAccounts"] is True
    assert aks["enableRBAC"] is True
    assert aks["kubernetesVersion"] == expected(stack_run)["kubernetes_version"]
    assert aks["sku"] == {"name": "Base", "tier": expected(stack_run)["tier"]}


def test_cluster_enforces_network_policy(stack_run: StackRun) -> None:
    network = stack_run.one("azure-native:containerservice:ManagedCluster").inputs["networkProfile"]
    assert network["networkPolicy"] == "cilium"
    assert network["networkDataplane"] == "cilium"
    assert (network["networkPlugin"], network["networkPluginMode"]) == ("azure", "overlay")


def test_cluster_has_one_autoscaling_system_pool(stack_run: StackRun) -> None:
    (pool,) = stack_run.one("azure-native:containerservice:ManagedCluster").inputs["agentPoolProfiles"]
    want = expected(stack_run)
    assert pool["mode"] == "System"
    assert pool["enableAutoScaling"] is True
    assert (pool["minCount"], pool["maxCount"], pool["count"]) == (
        want["min_nodes"],
        want["max_nodes"],
        want["min_nodes"],
    )
    assert pool["vmSize"] == want["vm_size"]
    assert pool.get("availabilityZones") == want["zones"]
    assert pool["osType"] == "Linux"


def test_kubelet_identity_may_pull_from_the_registry(stack_run: StackRun) -> None:
    acr = stack_run.one("azure-native:containerregistry:Registry")
    aks = stack_run.one("azure-native:containerservice:ManagedCluster")
    (pull,) = role_assignments(stack_run, ACR_PULL)
    assert pull.inputs["scope"] == acr.id
    assert pull.inputs["principalId"] == aks.outputs["identityProfile"]["kubeletidentity"]["objectId"]
    assert pull.inputs["principalType"] == "ServicePrincipal"


def test_kubernetes_provider_logs_in_with_kubelogin_and_has_a_cluster_identifier(stack_run: StackRun) -> None:
    provider = stack_run.one("pulumi:providers:kubernetes")
    aks = stack_run.one("azure-native:containerservice:ManagedCluster")
    assert provider.inputs["clusterIdentifier"] == aks.id
    kubeconfig = yaml.safe_load(provider.inputs["kubeconfig"])
    (user,) = kubeconfig["users"]
    # kubelogin mints the token of whoever runs pulumi (Azure CLI login) when the provider needs it; the
    # kubeconfig in the state holds none, so it is no secret either.
    assert set(user["user"]) == {"exec"}
    assert user["user"]["exec"]["command"] == "kubelogin"
    assert user["user"]["exec"]["args"] == [
        "get-token",
        "--login",
        "azurecli",
        "--server-id",
        harness.AKS_SCOPE.removesuffix("/.default"),
    ]
    assert provider.secret_inputs == frozenset()
    (cluster,) = kubeconfig["clusters"]
    assert cluster["cluster"]["server"] == f"https://{aks.outputs['fqdn']}:443"
    assert cluster["cluster"]["certificate-authority-data"]
    assert harness.AKS_SCOPE not in stack_run.token_scopes  # the program mints no cluster token
    # The role must exist before the provider talks to the cluster.
    (admin,) = role_assignments(stack_run, AKS_RBAC_CLUSTER_ADMIN)
    assert admin.urn in provider.dependencies


def test_every_kubernetes_object_goes_through_that_provider(stack_run: StackRun) -> None:
    provider = stack_run.one("pulumi:providers:kubernetes")
    objects = [r for r in stack_run.resources if r.type.startswith("kubernetes:")]
    assert len(objects) == 17
    assert {r.provider for r in objects} == {provider.urn}


# ------------------------------------------------------------------------------------------------ image


def test_image_is_built_for_amd64_from_the_apps_dockerfile_with_the_fetched_model(
    stack_run: StackRun,
) -> None:
    image = stack_run.one("docker:index/image:Image")
    build = image.inputs["build"]
    assert build["platform"] == "linux/amd64"
    assert build["dockerfile"].endswith("app/Dockerfile")
    assert build["dockerfile"] == f"{build['context']}/app/Dockerfile"
    manifest = verify_model_dir(stack_run.workdir / "build" / "model")  # really fetched, and intact
    assert build["args"] == {
        "MODEL_NAME": manifest.name,
        "MODEL_VERSION": manifest.version,
        "MODEL_SHA256": manifest.sha256,
        "GIT_COMMIT": "unknown",  # the harness builds from a copy, no git checkout: test_source_version.py
        "SOURCE_URL": "unknown",  # no git checkout, no origin remote: test_source_version.py
        "APP_VERSION": APP_VERSION,  # pyproject.toml's
    }
    assert (manifest.name, manifest.version) == ("digits", "1")
    assert image.inputs["buildOnPreview"] is False
    assert image.inputs["skipPush"] is False


def test_image_is_pushed_with_the_engines_docker_login_never_a_password_input(stack_run: StackRun) -> None:
    image = stack_run.one("docker:index/image:Image")
    login_server = stack_run.one("azure-native:containerregistry:Registry").outputs["loginServer"]
    # Only the server: pulumi-docker then pushes with the Docker engine's stored login for it.
    assert image.inputs["registry"] == {"server": login_server}
    assert image.secret_inputs == frozenset()
    # That login: the deployer's Entra token exchanged for an ACR token, handed to `docker login` only.
    assert stack_run.acr_exchanges == [
        {"login_server": login_server, "tenant": harness.TENANT_ID, "access_token": harness.ARM_TOKEN}
    ]
    assert stack_run.docker_logins == [
        {
            "server": login_server,
            "username": "00000000-0000-0000-0000-000000000000",
            "password": f"mock-acr-refresh-token@{login_server}",
        }
    ]
    (push,) = role_assignments(stack_run, ACR_PUSH)
    assert push.urn in image.dependencies


def test_image_name_is_the_registry_repository_and_a_content_tag(stack_run: StackRun) -> None:
    image = stack_run.one("docker:index/image:Image")
    login_server = stack_run.one("azure-native:containerregistry:Registry").outputs["loginServer"]
    assert re.fullmatch(rf"{re.escape(login_server)}/aiapp:[0-9a-f]{{20}}", image.inputs["imageName"])


def test_the_model_is_read_from_the_stacks_store_after_the_deployer_may_read_it(stack_run: StackRun) -> None:
    account = stack_run.one("azure-native:storage:StorageAccount")
    assert stack_run.store_urls == [f"https://{account.outputs['name']}.blob.core.windows.net/models"]


# --------------------------------------------------------------------------------------------- workload


def test_namespace_enforces_the_restricted_pod_security_standard(stack_run: StackRun) -> None:
    namespace = stack_run.one("kubernetes:core/v1:Namespace").inputs["metadata"]
    assert namespace["name"] == "aiapp"
    assert namespace["labels"]["pod-security.kubernetes.io/enforce"] == "restricted"


def test_deployment_runs_the_image_by_digest(stack_run: StackRun) -> None:
    image = stack_run.one("docker:index/image:Image")
    container = app_container(stack_run)
    assert container["image"] == image.outputs["repoDigest"]
    assert re.fullmatch(r"[a-z0-9]+\.azurecr\.io/aiapp@sha256:[0-9a-f]{64}", container["image"])
    assert image.urn in deployment(stack_run).dependencies


def test_deployment_replicas_and_zero_downtime_rollout(stack_run: StackRun) -> None:
    spec = deployment(stack_run).inputs["spec"]
    assert spec["replicas"] == expected(stack_run)["replicas"]
    assert spec["strategy"] == {
        "type": "RollingUpdate",
        "rollingUpdate": {"maxUnavailable": 0, "maxSurge": 1},
    }
    # The HPA owns the count once running: `pulumi up` must not reset it.
    assert deployment(stack_run).ignore_changes == ("spec.replicas",)


def test_prod_runs_at_least_two_replicas(prod_run: StackRun) -> None:
    assert deployment(prod_run).inputs["spec"]["replicas"] >= 2
    assert (
        prod_run.one("kubernetes:autoscaling/v2:HorizontalPodAutoscaler").inputs["spec"]["minReplicas"] >= 2
    )


def test_deployment_probes(stack_run: StackRun) -> None:
    container = app_container(stack_run)
    assert container["startupProbe"]["httpGet"] == {"path": "/healthz", "port": "http"}
    assert container["readinessProbe"]["httpGet"] == {"path": "/readyz", "port": "http"}
    assert container["livenessProbe"]["httpGet"] == {"path": "/healthz", "port": "http"}
    assert container["startupProbe"]["periodSeconds"] * container["startupProbe"]["failureThreshold"] == 60


def test_deployment_requests_and_limits(stack_run: StackRun) -> None:
    resources = app_container(stack_run)["resources"]
    assert resources == {"requests": expected(stack_run)["requests"], "limits": expected(stack_run)["limits"]}


def test_container_is_locked_down(stack_run: StackRun) -> None:
    container = app_container(stack_run)
    assert container["securityContext"] == {
        "runAsNonRoot": True,
        "runAsUser": 10001,
        "runAsGroup": 10001,
        "readOnlyRootFilesystem": True,
        "allowPrivilegeEscalation": False,
        "privileged": False,
        "capabilities": {"drop": ["ALL"]},
        "seccompProfile": {"type": "RuntimeDefault"},
    }
    spec = pod_spec(stack_run)
    assert spec["securityContext"]["runAsNonRoot"] is True
    assert spec["securityContext"]["seccompProfile"] == {"type": "RuntimeDefault"}
    assert spec["automountServiceAccountToken"] is False
    assert stack_run.one("kubernetes:core/v1:ServiceAccount").inputs["automountServiceAccountToken"] is False


def test_tmp_is_the_only_writable_path_an_empty_dir(stack_run: StackRun) -> None:
    assert app_container(stack_run)["volumeMounts"] == [{"name": "tmp", "mountPath": "/tmp"}]
    assert pod_spec(stack_run)["volumes"] == [{"name": "tmp", "emptyDir": {"sizeLimit": "64Mi"}}]


def test_container_ports_and_env_match_the_image(stack_run: StackRun) -> None:
    container = app_container(stack_run)
    assert container["ports"] == [
        {"name": "http", "containerPort": 8080, "protocol": "TCP"},
        {"name": "metrics", "containerPort": 9090, "protocol": "TCP"},
    ]
    assert container["env"] == [{"name": "PORT", "value": "8080"}, {"name": "METRICS_PORT", "value": "9090"}]


def test_pods_spread_over_zones_and_nodes(stack_run: StackRun) -> None:
    spread = pod_spec(stack_run)["topologySpreadConstraints"]
    assert [(c["topologyKey"], c["maxSkew"], c["whenUnsatisfiable"]) for c in spread] == [
        ("topology.kubernetes.io/zone", 1, "ScheduleAnyway"),
        ("kubernetes.io/hostname", 1, "ScheduleAnyway"),
    ]
    assert all(c["labelSelector"]["matchLabels"]["app.kubernetes.io/name"] == "aiapp" for c in spread)


def test_pods_are_labelled_with_the_model_version_but_not_selected_by_it(stack_run: StackRun) -> None:
    spec = deployment(stack_run).inputs["spec"]
    labels = spec["template"]["metadata"]["labels"]
    assert labels["aiapp/model-version"] == stack_run.outputs["model_version"] == "1"
    assert labels["aiapp/model-name"] == "digits"
    # A selector is immutable: a new model version must roll out, not fail to update.
    assert spec["selector"]["matchLabels"] == {
        "app.kubernetes.io/name": "aiapp",
        "app.kubernetes.io/instance": stack_run.stack,
    }
    assert spec["selector"]["matchLabels"].items() <= labels.items()


def test_deployment_starts_after_the_kubelet_may_pull(stack_run: StackRun) -> None:
    (pull,) = role_assignments(stack_run, ACR_PULL)
    assert pull.urn in deployment(stack_run).dependencies


def test_service_is_cluster_internal_exposing_only_the_app_port(stack_run: StackRun) -> None:
    service = stack_run.one("kubernetes:core/v1:Service").inputs
    assert "annotations" not in service["metadata"]  # the DNS label is on the edge's proxy Service now
    assert service["spec"]["type"] == "ClusterIP"
    assert service["spec"]["ports"] == [{"name": "http", "port": 80, "targetPort": "http", "protocol": "TCP"}]
    assert service["spec"]["selector"] == {
        "app.kubernetes.io/name": "aiapp",
        "app.kubernetes.io/instance": stack_run.stack,
    }


def test_hpa_scales_the_deployment_on_cpu(stack_run: StackRun) -> None:
    spec = stack_run.one("kubernetes:autoscaling/v2:HorizontalPodAutoscaler").inputs["spec"]
    assert spec["scaleTargetRef"] == {"apiVersion": "apps/v1", "kind": "Deployment", "name": "aiapp"}
    assert (spec["minReplicas"], spec["maxReplicas"]) == (
        expected(stack_run)["replicas"],
        expected(stack_run)["max_replicas"],
    )
    assert spec["metrics"] == [
        {
            "type": "Resource",
            "resource": {"name": "cpu", "target": {"type": "Utilization", "averageUtilization": 70}},
        }
    ]


def test_pdb_lets_one_pod_go_at_a_time(stack_run: StackRun) -> None:
    spec = stack_run.one("kubernetes:policy/v1:PodDisruptionBudget").inputs["spec"]
    assert spec == {
        "maxUnavailable": 1,
        "selector": {
            "matchLabels": {"app.kubernetes.io/name": "aiapp", "app.kubernetes.io/instance": stack_run.stack}
        },
    }


def test_network_policy_admits_the_app_port_from_the_proxy_metrics_from_the_agent_only_dns_out(
    stack_run: StackRun,
) -> None:
    spec = stack_run.one("kubernetes:networking.k8s.io/v1:NetworkPolicy").inputs["spec"]
    kube_system = {"namespaceSelector": {"matchLabels": {"kubernetes.io/metadata.name": "kube-system"}}}
    # The managed Prometheus agent's collectors, no other pod of kube-system (infra/monitoring/scrape.py).
    agent = {**kube_system, "podSelector": {"matchLabels": {"rsName": "ama-metrics"}}}
    assert spec["policyTypes"] == ["Ingress", "Egress"]
    assert spec["ingress"] == [
        {
            "from": [
                {
                    "namespaceSelector": {
                        "matchLabels": {"kubernetes.io/metadata.name": "envoy-gateway-system"}
                    },
                    "podSelector": {
                        "matchLabels": {
                            "app.kubernetes.io/component": "proxy",
                            "app.kubernetes.io/managed-by": "envoy-gateway",
                            "gateway.envoyproxy.io/owning-gateway-name": "aiapp",
                            "gateway.envoyproxy.io/owning-gateway-namespace": "aiapp",
                        }
                    },
                }
            ],
            "ports": [{"port": 8080, "protocol": "TCP"}],
        },
        {"from": [agent], "ports": [{"port": 9090, "protocol": "TCP"}]},
    ]
    assert spec["egress"] == [
        {
            "to": [{**kube_system, "podSelector": {"matchLabels": {"k8s-app": "kube-dns"}}}],
            "ports": [{"port": 53, "protocol": "UDP"}, {"port": 53, "protocol": "TCP"}],
        }
    ]


# ---------------------------------------------------------------------------------------------- outputs


def test_stack_outputs_are_exactly_the_listed_ones_and_resolved(stack_run: StackRun) -> None:
    assert set(stack_run.outputs) == {
        "app_url",
        "acme_server",
        "acr_login_server",
        "image",
        "model_version",
        "model_sha256",
        "cluster_name",
        "model_store_url",
        "kubeconfig",
        "app_commit",
        "app_version",
        "prometheus_query_endpoint",
        "logs_workspace_id",
        "model_name",
        "promotion",
        "release_watch",
        "registry_id",
    }
    assert stack_run.unknown_outputs == frozenset()
    assert stack_run.secret_outputs == frozenset({"kubeconfig"})


def test_stack_output_values(stack_run: StackRun) -> None:
    out = stack_run.outputs
    proxy = stack_run.one("kubernetes:gateway.envoyproxy.io/v1alpha1:EnvoyProxy").inputs["spec"]["provider"]
    label = proxy["kubernetes"]["envoyService"]["annotations"][
        "service.beta.kubernetes.io/azure-dns-label-name"
    ]
    assert re.fullmatch(rf"aiapp-{stack_run.stack}-[0-9a-f]{{6}}", label)
    account = stack_run.one("azure-native:storage:StorageAccount").outputs["name"]
    manifest = verify_model_dir(stack_run.workdir / "build" / "model")
    assert out["app_url"] == f"https://{label}.westeurope.cloudapp.azure.com"
    assert out["acme_server"] == ("staging" if stack_run.stack == "dev" else "production")
    assert (
        out["acr_login_server"]
        == stack_run.one("azure-native:containerregistry:Registry").outputs["loginServer"]
    )
    assert out["image"] == stack_run.one("docker:index/image:Image").outputs["repoDigest"]
    assert out["image"].startswith(f"{out['acr_login_server']}/aiapp@sha256:")
    assert (out["model_name"], out["model_version"], out["model_sha256"]) == (
        manifest.name,
        manifest.version,
        manifest.sha256,
    )
    assert out["registry_id"] == stack_run.one("azure-native:containerregistry:Registry").id
    assert (
        out["cluster_name"] == stack_run.one("azure-native:containerservice:ManagedCluster").outputs["name"]
    )
    assert out["model_store_url"] == f"https://{account}.blob.core.windows.net/models"
    build_args = stack_run.one("docker:index/image:Image").inputs["build"]["args"]
    assert (out["app_commit"], out["app_version"]) == (build_args["GIT_COMMIT"], build_args["APP_VERSION"])
    assert (out["app_commit"], out["app_version"]) == ("unknown", APP_VERSION)


def test_kubeconfig_output_is_the_users_kubelogin_config_never_the_token(stack_run: StackRun) -> None:
    kubeconfig = yaml.safe_load(stack_run.outputs["kubeconfig"])
    (user,) = kubeconfig["users"]
    assert user["user"]["exec"]["command"] == "kubelogin"
    assert "mock-entra-token" not in stack_run.outputs["kubeconfig"]
    listed = [args for token, args in stack_run.calls if token.endswith("listManagedClusterUserCredentials")]
    aks = stack_run.one("azure-native:containerservice:ManagedCluster")
    assert listed == [
        {"resourceGroupName": aks.inputs["resourceGroupName"], "resourceName": aks.outputs["name"]}
    ]


def test_admin_credentials_are_never_listed(stack_run: StackRun) -> None:
    assert not [t for t, _ in stack_run.calls if "AdminCredentials" in t]


# ---------------------------------------------------------------------------------------------- preview


def test_a_preview_of_a_new_stack_declares_everything_and_fetches_nothing(store_url: str) -> None:
    run = harness.run_program(stack="prod", preview=True, model_store=store_url)
    assert len(run.resources) == 50
    # Computed values are unknown in a preview of a new stack: the fetch (it needs the store's URL) and the
    # push login never run, nothing is written, and the outputs that depend on them stay unknown.
    assert run.store_urls == [] and run.acr_exchanges == []
    assert not (run.workdir / "build").exists()
    assert {"image", "model_version", "model_sha256", "model_store_url", "kubeconfig", "promotion"} <= (
        run.unknown_outputs
    )
    # Known without any computed value: the URL, from the config and the subscription.
    assert re.fullmatch(
        r"https://aiapp-prod-[0-9a-f]{6}\.westeurope\.cloudapp\.azure\.com", run.outputs["app_url"]
    )
    assert run.one("azure-native:containerservice:ManagedCluster").inputs["disableLocalAccounts"] is True


@pytest.mark.parametrize("stack", ["dev", "prod"])
def test_stack_files_only_use_known_keys(stack: str) -> None:
    from infra.config import KEYS

    for key in harness.stack_config(stack):
        namespace, name = key.split(":")
        assert namespace == "aiapp"
        assert name in KEYS, f"{key} in Pulumi.{stack}.yaml is not a key of infra/config"
