"""infra/pipelines/ under Pulumi's mocks (tests/harness.py): what the Azure DevOps and Azure sides get."""

from __future__ import annotations

import re

import pytest
from pydantic import ValidationError

from infra.azure_ids import (
    ACR_PUSH,
    AKS_CLUSTER_USER,
    AKS_RBAC_CLUSTER_ADMIN,
    AKS_RBAC_READER,
    AKS_SERVER_APP_ID,
    CONTRIBUTOR,
    DNS_ZONE_CONTRIBUTOR,
    KEY_VAULT_CRYPTO_USER,
    MONITORING_DATA_READER,
    RBAC_ADMINISTRATOR,
    READER,
    STORAGE_BLOB_DATA_CONTRIBUTOR,
    STORAGE_BLOB_DATA_READER,
)
from infra.config import ConfigError, load_settings
from infra.config.devops import (
    RELEASE_ENVIRONMENTS,
    AzureReposSource,
)
from infra.identity import AzureContext, Principal
from infra.pipelines import pipelines_args
from infra.pipelines.args import DEFAULT_ASSIGNABLE_ROLES
from infra.pipelines.grants import PRIVILEGED_ROLES, STATE_DECRYPT_DATA_ACTIONS
from infra.pipelines.names import (
    DEPLOY_CONNECTION,
    MAIN_BRANCH,
    MODEL_VERSION_CONFIG_KEY,
    PREVIEW_CONNECTION,
)
from policy.rules import RESOURCE_POLICIES, STACK_POLICIES
from tests.harness import (
    EXISTING_PROJECT_ID,
    EXISTING_REPO_ID,
    SUBSCRIPTION_ID,
    TENANT_ID,
    Recorded,
    StackRun,
)
from tests.harness.devops import (
    AZURE_REPOS_AZBLOB,
    CICD_STACK,
    DEPLOY_TOKEN,
    DEV_SCOPE,
    DEVOPS_APPROVAL,
    DEVOPS_AUTHORIZATION,
    DEVOPS_AZURERM,
    DEVOPS_BRANCH_CONTROL,
    DEVOPS_BUILD_DEFINITION,
    DEVOPS_BUILD_VALIDATION,
    DEVOPS_ENVIRONMENT,
    DEVOPS_EXCLUSIVE_LOCK,
    DEVOPS_GIT,
    DEVOPS_GITHUB,
    DEVOPS_PROJECT,
    DEVOPS_VARIABLE_GROUP,
    FEDERATED_CREDENTIAL,
    GITHUB_PAT,
    MANAGED_IDENTITY,
    MODEL_STORE_URL,
    ORG_URL,
    PREVIEW_TOKEN,
    PROD_SCOPE,
    ROLE_ASSIGNMENT,
    ROLE_DEFINITION,
    SECRETS,
    STATE_ACCOUNT_ID,
    STATE_CONTAINER_ID,
    STATE_KEY_ID,
    STATE_VAULT_ID,
    blob_state,
    cloud_state,
    devops_settings,
    github_source,
    make_args,
    run_pipelines,
    secrets_kept_secret,
)
from tests.pipelines.yaml_templates import REPO, load_pipeline
from tests.policy.engine import run_policy, run_stack_policy

READ_ONLY_ROLES = {READER, STORAGE_BLOB_DATA_READER, AKS_CLUSTER_USER, AKS_RBAC_READER}
APPROVER = "5a5a5a5a-1111-4222-8333-444444444444"


@pytest.fixture(scope="module")
def run() -> StackRun:
    """Azure Repos, self-managed state, no prod approval: the defaults."""
    return run_pipelines()


def connection(run: StackRun, name: str) -> Recorded:
    (found,) = [r for r in run.of_type(DEVOPS_AZURERM) if r.inputs["serviceEndpointName"] == name]
    return found


def identity_of(run: StackRun, endpoint: Recorded) -> Recorded:
    client_id = endpoint.inputs["credentials"]["serviceprincipalid"]
    (found,) = [r for r in run.of_type(MANAGED_IDENTITY) if r.outputs["clientId"] == client_id]
    return found


def roles_of(run: StackRun, identity: Recorded) -> set[tuple[str, str]]:
    """(role GUID or custom role id, scope) of every assignment to the identity."""
    out = set()
    for assignment in run.of_type(ROLE_ASSIGNMENT):
        if assignment.inputs["principalId"] == identity.outputs["principalId"]:
            assert assignment.inputs["principalType"] == "ServicePrincipal"
            out.add((assignment.inputs["roleDefinitionId"].rsplit("/", 1)[-1], assignment.inputs["scope"]))
    return out


def definition(run: StackRun, name: str) -> Recorded:
    (found,) = [r for r in run.of_type(DEVOPS_BUILD_DEFINITION) if r.inputs["name"] == name]
    return found


# ------------------------------------------------------------------------------------------- definitions


def test_the_definitions_point_at_yaml_files_that_exist_and_leave_triggers_to_them(run: StackRun) -> None:
    definitions = {d.inputs["name"]: d for d in run.of_type(DEVOPS_BUILD_DEFINITION)}
    assert set(definitions) == {"ci", "release"}
    repo = run.one(DEVOPS_GIT)
    for name, found in definitions.items():
        repository = found.inputs["repository"]
        assert repository["ymlPath"] == f"pipelines/{name}.yml"
        assert (REPO / repository["ymlPath"]).is_file()
        assert (repository["repoType"], repository["repoId"], repository["branchName"]) == (
            "TfsGit",
            repo.id,
            MAIN_BRANCH,
        )
        assert found.inputs["ciTrigger"] == {"useYaml": True}  # the YAML's trigger, nothing here
        assert not found.inputs.get("schedules"), "schedules live in the YAML only"
        assert "pullRequestTrigger" not in found.inputs  # Azure Repos: the branch policy below
        assert found.inputs["jobAuthorizationScope"] == "project"


def test_pull_requests_to_main_run_ci_through_a_blocking_build_validation_policy(run: StackRun) -> None:
    policy = run.one(DEVOPS_BUILD_VALIDATION)
    settings = policy.inputs["settings"]
    assert settings["buildDefinitionId"] == int(definition(run, "ci").id)
    assert settings["scopes"] == [
        {"repositoryId": run.one(DEVOPS_GIT).id, "repositoryRef": MAIN_BRANCH, "matchType": "Exact"}
    ]
    assert policy.inputs["blocking"] is True and policy.inputs["enabled"] is True


def test_the_build_identity_may_post_the_preview_on_pull_requests_and_nothing_more(run: StackRun) -> None:
    (grant,) = run.of_type("azuredevops:index/gitPermissions:GitPermissions")
    assert grant.inputs["permissions"] == {"PullRequestContribute": "Allow"}
    assert grant.inputs["replace"] is False  # the identity's other permissions stay as they are
    assert grant.inputs["repositoryId"] == run.one(DEVOPS_GIT).id
    assert grant.inputs["projectId"] == run.one(DEVOPS_PROJECT).id
    # The project-scoped build identity (the definitions' job_authorization_scope), of ORG_URL's organization.
    (lookup,) = [args for token, args in run.calls if token.endswith("getIdentityUsers")]
    assert lookup["name"] == "AI app Build Service (contoso)"
    assert grant.inputs["principal"] == "svc.AI app Build Service (contoso)"


def test_project_and_repository_are_created_and_protected(run: StackRun) -> None:
    project, repo = run.one(DEVOPS_PROJECT), run.one(DEVOPS_GIT)
    assert project.protect and repo.protect
    assert (project.inputs["visibility"], project.inputs["name"]) == ("private", "AI app")
    # No default branch for an empty repository: tests/pipelines/test_repository.py
    assert repo.inputs["initialization"] == {"initType": "Uninitialized"}
    assert {r.inputs["projectId"] for r in run.resources if "projectId" in r.inputs} == {project.id}


def test_every_azure_devops_resource_goes_to_the_organization_of_the_args(run: StackRun) -> None:
    """One provider, configured from organization_url: the resources are where the exported URLs point."""
    provider = run.one("pulumi:providers:azuredevops")
    assert provider.inputs["orgServiceUrl"] == "https://dev.azure.com/contoso"
    assert "personalAccessToken" not in provider.inputs  # the operator's AZDO_PERSONAL_ACCESS_TOKEN
    devops = [r for r in run.resources if r.type.startswith("azuredevops:")]
    assert len(devops) > 20 and {r.provider for r in devops} == {provider.urn}
    assert not [r for r in run.resources if r.type.startswith("azure-native:") and r.provider == provider.urn]


def test_lookups_of_an_existing_project_use_that_provider_too() -> None:
    run = run_pipelines(
        make_args(create_project=False, source=AzureReposSource(repository_name="aiapp", existing=True))
    )
    provider = run.one("pulumi:providers:azuredevops")
    lookups = sorted((t, p) for t, p in run.call_providers if t.startswith("azuredevops:"))
    assert lookups == [
        ("azuredevops:index/getGitRepository:getGitRepository", provider.urn),
        ("azuredevops:index/getIdentityUsers:getIdentityUsers", provider.urn),
        ("azuredevops:index/getProject:getProject", provider.urn),
    ]


def test_outputs_are_the_project_and_pipeline_urls(run: StackRun) -> None:
    project = "https://dev.azure.com/contoso/AI%20app"
    assert run.outputs["project_url"] == project
    for name in ("ci", "release"):
        assert (
            run.outputs[f"{name}_pipeline_url"] == f"{project}/_build?definitionId={definition(run, name).id}"
        )


# -------------------------------------------------------------------------------------- authorizations


def test_every_connection_group_and_environment_a_pipeline_uses_is_authorized_for_it_and_no_more(
    run: StackRun,
) -> None:
    ids = (
        {("endpoint", r.inputs["serviceEndpointName"]): r.id for r in run.of_type(DEVOPS_AZURERM)}
        | {("variablegroup", r.inputs["name"]): r.id for r in run.of_type(DEVOPS_VARIABLE_GROUP)}
        | {("environment", r.inputs["name"]): r.id for r in run.of_type(DEVOPS_ENVIRONMENT)}
    )
    granted = {
        (a.inputs["pipelineId"], a.inputs["type"], a.inputs["resourceId"])
        for a in run.of_type(DEVOPS_AUTHORIZATION)
    }
    expected = set()
    for name in ("ci", "release"):
        used = load_pipeline(f"{name}.yml")
        pipeline_id = int(definition(run, name).id)
        wanted = (
            [("endpoint", c) for c in used.connections]
            + [("variablegroup", g) for g in used.groups]
            + [("environment", e) for e in used.environments]
        )
        assert wanted, f"{name}.yml uses nothing? the YAML reader is broken"
        for kind, resource in wanted:
            assert (kind, resource) in ids, (
                f"{name}.yml uses {kind} {resource!r}, which the stack does not declare"
            )
            expected.add((pipeline_id, kind, ids[(kind, resource)]))
    assert granted == expected
    assert all(a.inputs["projectId"] == run.one(DEVOPS_PROJECT).id for a in run.of_type(DEVOPS_AUTHORIZATION))
    assert all(g.inputs["allowAccess"] is False for g in run.of_type(DEVOPS_VARIABLE_GROUP))


def test_only_main_may_use_the_deploy_connection_its_variables_and_the_environments(run: StackRun) -> None:
    checks = {
        (c.inputs["targetResourceType"], c.inputs["targetResourceId"]): c
        for c in run.of_type(DEVOPS_BRANCH_CONTROL)
    }
    deploy = connection(run, DEPLOY_CONNECTION)
    (deploy_group,) = [g for g in run.of_type(DEVOPS_VARIABLE_GROUP) if g.inputs["name"] == "aiapp-deploy"]
    targets = {("endpoint", deploy.id), ("variablegroup", deploy_group.id)} | {
        ("environment", e.id) for e in run.of_type(DEVOPS_ENVIRONMENT)
    }
    assert set(checks) == targets
    for check in checks.values():
        assert check.inputs["allowedBranches"] == MAIN_BRANCH
        assert check.inputs["verifyBranchProtection"] is True  # Azure Repos: main carries its policy
        assert check.inputs["ignoreUnknownProtectionStatus"] is False
    assert ("endpoint", connection(run, PREVIEW_CONNECTION).id) not in checks  # pull requests preview


def test_environments_dev_and_prod_one_release_at_a_time_and_no_approval_by_default(run: StackRun) -> None:
    environments = run.of_type(DEVOPS_ENVIRONMENT)
    assert sorted(e.inputs["name"] for e in environments) == sorted(RELEASE_ENVIRONMENTS)
    locks = {
        (c.inputs["targetResourceType"], c.inputs["targetResourceId"])
        for c in run.of_type(DEVOPS_EXCLUSIVE_LOCK)
    }
    assert locks == {("environment", e.id) for e in environments}
    assert run.of_type(DEVOPS_APPROVAL) == []


def test_prod_approval_when_approvers_are_configured() -> None:
    run = run_pipelines(make_args(prod_approvers=(APPROVER,)))
    (approval,) = run.of_type(DEVOPS_APPROVAL)
    (prod,) = [e for e in run.of_type(DEVOPS_ENVIRONMENT) if e.inputs["name"] == "prod"]
    assert (approval.inputs["targetResourceType"], approval.inputs["targetResourceId"]) == (
        "environment",
        prod.id,
    )
    assert approval.inputs["approvers"] == [APPROVER]
    assert approval.inputs["requesterCanApprove"] is False


# ------------------------------------------------------------------------------------- Azure identities


def test_each_federated_credential_trusts_exactly_its_service_connection(run: StackRun) -> None:
    federations = run.of_type(FEDERATED_CREDENTIAL)
    assert len(federations) == 2
    for name in (DEPLOY_CONNECTION, PREVIEW_CONNECTION):
        endpoint = connection(run, name)
        assert endpoint.inputs["serviceEndpointAuthenticationScheme"] == "WorkloadIdentityFederation"
        assert set(endpoint.inputs["credentials"]) == {"serviceprincipalid"}  # no key, no certificate
        identity = identity_of(run, endpoint)
        (federation,) = [f for f in federations if f.inputs["resourceName"] == identity.outputs["name"]]
        assert federation.inputs["issuer"] == endpoint.outputs["workloadIdentityFederationIssuer"]
        assert federation.inputs["subject"] == endpoint.outputs["workloadIdentityFederationSubject"]
        assert federation.inputs["audiences"] == ["api://AzureADTokenExchange"]
        assert federation.inputs["resourceGroupName"] == identity.inputs["resourceGroupName"] == "aiapp-cicd"
        assert identity.inputs["tags"]["owner"] and identity.inputs["tags"]["environment"]
    subjects = {f.inputs["subject"] for f in federations}
    assert len(subjects) == 2, "each identity trusts a different connection"


def test_the_preview_identity_has_no_write_role(run: StackRun) -> None:
    preview = identity_of(run, connection(run, PREVIEW_CONNECTION))
    roles = roles_of(run, preview)
    (custom,) = run.of_type(ROLE_DEFINITION)
    custom_guid = custom.id.rsplit("/", 1)[-1]
    assert {role for role, _ in roles} == READ_ONLY_ROLES | {custom_guid}
    # The custom role reads and decrypts with the state key, nothing else.
    (permissions,) = custom.inputs["permissions"]
    assert permissions["actions"] == [] and tuple(permissions["dataActions"]) == STATE_DECRYPT_DATA_ACTIONS
    assert all(a.endswith(("/read", "/decrypt/action")) for a in permissions["dataActions"])
    assert (custom_guid, STATE_KEY_ID) in roles  # assigned on the state key alone
    assert custom.inputs["assignableScopes"] == [STATE_VAULT_ID.split("/providers/")[0]]
    assert (READER, DEV_SCOPE) in roles and (READER, PROD_SCOPE) in roles
    assert (STORAGE_BLOB_DATA_READER, STATE_CONTAINER_ID) in roles


def test_the_deploy_identity_has_exactly_the_roles_pulumi_up_needs(run: StackRun) -> None:
    deploy = identity_of(run, connection(run, DEPLOY_CONNECTION))
    per_scope = {
        CONTRIBUTOR,
        RBAC_ADMINISTRATOR,
        ACR_PUSH,
        AKS_RBAC_CLUSTER_ADMIN,
        STORAGE_BLOB_DATA_READER,
        MONITORING_DATA_READER,  # the release's SLO watch reads the workspaces' Prometheus API
    }
    expected = {(role, scope) for role in per_scope for scope in (DEV_SCOPE, PROD_SCOPE)} | {
        (STORAGE_BLOB_DATA_CONTRIBUTOR, STATE_CONTAINER_ID),
        (KEY_VAULT_CRYPTO_USER, STATE_KEY_ID),
    }
    assert roles_of(run, deploy) == expected
    for assignment in run.of_type(ROLE_ASSIGNMENT):
        assert assignment.inputs["description"], "each assignment says why it exists"


def test_the_deploy_identity_may_assign_only_the_stacks_own_roles(run: StackRun) -> None:
    deploy = identity_of(run, connection(run, DEPLOY_CONNECTION))
    admins = [
        a
        for a in run.of_type(ROLE_ASSIGNMENT)
        if a.inputs["principalId"] == deploy.outputs["principalId"]
        and a.inputs["roleDefinitionId"].endswith(RBAC_ADMINISTRATOR)
    ]
    assert len(admins) == 2
    guid = r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}"
    for admin in admins:
        condition = admin.inputs["condition"]
        assert admin.inputs["conditionVersion"] == "2.0"
        # Both writes and deletes of role assignments are limited to the same list of roles.
        write, delete = re.findall(rf"GuidEquals \{{((?:{guid}(?:, )?)+)\}}", condition)
        assert "roleAssignments/write" in condition and "roleAssignments/delete" in condition
        assert set(write.split(", ")) == set(delete.split(", ")) == set(DEFAULT_ASSIGNABLE_ROLES)
        assert not set(write.split(", ")) & PRIVILEGED_ROLES


def test_model_store_scope_narrows_the_model_readers() -> None:
    store = f"{DEV_SCOPE}/providers/Microsoft.Storage/storageAccounts/aiappmodels"
    run = run_pipelines(make_args(model_store_scope=store))
    for name in (DEPLOY_CONNECTION, PREVIEW_CONNECTION):
        readers = {
            s
            for r, s in roles_of(run, identity_of(run, connection(run, name)))
            if r == STORAGE_BLOB_DATA_READER
        }
        assert store in readers and DEV_SCOPE not in readers and PROD_SCOPE not in readers


def test_a_dns_zone_outside_the_deploy_scopes_gets_the_custom_domain_grants_and_no_more() -> None:
    elsewhere = "/subscriptions/22222222-2222-2222-2222-222222222222/resourceGroups/dns"
    zone = f"{elsewhere}/providers/Microsoft.Network/dnsZones/example.com"
    run = run_pipelines(make_args(dns_zone_ids=(zone,)))
    deploy = identity_of(run, connection(run, DEPLOY_CONNECTION))
    preview = identity_of(run, connection(run, PREVIEW_CONNECTION))
    assert {r for r, s in roles_of(run, deploy) if s == zone} == {DNS_ZONE_CONTRIBUTOR, RBAC_ADMINISTRATOR}
    assert {r for r, s in roles_of(run, preview) if s == zone} == {READER}
    (admin,) = [
        a
        for a in run.of_type(ROLE_ASSIGNMENT)
        if a.inputs["scope"] == zone and a.inputs["roleDefinitionId"].endswith(RBAC_ADMINISTRATOR)
    ]
    # It may assign DNS Zone Contributor there, and nothing else.
    assert re.findall(r"GuidEquals \{([^}]*)\}", admin.inputs["condition"]) == [DNS_ZONE_CONTRIBUTOR] * 2


# --------------------------------------------------------------------------------------- settings, secrets


def _variables(group: Recorded) -> dict[str, dict]:
    return {v["name"]: v for v in group.inputs["variables"]}


def test_the_variable_groups_carry_the_settings_of_self_managed_state(run: StackRun) -> None:
    groups = {g.inputs["name"]: _variables(g) for g in run.of_type(DEVOPS_VARIABLE_GROUP)}
    assert set(groups) == {"aiapp-deploy", "aiapp-preview"}
    for variables in groups.values():
        values = {name: v.get("value") for name, v in variables.items()}
        assert values["PULUMI_BACKEND_URL"] == "azblob://pulumi?storage_account=aiappstate"
        assert (
            values["STATE_ENCRYPTION_KEY_URL"] == "azurekeyvault://aiapp-state-kv.vault.azure.net/keys/state"
        )
        assert values["AZURE_STORAGE_ACCOUNT"] == "aiappstate"
        assert (values["PULUMI_STACK_DEV"], values["PULUMI_STACK_PROD"]) == ("dev", "prod")
        assert values["MODEL_STORE"] == "https://aiappmodels.blob.core.windows.net/models"
        assert values["MODEL_VERSION_CONFIG_KEY"] == MODEL_VERSION_CONFIG_KEY
        assert values["AKS_SERVER_APP_ID"] == AKS_SERVER_APP_ID  # lib.sh's check_az_session reads it here
        assert not any(v.get("isSecret") for v in variables.values()), "self-managed state needs no secret"


def test_pulumi_cloud_tokens_are_secret_and_each_pipeline_gets_its_own() -> None:
    run = run_pipelines(make_args(state=cloud_state()))
    groups = {g.inputs["name"]: g for g in run.of_type(DEVOPS_VARIABLE_GROUP)}
    for name, token in (("aiapp-deploy", DEPLOY_TOKEN), ("aiapp-preview", PREVIEW_TOKEN)):
        variables = _variables(groups[name])
        secret = variables["PULUMI_ACCESS_TOKEN"]
        assert secret["isSecret"] is True and secret["secretValue"] == token and not secret.get("value")
        assert "variables" in groups[name].secret_inputs
        assert variables["PULUMI_BACKEND_URL"]["value"] == "https://api.pulumi.com"
        assert variables["PULUMI_STACK_PROD"]["value"] == "contoso/aiapp/prod"
    assert run.of_type(ROLE_DEFINITION) == []  # no state key, no decrypt role
    assert not [a for a in run.of_type(ROLE_ASSIGNMENT) if "aiappstate" in a.inputs["scope"]]


@pytest.mark.parametrize("secret_inputs", [True, False], ids=["given-as-secrets", "given-as-plain-strings"])
def test_no_secret_is_in_plain_text(secret_inputs: bool) -> None:
    """Every credential ends up only in inputs Pulumi keeps secret, even when the caller forgot to mark it."""
    run = run_pipelines(make_args(state=cloud_state(secret_inputs), source=github_source(secret_inputs)))
    assert secrets_kept_secret(run) == set(SECRETS), "every credential given is used somewhere"
    github = run.one(DEVOPS_GITHUB)
    assert github.inputs["authPersonal"]["personalAccessToken"] == GITHUB_PAT
    comment_token = [g for g in run.of_type(DEVOPS_VARIABLE_GROUP) if "PR_COMMENT_TOKEN" in _variables(g)]
    assert [g.inputs["name"] for g in comment_token] == ["aiapp-preview"]  # only the ci pipeline comments


# ------------------------------------------------------------------------------------------------ GitHub


def test_github_source_uses_a_connection_and_yaml_pull_request_triggers() -> None:
    run = run_pipelines(make_args(source=github_source()))
    assert run.of_type(DEVOPS_GIT) == [] and run.of_type(DEVOPS_BUILD_VALIDATION) == []
    github = run.one(DEVOPS_GITHUB)
    for name in ("ci", "release"):
        found = definition(run, name)
        repository = found.inputs["repository"]
        assert (repository["repoType"], repository["repoId"]) == ("GitHub", "contoso/aiapp")
        assert repository["serviceConnectionId"] == github.id
        trigger = found.inputs["pullRequestTrigger"]
        assert trigger["useYaml"] is True
        assert trigger["forks"] == {"enabled": False, "shareSecrets": False}
        assert any(
            a.inputs["resourceId"] == github.id and a.inputs["pipelineId"] == int(found.id)
            for a in run.of_type(DEVOPS_AUTHORIZATION)
        )
    for check in run.of_type(DEVOPS_BRANCH_CONTROL):
        assert (
            check.inputs["verifyBranchProtection"] is False
        )  # GitHub's protection is not visible to Azure DevOps


# --------------------------------------------------------------------------------------- existing project


def test_an_existing_project_and_repository_are_looked_up_not_created() -> None:
    run = run_pipelines(
        make_args(create_project=False, source=AzureReposSource(repository_name="aiapp", existing=True))
    )
    assert run.of_type(DEVOPS_PROJECT) == [] and run.of_type(DEVOPS_GIT) == []
    calls = dict(run.calls)
    assert calls["azuredevops:index/getProject:getProject"]["name"] == "AI app"
    assert calls["azuredevops:index/getGitRepository:getGitRepository"] == {
        "name": "aiapp",
        "projectId": EXISTING_PROJECT_ID,
    }
    assert {r.inputs["projectId"] for r in run.resources if "projectId" in r.inputs} == {EXISTING_PROJECT_ID}
    assert definition(run, "ci").inputs["repository"]["repoId"] == EXISTING_REPO_ID


def test_under_preview_the_same_resources_are_declared() -> None:
    """Unknown ids (a real `pulumi preview`) must not break the int() conversions or drop a resource."""
    previewed, applied = run_pipelines(preview=True), run_pipelines()
    names = sorted((r.type, r.name) for r in previewed.resources)
    assert names == sorted((r.type, r.name) for r in applied.resources)
    assert len(names) > 40
    assert {"ci_pipeline_url", "release_pipeline_url"} <= previewed.unknown_outputs


# -------------------------------------------------------------------------------------------- bad input


@pytest.mark.parametrize(
    "change, field",
    [
        ({"organization_url": "https://example.com/contoso"}, "organization_url"),
        ({"deploy_scopes": ()}, "deploy_scopes"),
        ({"deploy_scopes": ("/subscriptions/nope",)}, "deploy_scopes"),
        ({"stacks": {"dev": "dev"}}, "stacks"),
        ({"prod_approvers": ("alice",)}, "prod_approvers"),
        ({"source": github_source().model_dump() | {"repository": "contoso"}}, "source"),
        (
            {"source": {"kind": "azure-repos", "existing": True, "import_url": "https://x.org/y.git"}},
            "source",
        ),
        ({"state": blob_state().model_dump() | {"storage_account_id": "aiappstate"}}, "state"),
        ({"state": blob_state().model_dump() | {"key_vault_id": STATE_ACCOUNT_ID}}, "state"),
    ],
)
def test_settings_with_a_bad_value_cannot_be_built(change: dict, field: str) -> None:
    """The component trusts its typed args: a bad value cannot get that far, however the settings are made."""
    with pytest.raises(ValidationError) as caught:
        devops_settings(**change)
    assert {error["loc"][0] for error in caught.value.errors()} == {field}


def test_the_deploy_identity_can_never_be_allowed_a_privileged_role() -> None:
    assert not {role.lower() for role in DEFAULT_ASSIGNABLE_ROLES} & PRIVILEGED_ROLES


@pytest.mark.parametrize(
    "container, valid",
    [
        ("models", True),
        ("m-1-a", True),
        ("a" * 63, True),
        ("ab", False),  # 3-63 characters
        ("a" * 64, False),
        ("a--b", False),  # single hyphens only
        ("-abc", False),  # starts and ends with a letter or digit
        ("abc-", False),
        ("Models", False),  # lowercase
    ],
)
def test_every_key_holding_a_blob_container_checks_it_with_the_same_rule(container: str, valid: bool) -> None:
    """One shape (infra/config/shapes.py): the store URL, the model container and the state container."""
    values = {k.removeprefix("aiapp:"): v for k, v in AZURE_REPOS_AZBLOB.items()}
    url = f"https://aiappmodels.blob.core.windows.net/{container}"
    verdicts = {}
    for key, value, stack in [
        ("modelStoreUrl", url, "dev"),
        ("modelContainer", container, "dev"),
        ("stateContainerName", container, CICD_STACK),
    ]:
        base = values if stack == CICD_STACK else {"owner": "team-ai@example.com"}
        try:
            load_settings({**base, key: value}.get, stack_name=stack)
            verdicts[key] = True
        except ConfigError:
            verdicts[key] = False
    assert verdicts == dict.fromkeys(verdicts, valid)


def test_pipelines_args_come_from_the_settings_and_the_login_only_when_enabled() -> None:
    azure = AzureContext(SUBSCRIPTION_ID, TENANT_ID, Principal("deployer", "User"))
    values = {k.removeprefix("aiapp:"): v for k, v in AZURE_REPOS_AZBLOB.items()}
    args = pipelines_args(load_settings(values.get, stack_name=CICD_STACK), azure)
    assert (args.devops.organization_url, args.model_store_url, args.azure.tenant_id) == (
        ORG_URL,
        MODEL_STORE_URL,
        TENANT_ID,
    )
    assert args.stack.tags == {"owner": "team-ai@example.com", "environment": "prod", "app": "aiapp"}
    without = load_settings({"owner": "team-ai@example.com"}.get, stack_name="dev")
    with pytest.raises(ValueError, match="aiapp:pipelinesEnabled is not true"):
        pipelines_args(without, azure)


# ----------------------------------------------------------------------------------------- policy pack


@pytest.mark.parametrize(
    "variant",
    [{}, {"state": cloud_state, "source": github_source, "prod_approvers": lambda: (APPROVER,)}],
    ids=["azure-repos+azblob", "github+pulumi-cloud"],
)
def test_every_declared_resource_passes_the_policy_pack(variant: dict) -> None:
    run = run_pipelines(make_args(**{field: build() for field, build in variant.items()}))
    findings = [
        f"{resource.type} {resource.name} [{policy.name}]: {message}"
        for resource in run.resources
        if resource.custom
        for policy in RESOURCE_POLICIES
        for message in run_policy(policy, resource.type, resource.inputs, resource.name)
    ]
    everything = [(r.type, r.outputs, r.name) for r in run.resources if r.custom]
    findings += [
        f"[{policy.name}] {urn}: {message}"
        for policy in STACK_POLICIES
        for message, urn in run_stack_policy(policy, everything)
    ]
    assert findings == []
    guarded = {DEVOPS_VARIABLE_GROUP, DEVOPS_AZURERM, ROLE_ASSIGNMENT, MANAGED_IDENTITY}
    assert guarded <= {r.type for r in run.resources}, "the policies had something to check"
