"""The stack's settings: the one place that reads `pulumi.Config` (namespace `aiapp`).

Declared once, as pydantic models (infra/config/runtime.py, infra/config/devops.py); each key has a default or
a clear error naming the key and the allowed values. `load_settings()` validates everything before the
program declares any resource and raises one ConfigError listing every problem. Secrets are read only with
`get_secret`, must be stored encrypted (`pulumi config set --secret`), and stay `Output.secret` from here on.
`python -m infra.config` prints the README's tables of keys from the same models.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pulumi
from pulumi.runtime.config import is_config_secret
from pydantic import ValidationError, model_validator

from infra.config.devops import PipelinesSettings
from infra.config.edge import EdgeSettings
from infra.config.errors import ConfigError, problems
from infra.config.keys import NAMESPACE, Flag, SecretValue, Section, key, leaf_keys, meta, nest, problem
from infra.config.monitoring import MonitoringSettings
from infra.config.runtime import (
    ClusterSettings,
    DeployerSettings,
    ImageSettings,
    ModelSettings,
    ModelStoreSettings,
    RegistrySettings,
    StackSettings,
    WorkloadSettings,
)
from infra.config.signin import SignInSettings

__all__ = ["NAMESPACE", "ConfigError", "Settings", "load_settings"]


class Settings(Section):
    stack: StackSettings
    deployer: DeployerSettings
    registry: RegistrySettings
    model_store: ModelStoreSettings
    model: ModelSettings
    cluster: ClusterSettings
    image: ImageSettings
    workload: WorkloadSettings
    edge: EdgeSettings
    monitoring: MonitoringSettings
    sign_in: SignInSettings
    runtime_enabled: Flag = key(
        "runtimeEnabled",
        True,
        doc="`false`: no runtime resources (a CI/CD-only stack); needs `pipelinesEnabled`",
    )
    pipelines_enabled: Flag = key(
        "pipelinesEnabled",
        False,
        doc="declare the Azure DevOps side (refused in the stacks the release deploys)",
    )
    pipelines: PipelinesSettings | None = None  # set when pipelines_enabled

    @model_validator(mode="after")
    def _something_to_declare(self) -> Settings:
        if not self.runtime_enabled and not self.pipelines_enabled:
            raise problem(
                "is false and aiapp:pipelinesEnabled is not true: the stack would declare nothing",
                key="runtimeEnabled",
                fix=f"set {NAMESPACE}:pipelinesEnabled true, or remove {NAMESPACE}:runtimeEnabled",
            )
        on_call = self.monitoring.on_call_emails or self.monitoring.on_call_webhook_url is not None
        if self.runtime_enabled and self.stack.environment == "prod" and not on_call:
            raise problem(
                "is empty and aiapp:onCallWebhookUrl is not set: prod's alerts would reach nobody",
                key="onCallEmails",
                example="'[\"oncall@example.com\"]'",
            )
        if self.pipelines is not None and self.model_store.existing_url is None:
            raise problem(
                "is required with aiapp:pipelinesEnabled true: the release resolves the model version in the "
                "one store that dev and prod both read (the model_store_url output of the stack owning it)",
                key="modelStoreUrl",
                example="$(pulumi stack output model_store_url --stack dev)",
            )
        return self


KEYS = leaf_keys(Settings)  # every aiapp:* key: alias -> (section, field)


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
    read_secret = secret or (lambda k: None if not plain(k) else pulumi.Output.secret(plain(k)))
    encrypted = stored_encrypted or (lambda k: True)
    flat: dict[str, Any] = {}
    for alias, (_, field) in KEYS.items():
        if meta(field, "secret"):
            value = read_secret(alias)
            if value is not None:
                flat[alias] = SecretValue(value, encrypted(alias))
        elif (text := raw(alias)) not in (None, ""):
            flat[alias] = text
    stack = stack_name or pulumi.get_stack()
    data = nest(Settings, flat)
    if str(flat.get("pipelinesEnabled", "")).strip().lower() != "true":
        del data["pipelines"]  # and its keys are strays here: "would do nothing"
        data.update({k: v for k, v in flat.items() if k in leaf_keys(PipelinesSettings)})
    # `configured`: the keys this stack sets, for a rule across sections that must tell a key set to its
    # default from one not set at all (aiapp:promotedImage and the build keys beside it).
    context = {"stack": stack, "environment": flat.get("environment", stack), "configured": flat}
    try:
        return Settings.model_validate(data, context=context)
    except ValidationError as error:
        raise ConfigError(
            "the stack configuration is invalid:\n  - "
            + "\n  - ".join(problems(Settings, error, flat))
            + f"\n(the README lists every {NAMESPACE}:* key with its default and allowed values)"
        ) from None
