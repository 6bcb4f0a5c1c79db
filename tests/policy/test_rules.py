"""Each policy of the pack on resources that pass and resources that violate it, with the exact message.

The validators run through pulumi_policy's own ResourceValidationPolicy.validate, with properties decoded by
pulumi_policy exactly as the analyzer decodes what the engine sends (see engine.py).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import pytest
from pulumi_policy import EnforcementLevel, ResourceValidationPolicy, StackValidationPolicy
from pulumi_policy.proxy import UNKNOWN_STRING_VALUE, UnknownValueError

from policy.rules import ALL_POLICIES, RESOURCE_POLICIES, STACK_POLICIES, azure, devops, kubernetes
from policy.rules.devops import name_looks_secret
from policy.rules.tags import UnknownAzureType, takes_tags

from .edge_cases import RESOURCE_CASES as EDGE_CASES
from .edge_cases import STACK_RESOURCE_CASES as EDGE_STACK_CASES
from .engine import StackResource, run_policy, run_stack_policy, urn
from .resources import (
    APP_SERVICE,
    BLOB_CONTAINER,
    BUILD_DEFINITION,
    COMPLIANT,
    CONTAINER,
    DELETE,
    DEPLOYMENT,
    MANAGED_CLUSTER,
    METRICS_SERVICE,
    REGISTRY,
    RESOURCE_GROUP,
    ROLE_ASSIGNMENT,
    SERVICE_ENDPOINT_AZURERM,
    STORAGE_ACCOUNT,
    VARIABLE_GROUP,
    changed,
)

POLICIES: dict[str, ResourceValidationPolicy] = {policy.name: policy for policy in RESOURCE_POLICIES}
STACK: dict[str, StackValidationPolicy] = {policy.name: policy for policy in STACK_POLICIES}
POD = "spec.template.spec"
C0 = f"{POD}.containers.0"
WEB = "Deployment 'subject' container 'web'"


@dataclass(frozen=True)
class Case:
    policy: str
    resource_type: str
    props: dict[str, Any]
    violations: list[str] = field(default_factory=list)

    @property
    def passes(self) -> bool:
        return not self.violations


def ok(policy: str, resource_type: str, props: dict[str, Any]) -> Case:
    return Case(policy, resource_type, props)


def bad(policy: str, resource_type: str, props: dict[str, Any], *violations: str) -> Case:
    return Case(policy, resource_type, props, list(violations))


RG = "azure-native:resources:ResourceGroup"

CASES: dict[str, Case] = {
    # --- Azure ---------------------------------------------------------------------------------------------
    "acr admin off": ok("acr-admin-user-disabled", azure.REGISTRY, REGISTRY),
    "acr admin on": bad(
        "acr-admin-user-disabled",
        azure.REGISTRY,
        changed(REGISTRY, "adminUserEnabled", True),
        "Container registry 'subject': adminUserEnabled must be false, found true.",
    ),
    "acr admin unset": bad(
        "acr-admin-user-disabled",
        azure.REGISTRY,
        changed(REGISTRY, "adminUserEnabled", DELETE),
        "Container registry 'subject': adminUserEnabled must be false, found not set.",
    ),
    "storage https only": ok("storage-https-only", azure.STORAGE_ACCOUNT, STORAGE_ACCOUNT),
    "storage http allowed": bad(
        "storage-https-only",
        azure.STORAGE_ACCOUNT,
        changed(STORAGE_ACCOUNT, "enableHttpsTrafficOnly", False),
        "Storage account 'subject': enableHttpsTrafficOnly must be true, found false.",
    ),
    "storage tls 1.2": ok("storage-min-tls-1-2", azure.STORAGE_ACCOUNT, STORAGE_ACCOUNT),
    "storage tls 1.3": ok(
        "storage-min-tls-1-2", azure.STORAGE_ACCOUNT, changed(STORAGE_ACCOUNT, "minimumTlsVersion", "TLS1_3")
    ),
    "storage tls 1.0": bad(
        "storage-min-tls-1-2",
        azure.STORAGE_ACCOUNT,
        changed(STORAGE_ACCOUNT, "minimumTlsVersion", "TLS1_0"),
        'Storage account \'subject\': minimumTlsVersion must be "TLS1_2" or later, found "TLS1_0".',
    ),
    "storage tls unset": bad(
        "storage-min-tls-1-2",
        azure.STORAGE_ACCOUNT,
        changed(STORAGE_ACCOUNT, "minimumTlsVersion", DELETE),
        "Storage account 'subject': minimumTlsVersion must be \"TLS1_2\" or later, found not set.",
    ),
    "storage blobs private": ok("storage-no-public-blob-access", azure.STORAGE_ACCOUNT, STORAGE_ACCOUNT),
    "storage blobs public": bad(
        "storage-no-public-blob-access",
        azure.STORAGE_ACCOUNT,
        changed(STORAGE_ACCOUNT, "allowBlobPublicAccess", True),
        "Storage account 'subject': allowBlobPublicAccess must be false, found true.",
    ),
    "storage shared key off": ok(
        "storage-shared-key-access-disabled", azure.STORAGE_ACCOUNT, STORAGE_ACCOUNT
    ),
    "storage shared key unset": bad(
        "storage-shared-key-access-disabled",
        azure.STORAGE_ACCOUNT,
        changed(STORAGE_ACCOUNT, "allowSharedKeyAccess", DELETE),
        "Storage account 'subject': allowSharedKeyAccess must be false, found not set.",
    ),
    "container private": ok("blob-container-private", azure.BLOB_CONTAINER, BLOB_CONTAINER),
    "container default": ok(
        "blob-container-private", azure.BLOB_CONTAINER, changed(BLOB_CONTAINER, "publicAccess", DELETE)
    ),
    "container public": bad(
        "blob-container-private",
        azure.BLOB_CONTAINER,
        changed(BLOB_CONTAINER, "publicAccess", "Blob"),
        'Blob container \'subject\': publicAccess must be "None" or unset, found "Blob".',
    ),
    "aks rbac": ok("aks-rbac-enabled", azure.MANAGED_CLUSTER, MANAGED_CLUSTER),
    "aks no rbac": bad(
        "aks-rbac-enabled",
        azure.MANAGED_CLUSTER,
        changed(MANAGED_CLUSTER, "enableRBAC", False),
        "AKS cluster 'subject': enableRBAC must be true, found false.",
    ),
    "aks entra": ok("aks-entra-id-azure-rbac", azure.MANAGED_CLUSTER, MANAGED_CLUSTER),
    "aks entra without azure rbac": bad(
        "aks-entra-id-azure-rbac",
        azure.MANAGED_CLUSTER,
        changed(MANAGED_CLUSTER, "aadProfile.enableAzureRBAC", False),
        "AKS cluster 'subject': aadProfile.enableAzureRBAC must be true, found false.",
    ),
    "aks no entra": bad(
        "aks-entra-id-azure-rbac",
        azure.MANAGED_CLUSTER,
        changed(MANAGED_CLUSTER, "aadProfile", DELETE),
        "AKS cluster 'subject': aadProfile.managed must be true, found not set.",
        "AKS cluster 'subject': aadProfile.enableAzureRBAC must be true, found not set.",
    ),
    "aks oidc": ok("aks-oidc-issuer-enabled", azure.MANAGED_CLUSTER, MANAGED_CLUSTER),
    "aks no oidc": bad(
        "aks-oidc-issuer-enabled",
        azure.MANAGED_CLUSTER,
        changed(MANAGED_CLUSTER, "oidcIssuerProfile.enabled", False),
        "AKS cluster 'subject': oidcIssuerProfile.enabled must be true, found false.",
    ),
    "aks workload identity": ok("aks-workload-identity-enabled", azure.MANAGED_CLUSTER, MANAGED_CLUSTER),
    "aks no workload identity": bad(
        "aks-workload-identity-enabled",
        azure.MANAGED_CLUSTER,
        changed(MANAGED_CLUSTER, "securityProfile", DELETE),
        "AKS cluster 'subject': securityProfile.workloadIdentity.enabled must be true, found not set.",
    ),
    "aks local accounts off": ok("aks-local-accounts-disabled", azure.MANAGED_CLUSTER, MANAGED_CLUSTER),
    "aks local accounts on": bad(
        "aks-local-accounts-disabled",
        azure.MANAGED_CLUSTER,
        changed(MANAGED_CLUSTER, "disableLocalAccounts", False),
        "AKS cluster 'subject': disableLocalAccounts must be true, found false.",
    ),
    "role assignment typed": ok(
        "role-assignment-explicit-principal-type", azure.ROLE_ASSIGNMENT, ROLE_ASSIGNMENT
    ),
    "role assignment untyped": bad(
        "role-assignment-explicit-principal-type",
        azure.ROLE_ASSIGNMENT,
        changed(ROLE_ASSIGNMENT, "principalType", DELETE),
        "Role assignment 'subject': principalType must be one of User, Group, ServicePrincipal, "
        "ForeignGroup, Device, found not set.",
    ),
    "role assignment bad type": bad(
        "role-assignment-explicit-principal-type",
        azure.ROLE_ASSIGNMENT,
        changed(ROLE_ASSIGNMENT, "principalType", "ManagedIdentity"),
        "Role assignment 'subject': principalType must be one of User, Group, ServicePrincipal, "
        'ForeignGroup, Device, found "ManagedIdentity".',
    ),
    "tags on registry": ok("azure-required-tags", azure.REGISTRY, REGISTRY),
    "no tags needed on role assignment": ok("azure-required-tags", azure.ROLE_ASSIGNMENT, ROLE_ASSIGNMENT),
    "no tags needed on blob container": ok("azure-required-tags", azure.BLOB_CONTAINER, BLOB_CONTAINER),
    "tags missing on resource group": bad(
        "azure-required-tags",
        RG,
        changed(RESOURCE_GROUP, "tags", DELETE),
        "azure-native:resources:ResourceGroup 'subject': tags must include non-empty owner, environment; "
        "missing or empty: owner, environment.",
    ),
    "empty owner on cluster": bad(
        "azure-required-tags",
        azure.MANAGED_CLUSTER,
        changed(MANAGED_CLUSTER, "tags.owner", "  "),
        "azure-native:containerservice:ManagedCluster 'subject': tags must include non-empty owner, "
        "environment; missing or empty: owner.",
    ),
    "unknown azure type fails closed": bad(
        "azure-required-tags",
        "azure-native:nosuchmodule:Thing",
        {"tags": {"owner": "a", "environment": "dev"}},
        "azure-native:nosuchmodule:Thing 'subject': cannot tell whether it takes tags "
        "('azure-native:nosuchmodule:Thing': the installed pulumi-azure-native has no "
        "pulumi_azure_native.nosuchmodule); run the pack in the program's virtualenv so it sees the same "
        "pulumi-azure-native.",
    ),
    # --- Kubernetes: containers ---------------------------------------------------------------------------
    "non-root from pod": ok(
        "k8s-run-as-non-root",
        kubernetes.DEPLOYMENT,
        changed(DEPLOYMENT, f"{C0}.securityContext.runAsNonRoot", DELETE),
    ),
    "root allowed": bad(
        "k8s-run-as-non-root",
        kubernetes.DEPLOYMENT,
        changed(
            changed(DEPLOYMENT, f"{C0}.securityContext.runAsNonRoot", DELETE), f"{POD}.securityContext", {}
        ),
        f"{WEB}: runAsNonRoot must be true (on the container or the pod), found not set.",
    ),
    "container overrides pod to root": bad(
        "k8s-run-as-non-root",
        kubernetes.DEPLOYMENT,
        changed(
            changed(DEPLOYMENT, f"{C0}.securityContext.runAsNonRoot", False),
            f"{C0}.securityContext.runAsUser",
            0,
        ),
        f"{WEB}: runAsNonRoot must be true (on the container or the pod), found false.",
        f"{WEB}: runAsUser must not be 0 (root).",
    ),
    "init container as root": bad(
        "k8s-run-as-non-root",
        kubernetes.DEPLOYMENT,
        changed(
            DEPLOYMENT,
            f"{POD}.initContainers",
            [CONTAINER | {"name": "init", "securityContext": {"runAsUser": 0}}],
        ),
        "Deployment 'subject' init container 'init': runAsUser must not be 0 (root).",
    ),
    "read-only root": ok("k8s-read-only-root-filesystem", kubernetes.DEPLOYMENT, DEPLOYMENT),
    "writable root": bad(
        "k8s-read-only-root-filesystem",
        kubernetes.DEPLOYMENT,
        changed(DEPLOYMENT, f"{C0}.securityContext.readOnlyRootFilesystem", DELETE),
        f"{WEB}: securityContext.readOnlyRootFilesystem must be true, found not set.",
    ),
    "no escalation": ok("k8s-no-privilege-escalation", kubernetes.DEPLOYMENT, DEPLOYMENT),
    "escalation by default": bad(
        "k8s-no-privilege-escalation",
        kubernetes.DEPLOYMENT,
        changed(DEPLOYMENT, f"{C0}.securityContext.allowPrivilegeEscalation", DELETE),
        f"{WEB}: securityContext.allowPrivilegeEscalation must be false, found not set.",
    ),
    "privileged": bad(
        "k8s-no-privilege-escalation",
        kubernetes.DEPLOYMENT,
        changed(DEPLOYMENT, f"{C0}.securityContext.privileged", True),
        f"{WEB}: securityContext.privileged must not be true.",
    ),
    "requests and limits": ok("k8s-resources-requests-limits", kubernetes.DEPLOYMENT, DEPLOYMENT),
    "no cpu limit": bad(
        "k8s-resources-requests-limits",
        kubernetes.DEPLOYMENT,
        changed(DEPLOYMENT, f"{C0}.resources.limits.cpu", DELETE),
        f"{WEB}: resources must set limits.cpu.",
    ),
    "no resources": bad(
        "k8s-resources-requests-limits",
        kubernetes.DEPLOYMENT,
        changed(DEPLOYMENT, f"{C0}.resources", DELETE),
        f"{WEB}: resources must set requests.cpu, requests.memory, limits.cpu, limits.memory.",
    ),
    "probes": ok("k8s-readiness-liveness-probes", kubernetes.DEPLOYMENT, DEPLOYMENT),
    "no liveness probe": bad(
        "k8s-readiness-liveness-probes",
        kubernetes.DEPLOYMENT,
        changed(DEPLOYMENT, f"{C0}.livenessProbe", DELETE),
        f"{WEB}: must define livenessProbe.",
    ),
    "no probes in a stateful set": bad(
        "k8s-readiness-liveness-probes",
        kubernetes.STATEFUL_SET,
        changed(changed(DEPLOYMENT, f"{C0}.livenessProbe", DELETE), f"{C0}.readinessProbe", DELETE),
        "StatefulSet 'subject' container 'web': must define readinessProbe and livenessProbe.",
    ),
    "no probes needed in a job": ok(
        "k8s-readiness-liveness-probes", kubernetes.JOB, changed(DEPLOYMENT, f"{C0}.livenessProbe", DELETE)
    ),
    "image by digest": ok("k8s-image-by-digest", kubernetes.DEPLOYMENT, DEPLOYMENT),
    "image by tag": bad(
        "k8s-image-by-digest",
        kubernetes.DEPLOYMENT,
        changed(DEPLOYMENT, f"{C0}.image", "acraiappdev.azurecr.io/aiapp:latest"),
        f"{WEB}: image must be pinned by digest (<repository>@sha256:<64 hex>), "
        'found "acraiappdev.azurecr.io/aiapp:latest".',
    ),
    "bare pod image by short digest": bad(
        "k8s-image-by-digest",
        kubernetes.POD,
        {"spec": {"containers": [CONTAINER | {"image": "busybox@sha256:abc"}]}},
        "Pod 'subject' container 'web': image must be pinned by digest (<repository>@sha256:<64 hex>), found "
        '"busybox@sha256:abc".',
    ),
    # --- Kubernetes: Services -----------------------------------------------------------------------------
    "app service is the load balancer": ok("k8s-only-app-service-exposed", kubernetes.SERVICE, APP_SERVICE),
    "cluster-internal service": ok("k8s-only-app-service-exposed", kubernetes.SERVICE, METRICS_SERVICE),
    "another load balancer": bad(
        "k8s-only-app-service-exposed",
        kubernetes.SERVICE,
        changed(METRICS_SERVICE, "spec.type", "LoadBalancer"),
        "Service 'subject': type LoadBalancer is reserved for the app's Service (label "
        "app.kubernetes.io/component: web), found app.kubernetes.io/component not set.",
    ),
    "node port for a non-app component": bad(
        "k8s-only-app-service-exposed",
        kubernetes.SERVICE,
        changed(
            changed(APP_SERVICE, "spec.type", "NodePort"),
            "metadata.labels",
            {"app.kubernetes.io/component": "db"},
        ),
        "Service 'subject': type NodePort is reserved for the app's Service "
        '(label app.kubernetes.io/component: web), found app.kubernetes.io/component "db".',
    ),
    "app port only": ok("k8s-metrics-port-not-exposed", kubernetes.SERVICE, APP_SERVICE),
    "metrics inside the cluster": ok("k8s-metrics-port-not-exposed", kubernetes.SERVICE, METRICS_SERVICE),
    "metrics port on the load balancer": bad(
        "k8s-metrics-port-not-exposed",
        kubernetes.SERVICE,
        changed(
            APP_SERVICE,
            "spec.ports",
            [*APP_SERVICE["spec"]["ports"], {"name": "prom", "port": 9100, "targetPort": 9090}],
        ),
        "Service 'subject' (LoadBalancer) exposes the metrics port (port 'prom': port 9100, "
        "targetPort 9090); metrics stay inside the cluster.",
    ),
    "metrics port by name": bad(
        "k8s-metrics-port-not-exposed",
        kubernetes.SERVICE,
        changed(APP_SERVICE, "spec.ports.0", {"name": "metrics", "port": 80, "targetPort": "metrics"}),
        "Service 'subject' (LoadBalancer) exposes the metrics port (port 'metrics': port 80, targetPort "
        '"metrics"); metrics stay inside the cluster.',
    ),
    # --- Azure DevOps -------------------------------------------------------------------------------------
    "variable group with a secret kept secret": ok(
        "devops-no-plaintext-secret-variables", devops.VARIABLE_GROUP, VARIABLE_GROUP
    ),
    "build definition with plain settings": ok(
        "devops-no-plaintext-secret-variables", devops.BUILD_DEFINITION, BUILD_DEFINITION
    ),
    "secret by name in plain text": bad(
        "devops-no-plaintext-secret-variables",
        devops.VARIABLE_GROUP,
        changed(
            VARIABLE_GROUP, "variables.2", {"name": "PULUMI_ACCESS_TOKEN", "isSecret": False, "value": "x"}
        ),
        "Variable group 'subject' variable 'PULUMI_ACCESS_TOKEN': the name looks secret, so isSecret must "
        "be true and the value go in secretValue (found isSecret false).",
    ),
    "secret value not marked secret": bad(
        "devops-no-plaintext-secret-variables",
        devops.VARIABLE_GROUP,
        changed(VARIABLE_GROUP, "variables.2", {"name": "BACKEND", "secretValue": "s3cr3t"}),
        "Variable group 'subject' variable 'BACKEND': has a secretValue but isSecret is not true, "
        "so it is not kept secret.",
    ),
    "secret marked but in value": bad(
        "devops-no-plaintext-secret-variables",
        devops.VARIABLE_GROUP,
        changed(
            VARIABLE_GROUP, "variables.2", {"name": "PULUMI_ACCESS_TOKEN", "isSecret": True, "value": "x"}
        ),
        "Variable group 'subject' variable 'PULUMI_ACCESS_TOKEN': is marked isSecret but carries its "
        "value in value (plain text); put it in secretValue.",
    ),
    "credential under an innocent name": bad(
        "devops-no-plaintext-secret-variables",
        devops.BUILD_DEFINITION,
        changed(
            BUILD_DEFINITION,
            "variables.0.value",
            "DefaultEndpointsProtocol=https;AccountName=st;AccountKey=abc123==;EndpointSuffix=core.windows.net",
        ),
        "Build definition 'subject' variable 'STACK': the value looks like a storage account key in a "
        "connection string; mark it isSecret and use secretValue.",
    ),
    "wif connection": ok(
        "devops-azurerm-workload-identity", devops.SERVICE_ENDPOINT_AZURERM, SERVICE_ENDPOINT_AZURERM
    ),
    "service principal secret connection": bad(
        "devops-azurerm-workload-identity",
        devops.SERVICE_ENDPOINT_AZURERM,
        changed(
            changed(SERVICE_ENDPOINT_AZURERM, "serviceEndpointAuthenticationScheme", DELETE),
            "credentials.serviceprincipalkey",
            "client-secret",
        ),
        "Azure RM service connection 'subject': serviceEndpointAuthenticationScheme must be "
        '"WorkloadIdentityFederation", found not set.',
        "Azure RM service connection 'subject': credentials.serviceprincipalkey must not be set "
        "(no long-lived secret).",
    ),
}


@pytest.mark.parametrize("case", CASES.values(), ids=CASES.keys())
def test_policy_reports_exactly_the_expected_violations(case: Case) -> None:
    assert run_policy(POLICIES[case.policy], case.resource_type, case.props) == case.violations


# --- stack policies: the policy, the stack's resources, each violation's exact (message, urn) ----------

NODE_PORT = changed(APP_SERVICE, "spec.type", "NodePort")


@dataclass(frozen=True)
class StackCase:
    policy: str
    resources: list[StackResource]
    violations: list[tuple[str, str]] = field(default_factory=list)

    @property
    def passes(self) -> bool:
        return not self.violations


STACK_CASES: dict[str, StackCase] = {
    "one public Service and internal ones": StackCase(
        "k8s-one-exposed-service",
        [
            (kubernetes.SERVICE, APP_SERVICE, "app"),
            (kubernetes.SERVICE, METRICS_SERVICE, "metrics"),
            (kubernetes.DEPLOYMENT, DEPLOYMENT, "app"),
        ],
    ),
    "no public Service": StackCase("k8s-one-exposed-service", [(kubernetes.SERVICE, METRICS_SERVICE, "m")]),
    # The label is no way around it: both carry app.kubernetes.io/component: web.
    "a second public Service with the app's label": StackCase(
        "k8s-one-exposed-service",
        [
            (kubernetes.SERVICE, APP_SERVICE, "app"),
            (kubernetes.SERVICE, METRICS_SERVICE, "metrics"),
            (kubernetes.SERVICE, NODE_PORT, "debug"),
        ],
        [
            (
                "Service 'app' (LoadBalancer) is one of 2 Services exposed outside the cluster ('app' "
                "(LoadBalancer), 'debug' (NodePort)); at most one may be, the app's.",
                urn(kubernetes.SERVICE, "app"),
            ),
            (
                "Service 'debug' (NodePort) is one of 2 Services exposed outside the cluster ('app' "
                "(LoadBalancer), 'debug' (NodePort)); at most one may be, the app's.",
                urn(kubernetes.SERVICE, "debug"),
            ),
        ],
    ),
}


# The edge's cases live in edge_cases.py (this file is long enough).
CASES |= {name: Case(*case) for name, case in EDGE_CASES.items()}
STACK_CASES |= {name: StackCase(*case) for name, case in EDGE_STACK_CASES.items()}


@pytest.mark.parametrize("case", STACK_CASES.values(), ids=STACK_CASES.keys())
def test_stack_policy_reports_exactly_the_expected_violations(case: StackCase) -> None:
    assert run_stack_policy(STACK[case.policy], case.resources) == case.violations


def test_the_compliant_examples_together_pass_every_stack_policy() -> None:
    stack = [(resource_type, props, f"r{i}") for i, (resource_type, props) in enumerate(COMPLIANT)]
    assert kubernetes.SERVICE in {resource_type for resource_type, _, _ in stack}
    found = {name: run_stack_policy(policy, stack) for name, policy in STACK.items()}
    assert {name: violations for name, violations in found.items() if violations} == {}
    assert found.keys() == STACK.keys()


def test_every_policy_has_a_passing_and_a_violating_case() -> None:
    all_cases: list[Case | StackCase] = [*CASES.values(), *STACK_CASES.values()]
    unknown = {case.policy for case in all_cases} - POLICIES.keys() - STACK.keys()
    assert not unknown, f"cases name policies the pack does not have: {unknown}"
    assert {case.policy for case in CASES.values()} <= POLICIES.keys(), "a stack policy among CASES"
    for name in [*POLICIES, *STACK]:
        cases = [case for case in all_cases if case.policy == name]
        assert any(case.passes for case in cases), f"{name} has no passing case"
        assert any(not case.passes for case in cases), f"{name} has no violating case"


@pytest.mark.parametrize(
    ("resource_type", "props"), COMPLIANT, ids=[f"{t}#{i}" for i, (t, _) in enumerate(COMPLIANT)]
)
def test_compliant_examples_pass_every_policy(resource_type: str, props: dict[str, Any]) -> None:
    violations = {name: run_policy(policy, resource_type, props) for name, policy in POLICIES.items()}
    assert {name: found for name, found in violations.items() if found} == {}


def test_policies_are_uniquely_named_mandatory_and_explained() -> None:
    assert len({policy.name for policy in ALL_POLICIES}) == len(ALL_POLICIES), "two policies share a name"
    assert len(ALL_POLICIES) == len(POLICIES) + len(STACK)
    for policy in ALL_POLICIES:
        assert policy.enforcement_level is EnforcementLevel.MANDATORY, policy.name
        assert policy.description.endswith("."), policy.name
        assert policy.remediation_steps, policy.name


def test_an_unknown_value_defers_the_policy_instead_of_passing_it() -> None:
    """During a preview an image digest is not known yet: the policy must not treat that as compliant."""
    props = changed(DEPLOYMENT, f"{C0}.image", UNKNOWN_STRING_VALUE)
    with pytest.raises(UnknownValueError) as raised:
        run_policy(POLICIES["k8s-image-by-digest"], kubernetes.DEPLOYMENT, props)
    assert (
        raised.value.message
        == "string value at .spec.template.spec.containers.0.image can't be known during preview"
    )


@pytest.mark.parametrize(
    ("name", "secret"),
    [
        ("PULUMI_ACCESS_TOKEN", True),
        ("PULUMI_CONFIG_PASSPHRASE", True),
        ("storageAccountKey", True),
        ("ARM_CLIENT_SECRET", True),
        ("db.connection-string", True),
        ("GITHUB_PAT", True),
        ("KEY_VAULT_NAME", False),
        ("keyVaultUrl", False),
        ("PATH", False),
        ("PULUMI_BACKEND_URL", False),
        ("ARM_USE_OIDC", False),
    ],
)
def test_secret_looking_names(name: str, secret: bool) -> None:
    assert name_looks_secret(name) is secret


def test_which_azure_resources_take_tags_comes_from_the_installed_sdk() -> None:
    assert takes_tags(azure.STORAGE_ACCOUNT) is True
    assert takes_tags(azure.MANAGED_CLUSTER) is True
    assert takes_tags(azure.BLOB_CONTAINER) is False
    assert takes_tags(azure.ROLE_ASSIGNMENT) is False
    # Its args class is ActionGroupInitArgs: monitor.ActionGroupArgs is an input type without tags.
    assert takes_tags("azure-native:monitor:ActionGroup") is True
    with pytest.raises(UnknownAzureType, match="no such resource"):
        takes_tags("azure-native:storage:NoSuchThing")
