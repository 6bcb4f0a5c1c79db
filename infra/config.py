"""The stack's settings: the one place that reads `pulumi.Config` (namespace `aiapp`).

Every key has a default or a clear error that names the key and the allowed values. All problems are
collected and raised together, by `load_settings()`, before the program declares any resource. Secrets
(the Azure DevOps side's tokens) are read only with `get_secret`, must be stored encrypted
(`pulumi config set --secret`), and stay `Output.secret` from here on.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, TypeVar, overload

import pulumi
from pulumi.runtime.config import is_config_secret

from infra import devops_settings as devops
from infra.devops_settings import BLOB_STORE_URL_RE, CONTAINER_RE, GUID_RE, HTTPS_URL_RE, RESOURCE_GROUP_RE

NAMESPACE = "aiapp"

ENVIRONMENTS = ("dev", "test", "staging", "prod")
ENV_SHORT = {"dev": "dev", "test": "tst", "staging": "stg", "prod": "prd"}
PRINCIPAL_TYPES = ("User", "ServicePrincipal")
ACR_SKUS = ("Basic", "Standard", "Premium")
STORAGE_SKUS = (
    "Standard_LRS",
    "Standard_ZRS",
    "Standard_GRS",
    "Standard_RAGRS",
    "Standard_GZRS",
    "Standard_RAGZRS",
)
AKS_TIERS = ("Free", "Standard", "Premium")
MODEL_SOURCES = ("store", "reference")
ZONES = ("1", "2", "3")
BOOLEANS = ("true", "false")
PIPELINE_SOURCES = ("azure-repos", "github")
PIPELINE_STATES = ("azblob", "pulumi-cloud")

_CPU = re.compile(r"^([1-9][0-9]*m|[0-9]+(\.[0-9]+)?)$")
_MEMORY = re.compile(r"^[1-9][0-9]*(Ki|Mi|Gi)$")
_DNS_LABEL = re.compile(r"^[a-z][a-z0-9-]{1,61}[a-z0-9]$")
_K8S_NAME = re.compile(r"^[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?$")
_TAG_KEY = re.compile(r"^[^<>%&\\?/]{1,512}$")
# GUIDs, resource groups, blob containers, store URLs and the Azure DevOps values are checked with the
# patterns of infra/devops_settings.py, which the components use too: a key accepted here is never refused.


class ConfigError(pulumi.RunError):
    """Bad stack configuration; the message lists every problem and how to fix it."""


# ----------------------------------------------------------------------------------------------- settings


@dataclass(frozen=True)
class StackSettings:
    """Where and under which names and tags everything is created."""

    stack: str
    location: str
    name_prefix: str
    environment: str
    owner: str
    extra_tags: Mapping[str, str] = field(default_factory=dict)

    @property
    def tags(self) -> dict[str, str]:
        """Tags for every Azure resource that takes them."""
        return {**self.extra_tags, "owner": self.owner, "environment": self.environment, "app": NAMESPACE}

    def name(self, kind: str) -> str:
        """A logical name with hyphens, e.g. `aiapp-dev-aks` (Azure auto-naming adds a random suffix)."""
        return f"{self.name_prefix}-{self.environment}-{kind}"

    def compact_name(self, kind: str) -> str:
        """Letters and digits only, at most 14 characters, for storage accounts and registries (which allow
        no hyphens); Azure auto-naming appends 8 random characters, within the 24-character limit."""
        return f"{self.name_prefix}{ENV_SHORT[self.environment]}{kind}"[:14]


@dataclass(frozen=True)
class DeployerSettings:
    """The identity that runs `pulumi up`: it pushes the image, reads the model store, deploys to AKS.

    object_id None means "the identity Pulumi is logged in as"; principal_type None means "tell from the
    login" (both resolved at run time, by `infra.identity.current_context`)."""

    object_id: str | None
    principal_type: str | None


@dataclass(frozen=True)
class RegistrySettings:
    sku: str


@dataclass(frozen=True)
class ModelStoreSettings:
    """The stack's own store (sku .. data_scientists_group), or, with existing_url, another stack's: then this
    stack creates no store and only reads that one (the release deploys one model version to dev and prod
    from one store)."""

    sku: str
    container: str
    soft_delete_days: int
    data_scientists_group: str | None
    existing_url: str | None = None


@dataclass(frozen=True)
class ModelSettings:
    name: str
    version: str
    source: str


@dataclass(frozen=True)
class ClusterSettings:
    kubernetes_version: str
    vm_size: str
    min_nodes: int
    max_nodes: int
    tier: str
    zones: tuple[str, ...]


@dataclass(frozen=True)
class ImageSettings:
    repository: str
    base_image: str | None


@dataclass(frozen=True)
class WorkloadSettings:
    namespace: str
    replicas: int
    max_replicas: int
    cpu_target_percent: int
    cpu_request: str
    cpu_limit: str
    memory_request: str
    memory_limit: str
    dns_label: str | None


@dataclass(frozen=True)
class PipelinesSettings:
    """The Azure DevOps side (infra/pipelines.py): the PipelinesArgs that come from configuration, with the
    same names; `infra.pipelines.pipelines_args` adds the rest (tenant, subscription, location, tags, model
    name) from the stack."""

    organization_url: str
    project_name: str
    create_project: bool
    source: devops.AzureReposSource | devops.GitHubSource
    state: devops.AzureBlobState | devops.PulumiCloudState
    deploy_scopes: tuple[str, ...]
    identity_resource_group: str
    subscription_name: str | None
    stacks: Mapping[str, str]
    model_store_url: str  # = aiapp:modelStoreUrl: the one store dev and prod read, where the release resolves
    model_store_scope: str | None
    prod_approvers: tuple[str, ...]


@dataclass(frozen=True)
class Settings:
    stack: StackSettings
    deployer: DeployerSettings
    registry: RegistrySettings
    model_store: ModelStoreSettings
    model: ModelSettings
    cluster: ClusterSettings
    image: ImageSettings
    workload: WorkloadSettings
    # False: a stack of the Azure DevOps side only (no store, registry, cluster, image or workload).
    runtime_enabled: bool = True
    pipelines: PipelinesSettings | None = None  # None unless aiapp:pipelinesEnabled is true


# ------------------------------------------------------------------------------------------------- reading

T = TypeVar("T")


class _Reader:
    """Reads raw strings from the config and collects problems instead of stopping at the first."""

    def __init__(
        self,
        raw: Callable[[str], str | None],
        secret: Callable[[str], pulumi.Output[str] | None],
        stored_encrypted: Callable[[str], bool],
    ) -> None:
        self._raw = raw
        self._secret = secret
        self._stored_encrypted = stored_encrypted
        self.problems: list[str] = []

    def _fail(
        self, key: str, problem: str, example: str = "VALUE", *, fix: str | None = None, secret: bool = False
    ) -> None:
        command = "pulumi config set --secret" if secret else "pulumi config set"
        how = fix or f"set it with `{command} {NAMESPACE}:{key} {example}`"
        self.problems.append(f"{NAMESPACE}:{key}: {problem}; {how}")

    def is_set(self, key: str) -> bool:
        value = self._raw(key)
        return value is not None and value != ""

    @overload
    def text(
        self,
        key: str,
        default: str,
        *,
        pattern: re.Pattern[str] | None = ...,
        what: str = ...,
        example: str = ...,
    ) -> str: ...

    @overload
    def text(
        self,
        key: str,
        default: None,
        *,
        pattern: re.Pattern[str] | None = ...,
        what: str = ...,
        example: str = ...,
    ) -> str | None: ...

    def text(
        self,
        key: str,
        default: str | None,
        *,
        pattern: re.Pattern[str] | None = None,
        what: str = "",
        example: str = "VALUE",
    ) -> str | None:
        """The key's value, or `default` when it is unset or (after recording the problem) invalid."""
        value = self._raw(key)
        if value is None or value == "":
            return default
        value = value.strip()
        if pattern is not None and not pattern.match(value):
            self._fail(key, f"{value!r} is not {what}", example)
            return default
        return value

    def required(
        self,
        key: str,
        what: str,
        example: str,
        *,
        pattern: re.Pattern[str] | None = None,
        shape: str = "",
        when: str = "",
    ) -> str:
        """A key without a default: `what` says what it is, `shape` what a valid value looks like."""
        value = self.text(key, None, pattern=pattern, what=shape, example=example)
        if value is None:
            if not self.is_set(key):  # (a set but malformed value is reported by text())
                self._fail(key, f"is required{when} ({what})", example)
            return ""
        return value

    def choice(self, key: str, default: str, allowed: tuple[str, ...]) -> str:
        value = self._raw(key)
        if value is None or value == "":
            return default
        if value not in allowed:
            self._fail(key, f"{value!r} is not one of the allowed values {', '.join(allowed)}", allowed[0])
            return default
        return value

    def boolean(self, key: str, default: bool) -> bool:
        value = self._raw(key)
        if value is None or value == "":
            return default
        if value.strip().lower() not in BOOLEANS:
            self._fail(key, f"{value!r} is not one of the allowed values true, false", "true")
            return default
        return value.strip().lower() == "true"

    def integer(self, key: str, default: int, low: int, high: int) -> int:
        value = self._raw(key)
        if value is None or value == "":
            return default
        try:
            number = int(value)
        except ValueError:
            self._fail(key, f"{value!r} is not a whole number between {low} and {high}", str(default))
            return default
        if not low <= number <= high:
            self._fail(key, f"{number} is outside the allowed range {low}..{high}", str(default))
            return default
        return number

    def structured(
        self, key: str, default: T, check: Callable[[Any], T | None], what: str, example: str
    ) -> T:
        value = self._raw(key)
        if value is None or value == "":
            return default
        try:
            parsed = json.loads(value)
        except json.JSONDecodeError:
            self._fail(key, f"{value!r} is not {what}", example)
            return default
        checked = check(parsed)
        if checked is None:
            self._fail(key, f"{value!r} is not {what}", example)
            return default
        return checked

    def strings(
        self, key: str, default: tuple[str, ...], pattern: re.Pattern[str], what: str, example: str
    ) -> tuple[str, ...]:
        """A JSON list of strings, each matching `pattern`."""

        def check(value: Any) -> tuple[str, ...] | None:
            if not isinstance(value, list) or not all(isinstance(v, str) and pattern.match(v) for v in value):
                return None
            return tuple(value)

        return self.structured(key, default, check, what, example)

    def secret_is_set(self, key: str) -> bool:
        return self._secret(key) is not None

    def required_secret(self, key: str, what: str, when: str = "") -> pulumi.Output[str] | None:
        """A secret key: must be set, and stored encrypted. Its value never appears in a message."""
        value = self._secret(key)
        if value is None:
            self._fail(key, f"is required{when} ({what})", "<value>", secret=True)
            return None
        if not self._stored_encrypted(key):
            self._fail(
                key,
                "is stored in plain text in the stack's config file; remove it (`pulumi config rm "
                f"{NAMESPACE}:{key}`) and store it encrypted",
                "<value>",
                secret=True,
            )
            return None
        return value


def _tags(value: Any) -> dict[str, str] | None:
    if not isinstance(value, dict):
        return None
    if not all(
        isinstance(k, str) and _TAG_KEY.match(k) and isinstance(v, str) and len(v) <= 256
        for k, v in value.items()
    ):
        return None
    return dict(value)


def _zones(value: Any) -> tuple[str, ...] | None:
    if not isinstance(value, list):
        return None
    zones = tuple(str(z) for z in value)
    if len(set(zones)) != len(zones) or not all(z in ZONES for z in zones):
        return None
    return zones


def _model_version(value: str) -> bool:
    return value == "latest" or (value.isdigit() and int(value) >= 1)


def _millicores(cpu: str) -> float:
    return float(cpu[:-1]) if cpu.endswith("m") else float(cpu) * 1000


def _mebibytes(memory: str) -> float:
    number, unit = int(memory[:-2]), memory[-2:]
    return number * {"Ki": 1 / 1024, "Mi": 1, "Gi": 1024}[unit]


def _load_stack(r: _Reader, stack_name: str) -> StackSettings:
    location = r.text(
        "location",
        "westeurope",
        pattern=re.compile(r"^[a-z][a-z0-9]{2,30}$"),
        what="an Azure region name such as westeurope",
        example="westeurope",
    )
    prefix = r.text(
        "namePrefix",
        NAMESPACE,
        pattern=re.compile(r"^[a-z][a-z0-9]{1,7}$"),
        what="2 to 8 lowercase letters or digits, starting with a letter",
        example="aiapp",
    )
    default_env = stack_name if stack_name in ENVIRONMENTS else None
    environment = r.text("environment", default_env)
    if environment is None:
        r._fail(
            "environment",
            f"is not set and the stack name {stack_name!r} is not one of the allowed values "
            f"{', '.join(ENVIRONMENTS)}",
            "dev",
        )
        environment = "dev"
    elif environment not in ENVIRONMENTS:
        r._fail(
            "environment",
            f"{environment!r} is not one of the allowed values {', '.join(ENVIRONMENTS)}",
            "dev",
        )
        environment = "dev"
    owner = r.required(
        "owner", "the team or person responsible, recorded as the `owner` tag", "team-ai@example.com"
    )
    extra = r.structured("tags", {}, _tags, "a JSON object of string tags", '\'{"costCenter": "1234"}\'')
    return StackSettings(stack_name, location or "westeurope", prefix or NAMESPACE, environment, owner, extra)


def _load_deployer(r: _Reader) -> DeployerSettings:
    object_id = r.text(
        "deployerObjectId",
        None,
        pattern=GUID_RE,
        what="an Entra object id (a GUID)",
        example="00000000-0000-0000-0000-000000000000",
    )
    principal_type = r.choice("deployerPrincipalType", "", PRINCIPAL_TYPES) or None
    if object_id is not None and principal_type is None:
        r._fail(
            "deployerPrincipalType",
            f"is required with aiapp:deployerObjectId (allowed values {', '.join(PRINCIPAL_TYPES)})",
            "ServicePrincipal",
        )
    return DeployerSettings(object_id, principal_type)


def _load_model_store(r: _Reader) -> ModelStoreSettings:
    settings = ModelStoreSettings(
        sku=r.choice("modelStoreSku", "Standard_LRS", STORAGE_SKUS),
        container=r.text(
            "modelContainer",
            "models",
            pattern=CONTAINER_RE,
            what="a blob container name (3-63 lowercase letters, digits, single hyphens)",
            example="models",
        ),
        soft_delete_days=r.integer("modelSoftDeleteDays", 7, 1, 365),
        data_scientists_group=r.text(
            "dataScientistsGroupObjectId",
            None,
            pattern=GUID_RE,
            what="an Entra group object id (a GUID)",
            example="00000000-0000-0000-0000-000000000000",
        ),
        existing_url=_existing_store_url(r),
    )
    if settings.existing_url is not None:
        # These shape a store this stack creates: with another stack's store they would silently do nothing.
        own_store_keys = (
            "modelStoreSku",
            "modelContainer",
            "modelSoftDeleteDays",
            "dataScientistsGroupObjectId",
        )
        stray = [key for key in own_store_keys if r.is_set(key)]
        if stray:
            r._fail(
                "modelStoreUrl",
                f"is set, so this stack creates no model store, but {_keys(stray)} only apply to a store "
                "it creates (set them on the stack that owns the store)",
                fix=f"remove them: `pulumi config rm {NAMESPACE}:<key>`",
            )
    return settings


def _existing_store_url(r: _Reader) -> str | None:
    value = r.text("modelStoreUrl", None)
    if value is None:
        return None
    url = value.rstrip("/")
    if not BLOB_STORE_URL_RE.match(url):
        r._fail(
            "modelStoreUrl",
            f"{value!r} is not https://<account>.blob.core.windows.net/<container> (the model_store_url "
            "output of the stack that owns the store; the identity running `pulumi up` needs Storage Blob "
            "Data Reader on it)",
            "$(pulumi stack output model_store_url --stack dev)",
        )
        return None
    return url


def _load_model(r: _Reader) -> ModelSettings:
    version = r.text("modelVersion", "latest") or "latest"
    if not _model_version(version):
        r._fail("modelVersion", f"{version!r} is not 'latest' or a positive whole number", "latest")
        version = "latest"
    return ModelSettings(
        name=r.text(
            "modelName",
            "digits",
            pattern=re.compile(r"^[a-z0-9][a-z0-9_-]{0,62}$"),
            what="a model name (lowercase letters, digits, - and _)",
            example="digits",
        ),
        version=version,
        source=r.choice("modelSource", "store", MODEL_SOURCES),
    )


def _load_cluster(r: _Reader) -> ClusterSettings:
    settings = ClusterSettings(
        kubernetes_version=r.text(
            "kubernetesVersion",
            "1.33",
            pattern=re.compile(r"^1\.[0-9]{2}(\.[0-9]+)?$"),
            what="a Kubernetes version such as 1.33 or 1.33.3",
            example="1.33",
        ),
        vm_size=r.text(
            "nodeVmSize",
            "Standard_D2s_v5",
            pattern=re.compile(r"^Standard_[A-Za-z0-9_]+$"),
            what="an Azure VM size such as Standard_D2s_v5",
            example="Standard_D2s_v5",
        ),
        min_nodes=r.integer("nodeMinCount", 1, 1, 100),
        max_nodes=r.integer("nodeMaxCount", 3, 1, 100),
        tier=r.choice("aksTier", "Free", AKS_TIERS),
        zones=r.structured(
            "nodeZones",
            (),
            _zones,
            'a JSON list of distinct zones from "1", "2", "3"',
            '\'["1", "2", "3"]\'',
        ),
    )
    if settings.min_nodes > settings.max_nodes:
        r._fail(
            "nodeMaxCount",
            f"{settings.max_nodes} is below aiapp:nodeMinCount ({settings.min_nodes})",
            str(settings.min_nodes),
        )
    return settings


def _load_image(r: _Reader) -> ImageSettings:
    return ImageSettings(
        repository=r.text(
            "imageRepository",
            NAMESPACE,
            pattern=re.compile(r"^[a-z0-9]+([._-][a-z0-9]+)*(/[a-z0-9]+([._-][a-z0-9]+)*)*$"),
            what="a registry repository name (lowercase)",
            example="aiapp",
        )
        or NAMESPACE,
        base_image=r.text(
            "baseImage",
            None,
            pattern=re.compile(r"^[^\s]+$"),
            what="an image reference without spaces",
            example="debian:bookworm-slim",
        ),
    )


def _load_workload(r: _Reader, environment: str) -> WorkloadSettings:
    quantity = {"what": "a Kubernetes CPU quantity such as 250m or 1", "pattern": _CPU}
    memory = {"what": "a Kubernetes memory quantity such as 256Mi or 1Gi", "pattern": _MEMORY}
    settings = WorkloadSettings(
        namespace=r.text(
            "namespace", NAMESPACE, pattern=_K8S_NAME, what="a Kubernetes namespace name", example="aiapp"
        )
        or NAMESPACE,
        replicas=r.integer("replicas", 2 if environment == "prod" else 1, 1, 100),
        max_replicas=r.integer("maxReplicas", 5, 1, 200),
        cpu_target_percent=r.integer("cpuTargetPercent", 70, 10, 100),
        cpu_request=r.text("cpuRequest", "250m", example="250m", **quantity) or "250m",
        cpu_limit=r.text("cpuLimit", "1", example="1", **quantity) or "1",
        memory_request=r.text("memoryRequest", "256Mi", example="256Mi", **memory) or "256Mi",
        memory_limit=r.text("memoryLimit", "512Mi", example="512Mi", **memory) or "512Mi",
        dns_label=r.text(
            "dnsLabel",
            None,
            pattern=_DNS_LABEL,
            what="a DNS label (3-63 lowercase letters, digits, hyphens; starting with a letter)",
            example="aiapp-demo",
        ),
    )
    if environment == "prod" and settings.replicas < 2:
        r._fail(
            "replicas",
            f"{settings.replicas} is too few for prod: at least 2 keep the app up during a "
            "rollout or a node drain",
            "2",
        )
    if settings.max_replicas < settings.replicas:
        r._fail(
            "maxReplicas",
            f"{settings.max_replicas} is below aiapp:replicas ({settings.replicas})",
            str(settings.replicas),
        )
    if _millicores(settings.cpu_request) > _millicores(settings.cpu_limit):
        r._fail("cpuLimit", f"{settings.cpu_limit} is below aiapp:cpuRequest ({settings.cpu_request})", "1")
    if _mebibytes(settings.memory_request) > _mebibytes(settings.memory_limit):
        r._fail(
            "memoryLimit",
            f"{settings.memory_limit} is below aiapp:memoryRequest ({settings.memory_request})",
            "512Mi",
        )
    return settings


# The Azure DevOps side's keys, by the variant they belong to: a key of the variant not chosen is an error.
AZURE_REPOS_KEYS = ("repositoryName", "repositoryExisting", "repositoryImportUrl")
GITHUB_KEYS = ("githubRepository",)
GITHUB_SECRET_KEYS = ("githubToken", "githubCommentToken")
AZBLOB_KEYS = ("stateStorageAccountId", "stateContainerName", "stateKeyVaultId", "stateKeyName")
PULUMI_CLOUD_KEYS = ("pulumiOrganization",)
PULUMI_CLOUD_SECRET_KEYS = ("pulumiDeployToken", "pulumiPreviewToken")
PIPELINES_KEYS = (
    "organizationUrl",
    "projectName",
    "createProject",
    "source",
    "state",
    "deployScopes",
    "identityResourceGroup",
    "subscriptionName",
    "stacks",
    "modelStoreScope",
    "prodApprovers",
    *AZURE_REPOS_KEYS,
    *GITHUB_KEYS,
    *AZBLOB_KEYS,
    *PULUMI_CLOUD_KEYS,
)
PIPELINES_SECRET_KEYS = (*GITHUB_SECRET_KEYS, *PULUMI_CLOUD_SECRET_KEYS)
DEFAULT_RELEASE_STACKS = {"dev": "dev", "prod": "prod"}
_SCOPES_EXAMPLE = "'[\"/subscriptions/00000000-0000-0000-0000-000000000000\"]'"
_ARM_ID_EXAMPLE = "/subscriptions/<id>/resourceGroups/<rg>/providers"


def _keys(keys: list[str]) -> str:
    return ", ".join(f"{NAMESPACE}:{key}" for key in keys)


def _set_keys(r: _Reader, keys: tuple[str, ...], secret_keys: tuple[str, ...] = ()) -> list[str]:
    return [k for k in keys if r.is_set(k)] + [k for k in secret_keys if r.secret_is_set(k)]


def _only_with(
    r: _Reader, key: str, value: str, others: tuple[str, ...], other_secrets: tuple[str, ...] = ()
) -> None:
    stray = _set_keys(r, others, other_secrets)
    if stray:
        r._fail(
            key,
            f"is {value!r}, so {_keys(stray)} would do nothing",
            fix=f"remove them (`pulumi config rm {NAMESPACE}:<key>`) or change {NAMESPACE}:{key}",
        )


def _build(r: _Reader, key: str, make: Callable[[], T]) -> T | None:
    """The component's own checks, as a config problem (the key checks above should leave none)."""
    try:
        return make()
    except devops.PipelinesArgsError as exc:
        r._fail(key, str(exc), fix="see the README's table of the aiapp:* keys")
        return None


def _release_stacks(value: Any) -> dict[str, str] | None:
    if not isinstance(value, dict) or sorted(value) != sorted(devops.ENVIRONMENTS):
        return None
    if not all(isinstance(v, str) and devops.STACK_RE.match(v) for v in value.values()):
        return None
    return dict(value)


def _load_source(r: _Reader) -> devops.AzureReposSource | devops.GitHubSource | None:
    kind = r.choice("source", "azure-repos", PIPELINE_SOURCES)
    if kind == "github":
        _only_with(r, "source", "github", AZURE_REPOS_KEYS)
        when = " with aiapp:source github"
        repository = r.required(
            "githubRepository",
            "the GitHub repository the pipelines build",
            "contoso/aiapp",
            pattern=devops.GITHUB_REPO_RE,
            shape="a GitHub repository as owner/name",
            when=when,
        )
        connection_token = r.required_secret(
            "githubToken", "the GitHub PAT of the service connection: repo, admin:repo_hook, read:user", when
        )
        comment_token = r.required_secret(
            "githubCommentToken",
            "a fine-grained GitHub token with only 'Pull requests: write' on the repository, for the "
            "preview comment",
            when,
        )
        if not repository or connection_token is None or comment_token is None:
            return None
        return _build(r, "source", lambda: devops.GitHubSource(repository, connection_token, comment_token))

    _only_with(r, "source", "azure-repos", GITHUB_KEYS, GITHUB_SECRET_KEYS)
    name = (
        r.text(
            "repositoryName",
            NAMESPACE,
            pattern=devops.REPO_NAME_RE,
            what="a repository name (letters, digits, - _ .)",
            example="aiapp",
        )
        or NAMESPACE
    )
    existing = r.boolean("repositoryExisting", False)
    import_url = r.text(
        "repositoryImportUrl",
        None,
        pattern=HTTPS_URL_RE,
        what="an https:// Git URL",
        example="https://github.com/contoso/aiapp.git",
    )
    if existing and import_url is not None:
        r._fail(
            "repositoryImportUrl",
            "only applies when the stack creates the repository, and aiapp:repositoryExisting is true",
            fix=f"remove it (`pulumi config rm {NAMESPACE}:repositoryImportUrl`)",
        )
        return None
    return _build(r, "source", lambda: devops.AzureReposSource(name, existing, import_url))


def _load_state(r: _Reader) -> devops.AzureBlobState | devops.PulumiCloudState | None:
    kind = r.choice("state", "", PIPELINE_STATES)
    if kind == "azblob":
        _only_with(r, "state", "azblob", PULUMI_CLOUD_KEYS, PULUMI_CLOUD_SECRET_KEYS)
        when = " with aiapp:state azblob"
        account = r.required(
            "stateStorageAccountId",
            "the storage account of the azblob:// state",
            f"{_ARM_ID_EXAMPLE}/Microsoft.Storage/storageAccounts/<name>",
            pattern=devops.STORAGE_ACCOUNT_ID_RE,
            shape="a storage account resource id",
            when=when,
        )
        container = (
            r.text(
                "stateContainerName",
                "pulumi-state",
                pattern=CONTAINER_RE,
                what="a blob container name",
                example="pulumi-state",
            )
            or "pulumi-state"
        )
        vault = r.required(
            "stateKeyVaultId",
            "the key vault whose key encrypts the stacks' secrets (azurekeyvault://)",
            f"{_ARM_ID_EXAMPLE}/Microsoft.KeyVault/vaults/<name>",
            pattern=devops.KEY_VAULT_ID_RE,
            shape="a key vault resource id",
            when=when,
        )
        key_name = (
            r.text(
                "stateKeyName",
                "pulumi-state",
                pattern=devops.KEY_NAME_RE,
                what="a Key Vault key name",
                example="pulumi-state",
            )
            or "pulumi-state"
        )
        if not account or not vault:
            return None
        return _build(r, "state", lambda: devops.AzureBlobState(account, container, vault, key_name))
    if kind == "pulumi-cloud":
        _only_with(r, "state", "pulumi-cloud", AZBLOB_KEYS)
        when = " with aiapp:state pulumi-cloud"
        organization = r.required(
            "pulumiOrganization",
            "the Pulumi Cloud organization of the stacks",
            "contoso",
            pattern=devops.PULUMI_ORG_RE,
            shape="a Pulumi Cloud organization name",
            when=when,
        )
        deploy = r.required_secret("pulumiDeployToken", "the release pipeline's Pulumi access token", when)
        preview = r.required_secret(
            "pulumiPreviewToken", "a Pulumi access token that can only read the stacks, for previews", when
        )
        if not organization or deploy is None or preview is None:
            return None
        return _build(r, "state", lambda: devops.PulumiCloudState(organization, deploy, preview))
    if not r.is_set("state"):  # (a bad value was reported by choice())
        r._fail(
            "state",
            "is required with aiapp:pipelinesEnabled true (where the dev and prod stacks keep their Pulumi "
            f"state; allowed values {', '.join(PIPELINE_STATES)})",
            "azblob",
        )
    return None


def _load_pipelines(
    r: _Reader, enabled: bool, stack_name: str, store_url: str | None
) -> PipelinesSettings | None:
    if not enabled:
        stray = _set_keys(r, PIPELINES_KEYS, PIPELINES_SECRET_KEYS)
        if stray:
            r._fail(
                "pipelinesEnabled",
                f"is not true, so {_keys(stray)} would do nothing",
                fix=f"set it (`pulumi config set {NAMESPACE}:pipelinesEnabled true`) or remove them",
            )
        return None
    before = len(r.problems)
    when = " with aiapp:pipelinesEnabled true"
    organization_url = r.required(
        "organizationUrl",
        "the Azure DevOps organization",
        "https://dev.azure.com/contoso",
        pattern=devops.ORG_URL_RE,
        shape="an Azure DevOps organization URL (https://dev.azure.com/<organization>)",
        when=when,
    )
    project_name = (
        r.text(
            "projectName",
            NAMESPACE,
            pattern=devops.PROJECT_NAME_RE,
            what="an Azure DevOps project name",
            example="aiapp",
        )
        or NAMESPACE
    )
    create_project = r.boolean("createProject", True)
    source = _load_source(r)
    state = _load_state(r)
    scopes_what = "a JSON list of ARM scopes, /subscriptions/<id> or /subscriptions/<id>/resourceGroups/<rg>"
    problems = len(r.problems)
    deploy_scopes = r.strings("deployScopes", (), devops.SCOPE_RE, scopes_what, _SCOPES_EXAMPLE)
    if not deploy_scopes and len(r.problems) == problems:  # unset, or an empty list
        r._fail(
            "deployScopes",
            f"is required{when} (the ARM scopes that `pulumi up` of dev and prod manages: the "
            "subscription, as the stacks create their own resource groups)",
            _SCOPES_EXAMPLE,
        )
    identity_resource_group = r.required(
        "identityResourceGroup",
        "an existing resource group for the pipelines' two managed identities",
        "aiapp-cicd",
        pattern=RESOURCE_GROUP_RE,
        shape="a resource group name",
        when=when,
    )
    subscription_name = r.text(
        "subscriptionName",
        None,
        pattern=re.compile(r"^\S(.{0,62}\S)?$"),
        what="a subscription display name (at most 64 characters)",
        example="Contoso-Production",
    )
    stacks = r.structured(
        "stacks",
        DEFAULT_RELEASE_STACKS,
        _release_stacks,
        'a JSON object naming the stack of each environment, {"dev": "<stack>", "prod": "<stack>"}',
        '\'{"dev": "dev", "prod": "prod"}\'',
    )
    model_store_scope = r.text(
        "modelStoreScope",
        None,
        pattern=devops.ARM_ID_RE,
        what="an Azure resource id (the model store's storage account)",
        example=f"{_ARM_ID_EXAMPLE}/Microsoft.Storage/storageAccounts/<name>",
    )
    prod_approvers = r.strings(
        "prodApprovers",
        (),
        GUID_RE,
        "a JSON list of Azure DevOps identity ids (GUIDs)",
        "'[\"00000000-0000-0000-0000-000000000000\"]'",
    )
    if store_url is None and not r.is_set("modelStoreUrl"):  # (a malformed one is reported already)
        r._fail(
            "modelStoreUrl",
            f"is required{when}: the release resolves the model version in the one store that dev and prod "
            "both read (the model_store_url output of the stack that owns it)",
            "$(pulumi stack output model_store_url --stack dev)",
        )
    deployed_by_release = {name.rsplit("/", 1)[-1] for name in stacks.values()}
    if stack_name in deployed_by_release:
        r._fail(
            "pipelinesEnabled",
            f"is true in the stack {stack_name!r}, which the release pipeline deploys (aiapp:stacks): its "
            "identity cannot change the pipelines it runs in (no Azure DevOps token, no right to grant "
            "roles). Declare the pipelines in a stack of their own, e.g. `pulumi stack init cicd` with "
            f"{NAMESPACE}:runtimeEnabled false",
            fix=f"remove it here (`pulumi config rm {NAMESPACE}:pipelinesEnabled`)",
        )
    if len(r.problems) > before or source is None or state is None or store_url is None:
        return None
    return PipelinesSettings(
        organization_url=organization_url,
        project_name=project_name,
        create_project=create_project,
        source=source,
        state=state,
        deploy_scopes=deploy_scopes,
        identity_resource_group=identity_resource_group,
        subscription_name=subscription_name,
        stacks=stacks,
        model_store_url=store_url,
        model_store_scope=model_store_scope,
        prod_approvers=prod_approvers,
    )


def _as_secret(value: str | None) -> pulumi.Output[str] | None:
    return None if value is None or value == "" else pulumi.Output.secret(value)


def load_settings(
    raw: Callable[[str], str | None] | None = None,
    stack_name: str | None = None,
    *,
    secret: Callable[[str], pulumi.Output[str] | None] | None = None,
    stored_encrypted: Callable[[str], bool] | None = None,
) -> Settings:
    """Read and validate every key; raise one ConfigError listing all problems.

    By default from pulumi.Config (secrets with get_secret, and "stored encrypted" as the CLI says). Tests
    pass `raw` (key without namespace -> value); secrets then come from `raw` too, as if stored encrypted,
    unless `secret` and `stored_encrypted` say otherwise.
    """
    if raw is None:
        config = pulumi.Config(NAMESPACE)
        raw, secret = config.get, config.get_secret

        def stored_encrypted(key: str) -> bool:
            return is_config_secret(f"{NAMESPACE}:{key}")

    plain = raw
    reader = _Reader(
        raw,
        secret or (lambda key: _as_secret(plain(key))),
        stored_encrypted or (lambda key: True),
    )
    stack = _load_stack(reader, stack_name or pulumi.get_stack())
    model_store = _load_model_store(reader)
    runtime_enabled = reader.boolean("runtimeEnabled", True)
    pipelines_enabled = reader.boolean("pipelinesEnabled", False)
    if not runtime_enabled and not pipelines_enabled:
        reader._fail(
            "runtimeEnabled",
            "is false and aiapp:pipelinesEnabled is not true: the stack would declare nothing",
            fix=f"set {NAMESPACE}:pipelinesEnabled true, or remove {NAMESPACE}:runtimeEnabled",
        )
    settings = Settings(
        stack=stack,
        deployer=_load_deployer(reader),
        registry=RegistrySettings(sku=reader.choice("acrSku", "Basic", ACR_SKUS)),
        model_store=model_store,
        model=_load_model(reader),
        cluster=_load_cluster(reader),
        image=_load_image(reader),
        workload=_load_workload(reader, stack.environment),
        runtime_enabled=runtime_enabled,
        pipelines=_load_pipelines(reader, pipelines_enabled, stack.stack, model_store.existing_url),
    )
    if reader.problems:
        raise ConfigError(
            "the stack configuration is invalid:\n  - "
            + "\n  - ".join(reader.problems)
            + "\n(the README lists every aiapp:* key with its default and allowed values)"
        )
    return settings
