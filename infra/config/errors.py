"""What pydantic reports, said as the stack's users read it: one line per problem, naming the key, what is
wrong, the allowed values, and the `pulumi config` command that fixes it. A secret's value is never shown."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import pulumi
from pydantic import ValidationError
from pydantic.fields import FieldInfo

from infra.config.keys import (
    NAMESPACE,
    JsonShape,
    Section,
    allowed_values,
    bounds,
    leaf_keys,
    meta,
    sections_of,
    shape_of,
    tag_of,
)


class ConfigError(pulumi.RunError):
    """Bad stack configuration; the message lists every problem and how to fix it."""


def keys(names: list[str]) -> str:
    return ", ".join(f"{NAMESPACE}:{name}" for name in names)


def problems(root: type[Section], error: ValidationError, raw: Mapping[str, Any]) -> list[str]:
    """One line per problem in `error` (from validating `root`); `raw` holds the values as configured."""
    lines: list[str] = []
    strays: dict[type[Section], list[str]] = {}
    for err in error.errors():
        owner, field = _locate(root, err["loc"])
        if err["type"] == "extra_forbidden":
            strays.setdefault(owner, []).append(str(err["loc"][-1]))
            continue
        context = err.get("ctx") or {}
        if err["type"] == "problem":
            key = context["key"] or (field.alias if field else "")
            field = _field(root, key) or field
            lines.append(_line(key, field, context["text"], context["example"], context["fix"]))
        elif field is not None and field.alias is not None:
            text = _what(owner, field, err, raw.get(field.alias))
            lines.append(_line(field.alias, field, text))
    lines += [_stray(owner, names) for owner, names in strays.items()]
    return lines


def _line(
    key: str, field: FieldInfo | None, text: str, example: str | None = None, fix: str | None = None
) -> str:
    secret = bool(field and meta(field, "secret"))
    if fix is None:
        if example is None:
            example = "<value>" if secret else _example(field)
        fix = f"set it with `pulumi config set {'--secret ' if secret else ''}{NAMESPACE}:{key} {example}`"
    return f"{NAMESPACE}:{key}: {text}; {fix}"


def _example(field: FieldInfo | None) -> str:
    if field is None:
        return "VALUE"
    shape = shape_of(field)
    if shape is not None and shape.example is not None:
        return shape.example
    values = allowed_values(field.annotation)
    if values:
        return values[0]
    default = field.get_default() if not field.is_required() else None
    return str(default) if isinstance(default, str | int) else "VALUE"


def _what(owner: type[Section], field: FieldInfo, err: Any, raw: Any) -> str:
    """What is wrong with one value, in words."""
    kind, value = err["type"], err.get("input")
    values, shape = allowed_values(field.annotation), shape_of(field)
    low, high = bounds(field)
    if kind in ("missing", "union_tag_not_found") or (kind == "too_short" and isinstance(shape, JsonShape)):
        allowed = f"; allowed values {', '.join(values)}" if kind == "union_tag_not_found" else ""
        return f"is required{owner.WHEN} ({field.description}{allowed})"
    if kind == "plain_text":
        return (
            "is stored in plain text in the stack's config file; remove it (`pulumi config rm "
            f"{NAMESPACE}:{field.alias}`) and store it encrypted"
        )
    if isinstance(shape, JsonShape):
        return f"{raw!r} is not {shape.text}"
    if kind in ("literal_error", "union_tag_invalid", "flag") and values:
        shown = err["ctx"]["tag"] if kind == "union_tag_invalid" else value
        return f"{shown!r} is not one of the allowed values {', '.join(values)}"
    if kind in ("int_parsing", "int_from_float", "int_type"):
        return f"{value!r} is not a whole number between {low} and {high}"
    if kind in ("greater_than_equal", "less_than_equal"):
        return f"{value} is outside the allowed range {low}..{high}"
    return f"{value!r} is not {shape.text if shape else err['msg']}"


def _stray(owner: type[Section], names: list[str]) -> str:
    """Keys that would do nothing where they are: the owner says which key decides that."""
    tag = tag_of(owner)
    if tag is None:  # the root: the Azure DevOps keys without aiapp:pipelinesEnabled
        return (
            f"{NAMESPACE}:pipelinesEnabled: is not true, so {keys(names)} would do nothing; set it "
            f"(`pulumi config set {NAMESPACE}:pipelinesEnabled true`) or remove them"
        )
    alias, value = tag
    return (
        f"{NAMESPACE}:{alias}: is {value!r}, so {keys(names)} would do nothing; remove them "
        f"(`pulumi config rm {NAMESPACE}:<key>`) or change {NAMESPACE}:{alias}"
    )


def _field(root: type[Section], alias: str) -> FieldInfo | None:
    found = leaf_keys(root).get(alias)
    return found[1] if found else None


def _locate(root: type[Section], loc: tuple[Any, ...]) -> tuple[type[Section], FieldInfo | None]:
    """Walk an error's location through the models: the section it ends in, and the field (None when the
    location ends at a section, or at a key the section does not declare)."""
    owner, i = root, 0
    while i < len(loc):
        field = next(
            (f for name, f in owner.model_fields.items() if loc[i] in (name, f.alias)),
            None,
        )
        if field is None:
            return owner, None
        variants = sections_of(field.annotation)
        if not variants:
            return owner, field
        if len(variants) > 1:
            tagged = {t[1]: v for v in variants if (t := tag_of(v)) is not None}
            if i + 1 >= len(loc) or loc[i + 1] not in tagged:
                return owner, field  # the tag itself is wrong or missing
            owner, i = tagged[loc[i + 1]], i + 2
        else:
            owner, i = variants[0], i + 1
    return owner, None
