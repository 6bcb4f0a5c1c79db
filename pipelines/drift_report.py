"""Say what drifted in a stack before the release's `pulumi up --refresh` puts it back.

Reads the JSON that `pulumi refresh --preview-only --json` prints (a preview of a refresh: every resource is
read from Azure and Kubernetes, nothing is written, no lock is taken) and prints one line per resource that
differs from the state: changed outside Pulumi (the properties that differ) or deleted outside Pulumi. When
any did, it also logs an Azure Pipelines warning, so drift shows on the run's summary page.

    pulumi refresh --preview-only --json --stack dev > drift.json
    python pipelines/drift_report.py --stack dev drift.json

The JSON is Pulumi's preview digest (pulumi/pulumi, pkg/display/json.go: PreviewDigest, PreviewStep). In a
refresh preview a resource that drifted is a step with op "update" (with a detailedDiff of property paths)
or "delete"; one that did not is "refresh" or "same" (pkg/backend/display/json.go: ShowPreviewDigest).
Values are never printed: they may be secrets. Standard library only; it never fails the step: drift is
reported, not judged.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

DRIFT_OPS = {"update": "changed outside Pulumi", "delete": "deleted outside Pulumi"}


@dataclass(frozen=True)
class Drift:
    urn: str
    op: str  # "update" or "delete"
    properties: tuple[str, ...]  # "path (kind)", for an update

    @property
    def resource(self) -> str:
        """`<type> <name>` from the URN (urn:pulumi:<stack>::<project>::<parent$...$type>::<name>)."""
        parts = self.urn.split("::")
        if len(parts) < 4:
            return self.urn
        return f"{parts[2].rsplit('$', 1)[-1]} {parts[3]}"

    def line(self) -> str:
        symbol = "~" if self.op == "update" else "-"
        what = DRIFT_OPS[self.op]
        if self.properties:
            what += ": " + ", ".join(self.properties)
        return f"  {symbol} {self.resource}: {what}"


def drifted(digest: Mapping[str, Any]) -> list[Drift]:
    """The resources of a refresh preview that differ from the stack's state."""
    found = []
    for step in digest.get("steps") or []:
        op = step.get("op")
        if op not in DRIFT_OPS:
            continue
        diff = step.get("detailedDiff") or {}
        properties = tuple(f"{path} ({(diff[path] or {}).get('kind', 'update')})" for path in sorted(diff))
        found.append(Drift(str(step.get("urn", "?")), op, properties))
    return found


def report(stack: str, digest: Mapping[str, Any]) -> list[str]:
    """The lines to print: the drifted resources and, when there are any, an Azure Pipelines warning."""
    drifts = drifted(digest)
    if not drifts:
        return [f"No drift in stack {stack}: every resource matches its state."]
    count = f"{len(drifts)} resource{'s' if len(drifts) != 1 else ''}"
    return [
        f"##vso[task.logissue type=warning]stack {stack} drifted: {count} changed outside Pulumi "
        "(listed in the log); this release's pulumi up --refresh puts the declared values back",
        f"Drift in stack {stack}: {count} differ from the state. `pulumi up --refresh` reads them back, "
        "then sets what the program declares again:",
        *(drift.line() for drift in drifts),
    ]


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--stack", required=True)
    parser.add_argument("digest", type=Path, help="the output of pulumi refresh --preview-only --json")
    args = parser.parse_args(argv)
    try:
        digest = json.loads(args.digest.read_text())
        if not isinstance(digest, dict):
            raise ValueError("not a JSON object")
        lines = report(args.stack, digest)
    except (OSError, ValueError) as exc:
        lines = [
            f"##vso[task.logissue type=warning]cannot say what drifted in stack {args.stack}: "
            f"{args.digest} is not a refresh preview ({exc}); pulumi up --refresh still corrects drift"
        ]
    print("\n".join(lines))
    return 0


if __name__ == "__main__":
    sys.exit(main())
