"""Role definition ids take the subscription of the scope they are assigned on (issue 11, item 6), not the
subscription `pulumi up` deploys to: the pipelines' grants on a state container, a Key Vault key, a model
store or deploy scopes in other subscriptions. Under Pulumi's mocks: the ids the program declares."""

from __future__ import annotations

import pytest

from infra.config.devops import AzureBlobState
from infra.identity import role_definition_id
from model.store import FileStore
from tests.harness import SUBSCRIPTION_ID, StackRun, run_program
from tests.harness.devops import ROLE_ASSIGNMENT, make_args, run_pipelines

OTHER = {
    "state": "22222222-0000-4000-8000-000000000001",
    "vault": "22222222-0000-4000-8000-000000000002",
    "models": "22222222-0000-4000-8000-000000000003",
    "dev": "22222222-0000-4000-8000-000000000004",
    "prod": "22222222-0000-4000-8000-000000000005",
}
ROLE = "acdd72a7-3385-48ef-bd42-f606fba81ae7"
DEFINITIONS = "/providers/Microsoft.Authorization/roleDefinitions/"


@pytest.mark.parametrize(
    "scope, subscription",
    [
        (f"/subscriptions/{OTHER['dev']}", OTHER["dev"]),
        (f"/subscriptions/{OTHER['dev']}/resourceGroups/rg", OTHER["dev"]),
        (
            f"/SUBSCRIPTIONS/{OTHER['dev']}/resourceGroups/rg/providers/Microsoft.KeyVault/vaults/v/keys/k",
            OTHER["dev"],
        ),
        ("/providers/Microsoft.Management/managementGroups/contoso", SUBSCRIPTION_ID),
    ],
    ids=["subscription", "resource-group", "resource-any-case", "outside-any-subscription"],
)
def test_the_prefix_is_the_scopes_own_subscription(scope: str, subscription: str) -> None:
    assert (
        role_definition_id(scope, ROLE, SUBSCRIPTION_ID)
        == f"/subscriptions/{subscription}{DEFINITIONS}{ROLE}"
    )


def subscription_of(resource_id: str) -> str:
    return resource_id.split("/")[2].lower()


def assert_each_definition_is_of_its_scopes_subscription(run: StackRun) -> int:
    assignments = [a for a in run.of_type(ROLE_ASSIGNMENT) if DEFINITIONS in a.inputs["roleDefinitionId"]]
    for assignment in assignments:
        scope, definition = assignment.inputs["scope"], assignment.inputs["roleDefinitionId"]
        assert subscription_of(definition) == subscription_of(scope), (
            f"{assignment.name}: {definition} on {scope}"
        )
    return len(assignments)


def test_the_pipelines_grants_in_other_subscriptions_name_those_subscriptions() -> None:
    state = AzureBlobState(
        storage_account_id=f"/subscriptions/{OTHER['state']}/resourceGroups/st/providers/Microsoft.Storage/"
        "storageAccounts/aiappstate",
        key_vault_id=f"/subscriptions/{OTHER['vault']}/resourceGroups/kv/providers/Microsoft.KeyVault/vaults/aiappkv",
    )
    run = run_pipelines(
        make_args(
            state=state,
            deploy_scopes=(
                f"/subscriptions/{OTHER['dev']}",
                f"/subscriptions/{OTHER['prod']}/resourceGroups/p",
            ),
            model_store_scope=f"/subscriptions/{OTHER['models']}/resourceGroups/m/providers/Microsoft.Storage/"
            "storageAccounts/aiappmodels",
        )
    )
    assert assert_each_definition_is_of_its_scopes_subscription(run) > 10
    used = {subscription_of(a.inputs["roleDefinitionId"]) for a in run.of_type(ROLE_ASSIGNMENT)}
    assert set(OTHER.values()) <= used and SUBSCRIPTION_ID not in used


def test_the_runtimes_grants_name_the_deploying_subscription(reference_store: FileStore) -> None:
    """The stack's own resources live in the subscription it deploys to: the prefix is unchanged there."""
    run = run_program(model_store=reference_store.url)
    assert assert_each_definition_is_of_its_scopes_subscription(run) >= 3
    assert {subscription_of(a.inputs["roleDefinitionId"]) for a in run.of_type(ROLE_ASSIGNMENT)} == {
        SUBSCRIPTION_ID
    }
