"""The shapes of valid values, each written once: a pattern, the words an error uses for it ("'x' is not
<shape>"), and the example its fix suggests. Sections annotate their fields with these types."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Annotated, Any

from pydantic import StringConstraints

# The promotion contract's patterns, defined where the release's standard-library scripts import them too.
from pipelines.promotion import DNS_NAME_, MODEL_NAME_, MODEL_NAME_TEXT, PUBLISHED_VERSION_, REPOSITORY_


@dataclass(frozen=True)
class Shape:
    text: str
    example: str | None = None


def shaped(pattern: str, text: str, example: str | None = None) -> Any:
    return Annotated[str, StringConstraints(pattern=pattern), Shape(text, example)]


GUID_ = r"[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}"
# Azure: 1-90 letters, digits, underscores, hyphens, periods and parentheses; not ending in a period.
RESOURCE_GROUP_ = r"[-\w.()]{0,89}[-\w()]"
STORAGE_ACCOUNT_ = r"[a-z0-9]{3,24}"
# Azure: 3-63 lowercase letters, digits and single hyphens, starting and ending with a letter or digit.
CONTAINER_ = r"[a-z0-9](?!.*--)[a-z0-9-]{1,61}[a-z0-9]"
ARM_ = rf"/subscriptions/{GUID_}/resourceGroups/{RESOURCE_GROUP_}/providers"
ARM_EXAMPLE = "/subscriptions/<id>/resourceGroups/<rg>/providers"
STORAGE_ACCOUNT_ID = rf"^{ARM_}/Microsoft\.Storage/storageAccounts/(?P<name>{STORAGE_ACCOUNT_})$"
KEY_VAULT_ID = rf"^{ARM_}/Microsoft\.KeyVault/vaults/(?P<name>[a-zA-Z][-a-zA-Z0-9]{{1,22}}[a-zA-Z0-9])$"
SCOPE = rf"^/subscriptions/{GUID_}(/resourceGroups/{RESOURCE_GROUP_})?$"
STACK = r"^[A-Za-z0-9_.-]+(/[A-Za-z0-9_.-]+){0,2}$"
TAG_KEY = r"^[^<>%&\\?/]{1,512}$"

Guid = shaped(rf"^{GUID_}$", "an Entra object id (a GUID)", "00000000-0000-0000-0000-000000000000")
ClientId = shaped(
    rf"^{GUID_}$", "an application (client) id (a GUID)", "00000000-0000-0000-0000-000000000000"
)
Container = shaped(
    rf"^{CONTAINER_}$", "a blob container name (3-63 lowercase letters, digits, single hyphens)"
)
# A model store as a stack exports it (model_store_url): a blob container of a storage account.
BLOB_STORE_URL = rf"^https://{STORAGE_ACCOUNT_}\.blob\.core\.windows\.net/{CONTAINER_}$"
BlobStoreUrl = shaped(
    BLOB_STORE_URL,
    "https://<account>.blob.core.windows.net/<container> (the model_store_url output of the stack that owns "
    "the store; the identity running `pulumi up` needs Storage Blob Data Reader on it)",
    "$(pulumi stack output model_store_url --stack dev)",
)
Location = shaped(r"^[a-z][a-z0-9]{2,30}$", "an Azure region name such as westeurope")
NamePrefix = shaped(r"^[a-z][a-z0-9]{1,7}$", "2 to 8 lowercase letters or digits, starting with a letter")
ModelName = shaped(rf"^{MODEL_NAME_}$", MODEL_NAME_TEXT)
ModelVersion = shaped(rf"^(latest|{PUBLISHED_VERSION_})$", "'latest' or a positive whole number")
KubernetesVersion = shaped(r"^1\.[0-9]{2}(\.[0-9]+)?$", "a Kubernetes version such as 1.33 or 1.33.3")
VmSize = shaped(r"^Standard_[A-Za-z0-9_]+$", "an Azure VM size such as Standard_D2s_v5")
Repository = shaped(rf"^{REPOSITORY_}$", "a registry repository name (lowercase)")
ImageRef = shaped(r"^[^\s]+$", "an image reference without spaces", "debian:bookworm-slim")
KubernetesName = shaped(r"^[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?$", "a Kubernetes namespace name")
Cpu = shaped(r"^([1-9][0-9]*m|[0-9]+(\.[0-9]+)?)$", "a Kubernetes CPU quantity such as 250m or 1")
Memory = shaped(r"^[1-9][0-9]*(Ki|Mi|Gi)$", "a Kubernetes memory quantity such as 256Mi or 1Gi")
DnsLabel = shaped(
    r"^[a-z][a-z0-9-]{1,61}[a-z0-9]$",
    "a DNS label (3-63 lowercase letters, digits, hyphens; starting with a letter)",
    "aiapp-demo",
)
OrgUrl = shaped(
    r"^https://(dev\.azure\.com/[A-Za-z0-9][-A-Za-z0-9]{0,48}|[a-z0-9][-a-z0-9]{0,48}\.visualstudio\.com)/?$",
    "an Azure DevOps organization URL (https://dev.azure.com/<organization>)",
    "https://dev.azure.com/contoso",
)
ProjectName = shaped(
    r"^[^\\/:*?\"<>;#$%{}+=\[\]|,.'][^\\/:*?\"<>;#$%{}+=\[\]|,']{0,62}$", "an Azure DevOps project name"
)
RepoName = shaped(r"^[A-Za-z0-9][-A-Za-z0-9_.]{0,63}$", "a repository name (letters, digits, - _ .)")
HttpsUrl = shaped(r"^https://[^\s/]+/\S*$", "an https:// Git URL", "https://github.com/contoso/aiapp.git")
IssuerUrl = shaped(
    r"^https://[^\s/]+/\S*$",
    "an https:// URL, the `iss` of the tokens",
    "https://login.microsoftonline.com/<tenant id>/v2.0",
)
# As Entra ID allows an app role's value: printable ASCII, no spaces (the `roles` claim carries it).
AppRole = shaped(r"^[!-~]{1,249}$", "an app role value (printable characters, no spaces)", "Model.Invoke")
GitHubRepo = shaped(
    r"^[A-Za-z0-9][-A-Za-z0-9]{0,38}/[A-Za-z0-9._-]{1,100}$",
    "a GitHub repository as owner/name",
    "contoso/aiapp",
)
StorageAccountId = shaped(
    STORAGE_ACCOUNT_ID,
    "a storage account resource id",
    f"{ARM_EXAMPLE}/Microsoft.Storage/storageAccounts/<name>",
)
KeyVaultId = shaped(
    KEY_VAULT_ID, "a key vault resource id", f"{ARM_EXAMPLE}/Microsoft.KeyVault/vaults/<name>"
)
KeyName = shaped(r"^[A-Za-z0-9-]{1,127}$", "a Key Vault key name")
PulumiOrg = shaped(r"^[A-Za-z0-9][-A-Za-z0-9_.]{0,99}$", "a Pulumi Cloud organization name", "contoso")
ResourceGroup = shaped(rf"^{RESOURCE_GROUP_}$", "a resource group name", "aiapp-cicd")
DisplayName = shaped(r"^\S(.{0,62}\S)?$", "a subscription display name (at most 64 characters)")
ArmId = shaped(
    rf"^{ARM_}/\S+$",
    "an Azure resource id (the model store's storage account)",
    f"{ARM_EXAMPLE}/Microsoft.Storage/storageAccounts/<name>",
)
# An Azure container registry: 5-50 letters and digits (Azure's rule), by its resource id.
REGISTRY_NAME_ = r"[a-zA-Z0-9]{5,50}"
REGISTRY_ID = rf"^{ARM_}/Microsoft\.ContainerRegistry/registries/(?P<name>{REGISTRY_NAME_})$"
RegistryId = shaped(
    REGISTRY_ID,
    "a container registry's resource id (the registry_id output of the stack that owns it)",
    "$(pulumi stack output registry_id --stack dev)",
)
DNS_ZONE_ID = rf"^{ARM_}/Microsoft\.Network/dnsZones/(?P<zone>{DNS_NAME_})$"
DnsZoneId = shaped(
    DNS_ZONE_ID,
    "an Azure DNS zone's resource id",
    f"{ARM_EXAMPLE}/Microsoft.Network/dnsZones/example.com",
)
HostName = shaped(
    rf"^{DNS_NAME_}$",
    "a lowercase DNS host name",
    "app.example.com",
)
ChartVersion = shaped(r"^v?[0-9]+\.[0-9]+\.[0-9]+$", "a chart version such as v1.9.3", "v1.9.3")
Email = shaped(r"^[^@\s]+@[^@\s]+\.[^@\s]+$", "an e-mail address", "team-ai@example.com")
