"""The Kubernetes objects a run declared, as the manifests the provider would send (for kubernetes-validate,
checkov and the policy tests)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml

from tests.harness.records import StackRun


def kubernetes_objects(run: StackRun) -> list[dict[str, Any]]:
    """Every Kubernetes object the run declared, as the manifest the provider would send."""
    objects = []
    for rec in run.resources:
        if not rec.custom or not rec.type.startswith("kubernetes:"):
            continue
        manifest = _integral({k: v for k, v in rec.inputs.items() if not k.startswith("__")})
        group_version, kind = rec.type.split(":")[1:3]
        group, version = group_version.split("/")
        manifest.setdefault("apiVersion", version if group == "core" else f"{group}/{version}")
        manifest.setdefault("kind", kind)
        manifest.setdefault("metadata", {}).setdefault("name", rec.name)
        objects.append(manifest)
    return objects


def _integral(value: Any) -> Any:
    """Numbers cross the mock monitor as protobuf doubles; Kubernetes wants `replicas: 1`, not `1.0`."""
    if isinstance(value, float) and value.is_integer():
        return int(value)
    if isinstance(value, dict):
        return {k: _integral(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_integral(v) for v in value]
    return value


def render_manifests(run: StackRun, out_dir: Path) -> list[Path]:
    """Write each Kubernetes object to `<out_dir>/<nn>-<kind>-<name>.yaml`; returns the paths in order."""
    out_dir.mkdir(parents=True, exist_ok=True)
    paths = []
    for index, manifest in enumerate(kubernetes_objects(run)):
        name = manifest["metadata"]["name"]
        path = out_dir / f"{index:02d}-{manifest['kind'].lower()}-{name}.yaml"
        path.write_text(yaml.safe_dump(manifest, sort_keys=False))
        paths.append(path)
    return paths
