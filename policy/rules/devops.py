"""Azure DevOps (pulumi-azuredevops): no plain-text secret in variables, no long-lived key for Azure access.

A variable is treated as a secret when its name says so (NAME_SECRET_WORDS / NAME_SECRET_PAIRS, matched on
whole words of the name split at `_`, `-`, `.` and camelCase humps, so `KEY_VAULT_NAME` is not a secret
but `STORAGE_ACCOUNT_KEY` is) or when its value looks like a credential (VALUE_SECRET_PATTERNS). A secret
must be marked `isSecret` and carried in `secretValue`: Azure DevOps then stores it encrypted and masks it
in logs, and the provider keeps it out of plain-text state.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from itertools import pairwise
from typing import Any

from pulumi_policy import ReportViolation, ResourceValidationArgs, Severity

from .common import get_path, iter_named, mandatory, show

VARIABLE_GROUP = "azuredevops:index/variableGroup:VariableGroup"
BUILD_DEFINITION = "azuredevops:index/buildDefinition:BuildDefinition"
SERVICE_ENDPOINT_AZURERM = "azuredevops:index/serviceEndpointAzureRM:ServiceEndpointAzureRM"

WORKLOAD_IDENTITY_FEDERATION = "WorkloadIdentityFederation"

NAME_SECRET_WORDS = frozenset(
    {
        "password",
        "passwd",
        "pwd",
        "passphrase",
        "secret",
        "secrets",
        "token",
        "pat",
        "credential",
        "credentials",
        "apikey",
        "privatekey",
        "connectionstring",
        "sas",
    }
)
NAME_SECRET_PAIRS = frozenset(
    {
        ("access", "key"),
        ("account", "key"),
        ("api", "key"),
        ("client", "key"),
        ("connection", "string"),
        ("master", "key"),
        ("primary", "key"),
        ("private", "key"),
        ("secondary", "key"),
        ("shared", "key"),
        ("signing", "key"),
        ("storage", "key"),
    }
)
VALUE_SECRET_PATTERNS = {
    "a storage account key in a connection string": re.compile(r"AccountKey=[^;\s]+", re.IGNORECASE),
    "a shared access signature": re.compile(r"(SharedAccessSignature=|[?&]sig=)[^;&\s]+", re.IGNORECASE),
    "a private key": re.compile(r"-----BEGIN [A-Z ]*PRIVATE KEY-----"),
    "a Pulumi access token": re.compile(r"\bpul-[0-9a-f]{40}\b"),
    "a GitHub token": re.compile(r"\b(gh[pousr]_[A-Za-z0-9]{36,}|github_pat_[A-Za-z0-9_]{22,})\b"),
}

_WORD_BOUNDARY = re.compile(r"[^A-Za-z0-9]+|(?<=[a-z0-9])(?=[A-Z])|(?<=[A-Z])(?=[A-Z][a-z])")


def name_words(name: str) -> list[str]:
    """`storageAccountKey`, `STORAGE_ACCOUNT_KEY`, `storage.account-key` -> ["storage", "account", "key"]."""
    return [word.lower() for word in _WORD_BOUNDARY.split(name) if word]


def name_looks_secret(name: str) -> bool:
    words = name_words(name)
    if NAME_SECRET_WORDS.intersection(words):
        return True
    return any(pair in NAME_SECRET_PAIRS for pair in pairwise(words))


def value_secret_kind(value: Any) -> str | None:
    """What kind of credential `value` looks like, or None."""
    if not isinstance(value, str):
        return None
    for kind, pattern in VALUE_SECRET_PATTERNS.items():
        if pattern.search(value):
            return kind
    return None


def _check_variable(
    owner: str, name: str, variable: Mapping[str, Any], report_violation: ReportViolation
) -> None:
    label = f"{owner} variable '{name}'"
    is_secret = variable.get("isSecret") is True
    value = variable.get("value")
    secret_value = variable.get("secretValue")
    if is_secret:
        if value not in (None, ""):
            report_violation(
                f"{label}: is marked isSecret but carries its value in value (plain text); "
                "put it in secretValue.",
                None,
            )
        return
    if name_looks_secret(name):
        report_violation(
            f"{label}: the name looks secret, so isSecret must be true and the value go in secretValue "
            f"(found isSecret {show(variable.get('isSecret'))}).",
            None,
        )
    if secret_value not in (None, ""):
        report_violation(
            f"{label}: has a secretValue but isSecret is not true, so it is not kept secret.", None
        )
    kind = value_secret_kind(value)
    if kind is not None:
        report_violation(f"{label}: the value looks like {kind}; mark it isSecret and use secretValue.", None)


def validate_no_plaintext_secret_variables(
    args: ResourceValidationArgs, report_violation: ReportViolation
) -> None:
    if args.resource_type == VARIABLE_GROUP:
        owner = f"Variable group '{args.name}'"
    elif args.resource_type == BUILD_DEFINITION:
        owner = f"Build definition '{args.name}'"
    else:
        return
    for name, variable in iter_named(args.props.get("variables")):
        _check_variable(owner, name, variable, report_violation)


def validate_azurerm_workload_identity(
    args: ResourceValidationArgs, report_violation: ReportViolation
) -> None:
    if args.resource_type != SERVICE_ENDPOINT_AZURERM:
        return
    label = f"Azure RM service connection '{args.name}'"
    # The provider defaults an unset scheme to "ServicePrincipal" (a client secret), hence no "or unset" here.
    scheme = args.props.get("serviceEndpointAuthenticationScheme")
    if scheme != WORKLOAD_IDENTITY_FEDERATION:
        report_violation(
            f'{label}: serviceEndpointAuthenticationScheme must be "{WORKLOAD_IDENTITY_FEDERATION}", '
            f"found {show(scheme)}.",
            None,
        )
    for field in ("serviceprincipalkey", "serviceprincipalcertificate"):
        if get_path(args.props, "credentials", field) not in (None, ""):
            report_violation(f"{label}: credentials.{field} must not be set (no long-lived secret).", None)


POLICIES = [
    mandatory(
        "devops-no-plaintext-secret-variables",
        "Azure DevOps variable groups and pipeline variables hold no secret in plain text.",
        validate_no_plaintext_secret_variables,
        "Mark the variable is_secret=True and pass the value as secret_value (a Pulumi secret), or link the "
        "variable group to a Key Vault.",
        Severity.CRITICAL,
    ),
    mandatory(
        "devops-azurerm-workload-identity",
        "Azure DevOps reaches Azure through workload identity federation, never a service principal secret.",
        validate_azurerm_workload_identity,
        'Set service_endpoint_authentication_scheme="WorkloadIdentityFederation" and create the federated '
        "credential from the connection's issuer and subject.",
        Severity.CRITICAL,
    ),
]
