"""Helpers for the pipeline tests: the Pipelines component under the shared mock harness (which mocks the
Azure DevOps types), and the YAML of pipelines/ expanded the way Azure Pipelines expands templates (enough to
know what each pipeline uses)."""

from __future__ import annotations

import re
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
from tests.harness import (  # noqa: F401 (re-exported for the pipeline tests)
    EXISTING_PROJECT_ID,
    EXISTING_REPO_ID,
    SUBSCRIPTION_ID,
    TENANT_ID,
    StackRun,
    run_component,
    run_program,
)

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

    return run_component(build, preview=preview)


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


# ------------------------------------------------------------------------ the program with pipelines on

SUBSCRIPTION_SCOPE = f"/subscriptions/{SUBSCRIPTION_ID}"
# The stack that declares the Azure DevOps side: one the release does not deploy (see infra/config.py).
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
