"""Compliant example resources, as the engine passes them to policies (camelCase inputs), and a mutator.

Each test starts from one of these and breaks exactly one thing, so a violation can only come from that thing.
"""

from __future__ import annotations

import copy
from typing import Any

from policy.rules import azure, devops, kubernetes

TAGS = {"owner": "platform-team", "environment": "dev"}
DIGEST = "sha256:" + "ab" * 32
IMAGE = f"acraiappdev.azurecr.io/aiapp@{DIGEST}"
DELETE = object()  # `changed(resource, path, DELETE)` removes the property


def changed(resource: dict[str, Any], path: str, value: Any) -> dict[str, Any]:
    """A deep copy of `resource` with the dotted `path` set to `value` (deleted when value is DELETE).
    A numeric segment indexes a list: "spec.template.spec.containers.0.image"."""
    result = copy.deepcopy(resource)
    *parents, last = path.split(".")
    node: Any = result
    for key in parents:
        node = node[int(key)] if isinstance(node, list) else node.setdefault(key, {})
    if value is DELETE:
        del node[int(last) if isinstance(node, list) else last]
    elif isinstance(node, list):
        node[int(last)] = value
    else:
        node[last] = value
    return result


REGISTRY = {
    "resourceGroupName": "rg-aiapp-dev",
    "sku": {"name": "Basic"},
    "adminUserEnabled": False,
    "tags": TAGS,
}

STORAGE_ACCOUNT = {
    "resourceGroupName": "rg-aiapp-dev",
    "kind": "StorageV2",
    "sku": {"name": "Standard_LRS"},
    "enableHttpsTrafficOnly": True,
    "minimumTlsVersion": "TLS1_2",
    "allowBlobPublicAccess": False,
    "allowSharedKeyAccess": False,
    "tags": TAGS,
}

BLOB_CONTAINER = {
    "resourceGroupName": "rg-aiapp-dev",
    "accountName": "staiappdev",
    "publicAccess": "None",
}

MANAGED_CLUSTER = {
    "resourceGroupName": "rg-aiapp-dev",
    "dnsPrefix": "aiapp-dev",
    "enableRBAC": True,
    "disableLocalAccounts": True,
    "aadProfile": {"managed": True, "enableAzureRBAC": True},
    "oidcIssuerProfile": {"enabled": True},
    "securityProfile": {"workloadIdentity": {"enabled": True}},
    "identity": {"type": "SystemAssigned"},
    "agentPoolProfiles": [{"name": "system", "mode": "System", "count": 1, "vmSize": "Standard_B2s"}],
    "tags": TAGS,
}

ROLE_ASSIGNMENT = {
    "principalId": "11111111-1111-1111-1111-111111111111",
    "principalType": "ServicePrincipal",
    # AcrPull, on a registry
    "roleDefinitionId": "/providers/Microsoft.Authorization/roleDefinitions/"
    "7f951dda-4ed3-4680-a7ca-43fe172d538d",
    "scope": "/subscriptions/0/resourceGroups/rg-aiapp-dev/providers/Microsoft.ContainerRegistry/"
    "registries/acraiappdev",
}

RESOURCE_GROUP = {"location": "westeurope", "tags": TAGS}

CONTAINER = {
    "name": "web",
    "image": IMAGE,
    "ports": [{"name": "http", "containerPort": 8080}, {"name": "metrics", "containerPort": 9090}],
    "securityContext": {
        "runAsNonRoot": True,
        "runAsUser": 10001,
        "readOnlyRootFilesystem": True,
        "allowPrivilegeEscalation": False,
        "capabilities": {"drop": ["ALL"]},
    },
    "resources": {"requests": {"cpu": "100m", "memory": "256Mi"}, "limits": {"cpu": "1", "memory": "512Mi"}},
    "readinessProbe": {"httpGet": {"path": "/readyz", "port": "http"}},
    "livenessProbe": {"httpGet": {"path": "/healthz", "port": "http"}},
}

DEPLOYMENT = {
    "apiVersion": "apps/v1",
    "kind": "Deployment",
    "metadata": {"name": "aiapp", "namespace": "aiapp", "labels": {"app.kubernetes.io/component": "web"}},
    "spec": {
        "replicas": 2,
        "selector": {"matchLabels": {"app.kubernetes.io/name": "aiapp"}},
        "template": {
            "metadata": {"labels": {"app.kubernetes.io/name": "aiapp"}},
            "spec": {
                "securityContext": {"runAsNonRoot": True, "seccompProfile": {"type": "RuntimeDefault"}},
                "containers": [CONTAINER],
            },
        },
    },
}

APP_SERVICE = {
    "apiVersion": "v1",
    "kind": "Service",
    "metadata": {"name": "aiapp", "namespace": "aiapp", "labels": {"app.kubernetes.io/component": "web"}},
    "spec": {
        "type": "LoadBalancer",
        "selector": {"app.kubernetes.io/name": "aiapp"},
        "ports": [{"name": "http", "port": 80, "targetPort": "http"}],
    },
}

METRICS_SERVICE = {
    "apiVersion": "v1",
    "kind": "Service",
    "metadata": {"name": "aiapp-metrics", "namespace": "aiapp"},
    "spec": {"selector": {"app.kubernetes.io/name": "aiapp"}, "ports": [{"name": "metrics", "port": 9090}]},
}

VARIABLE_GROUP = {
    "projectId": "project-id",
    "name": "aiapp-pulumi",
    "allowAccess": False,
    "variables": [
        {"name": "PULUMI_BACKEND_URL", "value": "azblob://state"},
        {"name": "KEY_VAULT_NAME", "value": "kv-aiapp"},
        {"name": "PULUMI_ACCESS_TOKEN", "isSecret": True, "secretValue": "pul-" + "0" * 40},
    ],
}

BUILD_DEFINITION = {
    "projectId": "project-id",
    "name": "ci",
    "repository": {"repoType": "TfsGit", "repoId": "repo", "ymlPath": "pipelines/ci.yml"},
    "variables": [{"name": "STACK", "value": "dev"}],
}

SERVICE_ENDPOINT_AZURERM = {
    "projectId": "project-id",
    "serviceEndpointName": "azure-deploy",
    "serviceEndpointAuthenticationScheme": "WorkloadIdentityFederation",
    "credentials": {"serviceprincipalid": "22222222-2222-2222-2222-222222222222"},
    "azurermSpnTenantid": "33333333-3333-3333-3333-333333333333",
    "azurermSubscriptionId": "44444444-4444-4444-4444-444444444444",
    "azurermSubscriptionName": "aiapp",
}

# Every compliant example, by type token: each must pass every policy of the pack.
COMPLIANT: list[tuple[str, dict[str, Any]]] = [
    ("azure-native:resources:ResourceGroup", RESOURCE_GROUP),
    (azure.REGISTRY, REGISTRY),
    (azure.STORAGE_ACCOUNT, STORAGE_ACCOUNT),
    (azure.BLOB_CONTAINER, BLOB_CONTAINER),
    (azure.MANAGED_CLUSTER, MANAGED_CLUSTER),
    (azure.ROLE_ASSIGNMENT, ROLE_ASSIGNMENT),
    (kubernetes.DEPLOYMENT, DEPLOYMENT),
    (kubernetes.SERVICE, APP_SERVICE),
    (kubernetes.SERVICE, METRICS_SERVICE),
    (devops.VARIABLE_GROUP, VARIABLE_GROUP),
    (devops.BUILD_DEFINITION, BUILD_DEFINITION),
    (devops.SERVICE_ENDPOINT_AZURERM, SERVICE_ENDPOINT_AZURERM),
]
