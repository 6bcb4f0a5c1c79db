"""The stack's settings: the one place that reads `pulumi.Config` (namespace `aiapp`).

Every key has a default or a clear error that names the key and the allowed values. All problems are
collected and raised together, by `load_settings()`, before the program declares any resource.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, TypeVar

import pulumi

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

_GUID = re.compile(r"^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$")
_CPU = re.compile(r"^([1-9][0-9]*m|[0-9]+(\.[0-9]+)?)$")
_MEMORY = re.compile(r"^[1-9][0-9]*(Ki|Mi|Gi)$")
_DNS_LABEL = re.compile(r"^[a-z][a-z0-9-]{1,61}[a-z0-9]$")
_K8S_NAME = re.compile(r"^[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?$")
_TAG_KEY = re.compile(r"^[^<>%&\\?/]{1,512}$")


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
    sku: str
    container: str
    soft_delete_days: int
    data_scientists_group: str | None


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
class Settings:
    stack: StackSettings
    deployer: DeployerSettings
    registry: RegistrySettings
    model_store: ModelStoreSettings
    model: ModelSettings
    cluster: ClusterSettings
    image: ImageSettings
    workload: WorkloadSettings
    # Later sections (the Azure DevOps pipelines) are added here as their own frozen dataclasses, each
    # switched on by its own key and loaded by its own `_load_*` function below.


# ------------------------------------------------------------------------------------------------- reading

T = TypeVar("T")


class _Reader:
    """Reads raw strings from the config and collects problems instead of stopping at the first."""

    def __init__(self, raw: Callable[[str], str | None]) -> None:
        self._raw = raw
        self.problems: list[str] = []

    def _fail(self, key: str, problem: str, example: str) -> None:
        self.problems.append(
            f"{NAMESPACE}:{key}: {problem}; set it with `pulumi config set {NAMESPACE}:{key} {example}`"
        )

    def text(
        self,
        key: str,
        default: str | None,
        *,
        pattern: re.Pattern[str] | None = None,
        what: str = "",
        example: str = "VALUE",
    ) -> str | None:
        value = self._raw(key)
        if value is None or value == "":
            return default
        value = value.strip()
        if pattern is not None and not pattern.match(value):
            self._fail(key, f"{value!r} is not {what}", example)
            return default
        return value

    def required(self, key: str, what: str, example: str) -> str:
        value = self.text(key, None)
        if value is None:
            self._fail(key, f"is required ({what})", example)
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
        pattern=_GUID,
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
    return ModelStoreSettings(
        sku=r.choice("modelStoreSku", "Standard_LRS", STORAGE_SKUS),
        container=r.text(
            "modelContainer",
            "models",
            pattern=re.compile(r"^[a-z0-9](?!.*--)[a-z0-9-]{1,61}[a-z0-9]$"),
            what="a blob container name (3-63 lowercase letters, digits, single hyphens)",
            example="models",
        )
        or "models",
        soft_delete_days=r.integer("modelSoftDeleteDays", 7, 1, 365),
        data_scientists_group=r.text(
            "dataScientistsGroupObjectId",
            None,
            pattern=_GUID,
            what="an Entra group object id (a GUID)",
            example="00000000-0000-0000-0000-000000000000",
        ),
    )


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
        )
        or "digits",
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
        )
        or "1.33",
        vm_size=r.text(
            "nodeVmSize",
            "Standard_D2s_v5",
            pattern=re.compile(r"^Standard_[A-Za-z0-9_]+$"),
            what="an Azure VM size such as Standard_D2s_v5",
            example="Standard_D2s_v5",
        )
        or "Standard_D2s_v5",
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


def load_settings(raw: Callable[[str], str | None] | None = None, stack_name: str | None = None) -> Settings:
    """Read and validate every key; raise one ConfigError listing all problems."""
    if raw is None:
        config = pulumi.Config(NAMESPACE)
        raw = config.get
    reader = _Reader(raw)
    stack = _load_stack(reader, stack_name or pulumi.get_stack())
    settings = Settings(
        stack=stack,
        deployer=_load_deployer(reader),
        registry=RegistrySettings(sku=reader.choice("acrSku", "Basic", ACR_SKUS)),
        model_store=_load_model_store(reader),
        model=_load_model(reader),
        cluster=_load_cluster(reader),
        image=_load_image(reader),
        workload=_load_workload(reader, stack.environment),
    )
    if reader.problems:
        raise ConfigError(
            "the stack configuration is invalid:\n  - "
            + "\n  - ".join(reader.problems)
            + "\n(the README lists every aiapp:* key with its default and allowed values)"
        )
    return settings
