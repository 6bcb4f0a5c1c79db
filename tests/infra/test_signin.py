"""Sign-in in the program, under Pulumi's mocks: the API's Entra registration in the cicd stack (its
properties, the Azure CLI's pre-authorization, the role for the release's deploy identity), an existing
registration taken from config, and in the runtime stacks the Deployment's AUTH_* and the NetworkPolicy's one
new way out (HTTPS to public addresses), the outputs, and the config's refusals."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from infra.azure_ids import AZURE_CLI_APP_ID
from infra.config import ConfigError
from infra.signin import NOT_PUBLIC
from model.store import FileStore
from tests.harness import CLIENT_OBJECT_ID, TENANT_ID, StackRun, last_run, render_manifests, run_program
from tests.harness.devops import AZURE_REPOS_AZBLOB, CICD_STACK, PROGRAM_VARIANTS, run_program_with_pipelines
from tests.harness.mocks import EXISTING_APP_ROLE_ID, EXISTING_SP_OBJECT_ID
from tests.infra.test_manifests import built_in, cluster_version, validate

APPLICATION = "azuread:index/application:Application"
IDENTIFIER_URI = "azuread:index/applicationIdentifierUri:ApplicationIdentifierUri"
SERVICE_PRINCIPAL = "azuread:index/servicePrincipal:ServicePrincipal"
PRE_AUTHORIZED = "azuread:index/applicationPreAuthorized:ApplicationPreAuthorized"
APP_ROLE_ASSIGNMENT = "azuread:index/appRoleAssignment:AppRoleAssignment"
DEPLOYMENT = "kubernetes:apps/v1:Deployment"
NETWORK_POLICY = "kubernetes:networking.k8s.io/v1:NetworkPolicy"
AUDIENCE = "3f1c5e0a-1111-4222-8333-444444444444"
GROUP = "6c6c6c6c-1111-4222-8333-444444444444"


def token_command(client_id: str) -> str:
    return f"az account get-access-token --scope api://{client_id}/.default --query accessToken -o tsv"


@pytest.fixture(scope="module")
def cicd(reference_store: FileStore) -> StackRun:
    return run_program_with_pipelines(PROGRAM_VARIANTS[0], reference_store.url)


# ------------------------------------------------------------------------- the registration (cicd stack)


def test_the_registration_asks_for_v2_tokens_and_defines_the_role_for_users_and_applications(
    cicd: StackRun,
) -> None:
    application = cicd.one(APPLICATION)
    inputs = application.inputs
    assert inputs["api"]["requestedAccessTokenVersion"] == 2  # the provider's default is 1
    assert inputs["signInAudience"] == "AzureADMyOrg"
    assert inputs["displayName"] == "aiapp-prod-api"
    assert inputs["owners"] == [CLIENT_OBJECT_ID]  # the person running `pulumi up` of cicd
    (role,) = inputs["appRoles"]
    assert role["value"] == "Model.Invoke" and role["enabled"] is True
    assert sorted(role["allowedMemberTypes"]) == ["Application", "User"]
    (scope,) = inputs["api"]["oauth2PermissionScopes"]
    assert (scope["value"], scope["type"], scope["enabled"]) == ("access_as_user", "User", True)
    # Its identifier URI is a resource of its own (the client id exists only afterwards): the Application
    # must not take it back on its next update.
    assert "identifierUris" in application.ignore_changes
    uri = cicd.one(IDENTIFIER_URI)
    assert uri.inputs["applicationId"] == application.id
    assert uri.inputs["identifierUri"] == f"api://{application.outputs['clientId']}"


def test_only_role_holders_get_tokens_and_the_azure_cli_is_pre_authorized(cicd: StackRun) -> None:
    application = cicd.one(APPLICATION)
    principal = cicd.one(SERVICE_PRINCIPAL)
    assert principal.inputs["clientId"] == application.outputs["clientId"]
    assert principal.inputs["appRoleAssignmentRequired"] is True
    pre = cicd.one(PRE_AUTHORIZED)
    assert pre.inputs["applicationId"] == application.id
    assert pre.inputs["authorizedClientId"] == AZURE_CLI_APP_ID == "04b07795-8ddb-461a-bbee-02f9e1bf7b46"
    assert pre.inputs["permissionIds"] == [application.outputs["oauth2PermissionScopeIds"]["access_as_user"]]


def test_the_release_identity_holds_the_role(cicd: StackRun) -> None:
    application, principal = cicd.one(APPLICATION), cicd.one(SERVICE_PRINCIPAL)
    (assignment,) = cicd.of_type(APP_ROLE_ASSIGNMENT)
    assert assignment.inputs == {
        "appRoleId": application.outputs["appRoleIds"]["Model.Invoke"],
        "principalObjectId": cicd.outputs["deploy_principal_id"],
        "resourceObjectId": principal.outputs["objectId"],
    }
    assert cicd.outputs["deploy_principal_id"] != cicd.outputs["preview_principal_id"]


def test_the_cicd_stack_outputs_the_audience_and_the_command_for_a_token(cicd: StackRun) -> None:
    client_id = cicd.one(APPLICATION).outputs["clientId"]
    assert cicd.outputs["auth_audience"] == client_id
    assert cicd.outputs["api_identifier_uri"] == f"api://{client_id}"
    assert cicd.outputs["auth_token_scope"] == f"api://{client_id}/.default"
    assert cicd.outputs["auth_token_command"] == token_command(client_id)


def test_an_existing_registration_is_used_and_its_role_assigned(reference_store: FileStore) -> None:
    existing = "7d7d7d7d-1111-4222-8333-444444444444"
    config = {**AZURE_REPOS_AZBLOB, "aiapp:apiClientId": existing, "aiapp:apiCallersGroupObjectId": GROUP}
    run = run_program(config, stack=CICD_STACK, model_store=reference_store.url)
    assert not run.of_type(APPLICATION) and not run.of_type(SERVICE_PRINCIPAL)
    assert not run.of_type(PRE_AUTHORIZED) and not run.of_type(IDENTIFIER_URI)
    lookups = [args for token, args in run.calls if token.endswith("getServicePrincipal")]
    assert lookups == [{"clientId": existing}]
    assignments = {a.inputs["principalObjectId"]: a.inputs for a in run.of_type(APP_ROLE_ASSIGNMENT)}
    assert set(assignments) == {run.outputs["deploy_principal_id"], GROUP}
    for inputs in assignments.values():
        assert inputs["appRoleId"] == EXISTING_APP_ROLE_ID
        assert inputs["resourceObjectId"] == EXISTING_SP_OBJECT_ID  # the lookup's service principal
    assert run.outputs["auth_audience"] == existing
    assert run.outputs["auth_token_command"] == token_command(existing)


def test_an_existing_registration_without_the_role_is_refused_by_name(reference_store: FileStore) -> None:
    config = {**AZURE_REPOS_AZBLOB, "aiapp:apiClientId": "7d7d7d7d-1111-4222-8333-444444444444"}
    no_roles = {
        "azuread:index/getServicePrincipal:getServicePrincipal": lambda args: {
            "objectId": "x",
            "appRoleIds": {},
        }
    }
    with pytest.raises(ValueError, match=r"has no app role 'Model\.Invoke' \(it has none\)"):
        run_program(config, stack=CICD_STACK, model_store=reference_store.url, extra_calls=no_roles)


# ------------------------------------------------------------------------------- the runtime's side


@pytest.fixture(scope="module", params=["dev", "prod"])
def signed_in(request: pytest.FixtureRequest, reference_store: FileStore) -> StackRun:
    return run_program({"aiapp:authAudience": AUDIENCE}, stack=request.param, model_store=reference_store.url)


def app_env(run: StackRun) -> dict[str, Any]:
    (container,) = run.one(DEPLOYMENT).inputs["spec"]["template"]["spec"]["containers"]
    return {variable["name"]: variable.get("value") for variable in container["env"]}


def test_the_deployment_gets_the_sign_in_settings(signed_in: StackRun) -> None:
    env = app_env(signed_in)
    assert {name: value for name, value in env.items() if name.startswith("AUTH_")} == {
        "AUTH_AUDIENCE": AUDIENCE,
        "AUTH_ISSUER": f"https://login.microsoftonline.com/{TENANT_ID}/v2.0",  # the deploying tenant's
        "AUTH_REQUIRED_ROLE": "Model.Invoke",
    }
    assert signed_in.outputs["auth_audience"] == AUDIENCE
    assert signed_in.outputs["auth_issuer"] == env["AUTH_ISSUER"]
    assert signed_in.outputs["auth_token_scope"] == f"api://{AUDIENCE}/.default"
    assert signed_in.outputs["auth_token_command"] == token_command(AUDIENCE)


def test_the_pods_may_reach_public_addresses_on_443_and_nothing_else_new(signed_in: StackRun) -> None:
    egress = signed_in.one(NETWORK_POLICY).inputs["spec"]["egress"]
    https, dns = egress
    assert https == {
        "to": [{"ipBlock": {"cidr": "0.0.0.0/0", "except": list(NOT_PUBLIC)}}],
        "ports": [{"port": 443, "protocol": "TCP"}],
    }
    for private in ("10.0.0.0/8", "172.16.0.0/12", "192.168.0.0/16", "169.254.0.0/16", "168.63.129.16/32"):
        assert private in https["to"][0]["ipBlock"]["except"]
    assert dns["ports"] == [{"port": 53, "protocol": "UDP"}, {"port": 53, "protocol": "TCP"}]


def test_the_manifests_with_sign_in_are_valid(signed_in: StackRun, tmp_path: Path) -> None:
    paths = [path for path in render_manifests(signed_in, tmp_path) if built_in(path)]  # not the PodMonitor
    assert len(paths) == 7
    result = validate(paths, cluster_version(signed_in))
    assert result.returncode == 0, result.stdout + result.stderr
    assert len([line for line in result.stdout.splitlines() if " passed for resource " in line]) == len(paths)


def test_without_an_audience_there_is_no_sign_in_and_no_new_egress(dev_run: StackRun) -> None:
    assert not [name for name in app_env(dev_run) if name.startswith("AUTH_")]
    assert all(
        "ipBlock" not in peer
        for rule in dev_run.one(NETWORK_POLICY).inputs["spec"]["egress"]
        for peer in rule["to"]
    )
    assert not [name for name in dev_run.outputs if name.startswith("auth_")]


def test_the_issuer_and_role_may_be_set(reference_store: FileStore) -> None:
    issuer = "https://login.microsoftonline.com/11111111-0000-4000-8000-000000000000/v2.0"
    config = {"aiapp:authAudience": AUDIENCE, "aiapp:authIssuer": issuer, "aiapp:authRole": "Digits.Read"}
    env = app_env(run_program(config, stack="dev", model_store=reference_store.url))
    assert (env["AUTH_ISSUER"], env["AUTH_REQUIRED_ROLE"]) == (issuer, "Digits.Read")


@pytest.mark.parametrize(
    ("config", "message"),
    [
        ({"aiapp:authIssuer": "https://login.microsoftonline.com/t/v2.0"}, "aiapp:authIssuer: is set but"),
        ({"aiapp:authAudience": f"api://{AUDIENCE}"}, "aiapp:authAudience: 'api://"),
        (
            {"aiapp:authAudience": AUDIENCE, "aiapp:authRole": "Model Invoke"},
            "aiapp:authRole: 'Model Invoke'",
        ),
        ({"aiapp:apiClientId": AUDIENCE}, "aiapp:pipelinesEnabled: is not true, so aiapp:apiClientId"),
    ],
)
def test_bad_sign_in_config_is_refused_before_any_resource(
    reference_store: FileStore, config: dict[str, str], message: str
) -> None:
    with pytest.raises(ConfigError, match="the stack configuration is invalid") as raised:
        run_program(config, stack="dev", model_store=reference_store.url)
    assert message in str(raised.value), str(raised.value)
    assert last_run().resources == []
