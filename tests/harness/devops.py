"""The Azure DevOps side (aiapp:pipelinesEnabled): its resource type tokens, realistic values, and the two
whole-program variants the tests run.

Type tokens: DEVOPS_* (what infra/pipelines/ declares), MANAGED_IDENTITY, FEDERATED_CREDENTIAL,
ROLE_ASSIGNMENT, ROLE_DEFINITION. Values: ORG_URL, the deploy scopes (SUBSCRIPTION_SCOPE, DEV_SCOPE,
PROD_SCOPE), the state's storage account and Key Vault ids, a shared MODEL_STORE_URL, and credential-shaped
SECRETS (the policy pack recognises these shapes in plain text). PROGRAM_VARIANTS: Azure Repos + azblob://
state alone; GitHub + Pulumi Cloud beside the runtime; `run_program_with_pipelines(variant)` runs the real
__main__.py with one. `walk(value)` yields every nested value (to find a secret anywhere).

The component on its own: `make_args(**overrides)` (PipelinesArgs around `devops_settings(**overrides)`:
Azure Repos, self-managed state, project "AI app"), `blob_state()`, `cloud_state(secret=True)`,
`github_source(secret=True)`, and `run_pipelines(args=None, preview=False)`, which runs it in a mock stack.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from typing import Any

import pulumi

from infra.config.devops import AzureBlobState, GitHubSource, PipelinesSettings, PulumiCloudState
from infra.config.runtime import StackSettings
from infra.identity import AzureContext, Principal
from infra.pipelines import Pipelines, PipelinesArgs
from tests.harness.mocks import SUBSCRIPTION_ID, TENANT_ID
from tests.harness.records import StackRun
from tests.harness.run import run_component, run_program

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


def secrets_kept_secret(run: StackRun) -> set[str]:
    """The credentials of SECRETS that reach any resource input; fails naming the resource and input when
    one reaches an input Pulumi does not keep secret."""
    seen: set[str] = set()
    for resource in run.resources:
        for key, value in resource.inputs.items():
            found = {s for s in SECRETS for v in walk(value) if isinstance(v, str) and s in v}
            assert not found or key in resource.secret_inputs, (
                f"{resource.type} {resource.name}: {key} is plain"
            )
            seen |= found
    return seen


# ---------------------------------------------------------------------------- the component on its own
# Typed settings and args for infra/pipelines/ run alone (`run_pipelines(make_args(source=github_source()))`).
STATE_CONTAINER_ID = f"{STATE_ACCOUNT_ID}/blobServices/default/containers/pulumi"
STATE_KEY_ID = f"{STATE_VAULT_ID}/keys/state"


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


def devops_settings(**overrides: Any) -> PipelinesSettings:
    """Realistic settings (Azure Repos, self-managed state); override any field."""
    base: dict[str, Any] = {
        "organization_url": ORG_URL,
        "project_name": "AI app",
        "state": blob_state(),
        "identity_resource_group": "aiapp-cicd",
        "deploy_scopes": (DEV_SCOPE, PROD_SCOPE),
    }
    return PipelinesSettings(**{**base, **overrides})


def make_args(**overrides: Any) -> PipelinesArgs:
    """The component's args around devops_settings(**overrides), for the cicd stack of prod's tenant."""
    return PipelinesArgs(
        devops=devops_settings(**overrides),
        stack=StackSettings(stack=CICD_STACK, environment="prod", owner="team-ai@example.com"),
        azure=AzureContext(SUBSCRIPTION_ID, TENANT_ID, Principal("deployer", "User")),
        model_name="digits",
        model_store_url=MODEL_STORE_URL,
    )


def run_pipelines(args: PipelinesArgs | None = None, *, preview: bool = False) -> StackRun:
    """The component alone, in a mock stack; its outputs as the run's outputs."""
    return run_component(lambda: Pipelines("cicd", args or make_args()).exports, preview=preview)
