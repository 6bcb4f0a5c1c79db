"""The Azure DevOps side's settings (aiapp:pipelinesEnabled): the organization and project, where the code
lives (Azure Repos or GitHub), where the stacks keep their state (azblob:// or Pulumi Cloud), and what the
pipelines' identities may touch. infra/pipelines/ builds from these and checks nothing again."""

from __future__ import annotations

import re
from typing import Annotated, ClassVar, Literal

from pydantic import AfterValidator, Field, ValidationInfo, model_validator

from infra.config import shapes as s
from infra.config.keys import NAMESPACE, Flag, Json, Secret, Section, key, problem
from infra.config.signin import ApiRegistrationSettings

# The release's environments, in order; aiapp:stacks names the stack of each.
RELEASE_ENVIRONMENTS = ("dev", "prod")


class AzureReposSource(Section):
    """The code lives in Azure Repos Git, in the project."""

    kind: Literal["azure-repos"] = key("source", "azure-repos", "where the code lives")
    repository_name: s.RepoName = key("repositoryName", NAMESPACE, "the Azure Repos repository")
    existing: Flag = key("repositoryExisting", False, "`true`: look the repository up instead of creating it")
    import_url: s.HttpsUrl | None = key(
        "repositoryImportUrl", None, "a Git URL to import into the new repository; none: it starts empty"
    )

    @model_validator(mode="after")
    def _import_only_when_creating(self) -> AzureReposSource:
        if self.existing and self.import_url:
            raise problem(
                "only applies when the stack creates the repository, and aiapp:repositoryExisting is true",
                key="repositoryImportUrl",
                fix=f"remove it (`pulumi config rm {NAMESPACE}:repositoryImportUrl`)",
            )
        return self


class GitHubSource(Section):
    """The code lives on GitHub, reached through a GitHub service connection authenticated with a PAT. The
    comment token, limited to the repository's "Pull requests: write", posts the preview on pull requests
    (the connection's token never reaches a job)."""

    WHEN: ClassVar[str] = " with aiapp:source github"
    kind: Literal["github"] = key("source", "github", "where the code lives")
    repository: s.GitHubRepo = key("githubRepository", doc="the GitHub repository the pipelines build")
    connection_token: Secret = key(
        "githubToken",
        doc="the GitHub PAT of the service connection: repo, admin:repo_hook, read:user",
        secret=True,
    )
    comment_token: Secret = key(
        "githubCommentToken",
        doc="a fine-grained GitHub token with only 'Pull requests: write' on the repository, for the preview "
        "comment",
        secret=True,
    )


class AzureBlobState(Section):
    """Self-managed state: `azblob://` in a storage account, secrets encrypted by a Key Vault key
    (`azurekeyvault://`). Both exist before this stack and are reached through the federated identities:
    the pipelines hold no token and no passphrase."""

    WHEN: ClassVar[str] = " with aiapp:state azblob"
    kind: Literal["azblob"] = key("state", "azblob", "where the dev and prod stacks keep their Pulumi state")
    storage_account_id: s.StorageAccountId = key(
        "stateStorageAccountId", doc="the storage account of the azblob:// state"
    )
    container_name: s.Container = key("stateContainerName", "pulumi-state", "the state's blob container")
    key_vault_id: s.KeyVaultId = key(
        "stateKeyVaultId", doc="the key vault whose key encrypts the stacks' secrets (azurekeyvault://)"
    )
    key_name: s.KeyName = key("stateKeyName", "pulumi-state", "that key's name")

    @property
    def account_name(self) -> str:
        return _named(s.STORAGE_ACCOUNT_ID, self.storage_account_id)

    @property
    def vault_name(self) -> str:
        return _named(s.KEY_VAULT_ID, self.key_vault_id)

    @property
    def container_id(self) -> str:
        return f"{self.storage_account_id}/blobServices/default/containers/{self.container_name}"

    @property
    def resource_group_id(self) -> str:
        """The key vault's resource group."""
        return self.key_vault_id.split("/providers/", 1)[0]

    @property
    def key_id(self) -> str:
        return f"{self.key_vault_id}/keys/{self.key_name}"

    @property
    def backend_url(self) -> str:
        return f"azblob://{self.container_name}?storage_account={self.account_name}"

    @property
    def secrets_provider(self) -> str:
        return f"azurekeyvault://{self.vault_name}.vault.azure.net/keys/{self.key_name}"


def _named(pattern: str, resource_id: str) -> str:
    match = re.match(pattern, resource_id)
    assert match is not None  # validated on construction
    return match["name"]


class PulumiCloudState(Section):
    """State in Pulumi Cloud. Two tokens: the preview one reaches pull-request builds, so give it the least
    rights your Pulumi plan allows (a team token with read access to the stacks), never an admin token."""

    WHEN: ClassVar[str] = " with aiapp:state pulumi-cloud"
    kind: Literal["pulumi-cloud"] = key("state", "pulumi-cloud", "where the stacks keep their state")
    organization: s.PulumiOrg = key("pulumiOrganization", doc="the Pulumi Cloud organization of the stacks")
    deploy_access_token: Secret = key(
        "pulumiDeployToken", doc="the release's Pulumi access token", secret=True
    )
    preview_access_token: Secret = key(
        "pulumiPreviewToken",
        doc="a Pulumi access token that can only read the stacks, for previews",
        secret=True,
    )


Source = Annotated[AzureReposSource | GitHubSource, Field(discriminator="kind")]
State = Annotated[AzureBlobState | PulumiCloudState, Field(discriminator="kind")]
Scope = Annotated[str, Field(pattern=s.SCOPE)]
StackName = Annotated[str, Field(pattern=s.STACK)]


def _dev_and_prod(stacks: dict[str, str]) -> dict[str, str]:
    if sorted(stacks) != sorted(RELEASE_ENVIRONMENTS):
        raise ValueError("not exactly dev and prod")
    return stacks


Scopes = Json(
    Annotated[tuple[Scope, ...], Field(min_length=1)],
    "a JSON list of ARM scopes, /subscriptions/<id> or /subscriptions/<id>/resourceGroups/<rg>",
    "'[\"/subscriptions/00000000-0000-0000-0000-000000000000\"]'",
)
ReleaseStacks = Json(
    Annotated[dict[str, StackName], AfterValidator(_dev_and_prod)],
    'a JSON object naming the stack of each environment, {"dev": "<stack>", "prod": "<stack>"}',
    '\'{"dev": "dev", "prod": "prod"}\'',
)
DnsZones = Json(
    tuple[s.DnsZoneId, ...],
    "a JSON list of Azure DNS zone resource ids",
    "'[\"/subscriptions/<id>/resourceGroups/<rg>/providers/Microsoft.Network/dnsZones/example.com\"]'",
)
Approvers = Json(
    tuple[s.Guid, ...],
    "a JSON list of Azure DevOps identity ids (GUIDs)",
    "'[\"00000000-0000-0000-0000-000000000000\"]'",
)


class PipelinesSettings(Section):
    """The Azure DevOps side. Bootstrapped by a person (an Azure owner with an Azure DevOps PAT), in a stack
    the release does not deploy: its identity cannot change the pipelines it runs in."""

    WHEN: ClassVar[str] = " with aiapp:pipelinesEnabled true"
    organization_url: s.OrgUrl = key("organizationUrl", doc="the Azure DevOps organization")
    project_name: s.ProjectName = key("projectName", NAMESPACE, "the Azure DevOps project")
    create_project: Flag = key("createProject", True, "`false` looks an existing project up by name")
    source: Source = key("source", AzureReposSource(), "where the code lives")
    state: State = key("state", doc="where the dev and prod stacks keep their Pulumi state")
    deploy_scopes: Scopes = key(
        "deployScopes",
        doc="the ARM scopes that `pulumi up` of dev and prod manages: the subscription, as the stacks create "
        "their own resource groups",
    )
    identity_resource_group: s.ResourceGroup = key(
        "identityResourceGroup", doc="an existing resource group for the pipelines' two managed identities"
    )
    subscription_name: s.DisplayName | None = key(
        "subscriptionName", None, "display name of the service connections", default_doc="the subscription id"
    )
    stacks: ReleaseStacks = key("stacks", {"dev": "dev", "prod": "prod"}, "the stacks the release deploys")
    model_store_scope: s.ArmId | None = key(
        "modelStoreScope", None, "narrows the pipelines' Blob Data Reader grants to the model store"
    )
    dns_zone_ids: DnsZones = key(
        "dnsZoneIds",
        (),
        "Azure DNS zones outside `deployScopes` that a runtime stack's `customDomain` is in: the release may "
        "write the CNAME there and give cert-manager's identity DNS Zone Contributor on the zone",
        default_doc="none",
    )
    prod_approvers: Approvers = key(
        "prodApprovers", (), "Azure DevOps identities that approve prod; none: the release runs unattended"
    )
    alert_webhook_url: Secret = key(
        "alertWebhookUrl",
        None,
        "an https:// URL that gets a POST (an Azure DevOps service hook) when a release run fails or is "
        "cancelled; it usually carries a token, hence a secret",
        default_doc="none: nobody is told",
        secret=True,
    )
    api: ApiRegistrationSettings = ApiRegistrationSettings()  # the app's Entra registration (sign-in)

    @model_validator(mode="after")
    def _no_import_into_the_projects_own_repository(self) -> PipelinesSettings:
        """A new project's own repository (named like the project) is adopted, not created
        (infra/pipelines/devops.py), so nothing would import the URL into it."""
        source = self.source
        if (
            self.create_project
            and isinstance(source, AzureReposSource)
            and source.import_url
            and source.repository_name.casefold() == self.project_name.casefold()
        ):
            raise problem(
                f"is the name of the project ({self.project_name!r}): a new Azure DevOps project already has "
                "a repository of that name, which the stack adopts, and aiapp:repositoryImportUrl can only "
                "be imported into a repository the stack creates",
                key="repositoryName",
                fix=f"set another name (`pulumi config set {NAMESPACE}:repositoryName "
                f"{source.repository_name}-app`), or remove {NAMESPACE}:repositoryImportUrl and push the "
                "code to the project's own repository",
            )
        return self

    @model_validator(mode="after")
    def _not_in_a_stack_the_release_deploys(self, info: ValidationInfo) -> PipelinesSettings:
        stack = (info.context or {}).get("stack")
        if stack in {name.rsplit("/", 1)[-1] for name in self.stacks.values()}:
            raise problem(
                f"is true in the stack {stack!r}, which the release pipeline deploys (aiapp:stacks): its "
                "identity cannot change the pipelines it runs in (no Azure DevOps token, no right to grant "
                "roles). Declare the pipelines in a stack of their own, e.g. `pulumi stack init cicd` with "
                f"{NAMESPACE}:runtimeEnabled false",
                key="pipelinesEnabled",
                fix=f"remove it here (`pulumi config rm {NAMESPACE}:pipelinesEnabled`)",
            )
        return self
