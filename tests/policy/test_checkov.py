"""checkov (its own virtualenv, tools/checkov/run.sh) on the three things that ship: app/Dockerfile, every
Kubernetes object the program declares (dev and prod), and pipelines/*.yml. Zero failed checks; a check can
only be skipped in tools/checkov/config.yaml, with its reason. A target on which no check ran fails too: a
scanner that silently saw nothing proves nothing.

Run with `-s` to see the per-target counts.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from tests.harness import StackRun, render_manifests

REPO = Path(__file__).resolve().parents[2]
RUN_CHECKOV = REPO / "tools" / "checkov" / "run.sh"
CHECKOV_VENV = Path(os.environ.get("CHECKOV_VENV", REPO / ".venv-checkov"))
DOCKERFILE = REPO / "app" / "Dockerfile"
PIPELINES = REPO / "pipelines"
STACKS = ("dev", "prod")
# checkov's azure_pipelines runner reads only files named *azure-pipelines.yml (checkov/azure_pipelines/
# runner.py, is_workflow_file); pipelines/ci.yml would be skipped without a word. So each pipeline is scanned
# under such a name, unchanged.
AZURE_PIPELINES_SUFFIX = ".azure-pipelines.yml"
DIGEST_PINNED = re.compile(r"@sha256:[0-9a-f]{64}$")


@dataclass
class Scan:
    target: str
    passed: int = 0
    failed: int = 0
    skipped: int = 0
    parsing_errors: int = 0
    failures: list[str] = field(default_factory=list)
    files_checked: set[str] = field(default_factory=set)
    check_ids: set[str] = field(default_factory=set)

    def line(self) -> str:
        return (
            f"{self.target:<12} passed {self.passed:>4}  failed {self.failed:>3}  skipped {self.skipped:>3}  "
            f"parsing errors {self.parsing_errors}  ({len(self.check_ids)} distinct checks)"
        )


def checkov(target: str, frameworks: list[str], *paths: str) -> Scan:
    """checkov through tools/checkov/run.sh on `paths` ("-f FILE" / "-d DIR" pairs), its reports totalled."""
    if not (CHECKOV_VENV / "bin" / "checkov").exists():
        pytest.fail(
            f"checkov is not installed at {CHECKOV_VENV}/bin/checkov: create its virtualenv with "
            "`python3 -m venv .venv-checkov && "
            ".venv-checkov/bin/pip install -r tools/checkov/requirements.txt` (make test does this)"
        )
    command = [str(RUN_CHECKOV), *paths, "--framework", *frameworks, "--output", "json", "--soft-fail"]
    result = subprocess.run(command, cwd=REPO, capture_output=True, text=True, timeout=600, check=False)
    if result.returncode != 0:
        pytest.fail(f"checkov crashed on {target} (exit {result.returncode}):\n{result.stderr[-4000:]}")
    try:
        output: Any = json.loads(result.stdout)
    except json.JSONDecodeError:
        pytest.fail(
            f"checkov printed no JSON report for {target}:\n{result.stdout[-2000:]}{result.stderr[-2000:]}"
        )
    # One framework with results: one report object; several: a list; none: a bare summary.
    reports = output if isinstance(output, list) else [output] if "check_type" in output else []
    scan = Scan(target)
    for report in reports:
        summary = report["summary"]
        scan.passed += summary["passed"]
        scan.failed += summary["failed"]
        scan.skipped += summary["skipped"]
        scan.parsing_errors += summary["parsing_errors"]
        results = report["results"]
        for check in results.get("failed_checks", []):
            scan.failures.append(
                f"{check['check_id']} {check['check_name']}: {check['resource']} ({check['file_path']})"
            )
        for outcome in ("passed_checks", "failed_checks", "skipped_checks"):
            scan.files_checked.update(Path(check["file_path"]).name for check in results.get(outcome, []))
            scan.check_ids.update(check["check_id"] for check in results.get(outcome, []))
    return scan


def assert_clean(scan: Scan, expected_files: list[Path]) -> None:
    print(scan.line())
    assert scan.parsing_errors == 0, f"{scan.target}: checkov could not parse some files"
    assert not scan.failures, f"{scan.target}: checkov failed checks:\n" + "\n".join(scan.failures)
    unscanned = sorted(path.name for path in expected_files if path.name not in scan.files_checked)
    assert not unscanned, f"{scan.target}: no checkov check ran on {unscanned}"


def test_dockerfile() -> None:
    assert DOCKERFILE.is_file(), f"{DOCKERFILE} is missing"
    assert_clean(checkov("Dockerfile", ["dockerfile", "secrets"], "-f", str(DOCKERFILE)), [DOCKERFILE])


def test_dockerfile_base_image_is_pinned_by_digest() -> None:
    """What the skipped CKV_DOCKER_7 would guard: every FROM is the digest-pinned BASE_IMAGE, an earlier
    stage, or an image pinned by digest itself."""
    text = DOCKERFILE.read_text()
    base = re.search(r"^ARG BASE_IMAGE=(\S+)", text, re.MULTILINE)
    assert base, "app/Dockerfile declares no `ARG BASE_IMAGE=<default>`"
    assert DIGEST_PINNED.search(base.group(1)), (
        f"BASE_IMAGE's default is not pinned by digest: {base.group(1)}"
    )
    stages: set[str] = set()
    for image, stage in re.findall(
        r"^FROM\s+(?:--platform=\S+\s+)?(\S+)(?:\s+AS\s+(\S+))?", text, re.MULTILINE
    ):
        assert image in ("${BASE_IMAGE}", "$BASE_IMAGE") or image in stages or DIGEST_PINNED.search(image), (
            f"FROM {image} is neither BASE_IMAGE, an earlier stage, nor pinned by digest"
        )
        if stage:
            stages.add(stage)
    assert stages, "app/Dockerfile has no named stage"


def test_kubernetes_manifests(tmp_path: Path, stack_runs: Callable[[str], StackRun]) -> None:
    manifests: list[Path] = []
    for stack in STACKS:
        manifests += render_manifests(stack_runs(stack), tmp_path / stack)
    kinds = {path.name.split("-")[1] for path in manifests}
    assert {"deployment", "service"} <= kinds, f"the program declared no Deployment or Service: {kinds}"
    scan = checkov("manifests", ["kubernetes", "secrets"], "-d", str(tmp_path))
    # Every workload and Service must have been checked (some kinds, a PodDisruptionBudget say, have none).
    assert_clean(scan, [path for path in manifests if path.name.split("-")[1] in ("deployment", "service")])


def stage_pipeline(source: Path, dest_dir: Path) -> Path:
    """A copy of pipelines/<path>.yml named so that checkov's azure_pipelines runner reads it."""
    relative = source.relative_to(PIPELINES).with_suffix("")
    copy = dest_dir / f"{'-'.join(relative.parts)}{AZURE_PIPELINES_SUFFIX}"
    shutil.copyfile(source, copy)
    return copy


def test_pipelines(tmp_path: Path) -> None:
    pipelines = sorted(PIPELINES.glob("*.yml"))
    assert pipelines, f"no pipelines/*.yml to scan in {PIPELINES}"
    staged = [stage_pipeline(path, tmp_path) for path in pipelines]
    # Templates are scanned too (secrets, and any job they hold); checkov's pipeline checks only match
    # `jobs`/`stages` documents, so only the top-level pipelines must show a check that ran.
    for template in sorted(set(PIPELINES.rglob("*.yml")) - set(pipelines)):
        stage_pipeline(template, tmp_path)
    assert_clean(checkov("pipelines", ["azure_pipelines", "secrets"], "-d", str(tmp_path)), staged)


def test_the_secrets_scan_is_live(tmp_path: Path) -> None:
    """checkov's secrets framework reports nothing when it finds nothing, so prove it runs here: a pipeline
    with a planted storage connection string must fail."""
    planted = (
        "DefaultEndpointsProtocol=https;AccountName=stplanted;AccountKey=" + "Zm9vYmFyYmF6cXV4" * 5 + "=="
    )
    canary = tmp_path / f"canary{AZURE_PIPELINES_SUFFIX}"
    canary.write_text(
        "trigger: none\njobs:\n  - job: canary\n    variables:\n"
        f'      STORAGE: "{planted}"\n    steps:\n      - script: echo hi\n'
    )
    scan = checkov("canary", ["azure_pipelines", "secrets"], "-d", str(tmp_path))
    assert any(failure.startswith("CKV_SECRET_") for failure in scan.failures), scan.failures
