"""The runtime's settings, one section per component: where and under which names and tags, who deploys,
the registry, the model store and model, the cluster, the image and the workload."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import AfterValidator, BeforeValidator, Field, ValidationInfo, field_validator, model_validator

from infra.config import promotion
from infra.config import shapes as s
from infra.config.errors import keys
from infra.config.keys import NAMESPACE, Json, Section, key, problem
from pipelines.promotion import Promotion

ENVIRONMENTS = ("dev", "test", "staging", "prod")
ENV_SHORT = {"dev": "dev", "test": "tst", "staging": "stg", "prod": "prd"}
Tags = dict[Annotated[str, Field(pattern=s.TAG_KEY)], Annotated[str, Field(max_length=256)]]


def _distinct(zones: tuple[str, ...]) -> tuple[str, ...]:
    if len(set(zones)) != len(zones):
        raise ValueError("zones repeat")
    return zones


Zones = Annotated[
    tuple[Literal["1", "2", "3"], ...],
    BeforeValidator(lambda v: [str(z) for z in v] if isinstance(v, list) else v),
    AfterValidator(_distinct),
]


def _context(info: ValidationInfo, name: str) -> str:
    return (info.context or {}).get(name, "")


class StackSettings(Section):
    """Where and under which names and tags everything is created."""

    stack: str = Field("", validate_default=True)  # the stack's name (from Pulumi, not a key)
    location: s.Location = key(
        "location", "westeurope", "region of every resource; the DNS zone of `app_url`"
    )
    name_prefix: s.NamePrefix = key("namePrefix", NAMESPACE, "prefix of every resource name")
    environment: Literal["dev", "test", "staging", "prod"] = key(
        "environment",
        None,
        "`environment` tag and name part; `prod` requires at least 2 replicas",
        validate_default=True,
        default_doc="the stack name, if it is an allowed value",
    )
    owner: Annotated[str, s.Shape("", "team-ai@example.com")] = key(
        "owner", doc="the team or person responsible, recorded as the `owner` tag"
    )
    extra_tags: Json(Tags, "a JSON object of string tags", '\'{"costCenter": "1234"}\'') = key(
        "tags", {}, "extra tags (they cannot override `owner`, `environment`, `app`)"
    )

    @field_validator("stack", mode="before")
    @classmethod
    def _stack_name(cls, value: str, info: ValidationInfo) -> str:
        return value or _context(info, "stack")

    @field_validator("environment", mode="before")
    @classmethod
    def _from_stack_name(cls, value: str | None, info: ValidationInfo) -> str:
        if value is not None:
            return value
        if (stack := _context(info, "stack")) in ENVIRONMENTS:
            return stack
        allowed = ", ".join(ENVIRONMENTS)
        raise problem(f"is not set and the stack name {stack!r} is not one of the allowed values {allowed}")

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


class DeployerSettings(Section):
    """The identity that runs `pulumi up`: it pushes the image, reads the model store, deploys to AKS. None:
    the identity Pulumi is logged in as, its type told from the login (`infra.identity.current_context`)."""

    object_id: s.Guid | None = key(
        "deployerObjectId",
        None,
        "gets AcrPush, Storage Blob Data Contributor on the store, AKS RBAC Cluster Admin",
        default_doc="the logged-in identity",
    )
    principal_type: Literal["User", "ServicePrincipal"] | None = key(
        "deployerPrincipalType",
        None,
        "principal type of those role assignments; required with `deployerObjectId`",
        default_doc="`User` for an Azure CLI/PowerShell sign-in, else `ServicePrincipal`",
    )

    @model_validator(mode="after")
    def _type_with_id(self) -> DeployerSettings:
        if self.object_id is not None and self.principal_type is None:
            raise problem(
                "is required with aiapp:deployerObjectId (allowed values User, ServicePrincipal)",
                key="deployerPrincipalType",
            )
        return self


class RegistrySettings(Section):
    """The stack's own registry (kept by `pulumi destroy`, as the model store is), or, with shared_id, another
    stack's: then this stack creates none, gives its nodes AcrPull there and runs only promoted images."""

    sku: Literal["Basic", "Standard", "Premium"] = key(
        "acrSku", "Basic", "registry SKU (own registry only; a shared registry's is its owner's)"
    )
    shared_id: s.RegistryId | None = key(
        promotion.SHARED_REGISTRY_KEY,
        None,
        'pull from another stack\'s registry instead (see "One registry"); needs `promotedImage`',
        default_doc="none: the stack creates its own registry",
    )

    @model_validator(mode="before")
    @classmethod
    def _own_registry_keys_need_an_own_registry(cls, data: Any) -> Any:
        """(Before the values are checked: whatever it is, it would do nothing.)"""
        if isinstance(data, dict) and data.get(promotion.SHARED_REGISTRY_KEY) and "acrSku" in data:
            raise problem(
                "is set, so this stack creates no registry, but aiapp:acrSku only applies to a registry it "
                "creates (the shared registry's SKU is the aiapp:acrSku of the stack that owns it)",
                key=promotion.SHARED_REGISTRY_KEY,
                fix=f"remove it: `pulumi config rm {NAMESPACE}:acrSku`",
            )
        return data


StorageSku = Literal[
    "Standard_LRS", "Standard_ZRS", "Standard_GRS", "Standard_RAGRS", "Standard_GZRS", "Standard_RAGZRS"
]


class ModelStoreSettings(Section):
    """The stack's own store, or, with existing_url, another stack's: then this stack creates no store and
    only reads that one (the release deploys one model version to dev and prod from one store)."""

    existing_url: s.BlobStoreUrl | None = key(
        "modelStoreUrl",
        None,
        'read another stack\'s store instead (see "One model store"); where the release resolves the model',
        default_doc="none: the stack creates its own store",
    )
    sku: StorageSku = key("modelStoreSku", "Standard_LRS", "model store redundancy (own store only)")
    container: s.Container = key("modelContainer", "models", "the private container (own store only)")
    soft_delete_days: int = key(
        "modelSoftDeleteDays", 7, "blob and container soft-delete retention (own store only)", ge=1, le=365
    )
    data_scientists_group: s.Guid | None = key(
        "dataScientistsGroupObjectId", None, "Entra group allowed to publish (own store only)"
    )

    @field_validator("existing_url", mode="before")
    @classmethod
    def _no_trailing_slash(cls, value: Any) -> Any:
        return value.strip().rstrip("/") if isinstance(value, str) else value

    @model_validator(mode="before")
    @classmethod
    def _own_store_keys_need_an_own_store(cls, data: Any) -> Any:
        """(Before the values are checked: whatever they are, they would do nothing.)"""
        own = [f.alias for name, f in cls.model_fields.items() if name != "existing_url"]
        stray = ", ".join(f"{NAMESPACE}:{k}" for k in own if isinstance(data, dict) and k in data)
        if isinstance(data, dict) and data.get("modelStoreUrl") and stray:
            raise problem(
                f"is set, so this stack creates no model store, but {stray} only apply to a store it creates "
                "(set them on the stack that owns the store)",
                key="modelStoreUrl",
                fix=f"remove them: `pulumi config rm {NAMESPACE}:<key>`",
            )
        return data


class ModelSettings(Section):
    name: s.ModelName = key("modelName", "digits", "model to bake into the image")
    version: s.ModelVersion = key("modelVersion", "latest", "version to bake in")
    source: Literal["store", "reference"] = key(
        "modelSource", "store", "`reference` trains the reference model locally instead (first deployment)"
    )


class ClusterSettings(Section):
    kubernetes_version: s.KubernetesVersion = key("kubernetesVersion", "1.33", "AKS Kubernetes version")
    vm_size: s.VmSize = key("nodeVmSize", "Standard_D2s_v5", "system pool VM size")
    min_nodes: int = key("nodeMinCount", 1, "node pool autoscaler minimum", ge=1, le=100)
    max_nodes: int = key("nodeMaxCount", 3, "node pool autoscaler maximum (≥ the minimum)", ge=1, le=100)
    tier: Literal["Free", "Standard", "Premium"] = key("aksTier", "Free", "AKS control-plane tier")
    zones: Json(Zones, 'a JSON list of distinct zones from "1", "2", "3"', '\'["1", "2", "3"]\'') = key(
        "nodeZones", (), "availability zones of the pool", default_doc="none"
    )

    @model_validator(mode="after")
    def _min_below_max(self) -> ClusterSettings:
        if self.min_nodes > self.max_nodes:
            raise problem(
                f"{self.max_nodes} is below aiapp:nodeMinCount ({self.min_nodes})",
                key="nodeMaxCount",
                example=str(self.min_nodes),
            )
        return self


class ImageSettings(Section):
    """The image the stack builds, or, with promoted, the one another stack built: then nothing is built."""

    repository: s.Repository = key("imageRepository", NAMESPACE, "repository in ACR")
    base_image: s.ImageRef | None = key(
        "baseImage",
        None,
        "`BASE_IMAGE` build arg",
        default_doc="the Dockerfile's pinned `debian:bookworm-slim`",
    )
    promoted: Annotated[Promotion | None, s.Shape(promotion.TEXT, promotion.EXAMPLE)] = key(
        promotion.KEY,
        None,
        "run exactly this image: no build, no model fetch; the Deployment, its pod labels and the outputs "
        'take image, model and commit from it (see "Promotion"); `modelVersion`, `modelSource` and '
        "`baseImage` may not be set beside it",
        validate_default=True,
        default_doc="none: the stack builds its image",
    )

    @field_validator("promoted", mode="before")
    @classmethod
    def _promotion(cls, value: Any, info: ValidationInfo) -> Promotion | None:
        """The object, its registry against aiapp:sharedRegistryId, and the keys beside it: every problem
        in one line, each with its fix."""
        configured = (info.context or {}).get("configured", {})
        shared = configured.get(promotion.SHARED_REGISTRY_KEY)
        if value in (None, ""):
            if shared:
                raise problem(
                    f"is required with aiapp:{promotion.SHARED_REGISTRY_KEY}: a stack pulling from another "
                    "stack's registry builds nothing (it may not push there) and runs only what that stack "
                    "built and tested",
                    example=promotion.EXAMPLE,
                )
            return None
        promoted, found = promotion.read(value, shared)
        fixes = (
            [f"set it with `pulumi config set {NAMESPACE}:{promotion.KEY} {promotion.EXAMPLE}`"]
            if found
            else []
        )
        beside = [k for k in promotion.BUILD_KEYS if configured.get(k) not in (None, "")]
        if beside:
            found.append(
                f"{keys(beside)} may not be set beside it: the promoted image holds its model and base image"
            )
            commands = ", ".join(f"`pulumi config rm {NAMESPACE}:{k}`" for k in beside)
            fixes.append(f"remove {'them' if len(beside) > 1 else 'it'}: {commands}")
        if found:
            raise problem("; ".join(found), fix="; ".join(fixes))
        return promoted


def _millicores(cpu: str) -> float:
    return float(cpu[:-1]) if cpu.endswith("m") else float(cpu) * 1000


def _mebibytes(memory: str) -> float:
    return int(memory[:-2]) * {"Ki": 1 / 1024, "Mi": 1, "Gi": 1024}[memory[-2:]]


class WorkloadSettings(Section):
    namespace: s.KubernetesName = key("namespace", NAMESPACE, "namespace of the workload")
    replicas: int = key(
        "replicas",
        None,
        "initial replicas and HPA minimum (at least 2 in prod)",
        ge=1,
        le=100,
        validate_default=True,
        default_doc="`1` (`2` in prod)",
    )
    max_replicas: int = key("maxReplicas", 5, "HPA maximum (≥ replicas)", ge=1, le=200)
    cpu_target_percent: int = key("cpuTargetPercent", 70, "HPA CPU utilization target", ge=10, le=100)
    cpu_request: s.Cpu = key("cpuRequest", "250m", "container CPU request")
    cpu_limit: s.Cpu = key("cpuLimit", "1", "container CPU limit (≥ request)")
    memory_request: s.Memory = key("memoryRequest", "256Mi", "container memory request")
    memory_limit: s.Memory = key("memoryLimit", "512Mi", "container memory limit (≥ request)")
    dns_label: s.DnsLabel | None = key(
        "dnsLabel",
        None,
        "the edge's host `<label>.<location>.cloudapp.azure.com` (`app_url` without a custom domain)",
        default_doc="`<prefix>-<env>-<6 hex of subscription+stack>`",
    )

    @field_validator("replicas", mode="before")
    @classmethod
    def _default_by_environment(cls, value: Any, info: ValidationInfo) -> Any:
        return value if value is not None else (2 if _context(info, "environment") == "prod" else 1)

    @model_validator(mode="after")
    def _consistent(self, info: ValidationInfo) -> WorkloadSettings:
        if _context(info, "environment") == "prod" and self.replicas < 2:
            raise problem(
                f"{self.replicas} is too few for prod: at least 2 keep the app up during a rollout or a node "
                "drain",
                key="replicas",
                example="2",
            )
        if self.max_replicas < self.replicas:
            raise problem(
                f"{self.max_replicas} is below aiapp:replicas ({self.replicas})",
                key="maxReplicas",
                example=str(self.replicas),
            )
        if _millicores(self.cpu_request) > _millicores(self.cpu_limit):
            raise problem(f"{self.cpu_limit} is below aiapp:cpuRequest ({self.cpu_request})", key="cpuLimit")
        if _mebibytes(self.memory_request) > _mebibytes(self.memory_limit):
            raise problem(
                f"{self.memory_limit} is below aiapp:memoryRequest ({self.memory_request})", key="memoryLimit"
            )
        return self
