"""The Azure DevOps side's settings that come from configuration, and the shapes of valid values.

A small module with no provider import, so that infra/config.py (which reports a bad aiapp:* key) and
infra/pipelines.py (which refuses a bad argument) check every value with the same patterns, and neither has
to import the other. Each settings class checks itself on construction and raises PipelinesArgsError.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

import pulumi

# The release's environments, in order; the stacks dev and prod (aiapp:stacks names each one's stack).
ENVIRONMENTS = ("dev", "prod")

# ------------------------------------------------------------------------------------ shapes of valid values

_GUID = r"[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}"
# Azure: 1-90 letters, digits, underscores, hyphens, periods and parentheses; not ending in a period.
_RESOURCE_GROUP = r"[-\w.()]{0,89}[-\w()]"
_STORAGE_ACCOUNT = r"[a-z0-9]{3,24}"
# Azure: 3-63 lowercase letters, digits and single hyphens, starting and ending with a letter or digit.
_CONTAINER = r"[a-z0-9](?!.*--)[a-z0-9-]{1,61}[a-z0-9]"
_ARM_PREFIX = rf"/subscriptions/{_GUID}/resourceGroups/{_RESOURCE_GROUP}/providers"

GUID_RE = re.compile(rf"^{_GUID}$")
RESOURCE_GROUP_RE = re.compile(rf"^{_RESOURCE_GROUP}$")
CONTAINER_RE = re.compile(rf"^{_CONTAINER}$")
# A model store as a stack exports it (model_store_url): a blob container of a storage account.
BLOB_STORE_URL_RE = re.compile(rf"^https://{_STORAGE_ACCOUNT}\.blob\.core\.windows\.net/{_CONTAINER}$")
HTTPS_URL_RE = re.compile(r"^https://[^\s/]+/\S*$")
SCOPE_RE = re.compile(rf"^/subscriptions/{_GUID}(/resourceGroups/{_RESOURCE_GROUP})?$")
ARM_ID_RE = re.compile(rf"^{_ARM_PREFIX}/\S+$")
STORAGE_ACCOUNT_ID_RE = re.compile(
    rf"^{_ARM_PREFIX}/Microsoft\.Storage/storageAccounts/(?P<name>{_STORAGE_ACCOUNT})$"
)
KEY_VAULT_ID_RE = re.compile(
    rf"^{_ARM_PREFIX}/Microsoft\.KeyVault/vaults/(?P<name>[a-zA-Z][-a-zA-Z0-9]{{1,22}}[a-zA-Z0-9])$"
)
KEY_NAME_RE = re.compile(r"^[A-Za-z0-9-]{1,127}$")
ORG_URL_RE = re.compile(
    r"^https://(dev\.azure\.com/[A-Za-z0-9][-A-Za-z0-9]{0,48}|[a-z0-9][-a-z0-9]{0,48}\.visualstudio\.com)/?$"
)
PROJECT_NAME_RE = re.compile(r"^[^\\/:*?\"<>;#$%{}+=\[\]|,.'][^\\/:*?\"<>;#$%{}+=\[\]|,']{0,62}$")
REPO_NAME_RE = re.compile(r"^[A-Za-z0-9][-A-Za-z0-9_.]{0,63}$")
GITHUB_REPO_RE = re.compile(r"^[A-Za-z0-9][-A-Za-z0-9]{0,38}/[A-Za-z0-9._-]{1,100}$")
STACK_RE = re.compile(r"^[A-Za-z0-9_.-]+(/[A-Za-z0-9_.-]+){0,2}$")
PREFIX_RE = re.compile(r"^[a-z][a-z0-9-]{1,20}$")
PULUMI_ORG_RE = re.compile(r"^[A-Za-z0-9][-A-Za-z0-9_.]{0,99}$")


class PipelinesArgsError(ValueError):
    """A value the Azure DevOps side cannot build from; the message says which and what to pass."""


def require(ok: bool, message: str) -> None:
    if not ok:
        raise PipelinesArgsError(message)


# ---------------------------------------------------------------------------------------------- settings


@dataclass(frozen=True)
class AzureReposSource:
    """The code lives in Azure Repos Git, in the project."""

    repository_name: str = "aiapp"
    existing: bool = False  # True: look up a repository of that name instead of creating it
    # When creating: a public Git URL to import; without one the repository starts empty (push to it).
    import_url: str | None = None

    def __post_init__(self) -> None:
        require(
            bool(REPO_NAME_RE.match(self.repository_name)),
            f"repository_name {self.repository_name!r} is not a repository name (letters, digits, - _ .)",
        )
        require(
            self.import_url is None or bool(HTTPS_URL_RE.match(self.import_url)),
            f"import_url {self.import_url!r} must be an https:// Git URL",
        )
        require(
            not (self.existing and self.import_url), "import_url only applies when creating the repository"
        )


@dataclass(frozen=True)
class GitHubSource:
    """The code lives on GitHub, reached through a GitHub service connection authenticated with a PAT.

    connection_token: the service connection's PAT (repo, admin:repo_hook, read:user), a Pulumi secret.
    comment_token: a fine-grained token limited to this repository's "Pull requests: write", a Pulumi secret;
    the ci pipeline posts the preview on the pull request with it (the connection's token never reaches a
    job).
    """

    repository: str  # "owner/name"
    connection_token: pulumi.Input[str]
    comment_token: pulumi.Input[str]

    def __post_init__(self) -> None:
        require(
            bool(GITHUB_REPO_RE.match(self.repository)),
            f"repository {self.repository!r} is not a GitHub repository; pass it as owner/name",
        )


@dataclass(frozen=True)
class PulumiCloudState:
    """State in Pulumi Cloud. Two tokens: the preview one reaches pull-request builds, so give it the least
    rights your Pulumi plan allows (a team token with read access to the stacks), never an admin token."""

    organization: str
    deploy_access_token: pulumi.Input[str]
    preview_access_token: pulumi.Input[str]

    def __post_init__(self) -> None:
        require(
            bool(PULUMI_ORG_RE.match(self.organization)),
            f"organization {self.organization!r} is not a Pulumi Cloud organization name",
        )


@dataclass(frozen=True)
class AzureBlobState:
    """Self-managed state: `azblob://` in a storage account, secrets encrypted by a Key Vault key
    (`azurekeyvault://`). Both exist before this stack (they hold its own state) and are reached through the
    federated identities: the pipelines hold no token and no passphrase."""

    storage_account_id: str
    container_name: str
    key_vault_id: str
    key_name: str

    def __post_init__(self) -> None:
        require(
            bool(STORAGE_ACCOUNT_ID_RE.match(self.storage_account_id)),
            f"storage_account_id {self.storage_account_id!r} is not a storage account resource id "
            "(/subscriptions/<id>/resourceGroups/<rg>/providers/Microsoft.Storage/storageAccounts/<name>)",
        )
        require(
            bool(CONTAINER_RE.match(self.container_name)),
            f"container_name {self.container_name!r} is not a blob container name",
        )
        require(
            bool(KEY_VAULT_ID_RE.match(self.key_vault_id)),
            f"key_vault_id {self.key_vault_id!r} is not a key vault resource id "
            "(/subscriptions/<id>/resourceGroups/<rg>/providers/Microsoft.KeyVault/vaults/<name>)",
        )
        require(
            bool(KEY_NAME_RE.match(self.key_name)), f"key_name {self.key_name!r} is not a Key Vault key name"
        )

    @property
    def account_name(self) -> str:
        match = STORAGE_ACCOUNT_ID_RE.match(self.storage_account_id)
        assert match is not None  # checked in __post_init__
        return match["name"]

    @property
    def vault_name(self) -> str:
        match = KEY_VAULT_ID_RE.match(self.key_vault_id)
        assert match is not None
        return match["name"]

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
