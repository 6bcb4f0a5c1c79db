"""The real __main__.py with aiapp:pipelinesEnabled, under Pulumi's mocks: the config reaches the Pipelines
component as given, the tokens stay secret from `pulumi config set --secret` to the resources, and the stack
exports the project's and pipelines' URLs, the identities' principal ids and the API's registration's
(tests/infra/test_api_registration.py tests that component).

Two variants (tests/harness/devops.py, PROGRAM_VARIANTS): a stack of the Azure DevOps side only (Azure Repos,
azblob:// state), and one with the runtime too (GitHub, Pulumi Cloud, a prod approval), reading the shared
model store.
"""

from __future__ import annotations

import json

import pytest

from infra.pipelines.names import DEPLOY_CONNECTION, PREVIEW_CONNECTION
from model.store import FileStore
from tests import harness
from tests.harness import StackRun
from tests.harness.devops import (
    COMMENT_TOKEN,
    DEPLOY_TOKEN,
    DEVOPS_AZURERM,
    DEVOPS_BUILD_DEFINITION,
    DEVOPS_GITHUB,
    DEVOPS_PROJECT,
    DEVOPS_VARIABLE_GROUP,
    GITHUB_PAT,
    MANAGED_IDENTITY,
    MODEL_STORE_URL,
    PREVIEW_TOKEN,
    PROGRAM_VARIANTS,
    ROLE_ASSIGNMENT,
    SECRETS,
    SUBSCRIPTION_SCOPE,
    ProgramVariant,
    run_program_with_pipelines,
    secrets_kept_secret,
)

PIPELINES_OUTPUTS = {
    "project_url",
    "ci_pipeline_url",
    "release_pipeline_url",
    "deploy_principal_id",
    "preview_principal_id",
    "model_store_url",
    # the API's Entra registration, declared beside the pipelines
    "auth_audience",
    "api_identifier_uri",
    "auth_token_scope",
    "auth_token_command",
}
RUNTIME_OUTPUTS = {
    "app_url",
    "acme_server",
    "acr_login_server",
    "image",
    "app_commit",
    "app_version",
    "model_name",
    "model_version",
    "model_sha256",
    "cluster_name",
    "kubeconfig",
    "prometheus_query_endpoint",
    "logs_workspace_id",
    "registry_id",
    "promotion",  # the release's contract (tests/infra/test_promotion.py)
    "release_watch",
}
REPOS_AZBLOB, GITHUB_CLOUD = PROGRAM_VARIANTS


@pytest.fixture(scope="module", params=PROGRAM_VARIANTS, ids=[v.name for v in PROGRAM_VARIANTS])
def variant(request: pytest.FixtureRequest) -> ProgramVariant:
    return request.param


@pytest.fixture(scope="module")
def runs(reference_store: FileStore) -> dict[str, StackRun]:
    return {v.name: run_program_with_pipelines(v, reference_store.url) for v in PROGRAM_VARIANTS}


@pytest.fixture(scope="module")
def run(runs: dict[str, StackRun], variant: ProgramVariant) -> StackRun:
    return runs[variant.name]


def group_variables(run: StackRun, name: str) -> dict[str, dict]:
    (group,) = [g for g in run.of_type(DEVOPS_VARIABLE_GROUP) if g.inputs["name"] == name]
    return {v["name"]: v for v in group.inputs["variables"]}


def identity(run: StackRun, connection_name: str):
    (endpoint,) = [
        r for r in run.of_type(DEVOPS_AZURERM) if r.inputs["serviceEndpointName"] == connection_name
    ]
    client_id = endpoint.inputs["credentials"]["serviceprincipalid"]
    (found,) = [r for r in run.of_type(MANAGED_IDENTITY) if r.outputs["clientId"] == client_id]
    return endpoint, found


# ------------------------------------------------------------------------------------------ composition


def test_the_stack_declares_the_pipelines_and_the_runtime_only_when_enabled(
    run: StackRun, variant: ProgramVariant
) -> None:
    (component,) = run.of_type("aiapp:infra:Pipelines")
    (registration,) = run.of_type("aiapp:infra:ApiRegistration")
    # Children of the stack, beside the runtime's components.
    assert run.parent_of(component) is None and run.parent_of(registration) is None
    runtime = {"aiapp:infra:Registry", "aiapp:infra:Cluster", "aiapp:infra:AppImage", "aiapp:infra:Workload"}
    declared = {r.type for r in run.resources}
    if variant.runtime:
        assert runtime <= declared
        assert run.store_urls == [MODEL_STORE_URL]  # the image's model came from the shared store
    else:
        assert not runtime & declared and run.store_urls == []
        # Everything is the components': no resource group, registry or cluster of a runtime.
        assert all(run.parent_of(r) is not None for r in run.resources if r not in (component, registration))
    assert "aiapp:infra:ModelStore" not in declared  # the shared store belongs to the dev stack


def test_the_outputs_are_the_pipelines_and_the_runtimes(run: StackRun, variant: ProgramVariant) -> None:
    expected = PIPELINES_OUTPUTS | (RUNTIME_OUTPUTS if variant.runtime else set())
    assert set(run.outputs) == expected and run.unknown_outputs == frozenset()
    out = run.outputs
    project = "https://dev.azure.com/contoso/" + ("AI%20app" if variant is GITHUB_CLOUD else "aiapp")
    assert out["project_url"] == project
    for name in ("ci", "release"):
        (definition,) = [d for d in run.of_type(DEVOPS_BUILD_DEFINITION) if d.inputs["name"] == name]
        assert out[f"{name}_pipeline_url"] == f"{project}/_build?definitionId={definition.id}"
    for role, connection in (("deploy", DEPLOY_CONNECTION), ("preview", PREVIEW_CONNECTION)):
        _, managed = identity(run, connection)
        assert out[f"{role}_principal_id"] == managed.outputs["principalId"]
    assert out["model_store_url"] == MODEL_STORE_URL
    assert run.secret_outputs == ({"kubeconfig"} if variant.runtime else frozenset())


def test_the_config_reaches_the_component(run: StackRun, variant: ProgramVariant) -> None:
    for group in ("aiapp-deploy", "aiapp-preview"):
        values = {k: v.get("value") for k, v in group_variables(run, group).items()}
        assert values["MODEL_STORE"] == MODEL_STORE_URL  # where the release resolves the version
        assert values["MODEL_NAME"] == "digits"
        assert (values["AZURE_TENANT_ID"], values["AZURE_SUBSCRIPTION_ID"]) == (
            harness.TENANT_ID,
            harness.SUBSCRIPTION_ID,
        )
        if variant is REPOS_AZBLOB:
            assert values["PULUMI_BACKEND_URL"] == "azblob://pulumi-state?storage_account=aiappstate"
            assert (values["PULUMI_STACK_DEV"], values["PULUMI_STACK_PROD"]) == ("dev", "prod")
        else:
            assert values["PULUMI_BACKEND_URL"] == "https://api.pulumi.com"
            assert values["PULUMI_STACK_PROD"] == "contoso/aiapp/prod"
    environment = "prod" if variant is REPOS_AZBLOB else "staging"
    for role, connection in (("deploy", DEPLOY_CONNECTION), ("preview", PREVIEW_CONNECTION)):
        endpoint, managed = identity(run, connection)
        assert (endpoint.inputs["azurermSpnTenantid"], endpoint.inputs["azurermSubscriptionId"]) == (
            harness.TENANT_ID,
            harness.SUBSCRIPTION_ID,
        )
        assert managed.inputs["resourceName"] == f"aiapp-pipelines-{role}"
        assert managed.inputs["resourceGroupName"] == "aiapp-cicd"
        assert managed.inputs["location"] == "westeurope"
        assert managed.inputs["tags"] == {
            "owner": "team-ai@example.com",
            "environment": environment,
            "app": "aiapp",
        }
    _, deploy = identity(run, DEPLOY_CONNECTION)
    scopes = {
        a.inputs["scope"]
        for a in run.of_type(ROLE_ASSIGNMENT)
        if a.inputs["principalId"] == deploy.outputs["principalId"]
    }
    assert SUBSCRIPTION_SCOPE in scopes  # aiapp:deployScopes
    project = run.of_type(DEVOPS_PROJECT)
    assert [p.inputs["name"] for p in project] == ["aiapp" if variant is REPOS_AZBLOB else "AI app"]


def test_the_runtime_beside_the_pipelines_reads_the_shared_store_and_grants_nothing_on_it(
    runs: dict[str, StackRun],
) -> None:
    run = runs[GITHUB_CLOUD.name]
    assert run.of_type("azure-native:storage:StorageAccount") == []
    blob_roles = ("2a2b9908-6ea1-4ae2-8e65-a410df84e7d1", "ba92f5b4-2d11-453d-a403-e96b0029c9fe")
    runtime_grants = [
        a
        for a in run.of_type(ROLE_ASSIGNMENT)
        if run.parent_of(a) is None or run.parent_of(a).type != "aiapp:infra:Pipelines"
    ]
    # AcrPush, AKS admin and Monitoring Data Reader for the deployer, AcrPull for the kubelet
    assert len(runtime_grants) == 4
    assert not [a for a in runtime_grants if a.inputs["roleDefinitionId"].endswith(blob_roles)]


# ---------------------------------------------------------------------------------------------- secrets


def test_the_tokens_set_as_secrets_reach_their_resources_only_as_secrets(runs: dict[str, StackRun]) -> None:
    run = runs[GITHUB_CLOUD.name]
    assert secrets_kept_secret(run) == set(SECRETS)
    assert run.one(DEVOPS_GITHUB).inputs["authPersonal"]["personalAccessToken"] == GITHUB_PAT
    deploy, preview = group_variables(run, "aiapp-deploy"), group_variables(run, "aiapp-preview")
    assert deploy["PULUMI_ACCESS_TOKEN"]["secretValue"] == DEPLOY_TOKEN
    assert preview["PULUMI_ACCESS_TOKEN"]["secretValue"] == PREVIEW_TOKEN
    assert preview["PR_COMMENT_TOKEN"]["secretValue"] == COMMENT_TOKEN
    assert "PR_COMMENT_TOKEN" not in deploy
    exported = json.dumps(run.outputs)
    assert not [s for s in SECRETS if s in exported], "a token in the stack outputs"


def test_self_managed_state_needs_no_token_at_all(runs: dict[str, StackRun]) -> None:
    run = runs[REPOS_AZBLOB.name]
    for group in ("aiapp-deploy", "aiapp-preview"):
        assert not [v for v in group_variables(run, group).values() if v.get("isSecret")]
    assert run.of_type(DEVOPS_GITHUB) == []


# ---------------------------------------------------------------------------------------------- preview


def test_a_preview_declares_the_same_resources(reference_store: FileStore, runs: dict[str, StackRun]) -> None:
    previewed = run_program_with_pipelines(REPOS_AZBLOB, reference_store.url, preview=True)
    names = sorted((r.type, r.name) for r in previewed.resources)
    assert names == sorted((r.type, r.name) for r in runs[REPOS_AZBLOB.name].resources)
    assert len(names) > 40
    assert {"ci_pipeline_url", "release_pipeline_url", "deploy_principal_id"} <= previewed.unknown_outputs
    assert previewed.outputs["model_store_url"] == MODEL_STORE_URL
