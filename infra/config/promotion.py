"""The promotion contract: what a stack serves, as one JSON object with exactly the keys of KEYS.

A stack exports it as its `promotion` output; another stack (or the same one, rolling back) is given it as
`aiapp:promotedImage` and then builds nothing and fetches no model: it runs exactly that image, by digest. The
release passes `pulumi stack output promotion --json` through verbatim, so the names here are a contract with
pipelines/: never rename them. Everything wrong with a given object is said at once, key by key.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from dataclasses import dataclass, fields
from typing import Any, TypeVar

from infra.config import shapes as s
from infra.config.keys import NAMESPACE
from infra.source_version import DIRTY_SUFFIX, UNKNOWN_COMMIT

T = TypeVar("T")

KEY = "promotedImage"
# attribute -> the contract's JSON key, in the contract's order
KEYS: Mapping[str, str] = {
    "image": "image",
    "model_name": "modelName",
    "model_version": "modelVersion",
    "model_sha256": "modelSha256",
    "commit": "commit",
    "app_version": "appVersion",
}
# Keys that say how to build an image: with a promoted one they would do nothing, so they may not be set.
BUILD_KEYS = ("modelVersion", "modelSource", "baseImage")
SHARED_REGISTRY_KEY = "sharedRegistryId"
EXAMPLE = '"$(pulumi stack output promotion --json --stack dev)"'
IMAGE_SHAPE = "<login server>/<repository>@sha256:<64 hex>"
TEXT = (
    f'a JSON object {{"image": "{IMAGE_SHAPE}", "modelName", "modelVersion", "modelSha256", "commit", '
    '"appVersion"}: the `promotion` output of the stack that built the image'
)

_HOST = rf"{s.DNS_NAME_}(:[0-9]{{1,5}})?"
_IMAGE = re.compile(
    rf"^(?P<server>{_HOST})/(?P<repository>{s.REPOSITORY_})@sha256:(?P<digest>[0-9a-f]{{64}})$"
)
# What source_version.py writes as the image's commit.
_COMMIT = rf"[0-9a-f]{{40}}({re.escape(DIRTY_SUFFIX)})?|{UNKNOWN_COMMIT}"
# pattern, and the words an error uses for it
_VALUES: Mapping[str, tuple[str, str]] = {
    "model_name": (s.MODEL_NAME_, "a model name (lowercase letters, digits, - and _)"),
    "model_version": (s.PUBLISHED_VERSION_, "a published version number"),
    "model_sha256": (r"[0-9a-f]{64}", "64 lowercase hex digits"),
    "commit": (
        _COMMIT,
        f"a full commit SHA (40 hex digits, maybe with {DIRTY_SUFFIX}) or {UNKNOWN_COMMIT!r}",
    ),
    "app_version": (r"[0-9A-Za-z][0-9A-Za-z.+!_-]{0,63}", "a version such as 0.1.0"),
}
_JSON_TYPES = {str: "a string", int: "a number", float: "a number", bool: "a boolean", list: "a list"}


@dataclass(frozen=True)
class Promotion:
    """A promoted image and what it serves, as the stack that built it exported them."""

    image: str  # <login server>/<repository>@sha256:<digest>
    model_name: str
    model_version: str
    model_sha256: str
    commit: str
    app_version: str

    @property
    def login_server(self) -> str:
        return self.image.split("/", 1)[0]

    def as_object(self) -> dict[str, str]:
        return contract(**{f.name: getattr(self, f.name) for f in fields(self)})


def contract(**values: T) -> dict[str, T]:
    """The contract's object from values named as Promotion's attributes (strings or Outputs alike)."""
    if set(values) != set(KEYS):
        raise TypeError(f"the promotion contract takes exactly {sorted(KEYS)}, got {sorted(values)}")
    return {KEYS[name]: values[name] for name in KEYS}


def _type_of(value: Any) -> str:
    return "null" if value is None else _JSON_TYPES.get(type(value), "an object")


def image_problems(ref: str) -> list[str]:
    """What keeps `ref` from being <login server>/<repository>@sha256:<64 hex>; [] when nothing does."""
    if _IMAGE.match(ref):
        return []
    name, at, digest = ref.partition("@")
    last = name.rsplit("/", 1)[-1]
    tag = last.partition(":")[2] if ":" in last else ""
    if not at:
        if tag:
            return [f"image {ref!r} names a tag (:{tag}), not a digest: promote by digest, {IMAGE_SHAPE}"]
        return [f"image {ref!r} has no digest: promote by digest, {IMAGE_SHAPE}"]
    found = []
    algorithm, _, hex_digits = digest.partition(":")
    if algorithm != "sha256" or not hex_digits:
        found.append(f"image {ref!r}: its digest {digest!r} is not sha256:<64 hex>")
    elif not re.fullmatch(r"[0-9a-f]+", hex_digits):
        found.append(f"image {ref!r}: its digest is not lowercase hex")
    elif len(hex_digits) != 64:
        found.append(f"image {ref!r}: its digest has {len(hex_digits)} hex digits, not 64")
    if tag:
        found.append(f"image {ref!r} carries a tag (:{tag}) beside its digest: give the digest alone")
        name = name[: -len(tag) - 1]
    server, slash, repository = name.partition("/")
    if not slash or not re.fullmatch(_HOST, server):
        found.append(f"image {ref!r} names no registry login server (a host such as <registry>.azurecr.io)")
    elif not re.fullmatch(s.REPOSITORY_, repository):
        found.append(f"image {ref!r}: {repository!r} is not a registry repository name (lowercase)")
    return found or [f"image {ref!r} is not {IMAGE_SHAPE}"]


def read(value: Any) -> tuple[Promotion | None, list[str]]:
    """The promotion in `value` (JSON text, or an already parsed object), or what is wrong with it."""
    if isinstance(value, str):
        try:
            value = json.loads(value)
        except json.JSONDecodeError as error:
            return None, [f"is not JSON ({error})"]
    if not isinstance(value, dict):
        return None, [f"is {_type_of(value)}, not a JSON object"]
    found = []
    missing = [key for key in KEYS.values() if key not in value]
    extra = [repr(key) for key in value if key not in KEYS.values()]
    if missing:
        found.append(f"lacks {', '.join(missing)}")
    if extra:
        found.append(f"has keys the contract does not: {', '.join(extra)}")
    for name, key in KEYS.items():
        if key not in value:
            continue
        item = value[key]
        if not isinstance(item, str):
            found.append(f"{key} is {_type_of(item)} ({json.dumps(item)}), not a string")
        elif name == "image":
            found += image_problems(item)
        elif not re.fullmatch(_VALUES[name][0], item):
            found.append(f"{key} {item!r} is not {_VALUES[name][1]}")
    if found:
        return None, found
    return Promotion(**{name: value[key] for name, key in KEYS.items()}), []


def registry_problems(promotion: Promotion, registry_id: Any) -> list[str]:
    """The image's registry against the one the stack pulls from (aiapp:sharedRegistryId), when that id is
    well formed: its login server is <name>.azurecr.io, or <name>-<hash>.azurecr.io for a registry created
    with a domain name label scope (ACR's autoGeneratedDomainNameLabelScope)."""
    match = re.match(s.REGISTRY_ID, registry_id) if isinstance(registry_id, str) else None
    if match is None:
        return []  # no shared registry, or a malformed id (reported against its own key)
    name = match["name"].lower()
    if re.fullmatch(rf"{name}(-[a-z0-9]+)?\.azurecr\.io", promotion.login_server):
        return []
    return [
        f"image is in {promotion.login_server}, not in the registry this stack pulls from "
        f"({NAMESPACE}:{SHARED_REGISTRY_KEY}, {name}.azurecr.io): its nodes may pull only from there"
    ]
