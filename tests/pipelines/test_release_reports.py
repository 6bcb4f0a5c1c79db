"""What the release prints about a stack: the drift a refresh preview found (pipelines/drift_report.py) and a
lock left by a cancelled run (pipelines/stack_lock.py). The inputs are Pulumi's own formats, written here from
its source (pkg/display/json.go, pkg/backend/diy/lock.go, sdk/go/auto/errors.go): no Pulumi CLI runs here."""

from __future__ import annotations

import json
import subprocess
import sys
from datetime import UTC, datetime
from pathlib import Path

from pipelines.drift_report import drifted, report
from pipelines.stack_lock import explain
from tests.pipelines.agent import AZBLOB_BACKEND, CLOUD_BACKEND, CLOUD_LOCK_ERROR, DIY_LOCK_ERROR
from tests.pipelines.yaml_templates import PIPELINES_DIR

URN = "urn:pulumi:prod::aiapp::aiapp:infra:Workload$kubernetes:apps/v1:Deployment::app"
NOW = datetime(2025, 6, 2, 3, 10, tzinfo=UTC)


def test_drift_lists_changed_and_deleted_resources_never_values() -> None:
    digest = {
        "steps": [
            {"op": "same", "urn": "urn:pulumi:prod::aiapp::pulumi:pulumi:Stack::aiapp-prod"},
            {"op": "refresh", "urn": URN.replace("::app", "::other"), "detailedDiff": None},
            {
                "op": "update",
                "urn": URN,
                "oldState": {"outputs": {"spec": {"replicas": 2}}},
                "newState": {"outputs": {"spec": {"replicas": 7}}},
                "detailedDiff": {
                    "spec.replicas": {"kind": "update", "inputDiff": False},
                    "metadata.labels.hotfix": {"kind": "add", "inputDiff": False},
                },
            },
            {"op": "delete", "urn": "urn:pulumi:prod::aiapp::azure-native:storage:BlobContainer::models"},
        ],
        "changeSummary": {"update": 1, "delete": 1, "same": 10},
    }
    assert [d.op for d in drifted(digest)] == ["update", "delete"]
    lines = report("prod", digest)
    assert lines[0].startswith("##vso[task.logissue type=warning]stack prod drifted: 2 resources")
    assert lines[2:] == [
        "  ~ kubernetes:apps/v1:Deployment app: changed outside Pulumi: "
        "metadata.labels.hotfix (add), spec.replicas (update)",
        "  - azure-native:storage:BlobContainer models: deleted outside Pulumi",
    ]
    assert "7" not in "\n".join(lines)  # values may be secrets: only property paths are printed


def test_no_drift_is_said_once_without_a_warning() -> None:
    assert report("dev", {"steps": [{"op": "refresh", "urn": URN}], "changeSummary": {"same": 12}}) == [
        "No drift in stack dev: every resource matches its state."
    ]


def test_a_digest_that_cannot_be_read_warns_and_never_fails(tmp_path: Path) -> None:
    for text in ("", "not json", "[]"):
        digest = tmp_path / "drift.json"
        digest.write_text(text)
        result = subprocess.run(
            [sys.executable, str(PIPELINES_DIR / "drift_report.py"), "--stack", "dev", str(digest)],
            capture_output=True,
            text=True,
            check=False,
        )
        assert result.returncode == 0
        assert result.stdout.startswith(
            "##vso[task.logissue type=warning]cannot say what drifted in stack dev"
        )


def test_a_self_managed_lock_says_which_stack_since_when_who_and_the_commands() -> None:
    lines = explain("dev", AZBLOB_BACKEND, "Updating (dev):\n" + DIY_LOCK_ERROR, NOW)
    error = lines[0]
    assert error.startswith("##vso[task.logissue type=error]stack dev is locked since 2025-06-01T03:00:12Z")
    assert "(24 h 9 min ago)" in error
    assert error.endswith(f"To clear it: pulumi login '{AZBLOB_BACKEND}' && pulumi cancel --yes --stack dev")
    text = "\n".join(lines)
    assert "vsts@fv-az123-456 (pid 4242)" in text and ".pulumi/locks/organization/aiapp/dev/" in text
    assert "    pulumi refresh --stack dev" in text


def test_a_pulumi_cloud_lock_points_at_the_stacks_page() -> None:
    lines = explain("contoso/aiapp/prod", CLOUD_BACKEND, CLOUD_LOCK_ERROR, NOW)
    assert lines[0].startswith(
        "##vso[task.logissue type=error]stack contoso/aiapp/prod is locked: Pulumi Cloud"
    )
    assert "https://app.pulumi.com/contoso/aiapp/prod/updates" in lines[0]
    assert "pulumi cancel --yes --stack contoso/aiapp/prod" in lines[0]


def test_any_other_failure_is_left_to_its_own_message(tmp_path: Path) -> None:
    assert explain("dev", AZBLOB_BACKEND, "error: 403 Forbidden", NOW) == []
    log = tmp_path / "up.log"
    log.write_text(json.dumps({"not": "a lock"}))
    result = subprocess.run(
        [
            sys.executable,
            str(PIPELINES_DIR / "stack_lock.py"),
            "--stack",
            "dev",
            "--backend",
            "x",
            "--log",
            str(log),
        ],
        capture_output=True,
        text=True,
        check=False,
    )
    assert (result.returncode, result.stdout) == (0, "")
