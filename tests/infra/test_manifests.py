"""Every Kubernetes object the program declares, rendered to a manifest and validated with
`kubernetes-validate --strict` for the cluster's Kubernetes version."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from tests.harness import StackRun, render_manifests

KUBERNETES_VALIDATE = Path(sys.executable).parent / "kubernetes-validate"


def validate(paths: list[Path], version: str) -> subprocess.CompletedProcess[str]:
    if not KUBERNETES_VALIDATE.exists():
        pytest.fail(f"{KUBERNETES_VALIDATE} is missing: install kubernetes-validate (requirements-dev.txt)")
    return subprocess.run(
        [str(KUBERNETES_VALIDATE), "--strict", "-k", version, *map(str, paths)],
        capture_output=True,
        text=True,
        timeout=120,
    )


def cluster_version(run: StackRun) -> str:
    minor = run.one("azure-native:containerservice:ManagedCluster").inputs["kubernetesVersion"]
    return f"{minor}.0" if minor.count(".") == 1 else minor


# Custom resources: kubernetes-validate ships Kubernetes' own schemas only, and says it has none for them (it
# does not pass them). The PodMonitor's content is asserted field by field in tests/infra/test_monitoring.py.
CUSTOM_RESOURCES = {("azmonitoring.coreos.com/v1", "PodMonitor")}


def built_in(path: Path) -> bool:
    manifest = yaml.safe_load(path.read_text())
    return (manifest["apiVersion"], manifest["kind"]) not in CUSTOM_RESOURCES


def test_every_object_is_valid_for_the_clusters_version(stack_run: StackRun, tmp_path: Path) -> None:
    rendered = render_manifests(stack_run, tmp_path)
    paths = [p for p in rendered if built_in(p)]
    (custom,) = [p for p in rendered if not built_in(p)]
    unchecked = validate([custom], cluster_version(stack_run))
    assert "Couldn't find schema for kind PodMonitor" in unchecked.stdout + unchecked.stderr
    kinds = sorted(yaml.safe_load(p.read_text())["kind"] for p in paths)
    assert kinds == [
        "Deployment",
        "HorizontalPodAutoscaler",
        "Namespace",
        "NetworkPolicy",
        "PodDisruptionBudget",
        "Service",
        "ServiceAccount",
    ]
    version = cluster_version(stack_run)
    assert version == "1.33.0"
    result = validate(paths, version)
    assert result.returncode == 0, result.stdout + result.stderr
    # One "passed" verdict per file, against the requested version: every manifest was really checked.
    passed = [line.split() for line in result.stdout.splitlines() if " passed for resource " in line]
    assert sorted(words[1] for words in passed) == sorted(map(str, paths)), result.stdout
    assert all(words[-1] == "1.33" for words in passed)


def test_strict_validation_rejects_an_unknown_field(stack_run: StackRun, tmp_path: Path) -> None:
    """The control: the same Deployment with a misspelt field fails, so the check above is strict."""
    (deployment,) = [p for p in render_manifests(stack_run, tmp_path) if "-deployment-" in p.name]
    manifest = yaml.safe_load(deployment.read_text())
    manifest["spec"]["template"]["spec"]["containers"][0]["readOnlyRootFileSystem"] = True  # wrong case
    deployment.write_text(yaml.safe_dump(manifest))
    result = validate([deployment], cluster_version(stack_run))
    assert result.returncode != 0
    assert "readOnlyRootFileSystem" in result.stdout + result.stderr
