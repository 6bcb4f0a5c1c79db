"""Azure DevOps as code: the project, its repository, the Azure connections, the `ci` and `release` pipelines.

What is declared here, and why it is shaped this way:

- Azure access goes through two `ServiceEndpointAzureRM` connections with workload identity federation: no
  secret exists for Azure at all. Each connection federates to a user-assigned managed identity created here
  (azure-native `managedidentity`): unlike an Entra app registration, a managed identity can never hold a
  client secret, and creating one needs only Azure RBAC on a resource group, not Microsoft Graph permissions
  (so no azuread provider and no directory role for whoever runs `pulumi up`). The federated credential of
  each identity takes its issuer and subject from the connection's outputs: it trusts exactly that one.
- `aiapp-azure-deploy` (the release pipeline) holds only the roles `pulumi up` needs, listed in
  `deploy_role_grants`, and an Azure DevOps branch-control check lets only `refs/heads/main` use it.
  `aiapp-azure-preview` (the ci pipeline, pull requests included) holds read-only roles: a pull request that
  edits the YAML to run `pulumi up` still cannot change anything in Azure.
- Each pipeline is authorized for exactly the connections, environments and variable groups its YAML uses,
  nothing more (no "allow all pipelines").
- Triggers live in the YAML only: the definitions say `use_yaml`, and carry no schedule. Azure Repos ignores a
  YAML `pr:` block, so there pull-request previews come from a build-validation branch policy on main.
- The names the YAML refers to (connections, variable groups, environments) are the constants below; the tests
  read the YAML and check every name it uses is declared and authorized here.
- The source and state settings, and the patterns every value is checked with, are in
  infra/devops_settings.py: infra/config.py checks the aiapp:* keys with the same ones, and needs no import of
  this module. `pipelines_args` builds this component's args from the stack's settings.

Bootstrapping: this component is applied by a person (an Azure owner with an Azure DevOps PAT), never by the
release pipeline it creates: the deploy identity deliberately cannot grant roles beyond `assignable_roles`.
So it lives in a stack the release does not deploy (`cicd`, with aiapp:runtimeEnabled false): infra/config.py
refuses aiapp:pipelinesEnabled in the stacks named by aiapp:stacks.
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from urllib.parse import quote

import pulumi
import pulumi_azuredevops as azuredevops
from pulumi_azure_native import authorization, managedidentity

from infra.config import Settings
from infra.devops_settings import (
    ARM_ID_RE,
    BLOB_STORE_URL_RE,
    ENVIRONMENTS,
    GUID_RE,
    ORG_URL_RE,
    PREFIX_RE,
    PROJECT_NAME_RE,
    SCOPE_RE,
    STACK_RE,
    AzureBlobState,
    AzureReposSource,
    GitHubSource,
    PipelinesArgsError,
    PulumiCloudState,
    require,
)
from infra.identity import (
    ACR_PULL,
    ACR_PUSH,
    AKS_CLUSTER_USER,
    AKS_RBAC_CLUSTER_ADMIN,
    STORAGE_BLOB_DATA_CONTRIBUTOR,
    STORAGE_BLOB_DATA_READER,
    AzureContext,
    role_definition_id,
)

# ------------------------------------------------------------------------- names shared with pipelines/*.yml

CI_YAML = "pipelines/ci.yml"
RELEASE_YAML = "pipelines/release.yml"
CI_PIPELINE = "ci"
RELEASE_PIPELINE = "release"
PIPELINE_FOLDER = "\\aiapp"
DEPLOY_CONNECTION = "aiapp-azure-deploy"
PREVIEW_CONNECTION = "aiapp-azure-preview"
GITHUB_CONNECTION = "aiapp-github"
DEPLOY_VARIABLE_GROUP = "aiapp-deploy"
PREVIEW_VARIABLE_GROUP = "aiapp-preview"
MAIN_BRANCH = "refs/heads/main"
# The stack config key the release pipeline sets (`pulumi up --config aiapp:modelVersion=N`).
MODEL_VERSION_CONFIG_KEY = "aiapp:modelVersion"

# --------------------------------------------------------------- built-in Azure roles (same in every tenant)

CONTRIBUTOR = "b24988ac-6180-42a0-ab88-20f7382dd24c"
READER = "acdd72a7-3385-48ef-bd42-f606fba81ae7"
RBAC_ADMINISTRATOR = "f58310d9-a9f6-439a-9e8d-f62e7b41a168"  # "Role Based Access Control Administrator"
AKS_RBAC_READER = "7f6c6a51-bcf8-42ba-9220-52d62157d7db"
KEY_VAULT_CRYPTO_USER = "12338af0-0e69-4776-bea7-57ae8d297424"

# The roles the stack itself assigns (AcrPull to the kubelet identity, blob roles on the model store, AcrPush
# and AKS admin to the deployer): the only roles the deploy identity may hand out. None can assign roles.
DEFAULT_ASSIGNABLE_ROLES = (
    ACR_PULL,
    ACR_PUSH,
    STORAGE_BLOB_DATA_READER,
    STORAGE_BLOB_DATA_CONTRIBUTOR,
    AKS_RBAC_CLUSTER_ADMIN,
    AKS_CLUSTER_USER,
)
# Roles that can grant access or own everything: never assignable by the pipeline, whatever the config says.
PRIVILEGED_ROLES = frozenset(
    {
        "8e3af657-a8ff-443c-a75c-2fe8c4bcb635",  # Owner
        "18d7d88d-d35e-4fb5-a5c3-7773c20a72d9",  # User Access Administrator
        RBAC_ADMINISTRATOR,
        CONTRIBUTOR,
    }
)

# Key Vault data actions the preview identity needs to decrypt the stack's secrets, and nothing else.
STATE_DECRYPT_DATA_ACTIONS = (
    "Microsoft.KeyVault/vaults/keys/read",
    "Microsoft.KeyVault/vaults/keys/decrypt/action",
)


# ----------------------------------------------------------------------------------------------- the args


@dataclass(frozen=True)
class PipelinesArgs:
    """Everything the Azure DevOps side needs, as plain values or Inputs (never read from pulumi.Config here).

    deploy_scopes: the ARM scopes `pulumi up` of dev and prod manages: resource groups (best), or a
        subscription.
    identity_resource_group: where the two managed identities live; keep it outside deploy_scopes, so the
        deploy identity cannot add federated credentials to itself.
    stacks: the stack names the release deploys, by environment (`dev`, `prod`); unqualified names are
        qualified with the Pulumi Cloud organization and project when state is in Pulumi Cloud.
    model_store_scope: the ARM id of the model store (account or container); both identities read it (the
        release resolves the model version there before any `pulumi up`). None: read access on deploy_scopes.
    prod_approvers: Azure DevOps identity ids (users or groups) that must approve prod; empty = no approval,
        so the nightly release runs unattended.
    """

    organization_url: str
    project_name: str
    source: AzureReposSource | GitHubSource
    state: PulumiCloudState | AzureBlobState
    tenant_id: pulumi.Input[str]
    subscription_id: pulumi.Input[str]
    identity_resource_group: pulumi.Input[str]
    location: pulumi.Input[str]
    deploy_scopes: Sequence[str]
    model_store_url: str
    tags: Mapping[str, str]
    create_project: bool = True
    subscription_name: str | None = None
    stacks: Mapping[str, str] = field(default_factory=lambda: {"dev": "dev", "prod": "prod"})
    model_name: str = "digits"
    model_store_scope: str | None = None
    prod_approvers: Sequence[str] = ()
    assignable_roles: Sequence[str] = DEFAULT_ASSIGNABLE_ROLES
    name_prefix: str = "aiapp"

    def __post_init__(self) -> None:
        require(
            bool(ORG_URL_RE.match(self.organization_url)),
            f"organization_url {self.organization_url!r} is not an Azure DevOps organization URL "
            "(https://dev.azure.com/<organization>)",
        )
        require(
            bool(PROJECT_NAME_RE.match(self.project_name)),
            f"project_name {self.project_name!r} is not valid",
        )
        require(
            len(self.deploy_scopes) > 0,
            "deploy_scopes is empty: name the resource groups `pulumi up` manages",
        )
        for scope in self.deploy_scopes:
            require(
                bool(SCOPE_RE.match(scope)),
                f"deploy scope {scope!r} is not /subscriptions/<id> or "
                "/subscriptions/<id>/resourceGroups/<name>",
            )
        require(
            self.model_store_scope is None or bool(ARM_ID_RE.match(self.model_store_scope)),
            f"model_store_scope {self.model_store_scope!r} is not an Azure resource id",
        )
        require(
            bool(BLOB_STORE_URL_RE.match(self.model_store_url)),
            f"model_store_url {self.model_store_url!r} is not https://<account>.blob.core.windows.net/<container>",
        )
        require(
            sorted(self.stacks) == sorted(ENVIRONMENTS),
            f"stacks must name exactly the environments {', '.join(ENVIRONMENTS)}; got {sorted(self.stacks)}",
        )
        for env, stack in self.stacks.items():
            require(bool(STACK_RE.match(stack)), f"stacks[{env!r}] = {stack!r} is not a stack name")
        for approver in self.prod_approvers:
            require(
                bool(GUID_RE.match(approver)), f"prod approver {approver!r} is not an identity id (a GUID)"
            )
        for role in self.assignable_roles:
            require(bool(GUID_RE.match(role)), f"assignable role {role!r} is not a role definition GUID")
            require(
                role.lower() not in PRIVILEGED_ROLES,
                f"assignable role {role} can grant access or own resources; the deploy identity never may",
            )
        require(bool(PREFIX_RE.match(self.name_prefix)), f"name_prefix {self.name_prefix!r} is not valid")
        for tag in ("owner", "environment"):
            require(bool(self.tags.get(tag)), f"tags must include {tag!r} (the policy pack requires it)")

    @property
    def project_url(self) -> str:
        return f"{self.organization_url.rstrip('/')}/{quote(self.project_name)}"


def pipelines_args(settings: Settings, azure: AzureContext) -> PipelinesArgs:
    """The component's args: the Azure DevOps settings from config (aiapp:pipelinesEnabled and its keys), the
    location, prefix, tags and model name from the stack, the tenant and subscription from its login."""
    devops = settings.pipelines
    if devops is None:
        raise PipelinesArgsError("aiapp:pipelinesEnabled is not true: this stack declares no pipelines")
    return PipelinesArgs(
        organization_url=devops.organization_url,
        project_name=devops.project_name,
        create_project=devops.create_project,
        source=devops.source,  # its tokens are Output.secret, from config.get_secret
        state=devops.state,
        tenant_id=azure.tenant_id,
        subscription_id=azure.subscription_id,
        subscription_name=devops.subscription_name,
        identity_resource_group=devops.identity_resource_group,
        location=settings.stack.location,
        deploy_scopes=devops.deploy_scopes,
        stacks=devops.stacks,
        model_store_url=devops.model_store_url,  # the store the release resolves the version in
        model_store_scope=devops.model_store_scope,
        model_name=settings.model.name,
        prod_approvers=devops.prod_approvers,
        name_prefix=settings.stack.name_prefix,
        tags=settings.stack.tags,
    )


# --------------------------------------------------------------------------------------- who gets what


@dataclass(frozen=True)
class RoleGrant:
    """One Azure role on one scope, with the reason it is needed (it becomes the assignment's description)."""

    key: str  # unique per identity, part of the Pulumi resource name
    role: str  # built-in role GUID
    scope: str
    why: str
    condition: str | None = None


def _only_roles_condition(roles: Sequence[str]) -> str:
    """An ABAC condition: role assignments may be written or deleted only for `roles`."""
    allowed = ", ".join(roles)
    return (
        "((!(ActionMatches{'Microsoft.Authorization/roleAssignments/write'})) OR "
        "(@Request[Microsoft.Authorization/roleAssignments:RoleDefinitionId] "
        f"ForAnyOfAnyValues:GuidEquals {{{allowed}}}))"
        " AND "
        "((!(ActionMatches{'Microsoft.Authorization/roleAssignments/delete'})) OR "
        "(@Resource[Microsoft.Authorization/roleAssignments:RoleDefinitionId] "
        f"ForAnyOfAnyValues:GuidEquals {{{allowed}}}))"
    )


def deploy_role_grants(args: PipelinesArgs) -> list[RoleGrant]:
    """The deploy identity's roles: what `pulumi up` of dev and prod needs, and nothing else."""
    grants: list[RoleGrant] = []
    for scope in args.deploy_scopes:
        where = _scope_key(scope)
        grants += [
            RoleGrant(
                f"contributor-{where}",
                CONTRIBUTOR,
                scope,
                "pulumi up creates, updates and deletes the stack's registry, storage, cluster, identities",
            ),
            RoleGrant(
                f"rbac-admin-{where}",
                RBAC_ADMINISTRATOR,
                scope,
                "pulumi up assigns AcrPull, blob and AKS roles to the stack's identities; the condition "
                "limits it to exactly those roles (Contributor alone cannot write role assignments)",
                condition=_only_roles_condition(args.assignable_roles),
            ),
            RoleGrant(
                f"acr-push-{where}",
                ACR_PUSH,
                scope,
                "pulumi up pushes the app image; the registry's admin user is off: data-plane RBAC",
            ),
            RoleGrant(
                f"aks-admin-{where}",
                AKS_RBAC_CLUSTER_ADMIN,
                scope,
                "pulumi up applies the Kubernetes workload; local accounts are off, so access is Entra RBAC",
            ),
        ]
    grants += [
        RoleGrant(
            f"model-reader-{_scope_key(scope)}",
            STORAGE_BLOB_DATA_READER,
            scope,
            "the release resolves and fetches the model version, and bakes the model into the image",
        )
        for scope in _model_store_scopes(args)
    ]
    if isinstance(args.state, AzureBlobState):
        grants += [
            RoleGrant(
                "state-writer",
                STORAGE_BLOB_DATA_CONTRIBUTOR,
                args.state.container_id,
                "pulumi up reads and writes the stack state (azblob://) and its lock",
            ),
            RoleGrant(
                "state-crypto",
                KEY_VAULT_CRYPTO_USER,
                args.state.key_id,
                "pulumi up encrypts and decrypts the stack's secrets (azurekeyvault://)",
            ),
        ]
    return grants


def preview_role_grants(args: PipelinesArgs) -> list[RoleGrant]:
    """The preview identity's roles: read-only. (The state key's decrypt-only custom role is added apart.)"""
    grants: list[RoleGrant] = []
    for scope in args.deploy_scopes:
        where = _scope_key(scope)
        grants += [
            RoleGrant(f"reader-{where}", READER, scope, "pulumi preview reads the current Azure resources"),
            RoleGrant(
                f"aks-user-{where}",
                AKS_CLUSTER_USER,
                scope,
                "pulumi preview lists the cluster's user kubeconfig (Entra-only: it holds no credential)",
            ),
            RoleGrant(
                f"aks-reader-{where}",
                AKS_RBAC_READER,
                scope,
                "pulumi preview reads the Kubernetes objects it diffs against",
            ),
        ]
    grants += [
        RoleGrant(
            f"model-reader-{_scope_key(scope)}",
            STORAGE_BLOB_DATA_READER,
            scope,
            "pulumi preview resolves the model the image would carry",
        )
        for scope in _model_store_scopes(args)
    ]
    if isinstance(args.state, AzureBlobState):
        grants.append(
            RoleGrant(
                "state-reader",
                STORAGE_BLOB_DATA_READER,
                args.state.container_id,
                "pulumi preview reads the stack state (a preview takes no lock and writes nothing)",
            )
        )
    return grants


def _scope_key(scope: str) -> str:
    """A stable, readable part of a resource name for a scope: its last segment and a digest of the whole
    (the list's order may change without replacing any role assignment)."""
    last = scope.rstrip("/").rsplit("/", 1)[-1].lower()
    return f"{last}-{hashlib.sha256(scope.lower().encode()).hexdigest()[:6]}"


def _model_store_scopes(args: PipelinesArgs) -> list[str]:
    return [args.model_store_scope] if args.model_store_scope else list(args.deploy_scopes)


# ------------------------------------------------------------------------------------------ the component


class Pipelines(pulumi.ComponentResource):
    """The Azure DevOps project, its Azure connections, variable groups, environments and two pipelines."""

    project_url: pulumi.Output[str]
    ci_pipeline_url: pulumi.Output[str]
    release_pipeline_url: pulumi.Output[str]
    deploy_principal_id: pulumi.Output[str]
    preview_principal_id: pulumi.Output[str]
    exports: dict[str, pulumi.Output[str]]

    def __init__(self, name: str, args: PipelinesArgs, opts: pulumi.ResourceOptions | None = None) -> None:
        super().__init__("aiapp:infra:Pipelines", name, None, opts)
        self._name = name
        self._args = args
        # The organization comes from the args alone, so the resources are created where the URLs this
        # component exports point (no separate azuredevops:orgServiceUrl to keep in step). The PAT is the
        # operator's, from AZDO_PERSONAL_ACCESS_TOKEN, read by the provider: never in config or state.
        self._provider = azuredevops.Provider(
            f"{name}-azuredevops",
            org_service_url=args.organization_url,
            opts=pulumi.ResourceOptions(parent=self),
        )
        self._child = pulumi.ResourceOptions(parent=self, providers=[self._provider])

        project_id = self._project()
        repository = self._repository(project_id)

        deploy = self._azure_connection(project_id, "deploy", DEPLOY_CONNECTION, deploy_role_grants(args))
        preview = self._azure_connection(project_id, "preview", PREVIEW_CONNECTION, preview_role_grants(args))
        if isinstance(args.state, AzureBlobState):
            self._state_decrypt_only(preview.principal_id, args.state)

        deploy_group = self._variable_group(
            project_id, DEPLOY_VARIABLE_GROUP, "deploy", "the release pipeline"
        )
        preview_group = self._variable_group(project_id, PREVIEW_VARIABLE_GROUP, "preview", "the ci pipeline")
        environments = {
            env: azuredevops.Environment(
                f"{name}-env-{env}",
                project_id=project_id,
                name=env,
                description=f"The {env} stack; the release's deployment jobs record each rollout here.",
                opts=self._child,
            )
            for env in ENVIRONMENTS
        }

        ci = self._definition(project_id, repository, CI_PIPELINE, CI_YAML)
        release = self._definition(project_id, repository, RELEASE_PIPELINE, RELEASE_YAML)
        self._guard_deployments(project_id, deploy.endpoint, deploy_group, environments)

        # Each pipeline may use what its YAML uses, and nothing the other one uses.
        uses = {
            (CI_PIPELINE, ci): [
                ("endpoint", "preview-connection", preview.endpoint.id),
                ("variablegroup", "preview-group", preview_group.id),
            ],
            (RELEASE_PIPELINE, release): [
                ("endpoint", "deploy-connection", deploy.endpoint.id),
                ("variablegroup", "deploy-group", deploy_group.id),
                *[("environment", f"env-{env}", e.id) for env, e in environments.items()],
            ],
        }
        for (pipeline, definition), resources in uses.items():
            if repository.github_connection is not None:
                resources.append(("endpoint", "github-connection", repository.github_connection.id))
            for kind, key, resource_id in resources:
                self._authorize(project_id, pipeline, definition, kind, key, resource_id)

        if isinstance(args.source, AzureReposSource):
            self._pull_request_policy(project_id, repository, ci)

        self.project_url = pulumi.Output.from_input(args.project_url)
        self.ci_pipeline_url = self._pipeline_url(ci)
        self.release_pipeline_url = self._pipeline_url(release)
        self.deploy_principal_id = deploy.principal_id
        self.preview_principal_id = preview.principal_id
        # What the stack exports, under these names (the README's table of outputs).
        self.exports: dict[str, pulumi.Output[str]] = {
            "project_url": self.project_url,
            "ci_pipeline_url": self.ci_pipeline_url,
            "release_pipeline_url": self.release_pipeline_url,
            "deploy_principal_id": self.deploy_principal_id,
            "preview_principal_id": self.preview_principal_id,
        }
        self.register_outputs(self.exports)

    # ----- who may deploy, and when

    def _guard_deployments(
        self,
        project_id: pulumi.Output[str],
        deploy_connection: azuredevops.ServiceEndpointAzureRM,
        deploy_group: azuredevops.VariableGroup,
        environments: Mapping[str, azuredevops.Environment],
    ) -> None:
        # Only main may deploy: the connection, the group holding the deploy token, and both environments.
        self._main_only(project_id, "endpoint", "deploy-connection", deploy_connection.id)
        self._main_only(project_id, "variablegroup", "deploy-group", deploy_group.id)
        for env, environment in environments.items():
            self._main_only(project_id, "environment", f"env-{env}", environment.id)
            # One release at a time per stack: a manual run waits for the nightly one instead of colliding
            # with it on the stack's lock halfway through (release.yml sets lockBehavior: sequential).
            azuredevops.CheckExclusiveLock(
                f"{self._name}-exclusive-{env}",
                project_id=project_id,
                target_resource_type="environment",
                target_resource_id=environment.id,
                opts=self._child,
            )
        if self._args.prod_approvers:
            azuredevops.CheckApproval(
                f"{self._name}-prod-approval",
                project_id=project_id,
                target_resource_type="environment",
                target_resource_id=environments["prod"].id,
                approvers=list(self._args.prod_approvers),
                instructions="Approve to run `pulumi up` on prod: dev passed its smoke test",
                requester_can_approve=False,
                opts=self._child,
            )

    def _pull_request_policy(
        self, project_id: pulumi.Output[str], repository: _Repository, ci: azuredevops.BuildDefinition
    ) -> None:
        # Azure Repos ignores `pr:` in YAML: this policy runs ci (and its preview) on every PR to main.
        azuredevops.BranchPolicyBuildValidation(
            f"{self._name}-pr-preview",
            project_id=project_id,
            enabled=True,
            blocking=True,
            settings=azuredevops.BranchPolicyBuildValidationSettingsArgs(
                display_name="ci: lint, tests and pulumi preview",
                build_definition_id=ci.id.apply(int),
                queue_on_source_update_only=False,
                valid_duration=0,  # a new push to the PR or to main expires the result
                scopes=[
                    azuredevops.BranchPolicyBuildValidationSettingsScopeArgs(
                        repository_id=repository.id, repository_ref=MAIN_BRANCH, match_type="Exact"
                    )
                ],
            ),
            opts=self._child,
        )

    # ----- project and repository

    def _project(self) -> pulumi.Output[str]:
        args = self._args
        if not args.create_project:
            return azuredevops.get_project_output(
                name=args.project_name, opts=pulumi.InvokeOptions(parent=self, provider=self._provider)
            ).id
        project = azuredevops.Project(
            f"{self._name}-project",
            name=args.project_name,
            description="The AI app: model store, serving app and its Azure infrastructure, by Pulumi.",
            visibility="private",
            version_control="Git",
            # protect: `pulumi destroy` of this stack must never delete the project (repos, runs, history).
            opts=pulumi.ResourceOptions.merge(self._child, pulumi.ResourceOptions(protect=True)),
        )
        return project.id

    def _repository(self, project_id: pulumi.Output[str]) -> _Repository:
        source = self._args.source
        if isinstance(source, GitHubSource):
            connection = azuredevops.ServiceEndpointGitHub(
                f"{self._name}-github",
                project_id=project_id,
                service_endpoint_name=GITHUB_CONNECTION,
                description="Reads the code and reports build status; managed by Pulumi.",
                auth_personal=azuredevops.ServiceEndpointGitHubAuthPersonalArgs(
                    personal_access_token=pulumi.Output.secret(source.connection_token)
                ),
                opts=self._child,
            )
            return _Repository("GitHub", pulumi.Output.from_input(source.repository), connection)
        if source.existing:
            found = azuredevops.get_git_repository_output(
                project_id=project_id,
                name=source.repository_name,
                opts=pulumi.InvokeOptions(parent=self, provider=self._provider),
            )
            return _Repository("TfsGit", found.id, None)
        initialization = (
            azuredevops.GitInitializationArgs(
                init_type="Import", source_type="Git", source_url=source.import_url
            )
            if source.import_url
            else azuredevops.GitInitializationArgs(init_type="Uninitialized")
        )
        repo = azuredevops.Git(
            f"{self._name}-repo",
            project_id=project_id,
            name=source.repository_name,
            default_branch=MAIN_BRANCH,
            initialization=initialization,
            # protect: the code must outlive any `pulumi destroy` of its CI/CD.
            opts=pulumi.ResourceOptions.merge(
                self._child, pulumi.ResourceOptions(protect=True, ignore_changes=["initialization"])
            ),
        )
        return _Repository("TfsGit", repo.id, None)

    # ----- Azure connections and identities

    def _azure_connection(
        self, project_id: pulumi.Output[str], role: str, connection_name: str, grants: Sequence[RoleGrant]
    ) -> _AzureConnection:
        args = self._args
        identity = managedidentity.UserAssignedIdentity(
            f"{self._name}-{role}-identity",
            resource_name_=f"{args.name_prefix}-pipelines-{role}",
            resource_group_name=args.identity_resource_group,
            location=args.location,
            tags=dict(args.tags),
            opts=self._child,
        )
        endpoint = azuredevops.ServiceEndpointAzureRM(
            f"{self._name}-{role}-connection",
            project_id=project_id,
            service_endpoint_name=connection_name,
            description=f"Workload identity federation to the managed identity "
            f"{args.name_prefix}-pipelines-{role}; no secret. Managed by Pulumi.",
            service_endpoint_authentication_scheme="WorkloadIdentityFederation",
            credentials=azuredevops.ServiceEndpointAzureRMCredentialsArgs(
                serviceprincipalid=identity.client_id
            ),
            azurerm_spn_tenantid=args.tenant_id,
            azurerm_subscription_id=args.subscription_id,
            azurerm_subscription_name=args.subscription_name or args.subscription_id,
            # No validation at creation: the federated credential below can only exist after the connection.
            features=azuredevops.ServiceEndpointAzureRMFeaturesArgs(validate=False),
            opts=self._child,
        )
        managedidentity.FederatedIdentityCredential(
            f"{self._name}-{role}-federation",
            resource_name_=identity.name,
            resource_group_name=args.identity_resource_group,
            federated_identity_credential_resource_name=f"azure-devops-{connection_name}",
            # Trust exactly this service connection: the issuer and subject Azure DevOps says it presents.
            issuer=endpoint.workload_identity_federation_issuer,
            subject=endpoint.workload_identity_federation_subject,
            audiences=["api://AzureADTokenExchange"],
            opts=self._child,
        )
        for grant in grants:
            authorization.RoleAssignment(
                f"{self._name}-{role}-{grant.key}",
                scope=grant.scope,
                role_definition_id=role_definition_id(args.subscription_id, grant.role),
                principal_id=identity.principal_id,
                principal_type="ServicePrincipal",
                description=f"{connection_name}: {grant.why}",
                condition=grant.condition,
                condition_version="2.0" if grant.condition else None,
                opts=self._child,
            )
        return _AzureConnection(endpoint, identity.principal_id, identity.client_id)

    def _state_decrypt_only(self, principal_id: pulumi.Output[str], state: AzureBlobState) -> None:
        """Previews decrypt the stack's secrets; no built-in role decrypts without also updating keys.
        The role is defined on the vault's resource group (custom roles cannot be scoped to one resource);
        it is assigned on the state key alone."""
        definition = authorization.RoleDefinition(
            f"{self._name}-state-decrypt-role",
            scope=state.resource_group_id,
            role_name=f"{self._args.name_prefix} Pulumi state decrypt ({state.vault_name}/{state.key_name})",
            description="Read and decrypt with the Pulumi state key; no encrypt, no key management.",
            role_type="CustomRole",
            permissions=[
                authorization.PermissionArgs(actions=[], data_actions=list(STATE_DECRYPT_DATA_ACTIONS))
            ],
            assignable_scopes=[state.resource_group_id],
            opts=self._child,
        )
        authorization.RoleAssignment(
            f"{self._name}-preview-state-decrypt",
            scope=state.key_id,
            role_definition_id=definition.id,
            principal_id=principal_id,
            principal_type="ServicePrincipal",
            description=f"{PREVIEW_CONNECTION}: pulumi preview decrypts the stack's secrets (azurekeyvault://)",
            opts=self._child,
        )

    # ----- variable groups

    def _variable_group(
        self, project_id: pulumi.Output[str], group_name: str, role: str, used_by: str
    ) -> azuredevops.VariableGroup:
        args = self._args
        settings: dict[str, pulumi.Input[str]] = {
            "PULUMI_BACKEND_URL": _backend_url(args.state),
            "AZURE_TENANT_ID": args.tenant_id,
            "AZURE_SUBSCRIPTION_ID": args.subscription_id,
            "MODEL_STORE": args.model_store_url,
            "MODEL_NAME": args.model_name,
            "MODEL_VERSION_CONFIG_KEY": MODEL_VERSION_CONFIG_KEY,
        }
        for env in ENVIRONMENTS:
            settings[f"PULUMI_STACK_{env.upper()}"] = _qualified_stack(args.state, args.stacks[env])
        if isinstance(args.state, AzureBlobState):
            settings["AZURE_STORAGE_ACCOUNT"] = args.state.account_name
            settings["STATE_ENCRYPTION_KEY_URL"] = args.state.secrets_provider
        variables = [
            azuredevops.VariableGroupVariableArgs(name=key, value=value)
            for key, value in sorted(settings.items())
        ]
        secrets: dict[str, pulumi.Input[str]] = {}
        if isinstance(args.state, PulumiCloudState):
            secrets["PULUMI_ACCESS_TOKEN"] = (
                args.state.deploy_access_token if role == "deploy" else args.state.preview_access_token
            )
        if role == "preview" and isinstance(args.source, GitHubSource):
            secrets["PR_COMMENT_TOKEN"] = args.source.comment_token
        variables += [
            azuredevops.VariableGroupVariableArgs(
                name=key, is_secret=True, secret_value=pulumi.Output.secret(value)
            )
            for key, value in sorted(secrets.items())
        ]
        return azuredevops.VariableGroup(
            f"{self._name}-{role}-variables",
            project_id=project_id,
            name=group_name,
            description=f"Settings of {used_by} (state backend, stacks, model store). Managed by Pulumi: "
            "edits in the web UI are overwritten.",
            allow_access=False,  # authorized per pipeline below, never to every pipeline of the project
            variables=variables,
            opts=self._child,
        )

    # ----- pipelines

    def _definition(
        self, project_id: pulumi.Output[str], repository: _Repository, pipeline: str, yml_path: str
    ) -> azuredevops.BuildDefinition:
        github = repository.github_connection
        return azuredevops.BuildDefinition(
            f"{self._name}-{pipeline}",
            project_id=project_id,
            name=pipeline,
            path=PIPELINE_FOLDER,
            # The job's System.AccessToken reaches this project only, not every project of the organization.
            job_authorization_scope="project",
            repository=azuredevops.BuildDefinitionRepositoryArgs(
                repo_type=repository.repo_type,
                repo_id=repository.id,
                branch_name=MAIN_BRANCH,
                yml_path=yml_path,
                service_connection_id=github.id if github is not None else None,
            ),
            # Triggers and schedules are the YAML's: the definition only says so (no schedules here).
            ci_trigger=azuredevops.BuildDefinitionCiTriggerArgs(use_yaml=True),
            pull_request_trigger=(
                azuredevops.BuildDefinitionPullRequestTriggerArgs(
                    use_yaml=True,
                    # Forks get no build at all: a fork's PR would otherwise run YAML nobody here reviewed.
                    forks=azuredevops.BuildDefinitionPullRequestTriggerForksArgs(
                        enabled=False, share_secrets=False
                    ),
                )
                if github is not None
                else None
            ),
            opts=self._child,
        )

    def _main_only(
        self, project_id: pulumi.Output[str], kind: str, key: str, target: pulumi.Input[str]
    ) -> None:
        azuredevops.CheckBranchControl(
            f"{self._name}-main-only-{key}",
            project_id=project_id,
            display_name="Only main deploys",
            target_resource_type=kind,
            target_resource_id=target,
            allowed_branches=MAIN_BRANCH,
            # Azure Repos: main must also carry its branch policy. GitHub's protection is not visible here.
            verify_branch_protection=isinstance(self._args.source, AzureReposSource),
            ignore_unknown_protection_status=False,
            opts=self._child,
        )

    def _authorize(
        self,
        project_id: pulumi.Output[str],
        pipeline: str,
        definition: azuredevops.BuildDefinition,
        kind: str,
        key: str,
        resource_id: pulumi.Input[str],
    ) -> None:
        azuredevops.PipelineAuthorization(
            f"{self._name}-{pipeline}-uses-{key}",
            project_id=project_id,
            pipeline_id=definition.id.apply(int),
            type=kind,
            resource_id=resource_id,
            opts=self._child,
        )

    def _pipeline_url(self, definition: azuredevops.BuildDefinition) -> pulumi.Output[str]:
        return definition.id.apply(lambda id_: f"{self._args.project_url}/_build?definitionId={id_}")


@dataclass(frozen=True)
class _Repository:
    repo_type: str  # "TfsGit" or "GitHub"
    id: pulumi.Output[str]
    github_connection: azuredevops.ServiceEndpointGitHub | None


@dataclass(frozen=True)
class _AzureConnection:
    endpoint: azuredevops.ServiceEndpointAzureRM
    principal_id: pulumi.Output[str]
    client_id: pulumi.Output[str]


def _backend_url(state: PulumiCloudState | AzureBlobState) -> str:
    return "https://api.pulumi.com" if isinstance(state, PulumiCloudState) else state.backend_url


def _qualified_stack(state: PulumiCloudState | AzureBlobState, stack: str) -> str:
    if isinstance(state, PulumiCloudState) and "/" not in stack:
        return f"{state.organization}/{pulumi.get_project()}/{stack}"
    return stack
