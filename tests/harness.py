"""Run the Pulumi program (or one component) under Pulumi's mock runtime and read what it declared.

The one fixture module for Pulumi mock tests (infra, policy, pipelines). Typical use::

    from tests.harness import run_program, run_component, render_manifests

    run = run_program({"aiapp:owner": "team-a"}, stack="prod")   # the real /work/main/__main__.py
    cluster = run.one("azure-native:containerservice:ManagedCluster")
    assert cluster.inputs["disableLocalAccounts"] is True          # inputs use the wire (camelCase) names
    assert run.outputs["app_url"].startswith("http://")             # stack exports, resolved to plain values
    assert "kubeconfig" in run.secret_outputs
    paths = render_manifests(run, tmp_path)                         # every Kubernetes object as a YAML file

`run_program(config, stack="dev", preview=False, existing_stack=False, model_store=None, workdir=None,
extra_outputs=None, extra_calls=None)`:
  - config: keys like "aiapp:location"; merged OVER the stack's Pulumi.<stack>.yaml; a value of None removes a
    key the stack file sets. Non-string values are JSON-encoded, as the Pulumi CLI passes structured config.
    `secrets=` takes more keys that are marked secret (as `pulumi config set --secret` does).
  - preview=True runs as `pulumi preview` would: computed outputs of new resources are unknown, so an
    `.apply` on them never runs. A test under preview must prove its assertions ran (for example by
    asserting the exact set of resources it looked at is non-empty).
  - existing_stack=True (with preview=True): a preview of a stack whose resources already exist unchanged,
    so their outputs (login server, fqdn, ids) are known, as the engine reads them from the state;
    `pulumi.runtime.is_dry_run()` is still True.
  - model_store: the file:// store the program's model fetch really reads. The program opens the URL of the
    storage account it declares (https://<account>.blob.core.windows.net/<container>); the harness checks that
    URL and hands the real `model.store.open_store` this store instead. Default: a store created once per test
    process holding the reference model (trained with `model.train`) as version 1. In pytest, pass
    `model_store=reference_store.url` (tests/conftest.py's session fixture) to avoid a second training.
  - workdir: the project directory the image is built from (the harness copies app/, model/, .dockerignore
    and pyproject.toml there when it has none; a copy is no git checkout, so the image's commit is "unknown");
    default: a fresh temporary directory, so no test writes into the repo's build/.
  - extra_outputs / extra_calls: {type token: fn(MockResourceArgs) -> dict} and {call token: fn(args) -> dict}
    for resource types or invokes this module has no realistic mock for (unknown calls fail loudly).

The Azure DevOps side (aiapp:pipelinesEnabled): its resource type tokens (DEVOPS_*, MANAGED_IDENTITY, ...),
realistic values (ORG_URL, scopes, state ids, credential-shaped SECRETS), two whole-program variants
(PROGRAM_VARIANTS: Azure Repos + azblob:// state alone; GitHub + Pulumi Cloud beside the runtime) and
`run_program_with_pipelines(variant)`. `walk(value)` yields every nested value (to find a secret anywhere).

`last_run()` is the most recent StackRun, also when the run raised (e.g. to prove a config error came before
any resource was declared).

`run_component(build, config=..., preview=False, ...)` runs `build()` (e.g. `lambda: Registry("acr", args)`)
in a fresh mock stack; if it returns a mapping, its values resolve into `.outputs` like stack exports.

StackRun: `.resources` (list of frozen `Recorded`), `.outputs`, `.secret_outputs`, `.unknown_outputs`,
`.calls`, `.call_providers` (the provider urn of each call, "" for the default), `.token_scopes` (Entra
scopes the program asked for), `.acr_exchanges`, `.docker_logins`, `.store_urls`,
`.of_type(token)`, `.one(token, name=None)`, `.by_urn(urn)`, `.children(rec)`, `.parent_of(rec)`.
Recorded: type, name, urn, id, inputs, outputs, parent (urn or None), custom, protect, provider (urn or None),
dependencies, ignore_changes, delete_before_replace, additional_secret_outputs, replace_on_changes,
retain_on_delete, secret_inputs (top-level input names that hold a secret).

What is faked, and nothing else: the engine (Pulumi's mock monitor, with outputs shaped like the providers'
for the types the program declares: ids, loginServer, primaryEndpoints, kubelet identity, OIDC issuer URL,
fqdn, repoDigest, the Service's load-balancer IP; Azure DevOps' numeric definition, group and environment
ids, service connections' federation issuer and subject, managed identities' client and principal ids),
the invokes (getClientConfig: TENANT_ID, SUBSCRIPTION_ID, CLIENT_OBJECT_ID and CLIENT_ID, the Azure CLI's
app, so the deployer is a User; getClientToken; listManagedClusterUserCredentials: a kubelogin kubeconfig for
the declared cluster; Azure DevOps' getProject and getGitRepository: EXISTING_PROJECT_ID, EXISTING_REPO_ID),
and the program's four calls to the outside world: `infra.entra.get_access_token`
("mock-entra-token-for:<scope>"), `infra.acr_login.exchange_refresh_token` ("mock-acr-refresh-token@<login
server>"), `infra.acr_login.docker_login` (recorded in `.docker_logins`, nothing runs) and the store URL
above.

Global runtime state (root stack, config, settings, the rpc manager) is reset before every run, so any number
of runs work in one pytest process. Runs are not thread-safe (Pulumi's runtime is process-global).
"""

from __future__ import annotations

import atexit
import base64
import hashlib
import itertools
import json
import re
import runpy
import shutil
import sys
import tempfile
import threading
import uuid
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pulumi
import yaml
from pulumi.runtime import mocks as pulumi_mocks
from pulumi.runtime import rpc, settings
from pulumi.runtime.config import set_all_config
from pulumi.runtime.stack import run_pulumi_func
from pulumi.runtime.sync_await import _sync_await

REPO_ROOT = Path(__file__).resolve().parents[1]
PROGRAM = REPO_ROOT / "__main__.py"
PROJECT = "aiapp"

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

_SECRET_SIG = rpc._special_sig_key
_RUN_LOCK = threading.Lock()
_TEMP_ROOT = Path(tempfile.mkdtemp(prefix="aiapp-harness-"))
atexit.register(shutil.rmtree, _TEMP_ROOT, True)
_last_run: list[StackRun] = []


@dataclass(frozen=True)
class Recorded:
    """One resource registration as the engine saw it (inputs with secrets unwrapped)."""

    type: str
    name: str
    urn: str
    id: str
    inputs: dict[str, Any]
    outputs: dict[str, Any]
    parent: str | None
    custom: bool
    protect: bool
    provider: str | None
    dependencies: tuple[str, ...]
    ignore_changes: tuple[str, ...]
    delete_before_replace: bool
    additional_secret_outputs: tuple[str, ...]
    replace_on_changes: tuple[str, ...]
    retain_on_delete: bool
    secret_inputs: frozenset[str]


@dataclass
class StackRun:
    stack: str
    preview: bool
    config: dict[str, str]
    workdir: Path
    resources: list[Recorded] = field(default_factory=list)
    outputs: dict[str, Any] = field(default_factory=dict)
    secret_outputs: frozenset[str] = frozenset()
    unknown_outputs: frozenset[str] = frozenset()
    calls: list[tuple[str, dict[str, Any]]] = field(default_factory=list)
    call_providers: list[tuple[str, str]] = field(default_factory=list)  # (token, provider urn, or "")
    token_scopes: list[str] = field(default_factory=list)
    acr_exchanges: list[dict[str, str]] = field(default_factory=list)
    docker_logins: list[dict[str, str]] = field(default_factory=list)
    existing_stack: bool = False  # with preview: resources exist unchanged, their outputs are known
    store_urls: list[str] = field(default_factory=list)

    def of_type(self, token: str) -> list[Recorded]:
        return [r for r in self.resources if r.type == token]

    def one(self, token: str, name: str | None = None) -> Recorded:
        found = [r for r in self.of_type(token) if name is None or r.name == name]
        if len(found) != 1:
            names = [r.name for r in self.of_type(token)]
            raise AssertionError(f"expected exactly one {token} named {name!r}, found {len(found)}: {names}")
        return found[0]

    def by_urn(self, urn: str) -> Recorded:
        for r in self.resources:
            if r.urn == urn:
                return r
        raise AssertionError(f"no resource with urn {urn}")

    def parent_of(self, rec: Recorded) -> Recorded | None:
        """The component `rec` was declared in; None for resources parented by the stack itself."""
        return next((r for r in self.resources if r.urn == rec.parent), None)

    def children(self, rec: Recorded) -> list[Recorded]:
        return [r for r in self.resources if r.parent == rec.urn]


# ---------------------------------------------------------------------------------------------- mock values


def _suffix(*parts: str, length: int = 8) -> str:
    """A deterministic stand-in for the random suffix Azure auto-naming adds."""
    return hashlib.sha256("/".join(parts).encode()).hexdigest()[:length]


def _guid(*parts: str) -> str:
    return str(uuid.uuid5(uuid.NAMESPACE_URL, "/".join(parts)))


def _rg_id(resource_group: str) -> str:
    return f"/subscriptions/{SUBSCRIPTION_ID}/resourceGroups/{resource_group}"


def _unwrap_secrets(value: Any) -> tuple[Any, bool]:
    if isinstance(value, dict):
        if value.get(_SECRET_SIG) == rpc._special_secret_sig:
            inner, _ = _unwrap_secrets(value.get("value"))
            return inner, True
        out, secret = {}, False
        for k, v in value.items():
            out[k], s = _unwrap_secrets(v)
            secret = secret or s
        return out, secret
    if isinstance(value, list):
        items = [_unwrap_secrets(v) for v in value]
        return [v for v, _ in items], any(s for _, s in items)
    return value, False


def _fake_ca_data() -> str:
    pem = "-----BEGIN CERTIFICATE-----\nTU9DSy1BS1MtQ0E=\n-----END CERTIFICATE-----\n"
    return base64.b64encode(pem.encode()).decode()


class _AzureMocks(pulumi_mocks.Mocks):
    """Outputs shaped like the real providers' for the types this project declares."""

    def __init__(
        self,
        run: StackRun,
        extra_outputs: Mapping[str, Callable[[pulumi_mocks.MockResourceArgs], dict]],
        extra_calls: Mapping[str, Callable[[dict], dict]],
    ) -> None:
        self.run = run
        self.extra_outputs = dict(extra_outputs)
        self.extra_calls = dict(extra_calls)
        self.state_by_type: dict[str, list[dict[str, Any]]] = {}
        self.devops_numbers = itertools.count(11)  # Azure DevOps numbers definitions, groups, environments

    # ----- resources
    def new_resource(self, args: pulumi_mocks.MockResourceArgs) -> tuple[str, dict]:
        inputs = args.inputs
        computed = self._computed(args)
        # Under preview a new resource's computed outputs are unknown, as in a real `pulumi preview`; an
        # existing one's are known (from the state).
        new_in_preview = self.run.preview and not self.run.existing_stack
        state = dict(inputs) if new_in_preview else {**inputs, **computed}
        resource_id = str(computed.get("id") or f"{args.name}-id")
        state.pop("id", None)
        self.state_by_type.setdefault(args.typ, []).append({"name": args.name, "id": resource_id, **state})
        return ("" if new_in_preview else resource_id), state

    def _computed(self, args: pulumi_mocks.MockResourceArgs) -> dict[str, Any]:
        t, name, i = args.typ, args.name, args.inputs
        if t in self.extra_outputs:
            return self.extra_outputs[t](args)
        location = i.get("location", "westeurope")
        rg = i.get("resourceGroupName", "rg")
        if t == "azure-native:resources:ResourceGroup":
            rg_name = i.get("resourceGroupName") or f"{name}{_suffix(name)}"
            return {
                "id": _rg_id(rg_name),
                "name": rg_name,
                "location": location,
                "provisioningState": "Succeeded",
            }
        if t == "azure-native:containerregistry:Registry":
            n = i.get("registryName") or f"{name}{_suffix(name)}"
            return {
                "id": f"{_rg_id(rg)}/providers/Microsoft.ContainerRegistry/registries/{n}",
                "name": n,
                "loginServer": f"{n.lower()}.azurecr.io",
                "provisioningState": "Succeeded",
            }
        if t == "azure-native:storage:StorageAccount":
            n = i.get("accountName") or f"{name}{_suffix(name)}"
            return {
                "id": f"{_rg_id(rg)}/providers/Microsoft.Storage/storageAccounts/{n}",
                "name": n,
                "primaryEndpoints": {
                    "blob": f"https://{n}.blob.core.windows.net/",
                    "dfs": f"https://{n}.dfs.core.windows.net/",
                    "queue": f"https://{n}.queue.core.windows.net/",
                    "table": f"https://{n}.table.core.windows.net/",
                    "file": f"https://{n}.file.core.windows.net/",
                    "web": f"https://{n}.z6.web.core.windows.net/",
                },
                "provisioningState": "Succeeded",
            }
        if t == "azure-native:storage:BlobContainer":
            n = i.get("containerName") or name
            account = i.get("accountName", "account")
            return {
                "id": f"{_rg_id(rg)}/providers/Microsoft.Storage/storageAccounts/{account}"
                f"/blobServices/default/containers/{n}",
                "name": n,
            }
        if t == "azure-native:storage:BlobServiceProperties":
            account = i.get("accountName", "account")
            return {
                "id": f"{_rg_id(rg)}/providers/Microsoft.Storage/storageAccounts/{account}"
                "/blobServices/default",
                "name": "default",
            }
        if t == "azure-native:authorization:RoleAssignment":
            guid = i.get("roleAssignmentName") or _guid(name, json.dumps(i, sort_keys=True, default=str))
            return {
                "id": f"{i.get('scope', '')}/providers/Microsoft.Authorization/roleAssignments/{guid}",
                "name": guid,
            }
        if t == "azure-native:containerservice:ManagedCluster":
            n = i.get("resourceName") or f"{name}{_suffix(name)}"
            prefix = i.get("dnsPrefix", n)
            return {
                "id": f"{_rg_id(rg)}/providers/Microsoft.ContainerService/managedClusters/{n}",
                "name": n,
                "fqdn": f"{prefix}-{_suffix(n)}.hcp.{location}.azmk8s.io",
                "currentKubernetesVersion": f"{i.get('kubernetesVersion', '1.33')}.3",
                "nodeResourceGroup": f"MC_{rg}_{n}_{location}",
                "provisioningState": "Succeeded",
                "identity": {
                    **(i.get("identity") or {}),
                    "principalId": _guid(n, "cluster-identity"),
                    "tenantId": TENANT_ID,
                },
                "identityProfile": {
                    "kubeletidentity": {
                        "clientId": _guid(n, "kubelet-client"),
                        "objectId": _guid(n, "kubelet-object"),
                        "resourceId": f"/subscriptions/{SUBSCRIPTION_ID}/resourceGroups"
                        f"/MC_{rg}_{n}_{location}"
                        f"/providers/Microsoft.ManagedIdentity/userAssignedIdentities/{n}-agentpool",
                    }
                },
                "oidcIssuerProfile": {
                    **(i.get("oidcIssuerProfile") or {}),
                    "issuerURL": f"https://{location}.oic.prod-aks.azure.com/{TENANT_ID}/{_guid(n, 'oidc')}/",
                },
            }
        if t == "docker:index/image:Image":
            image_name = str(i.get("imageName", f"{name}:latest"))
            repository = image_name.rsplit(":", 1)[0] if ":" in image_name.split("/")[-1] else image_name
            digest = hashlib.sha256(json.dumps(i, sort_keys=True, default=str).encode()).hexdigest()
            build = i.get("build") or {}
            return {
                "id": f"sha256:{_suffix(digest, length=64)}",
                "repoDigest": f"{repository}@sha256:{digest}",
                "baseImageName": image_name,
                "registryServer": (i.get("registry") or {}).get("server", ""),
                "context": build.get("context", ""),
                "dockerfile": build.get("dockerfile", ""),
                "platform": build.get("platform", ""),
            }
        if t == "kubernetes:core/v1:Service":
            spec = dict(i.get("spec") or {})
            spec["clusterIP"] = "10.0.113.7"
            status: dict[str, Any] = {}
            if spec.get("type") == "LoadBalancer":
                status = {"loadBalancer": {"ingress": [{"ip": "20.31.42.53", "ipMode": "VIP"}]}}
            return {"spec": spec, "status": status, "id": self._k8s_id(i, name)}
        if t == "kubernetes:core/v1:Namespace":
            return {"status": {"phase": "Active"}, "id": self._k8s_id(i, name)}
        if t.startswith("kubernetes:") and not t.startswith("pulumi:providers"):
            return {"id": self._k8s_id(i, name)}
        if t.startswith("pulumi:providers:"):
            return {"id": _guid(t, name)}
        if t.startswith("azuredevops:") or t.startswith("azure-native:managedidentity:"):
            return self._devops(args)
        if t == "azure-native:authorization:RoleDefinition":
            guid = _guid("role", name)
            return {"id": f"{i['scope']}/providers/Microsoft.Authorization/roleDefinitions/{guid}"}
        return {"id": f"{name}-id"}

    def _devops(self, args: pulumi_mocks.MockResourceArgs) -> dict[str, Any]:
        """Azure DevOps objects, and the managed identities their service connections federate to."""
        t, name, i = args.typ, args.name, args.inputs
        kind = t.split(":")[-1]
        if kind in ("BuildDefinition", "VariableGroup", "Environment"):
            return {"id": str(next(self.devops_numbers))}
        if kind == "ServiceEndpointAzureRM":
            endpoint_id = _guid(name)
            return {
                "id": endpoint_id,
                "workloadIdentityFederationIssuer": f"https://login.microsoftonline.com/{TENANT_ID}/v2.0",
                "workloadIdentityFederationSubject": (
                    f"/eid1/c/pub/t/tenant/a/app/sc/{DEVOPS_ORGANIZATION}/{endpoint_id}"
                ),
                "servicePrincipalId": _guid("sp", name),
            }
        if kind == "UserAssignedIdentity":
            n = i.get("resourceName", name)
            return {
                "id": f"{_rg_id(i['resourceGroupName'])}/providers/Microsoft.ManagedIdentity/"
                f"userAssignedIdentities/{n}",
                "name": n,
                "clientId": _guid("client", n),
                "principalId": _guid("principal", n),
                "tenantId": TENANT_ID,
            }
        return {"id": _guid(t, name)}

    @staticmethod
    def _k8s_id(inputs: dict[str, Any], name: str) -> str:
        meta = inputs.get("metadata") or {}
        n = meta.get("name", name)
        return f"{meta['namespace']}/{n}" if meta.get("namespace") else n

    # ----- invokes
    def call(self, args: pulumi_mocks.MockCallArgs) -> dict:  # type: ignore[override]
        plain, _ = _unwrap_secrets(args.args)
        self.run.calls.append((args.token, plain))
        self.run.call_providers.append((args.token, (args.provider or "").rsplit("::", 1)[0]))
        if args.token in self.extra_calls:
            return self.extra_calls[args.token](plain)
        if args.token == "azure-native:authorization:getClientConfig":
            return {
                "clientId": CLIENT_ID,
                "objectId": CLIENT_OBJECT_ID,
                "subscriptionId": SUBSCRIPTION_ID,
                "tenantId": TENANT_ID,
            }
        if args.token == "azure-native:authorization:getClientToken":
            return {
                "token": f"mock-entra-token-for:{plain.get('endpoint') or 'https://management.azure.com'}"
            }
        if args.token == "azure-native:containerservice:listManagedClusterUserCredentials":
            return {"kubeconfigs": [{"name": "clusterUser", "value": self._user_kubeconfig(plain)}]}
        if args.token == "azure-native:containerservice:listManagedClusterAdminCredentials":
            raise RuntimeError(
                "Local accounts are disabled on this cluster: admin credentials cannot be listed"
            )
        if args.token == "azuredevops:index/getProject:getProject":
            return {"id": EXISTING_PROJECT_ID, "name": plain.get("name")}
        if args.token == "azuredevops:index/getGitRepository:getGitRepository":
            return {"id": EXISTING_REPO_ID, "name": plain.get("name"), "projectId": plain.get("projectId")}
        raise RuntimeError(
            f"tests/harness.py has no mock for the invoke {args.token}: add one (extra_calls=...)"
        )

    def _user_kubeconfig(self, call_args: dict[str, Any]) -> str:
        """What AKS returns for an Entra-enabled cluster: a kubeconfig that needs kubelogin."""
        name = call_args.get("resourceName", "cluster")
        clusters = [c for c in self.state_by_type.get("azure-native:containerservice:ManagedCluster", [])]
        fqdn = (
            next((c.get("fqdn") for c in clusters if c.get("name") == name), None) or f"{name}.hcp.azmk8s.io"
        )
        context = f"{name}"
        config = {
            "apiVersion": "v1",
            "kind": "Config",
            "clusters": [
                {
                    "name": name,
                    "cluster": {
                        "certificate-authority-data": _fake_ca_data(),
                        "server": f"https://{fqdn}:443",
                    },
                }
            ],
            "contexts": [{"name": context, "context": {"cluster": name, "user": f"clusterUser_{name}"}}],
            "current-context": context,
            "users": [
                {
                    "name": f"clusterUser_{name}",
                    "user": {
                        "exec": {
                            "apiVersion": "client.authentication.k8s.io/v1beta1",
                            "command": "kubelogin",
                            "args": [
                                "get-token",
                                "--login",
                                "devicecode",
                                "--server-id",
                                "6dae42f8-4368-4678-94ff-3960e28e3630",
                            ],
                            "interactiveMode": "IfAvailable",
                        }
                    },
                }
            ],
        }
        return base64.b64encode(yaml.safe_dump(config).encode()).decode()


class _RecordingMonitor(pulumi_mocks.MockMonitor):
    """The stock mock monitor, plus a record of each registration's parent and options."""

    def __init__(self, mocks: _AzureMocks) -> None:
        super().__init__(mocks)
        self.recorded: list[Recorded] = []

    def RegisterResource(self, request):
        response = super().RegisterResource(request)
        if request.type == "pulumi:pulumi:Stack":
            return response
        raw_inputs = rpc.deserialize_properties(request.object)
        secret_inputs = frozenset(k for k, v in raw_inputs.items() if _unwrap_secrets(v)[1])
        inputs, _ = _unwrap_secrets(raw_inputs)
        registration = self.resources[response.urn]
        outputs, _ = _unwrap_secrets(dict(registration.state))
        self.recorded.append(
            Recorded(
                type=request.type,
                name=request.name,
                urn=response.urn,
                id=registration.id or "",
                inputs=inputs,
                outputs=outputs,
                parent=request.parent or None,
                custom=bool(request.custom),
                protect=bool(request.protect),
                provider=request.provider.rsplit("::", 1)[0] if request.provider else None,
                dependencies=tuple(request.dependencies),
                ignore_changes=tuple(request.ignoreChanges),
                delete_before_replace=bool(request.deleteBeforeReplace),
                additional_secret_outputs=tuple(request.additionalSecretOutputs),
                replace_on_changes=tuple(request.replaceOnChanges),
                retain_on_delete=bool(request.retainOnDelete),
                secret_inputs=secret_inputs,
            )
        )
        return response


# ------------------------------------------------------------------------------------ the program's seams


def _fake_access_token(run: StackRun) -> Callable[[str], str]:
    def get_access_token(scope: str) -> str:
        run.token_scopes.append(scope)
        return f"mock-entra-token-for:{scope}"

    return get_access_token


def _fake_exchange(run: StackRun) -> Callable[[str, str, str], str]:
    def exchange_refresh_token(login_server: str, tenant_id: str, access_token: str) -> str:
        run.acr_exchanges.append(
            {"login_server": login_server, "tenant": tenant_id, "access_token": access_token}
        )
        return f"mock-acr-refresh-token@{login_server}"

    return exchange_refresh_token


def _fake_docker_login(run: StackRun) -> Callable[[str, str, str], None]:
    def docker_login(login_server: str, username: str, password: str) -> None:
        run.docker_logins.append({"server": login_server, "username": username, "password": password})

    return docker_login


def _redirected_open_store(run: StackRun, store_url: str) -> Callable[[str], Any]:
    from infra.config.shapes import BLOB_STORE_URL
    from model.store import open_store

    def open_mocked_store(url: str) -> Any:
        run.store_urls.append(url)
        if not re.match(BLOB_STORE_URL, url):  # Azure's container rule, as the program checks it
            raise AssertionError(
                f"the program opened {url!r}, not a blob container URL of its storage account"
            )
        return open_store(store_url)

    return open_mocked_store


@contextmanager
def _patched(target: Any, attribute: str, value: Any) -> Iterator[None]:
    original = getattr(target, attribute)
    setattr(target, attribute, value)
    try:
        yield
    finally:
        setattr(target, attribute, original)


@contextmanager
def _program_seams(run: StackRun, store_url: str) -> Iterator[None]:
    """Swap the program's outside-world calls for recorders; everything else runs for real."""
    import infra.acr_login
    import infra.entra
    import infra.model_source
    import infra.project

    with (
        _patched(infra.entra, "get_access_token", _fake_access_token(run)),
        _patched(infra.acr_login, "exchange_refresh_token", _fake_exchange(run)),
        _patched(infra.acr_login, "docker_login", _fake_docker_login(run)),
        _patched(infra.model_source, "open_store", _redirected_open_store(run, store_url)),
        _patched(infra.project, "PROJECT_ROOT", run.workdir),
    ):
        yield


# ------------------------------------------------------------------------------------------ config, store

_default_store: dict[str, str] = {}


def reference_store() -> str:
    """A file store (created once per process) with the reference model published as version 1."""
    if "url" not in _default_store:
        from model.registry import publish
        from model.store import open_store
        from model.train import train

        root = Path(tempfile.mkdtemp(prefix="store-", dir=_TEMP_ROOT))
        url = root.as_uri()
        trained = train()
        publish(open_store(url), trained.onnx, trained.metrics, trained.framework, version="1")
        _default_store["url"] = url
    return _default_store["url"]


def stack_config(stack: str) -> dict[str, str]:
    """The stack file's config as the CLI hands it to the program: strings, structured values as JSON."""
    path = REPO_ROOT / f"Pulumi.{stack}.yaml"
    if not path.exists():
        return {}
    raw = yaml.safe_load(path.read_text()) or {}
    out = {}
    for key, value in (raw.get("config") or {}).items():
        if isinstance(value, dict) and "secure" in value:
            raise AssertionError(f"{path.name} holds an encrypted value for {key}: tests cannot decrypt it")
        out[key] = value if isinstance(value, str) else json.dumps(value)
    return out


def _as_config_value(value: Any) -> str:
    return value if isinstance(value, str) else json.dumps(value)


def prepare_workdir(workdir: Path) -> Path:
    """A project directory to build from: copies of the repo's app/, model/ and .dockerignore (the image's
    build context) and pyproject.toml (the app's version) unless the directory already has them."""
    workdir.mkdir(parents=True, exist_ok=True)
    skip = shutil.ignore_patterns("__pycache__", "*.pyc", ".pytest_cache")
    for tree in ("app", "model"):
        if not (workdir / tree).exists() and (REPO_ROOT / tree).is_dir():
            shutil.copytree(REPO_ROOT / tree, workdir / tree, ignore=skip)
    for name in (".dockerignore", "pyproject.toml"):
        if (REPO_ROOT / name).is_file() and not (workdir / name).exists():
            shutil.copy2(REPO_ROOT / name, workdir / name)
    return workdir


# ------------------------------------------------------------------------------------------------- running


def _reset_runtime(config: Mapping[str, str], secret_keys: list[str]) -> None:
    settings.ROOT.set(None)
    settings.SETTINGS.outputs.clear()
    set_all_config(dict(config), secret_keys)


async def _resolve(value: Any) -> tuple[Any, bool, bool]:
    out = pulumi.Output.from_input(value)
    known = await out.is_known()
    secret = await out.is_secret()
    resolved = await out.future(with_unknowns=True) if known else None
    return resolved, known, secret


def _execute(
    run: StackRun,
    body: Callable[[], Any],
    config: Mapping[str, str],
    secret_keys: list[str],
    store_url: str,
    extra_outputs: Mapping[str, Callable[[pulumi_mocks.MockResourceArgs], dict]],
    extra_calls: Mapping[str, Callable[[dict], dict]],
) -> StackRun:
    with _RUN_LOCK:
        _last_run[:] = [run]
        _reset_runtime(config, secret_keys)
        mocks = _AzureMocks(run, extra_outputs, extra_calls)
        monitor = _RecordingMonitor(mocks)
        pulumi.runtime.set_mocks(
            mocks, project=PROJECT, stack=run.stack, preview=run.preview, monitor=monitor
        )
        exports: dict[str, Any] = {}

        async def program() -> None:
            returned = body()
            root = settings.get_root_resource()
            values = dict(getattr(root, "outputs", {}) or {})
            if isinstance(returned, Mapping):
                values.update(returned)
            for key, value in values.items():
                exports[key] = await _resolve(value)

        try:
            with _program_seams(run, store_url):
                _sync_await(run_pulumi_func(program))
        finally:
            settings.ROOT.set(None)
            set_all_config({}, [])
            run.resources = list(monitor.recorded)
        run.outputs = {k: v for k, (v, known, _) in exports.items() if known}
        run.secret_outputs = frozenset(k for k, (_, _, secret) in exports.items() if secret)
        run.unknown_outputs = frozenset(k for k, (_, known, _) in exports.items() if not known)
        return run


def _new_run(
    config: Mapping[str, Any] | None,
    secrets: Mapping[str, Any] | None,
    stack: str,
    preview: bool,
    workdir: Path | None,
) -> tuple[StackRun, dict[str, str], list[str]]:
    merged: dict[str, str] = stack_config(stack)
    for key, value in {**(config or {}), **(secrets or {})}.items():
        if value is None:
            merged.pop(key, None)
        else:
            merged[key] = _as_config_value(value)
    work = prepare_workdir(workdir or Path(tempfile.mkdtemp(prefix="project-", dir=_TEMP_ROOT)))
    run = StackRun(stack=stack, preview=preview, config=merged, workdir=work)
    return run, merged, list((secrets or {}).keys())


def _run_main() -> None:
    # The module's globals are not exports: only `pulumi.export` makes a stack output.
    runpy.run_path(str(PROGRAM), run_name="__main__")


def run_program(
    config: Mapping[str, Any] | None = None,
    stack: str = "dev",
    preview: bool = False,
    *,
    existing_stack: bool = False,
    secrets: Mapping[str, Any] | None = None,
    model_store: str | None = None,
    workdir: Path | None = None,
    extra_outputs: Mapping[str, Callable[[pulumi_mocks.MockResourceArgs], dict]] | None = None,
    extra_calls: Mapping[str, Callable[[dict], dict]] | None = None,
) -> StackRun:
    """Run the real __main__.py under mocks with the stack's config overlaid by `config`."""
    run, merged, secret_keys = _new_run(config, secrets, stack, preview, workdir)
    run.existing_stack = existing_stack
    if str(REPO_ROOT) not in sys.path:
        sys.path.insert(0, str(REPO_ROOT))
    return _execute(
        run,
        _run_main,
        merged,
        secret_keys,
        model_store or reference_store(),
        extra_outputs or {},
        extra_calls or {},
    )


def run_component(
    build: Callable[[], Any],
    config: Mapping[str, Any] | None = None,
    stack: str = "dev",
    preview: bool = False,
    *,
    secrets: Mapping[str, Any] | None = None,
    model_store: str | None = None,
    workdir: Path | None = None,
    extra_outputs: Mapping[str, Callable[[pulumi_mocks.MockResourceArgs], dict]] | None = None,
    extra_calls: Mapping[str, Callable[[dict], dict]] | None = None,
) -> StackRun:
    """Run `build()` in a fresh mock stack; the stack file's config is read only when `config` is given."""
    run, merged, secret_keys = _new_run(config, secrets, stack, preview, workdir)
    if config is None:
        merged.clear()
    return _execute(
        run,
        build,
        merged,
        secret_keys,
        model_store or _default_store.get("url") or "file:///nonexistent-model-store",
        extra_outputs or {},
        extra_calls or {},
    )


def last_run() -> StackRun:
    """The most recent run, also when it raised: what had been declared before the error is in .resources."""
    if not _last_run:
        raise AssertionError("no run yet")
    return _last_run[0]


# ------------------------------------------------------------------------------------------- manifests


def kubernetes_objects(run: StackRun) -> list[dict[str, Any]]:
    """Every Kubernetes object the run declared, as the manifest the provider would send."""
    objects = []
    for rec in run.resources:
        if not rec.custom or not rec.type.startswith("kubernetes:"):
            continue
        manifest = _integral({k: v for k, v in rec.inputs.items() if not k.startswith("__")})
        group_version, kind = rec.type.split(":")[1:3]
        group, version = group_version.split("/")
        manifest.setdefault("apiVersion", version if group == "core" else f"{group}/{version}")
        manifest.setdefault("kind", kind)
        manifest.setdefault("metadata", {}).setdefault("name", rec.name)
        objects.append(manifest)
    return objects


def _integral(value: Any) -> Any:
    """Numbers cross the mock monitor as protobuf doubles; Kubernetes wants `replicas: 1`, not `1.0`."""
    if isinstance(value, float) and value.is_integer():
        return int(value)
    if isinstance(value, dict):
        return {k: _integral(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_integral(v) for v in value]
    return value


def render_manifests(run: StackRun, out_dir: Path) -> list[Path]:
    """Write each Kubernetes object to `<out_dir>/<nn>-<kind>-<name>.yaml`; returns the paths in order."""
    out_dir.mkdir(parents=True, exist_ok=True)
    paths = []
    for index, manifest in enumerate(kubernetes_objects(run)):
        name = manifest["metadata"]["name"]
        path = out_dir / f"{index:02d}-{manifest['kind'].lower()}-{name}.yaml"
        path.write_text(yaml.safe_dump(manifest, sort_keys=False))
        paths.append(path)
    return paths


# ----------------------------------------------------------------------------------- the Azure DevOps side

# Resource type tokens of what infra/pipelines/ declares.
DEVOPS_PROJECT = "azuredevops:index/project:Project"
DEVOPS_GIT = "azuredevops:index/git:Git"
DEVOPS_AZURERM = "azuredevops:index/serviceEndpointAzureRM:ServiceEndpointAzureRM"
DEVOPS_GITHUB = "azuredevops:index/serviceEndpointGitHub:ServiceEndpointGitHub"
DEVOPS_BUILD_DEFINITION = "azuredevops:index/buildDefinition:BuildDefinition"
DEVOPS_VARIABLE_GROUP = "azuredevops:index/variableGroup:VariableGroup"
DEVOPS_ENVIRONMENT = "azuredevops:index/environment:Environment"
DEVOPS_AUTHORIZATION = "azuredevops:index/pipelineAuthorization:PipelineAuthorization"
DEVOPS_BRANCH_CONTROL = "azuredevops:index/checkBranchControl:CheckBranchControl"
DEVOPS_APPROVAL = "azuredevops:index/checkApproval:CheckApproval"
DEVOPS_EXCLUSIVE_LOCK = "azuredevops:index/checkExclusiveLock:CheckExclusiveLock"
DEVOPS_BUILD_VALIDATION = "azuredevops:index/branchPolicyBuildValidation:BranchPolicyBuildValidation"
MANAGED_IDENTITY = "azure-native:managedidentity:UserAssignedIdentity"
FEDERATED_CREDENTIAL = "azure-native:managedidentity:FederatedIdentityCredential"
ROLE_ASSIGNMENT = "azure-native:authorization:RoleAssignment"
ROLE_DEFINITION = "azure-native:authorization:RoleDefinition"

ORG_URL = "https://dev.azure.com/contoso"
SUBSCRIPTION_SCOPE = f"/subscriptions/{SUBSCRIPTION_ID}"
DEV_SCOPE = f"{SUBSCRIPTION_SCOPE}/resourceGroups/aiapp-dev"
PROD_SCOPE = f"{SUBSCRIPTION_SCOPE}/resourceGroups/aiapp-prod"
_STATE_PROVIDERS = f"{SUBSCRIPTION_SCOPE}/resourceGroups/aiapp-state/providers"
STATE_ACCOUNT_ID = f"{_STATE_PROVIDERS}/Microsoft.Storage/storageAccounts/aiappstate"
STATE_VAULT_ID = f"{_STATE_PROVIDERS}/Microsoft.KeyVault/vaults/aiapp-state-kv"
MODEL_STORE_URL = "https://aiappmodels.blob.core.windows.net/models"
# Sentinels shaped like the real credentials (the policy pack recognises these shapes in plain text).
DEPLOY_TOKEN = "pul-" + "d" * 40
PREVIEW_TOKEN = "pul-" + "e" * 40
GITHUB_PAT = "ghp_" + "G" * 36
COMMENT_TOKEN = "github_pat_" + "C" * 30
SECRETS = (DEPLOY_TOKEN, PREVIEW_TOKEN, GITHUB_PAT, COMMENT_TOKEN)

# The stack that declares the Azure DevOps side: one the release does not deploy (see infra/config/devops.py).
CICD_STACK = "cicd"

# Azure Repos, self-managed state; a stack of the Azure DevOps side only (no runtime).
AZURE_REPOS_AZBLOB: dict[str, str] = {
    "aiapp:owner": "team-ai@example.com",
    "aiapp:environment": "prod",
    "aiapp:runtimeEnabled": "false",
    "aiapp:pipelinesEnabled": "true",
    "aiapp:organizationUrl": ORG_URL,
    "aiapp:state": "azblob",
    "aiapp:stateStorageAccountId": STATE_ACCOUNT_ID,
    "aiapp:stateKeyVaultId": STATE_VAULT_ID,
    "aiapp:deployScopes": f'["{SUBSCRIPTION_SCOPE}"]',
    "aiapp:identityResourceGroup": "aiapp-cicd",
    "aiapp:modelStoreUrl": MODEL_STORE_URL,
}

# GitHub, Pulumi Cloud, a prod approval; with the runtime too (a staging stack), reading the shared store.
GITHUB_PULUMI_CLOUD: dict[str, str] = {
    "aiapp:owner": "team-ai@example.com",
    "aiapp:environment": "staging",
    "aiapp:pipelinesEnabled": "true",
    "aiapp:organizationUrl": ORG_URL,
    "aiapp:projectName": "AI app",
    "aiapp:source": "github",
    "aiapp:githubRepository": "contoso/aiapp",
    "aiapp:state": "pulumi-cloud",
    "aiapp:pulumiOrganization": "contoso",
    "aiapp:deployScopes": f'["{SUBSCRIPTION_SCOPE}"]',
    "aiapp:identityResourceGroup": "aiapp-cicd",
    "aiapp:modelStoreUrl": MODEL_STORE_URL,
    "aiapp:prodApprovers": '["5a5a5a5a-1111-4222-8333-444444444444"]',
}
# Set with `pulumi config set --secret` (the harness marks them secret, as the CLI does).
GITHUB_PULUMI_CLOUD_SECRETS: dict[str, str] = {
    "aiapp:githubToken": GITHUB_PAT,
    "aiapp:githubCommentToken": COMMENT_TOKEN,
    "aiapp:pulumiDeployToken": DEPLOY_TOKEN,
    "aiapp:pulumiPreviewToken": PREVIEW_TOKEN,
}


@dataclass(frozen=True)
class ProgramVariant:
    name: str
    config: Mapping[str, str]
    secrets: Mapping[str, str]
    runtime: bool


PROGRAM_VARIANTS = (
    ProgramVariant("azure-repos+azblob", AZURE_REPOS_AZBLOB, {}, runtime=False),
    ProgramVariant("github+pulumi-cloud", GITHUB_PULUMI_CLOUD, GITHUB_PULUMI_CLOUD_SECRETS, runtime=True),
)


def run_program_with_pipelines(
    variant: ProgramVariant, model_store: str | None = None, *, preview: bool = False
) -> StackRun:
    """The real __main__.py in the cicd stack with the variant's config (there is no Pulumi.cicd.yaml)."""
    return run_program(
        dict(variant.config),
        stack=CICD_STACK,
        secrets=dict(variant.secrets),
        model_store=model_store,
        preview=preview,
    )


def walk(value: Any) -> Iterator[Any]:
    """Every value nested in `value` (dicts, lists), itself included: e.g. to find a secret anywhere."""
    yield value
    if isinstance(value, Mapping):
        for item in value.values():
            yield from walk(item)
    elif isinstance(value, list | tuple):
        for item in value:
            yield from walk(item)
