"""Every Gateway API, Envoy Gateway and cert-manager object the program declares, validated against its
owner's published schema: the validators that npm's @kubernetes-models packages compile from the owners' API
types, run by tools/validate-crds.mjs and pinned in package.json. Their sources, read in
tommy351/kubernetes-models-ts at the commit that published these versions (third-party/<name>/go.mod):
- @kubernetes-models/gateway-api 2.0.0: sigs.k8s.io/gateway-api v1.5.1 (the cluster's CRDs come with Envoy
  Gateway's chart: v1.6.1 for chart v1.9.x; the standard fields used here are the same in both);
- @kubernetes-models/envoy-gateway 2.0.0: github.com/envoyproxy/gateway v1.7.3 (the EnvoyProxy service
  fields used here are unchanged through v1.9);
- @kubernetes-models/cert-manager 6.0.0: github.com/cert-manager/cert-manager v1.20.2 (the chart is v1.21.x;
  the Certificate and ClusterIssuer fields used here are unchanged in cert-manager.io/v1).
They are the newest of each package on the npm registry. They check types, required fields, enums and
patterns (a hostname, a port); they do not reject unknown fields."""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path

import pytest
import yaml

from tests.harness import REPO_ROOT, StackRun, render_manifests

SCRIPT = REPO_ROOT / "tools" / "validate-crds.mjs"
PACKAGES = (
    "@kubernetes-models/gateway-api",
    "@kubernetes-models/envoy-gateway",
    "@kubernetes-models/cert-manager",
)


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
        paths.append(path.with_suffix(".json"))
        paths[-1].write_text(json.dumps(manifest))
    return paths


def test_every_gateway_and_cert_manager_object_is_valid(stack_run: StackRun, tmp_path: Path) -> None:
    paths = as_json(stack_run, tmp_path)
    kinds = sorted(json.loads(p.read_text())["kind"] for p in paths)
    assert kinds == [
        "Certificate",
        "ClusterIssuer",
        "EnvoyProxy",
        "Gateway",
        "GatewayClass",
        "HTTPRoute",
        "HTTPRoute",
    ]
    result = validate(paths)
    assert result.returncode == 0, result.stdout + result.stderr
    assert sorted(line.split()[1] for line in result.stdout.splitlines()) == sorted(map(str, paths))
    assert all(line.startswith("passed ") for line in result.stdout.splitlines()), result.stdout


def test_the_validators_reject_what_the_schemas_forbid(stack_run: StackRun, tmp_path: Path) -> None:
    """The control: the declared Gateway without a listener's port, the Certificate with an unknown private
    key algorithm and the EnvoyProxy with a Service type Kubernetes does not have all fail; so the check above
    really checks."""
    paths = as_json(stack_run, tmp_path)
    (gateway,) = [p for p in paths if json.loads(p.read_text())["kind"] == "Gateway"]
    (certificate,) = [p for p in paths if json.loads(p.read_text())["kind"] == "Certificate"]
    (proxy,) = [p for p in paths if json.loads(p.read_text())["kind"] == "EnvoyProxy"]
    broken_gateway, broken_certificate = json.loads(gateway.read_text()), json.loads(certificate.read_text())
    broken_proxy = json.loads(proxy.read_text())
    del broken_gateway["spec"]["listeners"][1]["port"]
    broken_certificate["spec"]["privateKey"]["algorithm"] = "DSA"
    broken_proxy["spec"]["provider"]["kubernetes"]["envoyService"]["type"] = "Public"
    gateway.write_text(json.dumps(broken_gateway))
    certificate.write_text(json.dumps(broken_certificate))
    proxy.write_text(json.dumps(broken_proxy))
    result = validate([gateway, certificate, proxy])
    assert result.returncode == 1
    assert not any(line.startswith("passed ") for line in result.stdout.splitlines()), result.stdout
    assert "must have required property port" in result.stdout, result.stdout
    assert "privateKey/algorithm must be equal to one of the allowed values" in result.stdout, result.stdout
    assert "envoyService/type must be equal to one of the allowed values" in result.stdout, result.stdout
