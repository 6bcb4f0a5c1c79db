"""Helpers for the pipeline tests: the Pipelines component under the shared mock harness, and the YAML of
pipelines/ expanded the way Azure Pipelines expands templates (enough to know what each pipeline uses)."""

from __future__ import annotations

import itertools
import re
import uuid
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import pulumi
import yaml

from infra.pipelines import (
    AzureBlobState,
    AzureReposSource,
    GitHubSource,
    Pipelines,
    PipelinesArgs,
    PulumiCloudState,
)
from tests.harness import SUBSCRIPTION_ID, TENANT_ID, StackRun, run_component

REPO = Path(__file__).resolve().parents[2]
PIPELINES_DIR = REPO / "pipelines"

PROJECT = "azuredevops:index/project:Project"
GIT = "azuredevops:index/git:Git"
AZURERM = "azuredevops:index/serviceEndpointAzureRM:ServiceEndpointAzureRM"
GITHUB = "azuredevops:index/serviceEndpointGitHub:ServiceEndpointGitHub"
BUILD_DEFINITION = "azuredevops:index/buildDefinition:BuildDefinition"
VARIABLE_GROUP = "azuredevops:index/variableGroup:VariableGroup"
ENVIRONMENT = "azuredevops:index/environment:Environment"
AUTHORIZATION = "azuredevops:index/pipelineAuthorization:PipelineAuthorization"
BRANCH_CONTROL = "azuredevops:index/checkBranchControl:CheckBranchControl"
APPROVAL = "azuredevops:index/checkApproval:CheckApproval"
EXCLUSIVE_LOCK = "azuredevops:index/checkExclusiveLock:CheckExclusiveLock"
BUILD_VALIDATION = "azuredevops:index/branchPolicyBuildValidation:BranchPolicyBuildValidation"
IDENTITY = "azure-native:managedidentity:UserAssignedIdentity"
FEDERATION = "azure-native:managedidentity:FederatedIdentityCredential"
ROLE_ASSIGNMENT = "azure-native:authorization:RoleAssignment"
ROLE_DEFINITION = "azure-native:authorization:RoleDefinition"

ORG_URL = "https://dev.azure.com/contoso"
RG = f"/subscriptions/{SUBSCRIPTION_ID}/resourceGroups"
DEV_SCOPE = f"{RG}/aiapp-dev"
PROD_SCOPE = f"{RG}/aiapp-prod"
STATE_ACCOUNT_ID = f"{RG}/aiapp-state/providers/Microsoft.Storage/storageAccounts/aiappstate"
STATE_VAULT_ID = f"{RG}/aiapp-state/providers/Microsoft.KeyVault/vaults/aiapp-state-kv"
MODEL_STORE_URL = "https://aiappmodels.blob.core.windows.net/models"
# Sentinels shaped like the real credentials (the policy pack recognises these shapes in plain text).
DEPLOY_TOKEN = "pul-" + "d" * 40
PREVIEW_TOKEN = "pul-" + "e" * 40
GITHUB_PAT = "ghp_" + "G" * 36
COMMENT_TOKEN = "github_pat_" + "C" * 30
SECRETS = (DEPLOY_TOKEN, PREVIEW_TOKEN, GITHUB_PAT, COMMENT_TOKEN)


def blob_state() -> AzureBlobState:
    return AzureBlobState(
        storage_account_id=STATE_ACCOUNT_ID,
        container_name="pulumi",
        key_vault_id=STATE_VAULT_ID,
        key_name="state",
    )


def cloud_state(secret: bool = True) -> PulumiCloudState:
    wrap: Callable[[str], Any] = pulumi.Output.secret if secret else str
    return PulumiCloudState(
        organization="contoso",
        deploy_access_token=wrap(DEPLOY_TOKEN),
        preview_access_token=wrap(PREVIEW_TOKEN),
    )


def github_source(secret: bool = True) -> GitHubSource:
    wrap: Callable[[str], Any] = pulumi.Output.secret if secret else str
    return GitHubSource(
        repository="contoso/aiapp", connection_token=wrap(GITHUB_PAT), comment_token=wrap(COMMENT_TOKEN)
    )


def make_args(**overrides: Any) -> PipelinesArgs:
    """Realistic args (Azure Repos, self-managed state); override any field."""
    base = PipelinesArgs(
        organization_url=ORG_URL,
        project_name="AI app",
        source=AzureReposSource(),
        state=blob_state(),
        tenant_id=TENANT_ID,
        subscription_id=SUBSCRIPTION_ID,
        identity_resource_group="aiapp-cicd",
        location="westeurope",
        deploy_scopes=(DEV_SCOPE, PROD_SCOPE),
        model_store_url=MODEL_STORE_URL,
        tags={"owner": "team-ai@example.com", "environment": "prod"},
    )
    return replace(base, **overrides)


def _devops_outputs() -> dict[str, Callable[[Any], dict]]:
    """Outputs shaped like Azure DevOps' and Azure's for the types the harness has no mock for."""
    numbers = itertools.count(11)

    def numeric_id(_: Any) -> dict:
        return {"id": str(next(numbers))}

    def guid_id(args: Any) -> dict:
        return {"id": str(uuid.uuid5(uuid.NAMESPACE_URL, f"{args.typ}/{args.name}"))}

    def azurerm(args: Any) -> dict:
        endpoint_id = str(uuid.uuid5(uuid.NAMESPACE_URL, args.name))
        return {
            "id": endpoint_id,
            "workloadIdentityFederationIssuer": f"https://login.microsoftonline.com/{TENANT_ID}/v2.0",
            "workloadIdentityFederationSubject": f"/eid1/c/pub/t/tenant/a/app/sc/contoso/{endpoint_id}",
            "servicePrincipalId": str(uuid.uuid5(uuid.NAMESPACE_URL, f"sp/{args.name}")),
        }

    def identity(args: Any) -> dict:
        name = args.inputs.get("resourceName", args.name)
        return {
            "id": f"{RG}/{args.inputs['resourceGroupName']}/providers/Microsoft.ManagedIdentity/"
            f"userAssignedIdentities/{name}",
            "name": name,
            "clientId": str(uuid.uuid5(uuid.NAMESPACE_URL, f"client/{name}")),
            "principalId": str(uuid.uuid5(uuid.NAMESPACE_URL, f"principal/{name}")),
            "tenantId": TENANT_ID,
        }

    def role_definition(args: Any) -> dict:
        guid = str(uuid.uuid5(uuid.NAMESPACE_URL, f"role/{args.name}"))
        return {"id": f"{args.inputs['scope']}/providers/Microsoft.Authorization/roleDefinitions/{guid}"}

    return {
        BUILD_DEFINITION: numeric_id,
        VARIABLE_GROUP: numeric_id,
        ENVIRONMENT: numeric_id,
        PROJECT: guid_id,
        GIT: guid_id,
        GITHUB: guid_id,
        AZURERM: azurerm,
        IDENTITY: identity,
        ROLE_DEFINITION: role_definition,
    }


EXISTING_PROJECT_ID = "0f0f0f0f-1111-4222-8333-444444444444"
EXISTING_REPO_ID = "0e0e0e0e-1111-4222-8333-444444444444"


def _devops_calls() -> dict[str, Callable[[dict], dict]]:
    return {
        "azuredevops:index/getProject:getProject": lambda a: {
            "id": EXISTING_PROJECT_ID,
            "name": a.get("name"),
        },
        "azuredevops:index/getGitRepository:getGitRepository": lambda a: {
            "id": EXISTING_REPO_ID,
            "name": a.get("name"),
            "projectId": a.get("projectId"),
        },
    }


def run_pipelines(args: PipelinesArgs | None = None, *, preview: bool = False) -> StackRun:
    """The component alone, in a mock stack; its outputs as the run's outputs."""

    def build() -> dict[str, Any]:
        component = Pipelines("cicd", args or make_args())
        return {
            "project_url": component.project_url,
            "ci_pipeline_url": component.ci_pipeline_url,
            "release_pipeline_url": component.release_pipeline_url,
            "deploy_principal_id": component.deploy_principal_id,
            "preview_principal_id": component.preview_principal_id,
        }

    return run_component(build, preview=preview, extra_outputs=_devops_outputs(), extra_calls=_devops_calls())


def walk(value: Any) -> Iterator[Any]:
    """Every value nested in `value` (dicts, lists), itself included."""
    yield value
    if isinstance(value, Mapping):
        for item in value.values():
            yield from walk(item)
    elif isinstance(value, list | tuple):
        for item in value:
            yield from walk(item)


# ------------------------------------------------------------------------------------------------- YAML

_PARAMETER = re.compile(r"\$\{\{\s*parameters\.(\w+)\s*\}\}")
_SCRIPT_FILE = re.compile(r"pipelines/[\w./-]+\.(?:sh|py)")


def load_yaml(path: Path) -> Any:
    return yaml.safe_load(path.read_text())


def _substitute(value: Any, parameters: Mapping[str, Any]) -> Any:
    if isinstance(value, str):
        whole = _PARAMETER.fullmatch(value.strip())
        if whole and whole.group(1) in parameters:
            return parameters[whole.group(1)]
        return _PARAMETER.sub(lambda m: str(parameters.get(m.group(1), m.group(0))), value)
    if isinstance(value, Mapping):
        return {_substitute(k, parameters): _substitute(v, parameters) for k, v in value.items()}
    if isinstance(value, list):
        return [_substitute(v, parameters) for v in value]
    return value


def _flatten_conditionals(items: list[Any]) -> list[Any]:
    """`- ${{ if ... }}:` blocks inlined: every step a template may insert is counted as used."""
    out: list[Any] = []
    for item in items:
        if isinstance(item, Mapping) and len(item) == 1 and str(next(iter(item))).startswith("${{"):
            out += _flatten_conditionals(list(next(iter(item.values()))))
        else:
            out.append(item)
    return out


def expand(node: Any, base: Path, parameters: Mapping[str, Any] | None = None) -> Any:
    """`node` with every `template:` reference replaced by the template's (expanded) content."""
    node = _substitute(node, parameters or {})
    if isinstance(node, list):
        result: list[Any] = []
        for item in _flatten_conditionals(node):
            if isinstance(item, Mapping) and "template" in item and set(item) <= {"template", "parameters"}:
                result += _include(base / item["template"], item.get("parameters") or {})
            else:
                result.append(expand(item, base))
        return result
    if isinstance(node, Mapping):
        return {k: expand(v, base) for k, v in node.items()}
    return node


def _include(path: Path, given: Mapping[str, Any]) -> list[Any]:
    template = load_yaml(path)
    declared = {p["name"]: p for p in template.get("parameters", [])}
    unknown = set(given) - set(declared)
    assert not unknown, f"{path.name} has no parameters {sorted(unknown)}"
    values = {name: given.get(name, spec.get("default")) for name, spec in declared.items()}
    for name, spec in declared.items():
        assert values[name] is not None, f"{path.name}: parameter {name} is required and not passed"
        if "values" in spec:
            assert values[name] in spec["values"], (
                f"{path.name}: {name}={values[name]!r} not in {spec['values']}"
            )
    body = {k: v for k, v in template.items() if k != "parameters"}
    (kind,) = body  # a steps (or jobs) template has exactly one list
    return expand(body[kind], path.parent, values)


@dataclass
class Pipeline:
    """A pipeline file with its templates expanded, and what it uses."""

    path: Path
    raw: dict[str, Any]
    expanded: dict[str, Any]
    connections: set[str] = field(default_factory=set)
    groups: set[str] = field(default_factory=set)
    environments: set[str] = field(default_factory=set)
    script_files: set[str] = field(default_factory=set)

    def stages(self) -> list[dict[str, Any]]:
        return self.expanded["stages"]

    def stage(self, name: str) -> dict[str, Any]:
        (found,) = [s for s in self.stages() if s["stage"] == name]
        return found

    @staticmethod
    def job_steps(job: Mapping[str, Any]) -> list[dict[str, Any]]:
        if "deployment" in job:
            return job["strategy"]["runOnce"]["deploy"]["steps"]
        return job["steps"]


def load_pipeline(name: str) -> Pipeline:
    path = PIPELINES_DIR / name
    raw = load_yaml(path)
    expanded = expand(raw, path.parent)
    pipeline = Pipeline(path, raw, expanded)
    pipeline.groups = {
        v["group"] for v in expanded.get("variables", []) if isinstance(v, Mapping) and "group" in v
    }
    for stage in expanded["stages"]:
        for job in stage["jobs"]:
            environment = job.get("environment")
            if environment is not None:
                pipeline.environments.add(
                    environment if isinstance(environment, str) else environment["name"]
                )
            for step in Pipeline.job_steps(job):
                inputs = step.get("inputs") or {}
                for key in ("azureSubscription", "connectedServiceNameARM", "gitHubConnection"):
                    if key in inputs:
                        pipeline.connections.add(inputs[key])
                if "scriptPath" in inputs:
                    pipeline.script_files.add(inputs["scriptPath"])
                if "script" in step:
                    pipeline.script_files.update(_SCRIPT_FILE.findall(step["script"]))
    return pipeline
