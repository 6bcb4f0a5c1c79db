"""Every Gateway API and cert-manager object the program declares, validated against its owner's published
schema: the validators npm's @kubernetes-models/gateway-api 2.0.0 (generated from sigs.k8s.io/gateway-api's
API types; the CRDs of Gateway API v1.5.1, per that package's changelog) and @kubernetes-models/cert-manager
6.0.0 (generated from github.com/cert-manager/cert-manager pkg/apis) compile, run by tools/validate-crds.mjs.
Pinned in package.json. They check types, required fields, enums and patterns (a hostname, a port); they do
not reject unknown fields, and no published schema of Envoy Gateway's EnvoyProxy is in any package registry,
so that one object is checked only by tests/infra/test_edge.py's assertions."""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path

import pytest
import yaml

from tests.harness import REPO_ROOT, StackRun, render_manifests

SCRIPT = REPO_ROOT / "tools" / "validate-crds.mjs"
PACKAGES = ("@kubernetes-models/gateway-api", "@kubernetes-models/cert-manager")
NO_PUBLISHED_SCHEMA = {"EnvoyProxy"}


def validate(paths: list[Path]) -> subprocess.CompletedProcess[str]:
    node = shutil.which("node")
    missing = [p for p in PACKAGES if not (REPO_ROOT / "node_modules" / p / "package.json").exists()]
    if node is None or missing:
        pytest.fail(f"node or {missing} is missing: `make tools` (npm ci) installs them")
    return subprocess.run(
        [node, str(SCRIPT), *map(str, paths)], capture_output=True, text=True, timeout=120, cwd=REPO_ROOT
    )


def as_json(run: StackRun, out_dir: Path) -> list[Path]:
    paths = []
    for path in render_manifests(run, out_dir, custom=True):
        manifest = yaml.safe_load(path.read_text())
        if manifest["kind"] in NO_PUBLISHED_SCHEMA:
            continue
        paths.append(path.with_suffix(".json"))
        paths[-1].write_text(json.dumps(manifest))
    return paths


def test_every_gateway_and_cert_manager_object_is_valid(stack_run: StackRun, tmp_path: Path) -> None:
    paths = as_json(stack_run, tmp_path)
    kinds = sorted(json.loads(p.read_text())["kind"] for p in paths)
    assert kinds == ["Certificate", "ClusterIssuer", "Gateway", "GatewayClass", "HTTPRoute", "HTTPRoute"]
    result = validate(paths)
    assert result.returncode == 0, result.stdout + result.stderr
    assert sorted(line.split()[1] for line in result.stdout.splitlines()) == sorted(map(str, paths))
    assert all(line.startswith("passed ") for line in result.stdout.splitlines()), result.stdout


def test_the_validators_reject_what_the_schemas_forbid(stack_run: StackRun, tmp_path: Path) -> None:
    """The control: the declared Gateway without a listener's port, and the Certificate with an unknown
    private key algorithm, both fail; so the check above really checks."""
    paths = as_json(stack_run, tmp_path)
    (gateway,) = [p for p in paths if json.loads(p.read_text())["kind"] == "Gateway"]
    (certificate,) = [p for p in paths if json.loads(p.read_text())["kind"] == "Certificate"]
    broken_gateway, broken_certificate = json.loads(gateway.read_text()), json.loads(certificate.read_text())
    del broken_gateway["spec"]["listeners"][1]["port"]
    broken_certificate["spec"]["privateKey"]["algorithm"] = "DSA"
    gateway.write_text(json.dumps(broken_gateway))
    certificate.write_text(json.dumps(broken_certificate))
    result = validate([gateway, certificate])
    assert result.returncode == 1
    assert "must have required property port" in result.stdout, result.stdout
    assert "privateKey/algorithm must be equal to one of the allowed values" in result.stdout, result.stdout
