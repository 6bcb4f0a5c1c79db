"""The promotion contract, defined once: what a runtime stack serves, as its `promotion` output says, and what
a stack is given as config aiapp:promotedImage (issue 12). The release scripts use it here; the Pulumi program
imports it (infra/config/promotion.py adds only what is config-specific), so it is standard library only.

    {"image": "<login server>/<repository>@sha256:<digest>", "modelName": ..., "modelVersion": ...,
     "modelSha256": ..., "commit": ..., "appVersion": ...}

A stack given the object builds nothing and runs exactly `image`; prod always is (it runs what passed dev),
and a rollback gives a stack back the object it served before its update. The release passes
`pulumi stack output promotion --json` through verbatim: never rename a key. Everything wrong with an object
is said at once, key by key.

    python -m pipelines.promotion served <stack> <outputs.json>   # the stack's object, compact, or nothing
    python -m pipelines.promotion check < object.json             # a handed-on object, checked, compact

`served` prints nothing, and says why on stderr, when the stack exports no `promotion` (its first release, or
its last update predates the output): exit 0. A malformed object is an error (exit 1) naming what is wrong.
"""

from __future__ import annotations

import argparse
import json
import re
import sys
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, fields
from pathlib import Path
from typing import Any, TypeVar

T = TypeVar("T")

OUTPUT = "promotion"  # the stack output
# Promotion's attribute -> the object's key, in the contract's order.
KEYS: Mapping[str, str] = {
    "image": "image",
    "model_name": "modelName",
    "model_version": "modelVersion",
    "model_sha256": "modelSha256",
    "commit": "commit",
    "app_version": "appVersion",
}
IMAGE_SHAPE = "<login server>/<repository>@sha256:<64 hex>"

# Value patterns (unanchored), also infra/config/shapes.py's: defined here, where no dependency is needed.
DNS_NAME_ = r"[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)+"
REPOSITORY_ = r"[a-z0-9]+([._-][a-z0-9]+)*(/[a-z0-9]+([._-][a-z0-9]+)*)*"
MODEL_NAME_ = r"[a-z0-9][a-z0-9_-]{0,62}"
MODEL_NAME_TEXT = "a model name (lowercase letters, digits, - and _)"
PUBLISHED_VERSION_ = r"0*[1-9][0-9]*"  # a version the model store numbered (never 'latest')
COMMIT_SHA_ = r"[0-9a-f]{40}"  # a full commit SHA, as git prints it
# The image's commit as infra/source_version.py writes it when git cannot say, and after the SHA when a file
# of the image differs from that commit.
UNKNOWN_COMMIT = "unknown"
DIRTY_SUFFIX = "-dirty"

_HOST = rf"{DNS_NAME_}(:[0-9]{{1,5}})?"
_IMAGE = re.compile(rf"^(?P<server>{_HOST})/(?P<repository>{REPOSITORY_})@sha256:(?P<digest>[0-9a-f]{{64}})$")
# The other keys' values: pattern, and the words an error uses for it.
_VALUES: Mapping[str, tuple[str, str]] = {
    "model_name": (MODEL_NAME_, MODEL_NAME_TEXT),
    "model_version": (PUBLISHED_VERSION_, "a published version number"),
    "model_sha256": (r"[0-9a-f]{64}", "64 lowercase hex digits"),
    "commit": (
        rf"{COMMIT_SHA_}({re.escape(DIRTY_SUFFIX)})?|{UNKNOWN_COMMIT}",
        f"a full commit SHA (40 hex digits, maybe with {DIRTY_SUFFIX}) or {UNKNOWN_COMMIT!r}",
    ),
    "app_version": (r"[0-9A-Za-z][0-9A-Za-z.+!_-]{0,63}", "a version such as 0.1.0"),
}
_JSON_TYPES = {str: "a string", int: "a number", float: "a number", bool: "a boolean", list: "a list"}


class PromotionError(ValueError):
    """The object is not a promotion object; the message says everything that is wrong."""


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
        """The registry the image is pulled from."""
        return self.image.split("/", 1)[0]

    def as_dict(self) -> dict[str, str]:
        return contract(**{f.name: getattr(self, f.name) for f in fields(self)})

    def to_json(self) -> str:
        """Compact, one line: the value of `--config aiapp:promotedImage=...` and of a pipeline variable."""
        return json.dumps(self.as_dict(), separators=(",", ":"))

    def describe(self) -> str:
        return f"{self.image} (model {self.model_name} {self.model_version}, commit {self.commit[:12]})"

    @classmethod
    def parse(cls, value: Any, what: str = "the promotion object") -> Promotion:
        """`value` (JSON text, or a parsed object) checked against the contract; PromotionError saying every
        problem otherwise."""
        promotion, found = read(value)
        if promotion is None:
            raise PromotionError(f"{what}: {'; '.join(found)}")
        return promotion


def contract(**values: T) -> dict[str, T]:
    """The contract's object from values named as Promotion's attributes (strings or Pulumi Outputs alike)."""
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
    elif not re.fullmatch(REPOSITORY_, repository):
        found.append(f"image {ref!r}: {repository!r} is not a registry repository name (lowercase)")
    return found or [f"image {ref!r} is not {IMAGE_SHAPE}"]


def read(value: Any) -> tuple[Promotion | None, list[str]]:
    """The promotion in `value` (JSON text, or an already parsed object), or everything wrong with it."""
    if isinstance(value, str):
        try:
            value = json.loads(value)
        except json.JSONDecodeError as error:
            return None, [f"is not JSON ({error})"]
    if not isinstance(value, Mapping):
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


def served(outputs: Mapping[str, Any], stack: str = "the stack") -> Promotion | None:
    """The object the stack serves, from its outputs (`pulumi stack output --json`); None without one."""
    if OUTPUT not in outputs:
        return None
    return Promotion.parse(outputs[OUTPUT], f"{stack}'s output {OUTPUT}")


def read_outputs(path: Path) -> dict[str, Any]:
    try:
        outputs = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, json.JSONDecodeError) as exc:
        raise PromotionError(f"cannot read the stack outputs in {path}: {exc}") from None
    if not isinstance(outputs, dict):
        raise PromotionError(f"{path} is not `pulumi stack output --json` (not a JSON object)")
    return outputs


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    commands = parser.add_subparsers(dest="command", required=True)
    serving = commands.add_parser("served", help="the object a stack serves (its promotion output)")
    serving.add_argument("stack")
    serving.add_argument("outputs", type=Path, help="`pulumi stack output --json` of the stack")
    check = commands.add_parser("check", help="check an object read from stdin and print it compact")
    check.add_argument("--what", default="the promotion object", help="what the object is, for errors")
    args = parser.parse_args(argv)
    try:
        if args.command == "check":
            print(Promotion.parse(sys.stdin.read().strip(), args.what).to_json())
            return 0
        outputs = read_outputs(args.outputs)
        promotion = served(outputs, f"stack {args.stack}")
    except PromotionError as exc:
        print(f"##vso[task.logissue type=error]{exc}", file=sys.stderr)
        print(f"error: {exc}", file=sys.stderr)
        return 1
    if promotion is None:
        why = "it has no outputs (never deployed)" if not outputs else "its last update predates that output"
        print(f"stack {args.stack} exports no {OUTPUT} output: {why}", file=sys.stderr)
        return 0
    print(promotion.to_json())
    return 0


if __name__ == "__main__":
    sys.exit(main())
