"""The promotion object: what a runtime stack serves, as its `promotion` output says, and what the release
hands to a stack as config aiapp:promotedImage (the contract with the program, issue 12):

    {"image": "<login server>/<repository>@sha256:<digest>", "modelName": ..., "modelVersion": ...,
     "modelSha256": ..., "commit": ..., "appVersion": ...}

A stack given the object builds nothing and runs exactly `image`; prod always is (it runs what passed dev),
and a rollback gives a stack back the object it served before its update. Standard library only (the smoke
test imports it).

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
from dataclasses import dataclass
from pathlib import Path
from typing import Any

OUTPUT = "promotion"  # the stack output
# The object's keys, in the contract's order.
KEYS = ("image", "modelName", "modelVersion", "modelSha256", "commit", "appVersion")
# <registry host[:port]>/<repository>@sha256:<64 hex>: an image by digest, never a tag.
_IMAGE = re.compile(
    r"^(?P<registry>[a-z0-9]([a-z0-9.-]*[a-z0-9])?(:[0-9]+)?)/(?P<repository>[a-z0-9]+([._/-][a-z0-9]+)*)"
    r"@sha256:[0-9a-f]{64}$"
)


class PromotionError(ValueError):
    """The object is not a promotion object; the message says what is wrong."""


@dataclass(frozen=True)
class Promotion:
    image: str
    model_name: str
    model_version: str
    model_sha256: str
    commit: str
    app_version: str

    @property
    def registry(self) -> str:
        """The login server the image is pulled from."""
        return self.image.split("/", 1)[0]

    def as_dict(self) -> dict[str, str]:
        values = (self.image, self.model_name, self.model_version, self.model_sha256, self.commit)
        return dict(zip(KEYS, (*values, self.app_version), strict=True))

    def to_json(self) -> str:
        """Compact, one line: the value of `--config aiapp:promotedImage=...` and of a pipeline variable."""
        return json.dumps(self.as_dict(), separators=(",", ":"))

    def describe(self) -> str:
        return f"{self.image} (model {self.model_name} {self.model_version}, commit {self.commit[:12]})"

    @classmethod
    def parse(cls, value: Any, what: str = "the promotion object") -> Promotion:
        """`value` (a mapping, or its JSON text) checked against the contract; PromotionError otherwise."""
        if isinstance(value, str):
            try:
                value = json.loads(value)
            except json.JSONDecodeError as exc:
                raise PromotionError(f"{what} is not JSON ({exc})") from None
        if not isinstance(value, Mapping):
            raise PromotionError(f"{what} is not a JSON object: {value!r}")
        missing = [key for key in KEYS if key not in value]
        unknown = sorted(set(value) - set(KEYS))
        if missing or unknown:
            raise PromotionError(
                f"{what} must have exactly the keys {', '.join(KEYS)}"
                + (f"; missing: {', '.join(missing)}" if missing else "")
                + (f"; unknown: {', '.join(unknown)}" if unknown else "")
            )
        for key in KEYS:
            if not isinstance(value[key], str) or not value[key].strip():
                raise PromotionError(f"{what}: {key} is {value[key]!r}, not a non-empty string")
        if not _IMAGE.match(value["image"]):
            raise PromotionError(
                f"{what}: image {value['image']!r} is not <login server>/<repository>@sha256:<64 hex digits> "
                "(an image by digest, never a tag)"
            )
        return cls(*(value[key] for key in KEYS))


def served(outputs: Mapping[str, Any], stack: str = "the stack") -> Promotion | None:
    """The object the stack serves, from its outputs (`pulumi stack output --json`); None without one."""
    if OUTPUT not in outputs:
        return None
    return Promotion.parse(outputs[OUTPUT], f"{stack}'s output {OUTPUT}")


def _read_outputs(path: Path) -> dict[str, Any]:
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
        outputs = _read_outputs(args.outputs)
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
