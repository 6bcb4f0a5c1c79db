"""The configuration of the Azure DevOps side (aiapp:pipelinesEnabled and its keys), of a shared model store
(aiapp:modelStoreUrl) and of a stack without the runtime (aiapp:runtimeEnabled): defaults, and every bad value
rejected with the key, the allowed values and how to fix it, before any resource is declared."""

from __future__ import annotations

from collections.abc import Collection, Mapping

import pulumi
import pytest

from infra.config import ConfigError, Settings, load_settings
from infra.config.devops import AzureBlobState, AzureReposSource, GitHubSource, PulumiCloudState
from tests import harness
from tests.harness.devops import (
    AZURE_REPOS_AZBLOB,
    CICD_STACK,
    GITHUB_PAT,
    GITHUB_PULUMI_CLOUD,
    GITHUB_PULUMI_CLOUD_SECRETS,
    MODEL_STORE_URL,
    STATE_ACCOUNT_ID,
    STATE_VAULT_ID,
    SUBSCRIPTION_SCOPE,
)


def load(
    values: Mapping[str, str | None], stack: str = CICD_STACK, plaintext: Collection[str] = ()
) -> Settings:
    """Settings from `values` ("aiapp:key" -> value; None drops a key); keys in `plaintext` are stored
    unencrypted (set without --secret), every other key as the CLI stores secrets."""
    plain = {k.removeprefix("aiapp:"): v for k, v in values.items() if v is not None}
    return load_settings(
        plain.get, stack_name=stack, stored_encrypted=lambda key: f"aiapp:{key}" not in plaintext
    )


def problems(values: Mapping[str, str | None], stack: str = CICD_STACK, **kwargs) -> str:
    with pytest.raises(ConfigError) as caught:
        load(values, stack, **kwargs)
    return str(caught.value)


GITHUB_CLOUD = {**GITHUB_PULUMI_CLOUD, **GITHUB_PULUMI_CLOUD_SECRETS}

# ---------------------------------------------------------------------------------------------- defaults


def test_pipelines_are_off_by_default() -> None:
    settings = load({"aiapp:owner": "team"}, stack="dev")
    assert settings.pipelines is None
    assert settings.runtime_enabled is True
    assert settings.model_store.existing_url is None


def test_pipelines_with_azure_repos_and_self_managed_state_and_every_default() -> None:
    settings = load(AZURE_REPOS_AZBLOB)
    assert settings.runtime_enabled is False
    devops = settings.pipelines
    assert devops is not None
    assert (devops.organization_url, devops.project_name, devops.create_project) == (
        "https://dev.azure.com/contoso",
        "aiapp",
        True,
    )
    assert devops.source == AzureReposSource(repository_name="aiapp", existing=False, import_url=None)
    assert devops.state == AzureBlobState(
        storage_account_id=STATE_ACCOUNT_ID,
        container_name="pulumi-state",
        key_vault_id=STATE_VAULT_ID,
        key_name="pulumi-state",
    )
    assert devops.deploy_scopes == (SUBSCRIPTION_SCOPE,)
    assert devops.identity_resource_group == "aiapp-cicd"
    assert devops.stacks == {"dev": "dev", "prod": "prod"}
    assert settings.model_store.existing_url == MODEL_STORE_URL
    assert (devops.subscription_name, devops.model_store_scope, devops.prod_approvers) == (None, None, ())


def test_pipelines_with_github_and_pulumi_cloud_keep_the_tokens_secret() -> None:
    devops = load(GITHUB_CLOUD).pipelines
    assert devops is not None
    assert isinstance(devops.source, GitHubSource) and isinstance(devops.state, PulumiCloudState)
    assert (devops.source.repository, devops.state.organization) == ("contoso/aiapp", "contoso")
    assert devops.project_name == "AI app"
    assert devops.prod_approvers == ("5a5a5a5a-1111-4222-8333-444444444444",)
    for token in (
        devops.source.connection_token,
        devops.source.comment_token,
        devops.state.deploy_access_token,
        devops.state.preview_access_token,
    ):
        assert isinstance(token, pulumi.Output)  # secret Outputs (their values: test_stack_with_pipelines.py)


def test_every_optional_pipelines_key_is_read() -> None:
    scope = f"{SUBSCRIPTION_SCOPE}/resourceGroups/models-rg/providers/Microsoft.Storage/storageAccounts/m"
    settings = load(
        {
            **AZURE_REPOS_AZBLOB,
            "aiapp:projectName": "AI app",
            "aiapp:createProject": "false",
            "aiapp:repositoryName": "ai-app",
            "aiapp:repositoryImportUrl": "https://github.com/contoso/aiapp.git",
            "aiapp:stateContainerName": "state",
            "aiapp:stateKeyName": "stack-secrets",
            "aiapp:subscriptionName": "Contoso Production",
            "aiapp:stacks": '{"dev": "ml-dev", "prod": "ml-prod"}',
            "aiapp:modelStoreScope": scope,
        }
    )
    devops = settings.pipelines
    assert devops is not None
    assert (devops.project_name, devops.create_project) == ("AI app", False)
    assert devops.source == AzureReposSource(
        repository_name="ai-app", existing=False, import_url="https://github.com/contoso/aiapp.git"
    )
    assert devops.state == AzureBlobState(
        storage_account_id=STATE_ACCOUNT_ID,
        container_name="state",
        key_vault_id=STATE_VAULT_ID,
        key_name="stack-secrets",
    )
    assert devops.subscription_name == "Contoso Production"
    assert devops.stacks == {"dev": "ml-dev", "prod": "ml-prod"}
    assert devops.model_store_scope == scope


# ------------------------------------------------------------------------------------------ bad values

# (overrides of AZURE_REPOS_AZBLOB, the exact text the error must contain)
BAD_PIPELINES = [
    (
        {"aiapp:pipelinesEnabled": "yes"},
        "aiapp:pipelinesEnabled: 'yes' is not one of the allowed values true, false",
    ),
    (
        {"aiapp:organizationUrl": None},
        "aiapp:organizationUrl: is required with aiapp:pipelinesEnabled true (the Azure DevOps organization)",
    ),
    (
        {"aiapp:organizationUrl": "https://example.com/contoso"},
        "aiapp:organizationUrl: 'https://example.com/contoso' is not an Azure DevOps organization URL",
    ),
    ({"aiapp:projectName": "ai/app"}, "aiapp:projectName: 'ai/app' is not an Azure DevOps project name"),
    (
        {"aiapp:createProject": "maybe"},
        "aiapp:createProject: 'maybe' is not one of the allowed values true, false",
    ),
    (
        {"aiapp:source": "gitlab"},
        "aiapp:source: 'gitlab' is not one of the allowed values azure-repos, github",
    ),
    ({"aiapp:repositoryName": "-app"}, "aiapp:repositoryName: '-app' is not a repository name"),
    (
        {"aiapp:repositoryImportUrl": "git@github.com:contoso/aiapp.git"},
        "aiapp:repositoryImportUrl: 'git@github.com:contoso/aiapp.git' is not an https:// Git URL",
    ),
    (
        {"aiapp:repositoryExisting": "true", "aiapp:repositoryImportUrl": "https://github.com/c/a.git"},
        "aiapp:repositoryImportUrl: only applies when the stack creates the repository",
    ),
    (
        {"aiapp:githubRepository": "contoso/aiapp"},
        "aiapp:source: is 'azure-repos', so aiapp:githubRepository would do nothing",
    ),
    (
        {"aiapp:state": None},
        "aiapp:state: is required with aiapp:pipelinesEnabled true (where the dev and prod stacks keep their "
        "Pulumi state; allowed values azblob, pulumi-cloud)",
    ),
    ({"aiapp:state": "s3"}, "aiapp:state: 's3' is not one of the allowed values azblob, pulumi-cloud"),
    (
        {"aiapp:stateStorageAccountId": None},
        "aiapp:stateStorageAccountId: is required with aiapp:state azblob",
    ),
    (
        {"aiapp:stateStorageAccountId": "aiappstate"},
        "aiapp:stateStorageAccountId: 'aiappstate' is not a storage account resource id",
    ),
    (
        {"aiapp:stateKeyVaultId": STATE_ACCOUNT_ID},
        f"aiapp:stateKeyVaultId: {STATE_ACCOUNT_ID!r} is not a key vault resource id",
    ),
    (
        {"aiapp:stateContainerName": "Pulumi"},
        "aiapp:stateContainerName: 'Pulumi' is not a blob container name",
    ),
    ({"aiapp:stateKeyName": "state key"}, "aiapp:stateKeyName: 'state key' is not a Key Vault key name"),
    (
        {"aiapp:pulumiOrganization": "contoso"},
        "aiapp:state: is 'azblob', so aiapp:pulumiOrganization would do nothing",
    ),
    ({"aiapp:deployScopes": None}, "aiapp:deployScopes: is required with aiapp:pipelinesEnabled true"),
    ({"aiapp:deployScopes": "[]"}, "aiapp:deployScopes: is required with aiapp:pipelinesEnabled true"),
    (
        {"aiapp:deployScopes": '["/subscriptions/nope"]'},
        "aiapp:deployScopes: '[\"/subscriptions/nope\"]' is not a JSON list of ARM scopes",
    ),
    (
        {"aiapp:identityResourceGroup": None},
        "aiapp:identityResourceGroup: is required with aiapp:pipelinesEnabled true",
    ),
    (
        {"aiapp:identityResourceGroup": "ci/cd"},
        "aiapp:identityResourceGroup: 'ci/cd' is not a resource group name",
    ),
    (
        {"aiapp:stacks": '{"dev": "dev"}'},
        'aiapp:stacks: \'{"dev": "dev"}\' is not a JSON object naming the stack of each environment',
    ),
    (
        {"aiapp:modelStoreScope": "aiappmodels"},
        "aiapp:modelStoreScope: 'aiappmodels' is not an Azure resource id",
    ),
    (
        {"aiapp:prodApprovers": '["alice"]'},
        "aiapp:prodApprovers: '[\"alice\"]' is not a JSON list of Azure DevOps identity ids",
    ),
    (
        {"aiapp:modelStoreUrl": None},
        "aiapp:modelStoreUrl: is required with aiapp:pipelinesEnabled true: the release resolves the model "
        "version in the one store that dev and prod both read",
    ),
    (
        {"aiapp:runtimeEnabled": "off"},
        "aiapp:runtimeEnabled: 'off' is not one of the allowed values true, false",
    ),
]


@pytest.mark.parametrize(
    ("overrides", "message"), BAD_PIPELINES, ids=[next(iter(o)) for o, _ in BAD_PIPELINES]
)
def test_each_bad_pipelines_value_is_named_with_its_fix(overrides: dict, message: str) -> None:
    found = problems({**AZURE_REPOS_AZBLOB, **overrides})
    assert message in found
    assert "; set it with `pulumi config set aiapp:" in found or "; remove" in found


BAD_GITHUB_CLOUD = [
    (
        {"aiapp:githubRepository": None},
        "aiapp:githubRepository: is required with aiapp:source github (the GitHub repository",
    ),
    (
        {"aiapp:githubRepository": "aiapp"},
        "aiapp:githubRepository: 'aiapp' is not a GitHub repository as owner/name",
    ),
    (
        {"aiapp:githubToken": None},
        "aiapp:githubToken: is required with aiapp:source github (the GitHub PAT of the service connection",
    ),
    ({"aiapp:githubCommentToken": None}, "aiapp:githubCommentToken: is required with aiapp:source github"),
    (
        {"aiapp:repositoryName": "aiapp"},
        "aiapp:source: is 'github', so aiapp:repositoryName would do nothing",
    ),
    (
        {"aiapp:pulumiOrganization": None},
        "aiapp:pulumiOrganization: is required with aiapp:state pulumi-cloud",
    ),
    (
        {"aiapp:pulumiDeployToken": None},
        "aiapp:pulumiDeployToken: is required with aiapp:state pulumi-cloud",
    ),
    (
        {"aiapp:pulumiPreviewToken": None},
        "aiapp:pulumiPreviewToken: is required with aiapp:state pulumi-cloud",
    ),
    (
        {"aiapp:stateKeyVaultId": STATE_VAULT_ID},
        "aiapp:state: is 'pulumi-cloud', so aiapp:stateKeyVaultId would do nothing",
    ),
]


@pytest.mark.parametrize(
    ("overrides", "message"), BAD_GITHUB_CLOUD, ids=[next(iter(o)) for o, _ in BAD_GITHUB_CLOUD]
)
def test_each_bad_github_or_pulumi_cloud_value_is_named(overrides: dict, message: str) -> None:
    assert message in problems({**GITHUB_CLOUD, **overrides})


def test_a_missing_secret_says_to_set_it_encrypted() -> None:
    found = problems({**GITHUB_CLOUD, "aiapp:githubToken": None})
    assert "set it with `pulumi config set --secret aiapp:githubToken <value>`" in found


def test_a_token_stored_in_plain_text_is_refused_without_being_shown() -> None:
    found = problems(GITHUB_CLOUD, plaintext={"aiapp:githubToken"})
    assert "aiapp:githubToken: is stored in plain text in the stack's config file" in found
    assert "pulumi config set --secret aiapp:githubToken" in found
    assert GITHUB_PAT not in found


def test_all_problems_are_reported_together() -> None:
    found = problems({**GITHUB_CLOUD, "aiapp:githubToken": None, "aiapp:deployScopes": None})
    assert "aiapp:githubToken: is required" in found and "aiapp:deployScopes: is required" in found


@pytest.mark.parametrize("stack", ["dev", "prod"])
def test_the_stacks_the_release_deploys_cannot_hold_the_pipelines(stack: str) -> None:
    found = problems({**AZURE_REPOS_AZBLOB, "aiapp:environment": stack}, stack=stack)
    assert (
        f"aiapp:pipelinesEnabled: is true in the stack {stack!r}, which the release pipeline deploys" in found
    )
    assert "`pulumi stack init cicd` with aiapp:runtimeEnabled false" in found


def test_the_release_stacks_are_the_configured_ones_qualified_or_not() -> None:
    stacks = '{"dev": "ml-dev", "prod": "contoso/aiapp/ml-prod"}'
    found = problems({**AZURE_REPOS_AZBLOB, "aiapp:stacks": stacks}, stack="ml-prod")
    assert "is true in the stack 'ml-prod', which the release pipeline deploys" in found
    # "prod" is not deployed by that release: it may hold the pipelines.
    assert load({**AZURE_REPOS_AZBLOB, "aiapp:stacks": stacks}, stack="prod").pipelines is not None


def test_pipelines_keys_without_pipelines_enabled_are_an_error() -> None:
    found = problems(
        {
            "aiapp:owner": "team",
            "aiapp:organizationUrl": "https://dev.azure.com/contoso",
            "aiapp:githubToken": GITHUB_PAT,
        },
        stack="dev",
    )
    assert (
        "aiapp:pipelinesEnabled: is not true, so aiapp:organizationUrl, aiapp:githubToken would do nothing"
        in found
    )
    assert GITHUB_PAT not in found


def test_a_stack_without_runtime_needs_the_pipelines() -> None:
    found = problems({"aiapp:owner": "team", "aiapp:runtimeEnabled": "false"}, stack="dev")
    assert (
        "aiapp:runtimeEnabled: is false and aiapp:pipelinesEnabled is not true: the stack would declare"
        in found
    )


# --------------------------------------------------------------------------------------- shared store


def test_a_shared_store_url_is_read_and_normalised() -> None:
    prod = {"aiapp:owner": "team", "aiapp:onCallEmails": '["a@b.io"]'}
    settings = load({**prod, "aiapp:modelStoreUrl": f"{MODEL_STORE_URL}/"}, stack="prod")
    assert settings.model_store.existing_url == MODEL_STORE_URL


@pytest.mark.parametrize(
    "url",
    [
        "http://aiappmodels.blob.core.windows.net/models",  # not https
        "https://aiappmodels.blob.core.windows.net",  # no container
        "https://aiappmodels.blob.core.windows.net/models/digits",  # a path in the container
        "https://AIappModels.blob.core.windows.net/models",  # account names are lowercase
        "https://aiappmodels.dfs.core.windows.net/models",  # not the blob endpoint
        "https://aiappmodels.blob.core.windows.net.example.com/models",
        "https://aiappmodels.blob.core.windows.net/Models",
        "file:///srv/models",
    ],
)
def test_a_malformed_shared_store_url_is_refused_with_the_expected_shape(url: str) -> None:
    found = problems({"aiapp:owner": "team", "aiapp:modelStoreUrl": url}, stack="prod")
    assert f"aiapp:modelStoreUrl: {url!r} is not https://<account>.blob.core.windows.net/<container>" in found
    assert "needs Storage Blob Data Reader on it" in found
    assert "pulumi config set aiapp:modelStoreUrl $(pulumi stack output model_store_url --stack dev)" in found


def test_keys_of_an_own_store_conflict_with_a_shared_one() -> None:
    # The dev stack file sets them: dev owns the store, it cannot also read another one.
    found = problems(
        {**harness.stack_config("dev"), "aiapp:modelStoreUrl": MODEL_STORE_URL, "aiapp:modelContainer": "m"},
        stack="dev",
    )
    assert (
        "aiapp:modelStoreUrl: is set, so this stack creates no model store, but aiapp:modelStoreSku, "
        "aiapp:modelContainer, aiapp:modelSoftDeleteDays only apply to a store it creates" in found
    )


# ------------------------------------------------------------------------------------ before any resource


@pytest.mark.parametrize(
    ("stack", "config", "secrets", "message"),
    [
        ("prod", {"aiapp:pipelinesEnabled": "true"}, {}, "aiapp:organizationUrl: is required"),
        ("prod", {"aiapp:modelStoreUrl": "https://models.example.com/x"}, {}, "aiapp:modelStoreUrl: '"),
        (CICD_STACK, {**GITHUB_PULUMI_CLOUD, "aiapp:githubToken": GITHUB_PAT}, {}, "is stored in plain text"),
        (CICD_STACK, GITHUB_PULUMI_CLOUD, {"aiapp:githubToken": GITHUB_PAT}, "aiapp:githubCommentToken: is"),
    ],
    ids=["pipelines-in-prod", "bad-store-url", "plain-text-token", "missing-token"],
)
def test_the_program_stops_before_any_resource(
    stack: str, config: dict, secrets: dict, message: str, store_url: str
) -> None:
    with pytest.raises(ConfigError) as caught:
        harness.run_program(config, stack=stack, secrets=secrets, model_store=store_url)
    assert message in str(caught.value) and GITHUB_PAT not in str(caught.value)
    assert harness.last_run().resources == []
