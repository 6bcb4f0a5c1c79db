"""What every rule shares: a mandatory-policy constructor and safe readers of the engine's property bags.

The engine hands a policy the resource's inputs as camelCase names (`adminUserEnabled`, not
`admin_user_enabled`), wrapped in pulumi_policy's proxies: maps are `collections.abc.Mapping` and lists are
`collections.abc.Sequence`, never `dict`/`list`, so the readers below test the abstract types. Reading a value
that is unknown during a preview raises pulumi_policy's UnknownValueError on purpose: the engine then reports
that the policy could not run yet, and it runs again at `pulumi up` when the value is known.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping, Sequence
from functools import wraps
from typing import Any, TypeVar

from pulumi_policy import (
    EnforcementLevel,
    ReportViolation,
    ResourceValidation,
    ResourceValidationArgs,
    ResourceValidationPolicy,
    Severity,
    StackValidation,
    StackValidationPolicy,
)

Validator = Callable[[ResourceValidationArgs, ReportViolation], None]
P = TypeVar("P", ResourceValidationPolicy, StackValidationPolicy)


def get_path(props: Any, *path: str) -> Any:
    """props[path[0]][path[1]]..., or None as soon as a level is missing or is not a map."""
    value = props
    for key in path:
        if not isinstance(value, Mapping):
            return None
        value = value.get(key)
        if value is None:
            return None
    return value


def as_list(value: Any) -> list[Any]:
    """A list property as a list; None or a non-list (a malformed input) as an empty list."""
    if isinstance(value, Sequence) and not isinstance(value, str | bytes):
        return list(value)
    return []


def as_map(value: Any) -> Mapping[str, Any]:
    """A map property as a mapping; None or a non-map as an empty mapping."""
    return value if isinstance(value, Mapping) else {}


def iter_named(items: Any) -> Iterator[tuple[str, Mapping[str, Any]]]:
    """(name, item) for each map in a list of named objects (containers, ports, variables)."""
    for index, item in enumerate(as_list(items)):
        if isinstance(item, Mapping):
            yield str(item.get("name") or f"#{index}"), item


def show(value: Any) -> str:
    """A value as a message shows it: `true`, `"TLS1_0"`, `8080` (the engine sends numbers as floats)."""
    if value is None:
        return "not set"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    if isinstance(value, str):
        return f'"{value}"'
    return str(value)


def for_types(*resource_types: str) -> Callable[[Validator], Validator]:
    """Run the validator only on resources of these exact type tokens; every other resource passes."""
    wanted = frozenset(resource_types)

    def decorate(validate: Validator) -> Validator:
        @wraps(validate)
        def validate_if_wanted(args: ResourceValidationArgs, report_violation: ReportViolation) -> None:
            if args.resource_type in wanted:
                validate(args, report_violation)

        return validate_if_wanted

    return decorate


def mandatory(
    name: str,
    description: str,
    validate: ResourceValidation,
    remediation_steps: str,
    severity: Severity = Severity.HIGH,
) -> ResourceValidationPolicy:
    """A resource policy that blocks `pulumi preview` and `pulumi up` when violated (never only a warning)."""
    return _mandatory(ResourceValidationPolicy, name, description, validate, remediation_steps, severity)


def mandatory_stack(
    name: str,
    description: str,
    validate: StackValidation,
    remediation_steps: str,
    severity: Severity = Severity.HIGH,
) -> StackValidationPolicy:
    """A policy on the whole stack (what no single resource can show, such as how many of a kind there are);
    it blocks like `mandatory`. The engine runs it once per update, on all resources together."""
    return _mandatory(StackValidationPolicy, name, description, validate, remediation_steps, severity)


def _mandatory(
    kind: type[P],
    name: str,
    description: str,
    validate: ResourceValidation | StackValidation,
    remediation_steps: str,
    severity: Severity,
) -> P:
    return kind(
        name=name,
        description=description,
        validate=validate,
        enforcement_level=EnforcementLevel.MANDATORY,
        severity=severity,
        remediation_steps=remediation_steps,
    )
