"""The Kubernetes objects a run declared, as the manifests the provider would send (for kubernetes-validate,
checkov and the policy tests)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml

from tests.harness.records import StackRun

# Not Kubernetes objects: a Helm release is the provider's own record of a chart it installs.
NOT_OBJECTS = ("kubernetes:helm.sh/",)
# Groups whose kinds are custom resources (CRDs): no built-in schema; tests/infra/test_edge_schemas.py
# validates them against their owners' published ones.
CUSTOM_GROUPS = ("gateway.networking.k8s.io", "gateway.envoyproxy.io", "cert-manager.io")


def is_custom(manifest: dict[str, Any]) -> bool:
    return manifest["apiVersion"].split("/")[0] in CUSTOM_GROUPS


def kubernetes_objects(run: StackRun) -> list[dict[str, Any]]:
    """Every Kubernetes object the run declared, as the manifest the provider would send."""
    objects = []
    for rec in run.resources:
        if not rec.custom or not rec.type.startswith("kubernetes:") or rec.type.startswith(NOT_OBJECTS):
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


def render_manifests(run: StackRun, out_dir: Path, *, custom: bool = False) -> list[Path]:
    """Write each built-in Kubernetes object (custom=True: each custom resource) to
    `<out_dir>/<nn>-<kind>-<name>.yaml`; returns the paths in order."""
    out_dir.mkdir(parents=True, exist_ok=True)
    paths = []
    for index, manifest in enumerate(o for o in kubernetes_objects(run) if is_custom(o) == custom):
        name = manifest["metadata"]["name"]
        path = out_dir / f"{index:02d}-{manifest['kind'].lower()}-{name}.yaml"
        path.write_text(yaml.safe_dump(manifest, sort_keys=False))
        paths.append(path)
    return paths
