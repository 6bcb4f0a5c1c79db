"""The engine's answers under mocks: outputs shaped like the providers' for each resource type the program
declares (OUTPUTS, a table from type token to function), and for the invokes it makes (CALLS, by call token).

Values are deterministic (names and ids derive from the resource's name and inputs), so tests can assert on
exact values; the mocked Azure login is the constants below.
"""

from __future__ import annotations

import base64
import hashlib
import itertools
import json
import uuid
from collections.abc import Callable, Mapping
from typing import Any

import yaml
from pulumi.runtime.mocks import MockCallArgs, MockResourceArgs, Mocks

from tests.harness.records import StackRun
from tests.harness.sdk import unwrap_secrets

# Fixed identities of the mocked Azure login, so tests can assert on exact values.
TENANT_ID = "72f988bf-0000-4000-8000-00000000a11e"
SUBSCRIPTION_ID = "11111111-2222-4333-8444-555555555555"
CLIENT_OBJECT_ID = "0b0b0b0b-1111-4222-8333-444444444444"
CLIENT_ID = "04b07795-8ddb-461a-bbee-02f9e1bf7b46"  # the Azure CLI's app: a person's `az login`
ARM_TOKEN = "mock-entra-token-for:https://management.azure.com/.default"
AKS_SCOPE = "6dae42f8-4368-4678-94ff-3960e28e3630/.default"
# What Azure DevOps' lookups answer for an existing project and repository.
EXISTING_PROJECT_ID = "0f0f0f0f-1111-4222-8333-444444444444"
EXISTING_REPO_ID = "0e0e0e0e-1111-4222-8333-444444444444"
DEVOPS_ORGANIZATION = "contoso"  # in the mocked service connections' federation subjects
# An existing registration's service principal (aiapp:apiClientId) and its app role Model.Invoke, as Entra's
# lookup answers them.
EXISTING_SP_OBJECT_ID = "0c0c0c0c-1111-4222-8333-444444444444"
EXISTING_APP_ROLE_ID = "0a0a0a0a-1111-4222-8333-444444444444"

ResourceOutputs = Callable[["AzureMocks", MockResourceArgs], dict[str, Any]]
CallResult = Callable[["AzureMocks", dict[str, Any]], dict[str, Any]]


def _suffix(*parts: str, length: int = 8) -> str:
    """A deterministic stand-in for the random suffix Azure auto-naming adds."""
    return hashlib.sha256("/".join(parts).encode()).hexdigest()[:length]


def _guid(*parts: str) -> str:
    return str(uuid.uuid5(uuid.NAMESPACE_URL, "/".join(parts)))


def _rg_id(resource_group: str) -> str:
    return f"/subscriptions/{SUBSCRIPTION_ID}/resourceGroups/{resource_group}"


def _rg(args: MockResourceArgs) -> str:
    return args.inputs.get("resourceGroupName", "rg")


def _location(args: MockResourceArgs) -> str:
    return args.inputs.get("location", "westeurope")


def _auto_name(args: MockResourceArgs, key: str) -> str:
    return args.inputs.get(key) or f"{args.name}{_suffix(args.name)}"


# ------------------------------------------------------------------------------------------ Azure resources


def _resource_group(_: AzureMocks, args: MockResourceArgs) -> dict[str, Any]:
    name = _auto_name(args, "resourceGroupName")
    return {"id": _rg_id(name), "name": name, "location": _location(args), "provisioningState": "Succeeded"}


def _registry(_: AzureMocks, args: MockResourceArgs) -> dict[str, Any]:
    if args.resource_id:  # an existing registry, read by its id: name and group from the id
        name = args.resource_id.rsplit("/", 1)[-1]
        return {"id": args.resource_id, "name": name, "loginServer": f"{name.lower()}.azurecr.io"}
    name = _auto_name(args, "registryName")
    return {
        "id": f"{_rg_id(_rg(args))}/providers/Microsoft.ContainerRegistry/registries/{name}",
        "name": name,
        "loginServer": f"{name.lower()}.azurecr.io",
        "provisioningState": "Succeeded",
    }


def _storage_account(_: AzureMocks, args: MockResourceArgs) -> dict[str, Any]:
    name = _auto_name(args, "accountName")
    endpoints = {
        kind: f"https://{name}.{kind}.core.windows.net/" for kind in ("blob", "dfs", "queue", "table")
    }
    return {
        "id": f"{_rg_id(_rg(args))}/providers/Microsoft.Storage/storageAccounts/{name}",
        "name": name,
        "primaryEndpoints": {
            **endpoints,
            "file": f"https://{name}.file.core.windows.net/",
            "web": f"https://{name}.z6.web.core.windows.net/",
        },
        "provisioningState": "Succeeded",
    }


def _blob_service_id(args: MockResourceArgs) -> str:
    account = args.inputs.get("accountName", "account")
    return f"{_rg_id(_rg(args))}/providers/Microsoft.Storage/storageAccounts/{account}/blobServices/default"


def _blob_container(_: AzureMocks, args: MockResourceArgs) -> dict[str, Any]:
    name = args.inputs.get("containerName") or args.name
    return {"id": f"{_blob_service_id(args)}/containers/{name}", "name": name}


def _blob_service_properties(_: AzureMocks, args: MockResourceArgs) -> dict[str, Any]:
    return {"id": _blob_service_id(args), "name": "default"}


def _role_assignment(_: AzureMocks, args: MockResourceArgs) -> dict[str, Any]:
    inputs = args.inputs
    guid = inputs.get("roleAssignmentName") or _guid(
        args.name, json.dumps(inputs, sort_keys=True, default=str)
    )
    return {
        "id": f"{inputs.get('scope', '')}/providers/Microsoft.Authorization/roleAssignments/{guid}",
        "name": guid,
    }


def _role_definition(_: AzureMocks, args: MockResourceArgs) -> dict[str, Any]:
    guid = _guid("role", args.name)
    return {"id": f"{args.inputs['scope']}/providers/Microsoft.Authorization/roleDefinitions/{guid}"}


def _managed_cluster(_: AzureMocks, args: MockResourceArgs) -> dict[str, Any]:
    inputs, rg, location = args.inputs, _rg(args), _location(args)
    name = _auto_name(args, "resourceName")
    node_group = f"MC_{rg}_{name}_{location}"
    return {
        "id": f"{_rg_id(rg)}/providers/Microsoft.ContainerService/managedClusters/{name}",
        "name": name,
        "fqdn": f"{inputs.get('dnsPrefix', name)}-{_suffix(name)}.hcp.{location}.azmk8s.io",
        "currentKubernetesVersion": f"{inputs.get('kubernetesVersion', '1.33')}.3",
        "nodeResourceGroup": node_group,
        "provisioningState": "Succeeded",
        "identity": {
            **(inputs.get("identity") or {}),
            "principalId": _guid(name, "cluster-identity"),
            "tenantId": TENANT_ID,
        },
        "identityProfile": {
            "kubeletidentity": {
                "clientId": _guid(name, "kubelet-client"),
                "objectId": _guid(name, "kubelet-object"),
                "resourceId": f"{_rg_id(node_group)}"
                f"/providers/Microsoft.ManagedIdentity/userAssignedIdentities/{name}-agentpool",
            }
        },
        "oidcIssuerProfile": {
            **(inputs.get("oidcIssuerProfile") or {}),
            "issuerURL": f"https://{location}.oic.prod-aks.azure.com/{TENANT_ID}/{_guid(name, 'oidc')}/",
        },
    }


def _user_assigned_identity(_: AzureMocks, args: MockResourceArgs) -> dict[str, Any]:
    name = args.inputs.get("resourceName", args.name)
    return {
        "id": f"{_rg_id(args.inputs['resourceGroupName'])}/providers/Microsoft.ManagedIdentity/"
        f"userAssignedIdentities/{name}",
        "name": name,
        "clientId": _guid("client", name),
        "principalId": _guid("principal", name),
        "tenantId": TENANT_ID,
    }


def _arm(provider: str, key: str) -> ResourceOutputs:
    """A resource of resource group scope: its ARM id and name (the given name, else an auto-name)."""

    def outputs(_: AzureMocks, args: MockResourceArgs) -> dict[str, Any]:
        name = _auto_name(args, key)
        return {"id": f"{_rg_id(_rg(args))}/providers/{provider}/{name}", "name": name}

    return outputs


def _monitor_workspace(mocks: AzureMocks, args: MockResourceArgs) -> dict[str, Any]:
    workspace = _arm("Microsoft.Monitor/accounts", "azureMonitorWorkspaceName")(mocks, args)
    name, location = workspace["name"], _location(args)
    return {
        **workspace,
        "accountId": _guid("amw", name),
        "metrics": {
            "internalId": f"mac_{_guid('amw', name)}",
            "prometheusQueryEndpoint": (
                f"https://{name}-{_suffix(name, length=4)}.{location}.prometheus.monitor.azure.com"
            ),
        },
        "provisioningState": "Succeeded",
    }


def _log_analytics_workspace(mocks: AzureMocks, args: MockResourceArgs) -> dict[str, Any]:
    workspace = _arm("Microsoft.OperationalInsights/workspaces", "workspaceName")(mocks, args)
    return {**workspace, "customerId": _guid("law", workspace["name"]), "provisioningState": "Succeeded"}


def _association(_: AzureMocks, args: MockResourceArgs) -> dict[str, Any]:
    name = args.inputs.get("associationName") or args.name
    return {
        "id": f"{args.inputs['resourceUri']}/providers/Microsoft.Insights/dataCollectionRuleAssociations/"
        f"{name}",
        "name": name,
    }


# ------------------------------------------------------------------------------ Docker, Kubernetes, DevOps


def _docker_image(_: AzureMocks, args: MockResourceArgs) -> dict[str, Any]:
    inputs = args.inputs
    image_name = str(inputs.get("imageName", f"{args.name}:latest"))
    repository = image_name.rsplit(":", 1)[0] if ":" in image_name.split("/")[-1] else image_name
    digest = hashlib.sha256(json.dumps(inputs, sort_keys=True, default=str).encode()).hexdigest()
    build = inputs.get("build") or {}
    return {
        "id": f"sha256:{_suffix(digest, length=64)}",
        "repoDigest": f"{repository}@sha256:{digest}",
        "baseImageName": image_name,
        "registryServer": (inputs.get("registry") or {}).get("server", ""),
        "context": build.get("context", ""),
        "dockerfile": build.get("dockerfile", ""),
        "platform": build.get("platform", ""),
    }


def _k8s_id(args: MockResourceArgs) -> str:
    meta = args.inputs.get("metadata") or {}
    name = meta.get("name", args.name)
    return f"{meta['namespace']}/{name}" if meta.get("namespace") else name


def _k8s_service(_: AzureMocks, args: MockResourceArgs) -> dict[str, Any]:
    spec = {**(args.inputs.get("spec") or {}), "clusterIP": "10.0.113.7"}
    status: dict[str, Any] = {}
    if spec.get("type") == "LoadBalancer":
        status = {"loadBalancer": {"ingress": [{"ip": "20.31.42.53", "ipMode": "VIP"}]}}
    return {"spec": spec, "status": status, "id": _k8s_id(args)}


def _k8s_namespace(_: AzureMocks, args: MockResourceArgs) -> dict[str, Any]:
    return {"status": {"phase": "Active"}, "id": _k8s_id(args)}


def _k8s_object(_: AzureMocks, args: MockResourceArgs) -> dict[str, Any]:
    return {"id": _k8s_id(args)}


def _guid_id(_: AzureMocks, args: MockResourceArgs) -> dict[str, Any]:
    return {"id": _guid(args.typ, args.name)}


def _devops_number(mocks: AzureMocks, _: MockResourceArgs) -> dict[str, Any]:
    """Azure DevOps numbers definitions, variable groups and environments."""
    return {"id": str(next(mocks.devops_numbers))}


def _azurerm_service_endpoint(_: AzureMocks, args: MockResourceArgs) -> dict[str, Any]:
    endpoint_id = _guid(args.name)
    return {
        "id": endpoint_id,
        "workloadIdentityFederationIssuer": f"https://login.microsoftonline.com/{TENANT_ID}/v2.0",
        "workloadIdentityFederationSubject": (
            f"/eid1/c/pub/t/tenant/a/app/sc/{DEVOPS_ORGANIZATION}/{endpoint_id}"
        ),
        "servicePrincipalId": _guid("sp", args.name),
    }


# ------------------------------------------------------------------------------------------------ Entra ID


def _entra_application(_: AzureMocks, args: MockResourceArgs) -> dict[str, Any]:
    object_id = _guid("application", args.name)
    inputs = args.inputs
    scopes = (inputs.get("api") or {}).get("oauth2PermissionScopes") or []
    return {
        "id": f"/applications/{object_id}",
        "objectId": object_id,
        "clientId": _guid("client", args.name),
        "appRoleIds": {role["value"]: role["id"] for role in inputs.get("appRoles") or []},
        "oauth2PermissionScopeIds": {scope["value"]: scope["id"] for scope in scopes},
    }


def _entra_service_principal(_: AzureMocks, args: MockResourceArgs) -> dict[str, Any]:
    object_id = _guid("service-principal", str(args.inputs.get("clientId")))
    return {"id": f"/servicePrincipals/{object_id}", "objectId": object_id}


# The outputs of each resource type, by type token; a type not here falls to the first matching prefix.
OUTPUTS: dict[str, ResourceOutputs] = {
    "azure-native:resources:ResourceGroup": _resource_group,
    "azure-native:containerregistry:Registry": _registry,
    "azure-native:storage:StorageAccount": _storage_account,
    "azure-native:storage:BlobContainer": _blob_container,
    "azure-native:storage:BlobServiceProperties": _blob_service_properties,
    "azure-native:authorization:RoleAssignment": _role_assignment,
    "azure-native:authorization:RoleDefinition": _role_definition,
    "azure-native:containerservice:ManagedCluster": _managed_cluster,
    "azure-native:managedidentity:UserAssignedIdentity": _user_assigned_identity,
    "azure-native:monitor:AzureMonitorWorkspace": _monitor_workspace,
    "azure-native:operationalinsights:Workspace": _log_analytics_workspace,
    "azure-native:monitor:ActionGroup": _arm("Microsoft.Insights/actionGroups", "actionGroupName"),
    "azure-native:monitor:DataCollectionEndpoint": _arm(
        "Microsoft.Insights/dataCollectionEndpoints", "dataCollectionEndpointName"
    ),
    "azure-native:monitor:DataCollectionRule": _arm(
        "Microsoft.Insights/dataCollectionRules", "dataCollectionRuleName"
    ),
    "azure-native:monitor:DataCollectionRuleAssociation": _association,
    "azure-native:alertsmanagement:PrometheusRuleGroup": _arm(
        "Microsoft.AlertsManagement/prometheusRuleGroups", "ruleGroupName"
    ),
    "docker:index/image:Image": _docker_image,
    "kubernetes:core/v1:Service": _k8s_service,
    "kubernetes:core/v1:Namespace": _k8s_namespace,
    "azuredevops:index/buildDefinition:BuildDefinition": _devops_number,
    "azuredevops:index/variableGroup:VariableGroup": _devops_number,
    "azuredevops:index/environment:Environment": _devops_number,
    "azuredevops:index/serviceEndpointAzureRM:ServiceEndpointAzureRM": _azurerm_service_endpoint,
    "azuread:index/application:Application": _entra_application,
    "azuread:index/servicePrincipal:ServicePrincipal": _entra_service_principal,
}
OUTPUTS_BY_PREFIX: tuple[tuple[str, ResourceOutputs], ...] = (
    ("kubernetes:", _k8s_object),
    ("pulumi:providers:", _guid_id),
    ("azuredevops:", _guid_id),
    ("azure-native:managedidentity:", _guid_id),
    ("azuread:", _guid_id),
)


# ------------------------------------------------------------------------------------------------- invokes


def _client_config(_: AzureMocks, __: dict[str, Any]) -> dict[str, Any]:
    return {
        "clientId": CLIENT_ID,
        "objectId": CLIENT_OBJECT_ID,
        "subscriptionId": SUBSCRIPTION_ID,
        "tenantId": TENANT_ID,
    }


def _client_token(_: AzureMocks, args: dict[str, Any]) -> dict[str, Any]:
    return {"token": f"mock-entra-token-for:{args.get('endpoint') or 'https://management.azure.com'}"}


def _fake_ca_data() -> str:
    pem = "-----BEGIN CERTIFICATE-----\nTU9DSy1BS1MtQ0E=\n-----END CERTIFICATE-----\n"
    return base64.b64encode(pem.encode()).decode()


def _user_credentials(mocks: AzureMocks, args: dict[str, Any]) -> dict[str, Any]:
    """What AKS returns for an Entra-enabled cluster: a kubeconfig that needs kubelogin."""
    name = args.get("resourceName", "cluster")
    clusters = mocks.state_by_type.get("azure-native:containerservice:ManagedCluster", [])
    fqdn = next((c.get("fqdn") for c in clusters if c.get("name") == name), None) or f"{name}.hcp.azmk8s.io"
    user = f"clusterUser_{name}"
    kubelogin = {
        "apiVersion": "client.authentication.k8s.io/v1beta1",
        "command": "kubelogin",
        "args": ["get-token", "--login", "devicecode", "--server-id", "6dae42f8-4368-4678-94ff-3960e28e3630"],
        "interactiveMode": "IfAvailable",
    }
    config = {
        "apiVersion": "v1",
        "kind": "Config",
        "clusters": [
            {
                "name": name,
                "cluster": {"certificate-authority-data": _fake_ca_data(), "server": f"https://{fqdn}:443"},
            }
        ],
        "contexts": [{"name": name, "context": {"cluster": name, "user": user}}],
        "current-context": name,
        "users": [{"name": user, "user": {"exec": kubelogin}}],
    }
    kubeconfig = base64.b64encode(yaml.safe_dump(config).encode()).decode()
    return {"kubeconfigs": [{"name": "clusterUser", "value": kubeconfig}]}


def _admin_credentials(_: AzureMocks, __: dict[str, Any]) -> dict[str, Any]:
    raise RuntimeError("Local accounts are disabled on this cluster: admin credentials cannot be listed")


def _devops_project(_: AzureMocks, args: dict[str, Any]) -> dict[str, Any]:
    return {"id": EXISTING_PROJECT_ID, "name": args.get("name")}


def _devops_repository(_: AzureMocks, args: dict[str, Any]) -> dict[str, Any]:
    return {"id": EXISTING_REPO_ID, "name": args.get("name"), "projectId": args.get("projectId")}


def _devops_identity(_: AzureMocks, args: dict[str, Any]) -> dict[str, Any]:
    name = args.get("name")
    return {
        "id": f"identity:{name}",
        "name": name,
        "descriptor": f"svc.{name}",
        "subjectDescriptor": f"svc.{name}",
    }


def _entra_client_config(_: AzureMocks, __: dict[str, Any]) -> dict[str, Any]:
    return {"clientId": CLIENT_ID, "objectId": CLIENT_OBJECT_ID, "tenantId": TENANT_ID}


def _entra_service_principal_lookup(_: AzureMocks, args: dict[str, Any]) -> dict[str, Any]:
    """An existing registration's service principal, with the app role EXISTING_APP_ROLE_ID."""
    return {
        "id": f"/servicePrincipals/{EXISTING_SP_OBJECT_ID}",
        "objectId": EXISTING_SP_OBJECT_ID,
        "clientId": args.get("clientId", ""),
        "appRoleIds": {"Model.Invoke": EXISTING_APP_ROLE_ID},
    }


CALLS: dict[str, CallResult] = {
    "azure-native:authorization:getClientConfig": _client_config,
    "azure-native:authorization:getClientToken": _client_token,
    "azure-native:containerservice:listManagedClusterUserCredentials": _user_credentials,
    "azure-native:containerservice:listManagedClusterAdminCredentials": _admin_credentials,
    "azuredevops:index/getProject:getProject": _devops_project,
    "azuredevops:index/getGitRepository:getGitRepository": _devops_repository,
    "azuredevops:index/getIdentityUsers:getIdentityUsers": _devops_identity,
    "azuread:index/getClientConfig:getClientConfig": _entra_client_config,
    "azuread:index/getServicePrincipal:getServicePrincipal": _entra_service_principal_lookup,
}


class AzureMocks(Mocks):
    """Pulumi's Mocks, answered from OUTPUTS and CALLS (and a run's extra_outputs / extra_calls first)."""

    def __init__(
        self,
        run: StackRun,
        extra_outputs: Mapping[str, Callable[[MockResourceArgs], dict]],
        extra_calls: Mapping[str, Callable[[dict], dict]],
    ) -> None:
        self.run = run
        self.extra_outputs = dict(extra_outputs)
        self.extra_calls = dict(extra_calls)
        self.state_by_type: dict[str, list[dict[str, Any]]] = {}
        self.devops_numbers = itertools.count(11)

    def new_resource(self, args: MockResourceArgs) -> tuple[str, dict]:
        computed = self._computed(args)
        # Under preview a new resource's computed outputs are unknown, as in a real `pulumi preview`; an
        # existing one's are known (from the state), and so are a read's (`Resource.get` reads in a preview
        # too).
        new_in_preview = self.run.preview and not self.run.existing_stack and not args.resource_id
        state = dict(args.inputs) if new_in_preview else {**args.inputs, **computed}
        resource_id = str(computed.get("id") or f"{args.name}-id")
        state.pop("id", None)
        self.state_by_type.setdefault(args.typ, []).append({"name": args.name, "id": resource_id, **state})
        return ("" if new_in_preview else resource_id), state

    def _computed(self, args: MockResourceArgs) -> dict[str, Any]:
        if args.typ in self.extra_outputs:
            return self.extra_outputs[args.typ](args)
        outputs = OUTPUTS.get(args.typ)
        if outputs is None:
            outputs = next((fn for prefix, fn in OUTPUTS_BY_PREFIX if args.typ.startswith(prefix)), None)
        return outputs(self, args) if outputs else {"id": f"{args.name}-id"}

    def call(self, args: MockCallArgs) -> dict:  # type: ignore[override]
        plain, _ = unwrap_secrets(args.args)
        self.run.calls.append((args.token, plain))
        self.run.call_providers.append((args.token, (args.provider or "").rsplit("::", 1)[0]))
        if args.token in self.extra_calls:
            return self.extra_calls[args.token](plain)
        if args.token in CALLS:
            return CALLS[args.token](self, plain)
        raise RuntimeError(
            f"tests/harness/mocks.py has no mock for the invoke {args.token}: add one (extra_calls=...)"
        )
