"""How a stack setting is declared: `key()` (a pydantic field named by its `aiapp:*` key, with the words its
README row needs), the `Section` base, the types config strings need (`Flag`, `Json`, `Secret`), `problem()`
for a rule across keys, and `nest()`, which shapes the flat namespace into the sections' input."""

from __future__ import annotations

import json
import types
import typing
from dataclasses import dataclass
from typing import Annotated, Any, ClassVar, Literal

import annotated_types
import pulumi
from pydantic import BaseModel, BeforeValidator, ConfigDict, Field
from pydantic.fields import FieldInfo
from pydantic_core import PydanticCustomError, PydanticUndefined

from infra.config.shapes import Shape

NAMESPACE = "aiapp"


class Section(BaseModel):
    """A group of keys. `WHEN` says when its required keys are required (" with aiapp:source github")."""

    model_config = ConfigDict(
        frozen=True,
        extra="forbid",
        validate_by_name=True,
        validate_by_alias=True,
        str_strip_whitespace=True,
        regex_engine="python-re",  # the blob container pattern needs a lookahead
        arbitrary_types_allowed=True,  # secrets are pulumi Outputs
    )
    WHEN: ClassVar[str] = ""


def key(
    alias: str,
    default: Any = PydanticUndefined,
    doc: str = "",
    *,
    default_doc: str | None = None,
    secret: bool = False,
    **constraints: Any,
) -> Any:
    """A field read from `aiapp:<alias>`; doc says what it is (its README row; why it is required)."""
    extra = {"default_doc": default_doc, "secret": secret}
    return Field(default, alias=alias, description=doc, json_schema_extra=extra, **constraints)


def meta(field: FieldInfo, name: str) -> Any:
    return field.json_schema_extra.get(name) if isinstance(field.json_schema_extra, dict) else None


def problem(
    text: str, *, key: str | None = None, example: str | None = None, fix: str | None = None
) -> Exception:
    """A rule across keys, reported against `key` (default: the field being validated)."""
    return PydanticCustomError(
        "problem", "{text}", {"text": text, "key": key, "example": example, "fix": fix}
    )


def _flag(value: Any) -> Any:
    if isinstance(value, str):
        if value.strip().lower() not in ("true", "false"):
            raise PydanticCustomError("flag", "not true or false")
        return value.strip().lower() == "true"
    return value


Flag = Annotated[bool, BeforeValidator(_flag)]  # only true or false, not pydantic's yes/on/1


class JsonShape(Shape):
    """Structured config: the CLI passes it as JSON text, and a problem anywhere in it is shown whole."""


def _json(value: Any) -> Any:
    if isinstance(value, str):
        try:
            return json.loads(value)
        except json.JSONDecodeError:
            raise PydanticCustomError("json", "not JSON") from None
    return value


def Json(inner: Any, text: str, example: str) -> Any:  # a type constructor, hence the capital
    return Annotated[inner, BeforeValidator(_json), JsonShape(text, example)]


@dataclass(frozen=True)
class SecretValue:
    """A secret as read from config: its value (an Output.secret) and whether it is stored encrypted."""

    value: pulumi.Output[str]
    stored_encrypted: bool


def _encrypted_only(value: Any) -> Any:
    if isinstance(value, SecretValue):
        if not value.stored_encrypted:
            raise PydanticCustomError("plain_text", "stored in plain text")
        return value.value
    return value


Secret = Annotated[Any, BeforeValidator(_encrypted_only)]  # a pulumi.Input[str], never shown in a message


def shape_of(field: FieldInfo) -> Shape | None:
    """The Shape a field's type carries (in an Optional too)."""
    found = [m for m in field.metadata if isinstance(m, Shape)]
    for arg in typing.get_args(field.annotation):
        found += [m for m in getattr(arg, "__metadata__", ()) if isinstance(m, Shape)]
    return found[0] if found else None


def bounds(field: FieldInfo) -> tuple[Any, Any]:
    """A number's allowed range (ge, le)."""
    low = next((m.ge for m in field.metadata if isinstance(m, annotated_types.Ge)), None)
    high = next((m.le for m in field.metadata if isinstance(m, annotated_types.Le)), None)
    return low, high


def sections_of(annotation: Any) -> list[type[Section]]:
    """The Section classes a field holds: one, the variants of a union, or none (a plain value)."""
    if isinstance(annotation, type) and issubclass(annotation, Section):
        return [annotation]
    if typing.get_origin(annotation) in (typing.Union, types.UnionType, Annotated):
        return [s for arg in typing.get_args(annotation) for s in sections_of(arg)]
    return []


def tag_of(variant: type[Section]) -> tuple[str, str] | None:
    """(alias, value) of a union variant's `kind` tag, e.g. ("source", "github")."""
    field = variant.model_fields.get("kind")
    return (str(field.alias), typing.get_args(field.annotation)[0]) if field else None


def allowed_values(annotation: Any) -> tuple[str, ...]:
    """The values a Literal, an Optional Literal, a union of tagged variants or a Flag allows, in order."""
    if annotation is bool:
        return ("true", "false")
    if typing.get_origin(annotation) is Literal:
        return typing.get_args(annotation)
    if sections_of(annotation):
        return tuple(t[1] for v in sections_of(annotation) if (t := tag_of(v)))
    if typing.get_origin(annotation) in (typing.Union, types.UnionType):
        return tuple(v for arg in typing.get_args(annotation) for v in allowed_values(arg))
    return ()


def leaf_keys(model: type[Section]) -> dict[str, tuple[type[Section], FieldInfo]]:
    """Every aiapp:* key below `model`, in declaration order: alias -> (owning section, field)."""
    found: dict[str, tuple[type[Section], FieldInfo]] = {}
    for field in model.model_fields.values():
        variants = sections_of(field.annotation)
        for variant in variants:
            found.update({k: v for k, v in leaf_keys(variant).items() if k not in found})
        if not variants and field.alias is not None:
            found.setdefault(field.alias, (model, field))
    return found


def nest(model: type[Section], flat: dict[str, Any]) -> dict[str, Any]:
    """The flat aiapp:* values shaped as `model`'s input: each section field gets the keys its models declare;
    a tagged union its variant's (the default variant's when the tag is unset), so the other variant's keys
    are strays. What no field claims stays at this level, where extra="forbid" reports it."""
    rest, shaped = dict(flat), {}
    for name, field in model.model_fields.items():
        variants = sections_of(field.annotation)
        if not variants:
            continue
        part = {k: rest.pop(k) for k in list(rest) if any(k in leaf_keys(v) for v in variants)}
        if len(variants) > 1:
            default = None if field.is_required() else tag_of(type(field.get_default()))
            if not part and default is not None:
                continue
            if default is not None:
                part.setdefault(*default)
            variants = [v for v in variants if (t := tag_of(v)) and part.get(t[0]) == t[1]] or variants
        shaped[field.alias or name] = nest(variants[0], part) if len(variants) == 1 else part
    return {**shaped, **rest}
