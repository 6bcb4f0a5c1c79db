"""Required tags (owner, environment) on every Azure resource that takes tags.

Which resources take tags is not a hand-kept list (it would miss the next resource someone adds): it is read
from the installed pulumi-azure-native SDK, the same one the program uses (the pack runs in the project's
virtualenv, see PulumiPolicy.yaml). A type token `azure-native:<module>[/<version>]:<Resource>` maps to the
class `pulumi_azure_native.<module>[.<version>].<Resource>`; the resource takes tags when its generated
`_internal_init` accepts a `tags` argument.
"""

from __future__ import annotations

import importlib
import inspect
from functools import cache

from pulumi.type_token import get_type_token
from pulumi_policy import ReportViolation, ResourceValidationArgs, Severity

from .common import as_map, mandatory

REQUIRED_TAGS = ("owner", "environment")
AZURE_NATIVE_PREFIX = "azure-native:"


class UnknownAzureType(LookupError):
    """The type token is not a resource of the installed pulumi-azure-native SDK."""


@cache
def takes_tags(resource_type: str) -> bool:
    """Whether the azure-native resource `resource_type` accepts a `tags` input (UnknownAzureType if no such
    resource exists in the installed SDK)."""
    parts = resource_type.split(":")
    if len(parts) != 3 or parts[0] != "azure-native":
        raise UnknownAzureType(f"{resource_type!r} is not an azure-native type token")
    module_name = "pulumi_azure_native." + parts[1].replace("/", ".")
    try:
        module = importlib.import_module(module_name)
    except ImportError as exc:
        raise UnknownAzureType(
            f"{resource_type!r}: the installed pulumi-azure-native has no {module_name}"
        ) from exc
    resource_class = getattr(module, parts[2], None)
    if resource_class is None or get_type_token(resource_class) != resource_type:
        raise UnknownAzureType(f"{resource_type!r}: no such resource in the installed pulumi-azure-native")
    # The resource's own inputs: `<Resource>Args` is not always its args class (ActionGroup's is
    # ActionGroupInitArgs; monitor.ActionGroupArgs is an input type without tags), `_internal_init` always is.
    return "tags" in inspect.signature(resource_class._internal_init).parameters


def validate_required_tags(args: ResourceValidationArgs, report_violation: ReportViolation) -> None:
    if not args.resource_type.startswith(AZURE_NATIVE_PREFIX):
        return
    try:
        if not takes_tags(args.resource_type):
            return
    except UnknownAzureType as exc:
        # Fail closed: a guardrail that cannot tell must not wave the resource through.
        report_violation(
            f"{args.resource_type} '{args.name}': cannot tell whether it takes tags ({exc}); "
            "run the pack in the program's virtualenv so it sees the same pulumi-azure-native.",
            None,
        )
        return
    tags = as_map(args.props.get("tags"))
    missing = [
        tag for tag in REQUIRED_TAGS if not isinstance(tags.get(tag), str) or not tags.get(tag).strip()
    ]
    if missing:
        report_violation(
            f"{args.resource_type} '{args.name}': tags must include non-empty {', '.join(REQUIRED_TAGS)}; "
            f"missing or empty: {', '.join(missing)}.",
            None,
        )


POLICIES = [
    mandatory(
        "azure-required-tags",
        "Azure resources that take tags carry the owner and environment tags.",
        validate_required_tags,
        "Pass tags=settings.tags (owner and environment come from the stack config) to every Azure resource.",
        Severity.LOW,
    ),
]
