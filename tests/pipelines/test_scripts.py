"""The scripts the pipelines run, run here as the agent runs them.

resolve_model.py reads a real model store; deploy.sh, preview.sh and smoke.sh run under bash with stand-in
`pulumi` and `az` on PATH (tests/pipelines/agent.py: there is no Pulumi CLI, Azure CLI or Azure here) that
record how they were called and with which environment, and smoke.sh then tests the real app.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from model.manifest import Manifest
from model.store import FileStore
from tests.conftest import LiveApp, serve_app
from tests.pipelines.agent import (
    AZBLOB_BACKEND,
    CLOUD_BACKEND,
    COMMIT,
    DIY_LOCK_ERROR,
    SUBSCRIPTION,
    Agent,
    promotion_object,
    stack_outputs,
)
from tests.pipelines.yaml_templates import PIPELINES_DIR

# ------------------------------------------------------------------------------------- resolve_model.py


def resolve(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, str(PIPELINES_DIR / "resolve_model.py"), *args],
        capture_output=True,
        text=True,
        timeout=120,
        env=env,
        check=False,
    )


def test_resolve_sets_the_latest_verified_version_as_an_output_variable(reference_store: FileStore) -> None:
    result = resolve("--store", reference_store.url, "--version", "latest")
    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    assert "##vso[task.setvariable variable=MODEL_VERSION;isOutput=true]1" in lines
    assert any(
        line.startswith("##vso[task.setvariable variable=MODEL_SHA256;isOutput=true]") for line in lines
    )


def test_resolve_fails_for_a_missing_a_malformed_or_a_corrupt_version(
    reference_store: FileStore, tmp_path: Path
) -> None:
    missing = resolve("--store", reference_store.url, "--version", "9")
    assert missing.returncode == 1 and "cannot resolve the model to release" in missing.stderr
    malformed = resolve("--store", reference_store.url, "--version", "v2; rm -rf /")
    assert malformed.returncode == 1 and "is not 'latest' or a positive whole number" in malformed.stderr
    corrupt = tmp_path / "store"
    shutil.copytree(reference_store.root, corrupt)
    (onnx,) = corrupt.rglob("model.onnx")
    onnx.write_bytes(onnx.read_bytes()[:-1] + b"\0")
    broken = resolve("--store", f"file://{corrupt}", "--version", "1")
    assert broken.returncode == 1 and "##vso[task.logissue type=error]" in broken.stderr
    assert "MODEL_VERSION" not in broken.stdout


# ------------------------------------------------------------------------------ deploy.sh then smoke.sh


@pytest.fixture(scope="module")
def released_app(reference_model_dir: Path) -> Iterator[LiveApp]:
    """The real app, built (as the release builds it) from the newest commit of its files, COMMIT."""
    with serve_app(reference_model_dir, GIT_COMMIT=COMMIT) as app:
        yield app


def test_deploy_runs_pulumi_up_with_the_resolved_model_then_smoke_tests_the_app(
    agent: Agent, released_app: LiveApp, reference_manifest: Manifest
) -> None:
    build = promotion_object(model_version=reference_manifest.version, model_sha256=reference_manifest.sha256)
    outputs = stack_outputs(build, released_app.url)
    Path(agent.env["FAKE_PULUMI_OUTPUTS"]).write_text(json.dumps(outputs))
    agent.env["MODEL_VERSION"] = reference_manifest.version
    agent.env["BUILD_SOURCEVERSION"] = "b" * 40  # a later commit (docs only, say): the image keeps COMMIT
    work = agent.tmp / "dev"

    deployed = agent.run("deploy.sh", "dev", str(work))
    assert deployed.returncode == 0, deployed.stderr
    (login,) = agent.pulumi("login")
    assert login["args"] == ["login", "--non-interactive", AZBLOB_BACKEND]
    assert "PULUMI_ACCESS_TOKEN" not in login["env"]  # no Pulumi token at all with self-managed state
    (up,) = agent.pulumi("up")
    command = " ".join(up["args"])
    assert "--yes" in command and "--policy-pack policy" in command and "--stack dev" in command
    assert f"--config aiapp:modelVersion={reference_manifest.version}" in command
    assert "b" * 40 in command  # the update's message names the run's commit
    assert json.loads((work / "outputs.json").read_text()) == outputs
    # What dev served before (here: the same build), recorded as the rollback target, and its object now,
    # handed to prod as an output variable of the step (release.yml).
    assert json.loads((work / "previous.json").read_text()) == build
    assert (
        f"##vso[task.setvariable variable=PROMOTION;isOutput=true]{json.dumps(build, separators=(',', ':'))}"
        in (deployed.stdout.splitlines())
    )

    smoked = agent.run("smoke.sh", "dev", str(work))
    assert smoked.returncode == 0, smoked.stderr
    assert f"serves model digits version {reference_manifest.version}" in smoked.stdout
    assert (work / "smoke.passed").exists()

    # An app reporting another commit than the one the stack says its image carries is not what was deployed.
    agent.env["SMOKE_TIMEOUT"] = "1"
    (work / "smoke.passed").unlink()
    (work / "outputs.json").write_text(json.dumps(outputs | {"app_commit": "f" * 40}))
    other = agent.run("smoke.sh", "dev", str(work))
    assert other.returncode == 1 and f"app commit {COMMIT!r}, expected {'f' * 40!r}" in other.stderr
    assert not (work / "smoke.passed").exists()
    assert (work / "smoke.verdict").read_text().startswith("SMOKE TEST FAILED for stack dev: ")


@pytest.mark.parametrize("app_commit", [None, "unknown", COMMIT[:12], f"{COMMIT}-dirty"])
def test_smoke_after_deploy_needs_the_stacks_full_commit(
    agent: Agent, released_app: LiveApp, reference_manifest: Manifest, app_commit: str | None
) -> None:
    """Without app_commit (or with one that names no single commit), the commit check would prove nothing."""
    outputs = {"app_url": released_app.url, "model_version": reference_manifest.version}
    if app_commit is not None:
        outputs["app_commit"] = app_commit
    work = agent.tmp / "dev"
    work.mkdir()
    (work / "outputs.json").write_text(json.dumps(outputs))
    (work / "stack").write_text("dev")
    agent.env["MODEL_VERSION"] = reference_manifest.version
    smoked = agent.run("smoke.sh", "dev", str(work))
    assert smoked.returncode == 1
    assert f"the stack output app_commit is {app_commit!r}, not a full commit SHA" in smoked.stderr


def test_smoke_after_deploy_fails_on_a_wrong_model(
    agent: Agent, released_app: LiveApp, reference_manifest: Manifest
) -> None:
    wrong = str(int(reference_manifest.version) + 1)
    build = promotion_object(model_version=wrong, model_sha256=reference_manifest.sha256)
    Path(agent.env["FAKE_PULUMI_OUTPUTS"]).write_text(json.dumps(stack_outputs(build, released_app.url)))
    agent.env["MODEL_VERSION"] = wrong
    work = agent.tmp / "dev"
    assert agent.run("deploy.sh", "dev", str(work)).returncode == 0
    agent.env["SMOKE_TIMEOUT"] = "1"
    smoked = agent.run("smoke.sh", "dev", str(work))
    assert smoked.returncode == 1
    assert "SMOKE TEST FAILED for stack dev" in smoked.stderr
    assert f"expected {wrong!r}" in smoked.stderr


def test_deploy_refuses_an_unresolved_model_version(agent: Agent) -> None:
    agent.env["MODEL_VERSION"] = "$(MODEL_VERSION)"  # the resolve stage's output never arrived
    result = agent.run("deploy.sh", "dev", str(agent.tmp / "dev"))
    assert result.returncode == 1
    assert "is not a published version number" in result.stderr
    assert agent.calls == []  # neither pulumi nor az ran


def test_pulumi_cloud_state_needs_its_token_and_passes_it(agent: Agent) -> None:
    agent.env["PULUMI_BACKEND_URL"] = CLOUD_BACKEND
    missing = agent.run("deploy.sh", "dev", str(agent.tmp / "dev"))
    assert missing.returncode == 1 and "PULUMI_ACCESS_TOKEN is not set" in missing.stderr
    agent.env["PULUMI_ACCESS_TOKEN"] = "pul-" + "a" * 40
    assert agent.run("deploy.sh", "dev", str(agent.tmp / "dev")).returncode == 0
    assert {call["env"]["PULUMI_ACCESS_TOKEN"] for call in agent.pulumi()} == {"pul-" + "a" * 40}


def test_preview_keeps_its_output_and_exit_status_for_the_comment(agent: Agent) -> None:
    out = agent.tmp / "preview-dev.txt"
    agent.env["FAKE_PULUMI_EXIT"] = "255"  # e.g. a policy violation
    result = agent.run("preview.sh", "dev", str(out))
    assert result.returncode == 255
    (preview,) = agent.pulumi("preview")
    command = " ".join(preview["args"])
    assert "--diff" in command and "--policy-pack policy" in command and "--stack dev" in command
    assert "kubernetes:apps/v1:Deployment app update" in out.read_text()
    assert Path(f"{out}.status").read_text().strip() == "255"


def test_unknown_environment_and_bad_pulumi_version_fail_before_anything_runs(agent: Agent) -> None:
    result = agent.run("preview.sh", "staging", str(agent.tmp / "p.txt"))
    assert result.returncode == 1 and "unknown environment 'staging'" in result.stderr
    install = agent.run("install-pulumi.sh", "latest", str(agent.tmp / "pulumi"))
    assert install.returncode == 1 and "'latest' is not a Pulumi version" in install.stderr
    assert agent.calls == []


# ---------------------------------------------------- the environment every Pulumi process of a step gets


def _run_both(agent: Agent) -> list[list[dict]]:
    """preview.sh then deploy.sh of dev, both of which must succeed; the stand-ins' calls of each."""
    per_script = []
    for script, target in (("preview.sh", "preview-dev.txt"), ("deploy.sh", "dev")):
        before = len(agent.calls)
        result = agent.run(script, "dev", str(agent.tmp / target))
        assert result.returncode == 0, result.stdout + result.stderr
        per_script.append(agent.calls[before:])
    return per_script


@pytest.mark.parametrize("backend", [AZBLOB_BACKEND, CLOUD_BACKEND])
def test_every_pulumi_process_falls_back_to_the_secrets_provider_its_state_records(
    agent: Agent, backend: str
) -> None:
    """The committed Pulumi.<stack>.yaml name no secrets provider; with azblob:// state the CLI would fall
    back to the passphrase provider and stop. PULUMI_FALLBACK_TO_STATE_SECRETS_MANAGER makes it use the Key
    Vault key recorded in the stack's state (pulumi/pulumi PR 17236). Harmless with Pulumi Cloud: set for
    both."""
    agent.env["PULUMI_BACKEND_URL"] = backend
    if backend == CLOUD_BACKEND:
        agent.env["PULUMI_ACCESS_TOKEN"] = "pul-" + "b" * 40
    _run_both(agent)
    for call in agent.pulumi():
        assert call["env"].get("PULUMI_FALLBACK_TO_STATE_SECRETS_MANAGER") == "true", call["args"]
    assert {call["args"][0] for call in agent.pulumi()} >= {"login", "preview", "stack", "up"}


def test_every_pulumi_process_authenticates_through_the_steps_az_session(agent: Agent) -> None:
    """No Azure client of a step may use a token captured when the step started (AzureCLI@2's idToken lasts
    about 10 minutes): azure-native gets no OIDC or secret setting, so it uses the Azure CLI, which the task
    keeps logged in (keepAzSessionActive). Whatever the agent's environment carries, it is removed."""
    agent.env |= {  # what addSpnToEnvironment, or an earlier step, could leave behind
        "idToken": "stale-oidc-token",
        "servicePrincipalId": "c1c1c1c1-1111-4222-8333-444444444444",
        "servicePrincipalKey": "a-secret",
        "ARM_USE_OIDC": "true",
        "ARM_OIDC_TOKEN": "stale-oidc-token",
        "ARM_CLIENT_ID": "c1c1c1c1-1111-4222-8333-444444444444",
        "ARM_CLIENT_SECRET": "a-secret",
        "ARM_USE_MSI": "true",
    }
    per_script = _run_both(agent)
    credential_selectors = {
        "ARM_USE_OIDC",
        "ARM_OIDC_TOKEN",
        "ARM_OIDC_TOKEN_FILE_PATH",
        "ARM_CLIENT_SECRET",
        "ARM_CLIENT_CERTIFICATE_PATH",
        "ARM_USE_MSI",
        "ARM_USE_DEFAULT_AZURE_CREDENTIAL",
        "ARM_CLIENT_ID",
        "idToken",
        "servicePrincipalKey",
    }
    assert agent.pulumi()
    for call in agent.pulumi():
        env = call["env"]
        assert credential_selectors.isdisjoint(env), (call["args"], sorted(credential_selectors & set(env)))
        assert env["ARM_SUBSCRIPTION_ID"] == SUBSCRIPTION  # the subscription azure-native's `az` call selects
        assert env["AZURE_KEYVAULT_AUTH_VIA_CLI"] == "true"  # the Pulumi CLI's Key Vault client uses `az`
        assert env["AZURE_CONFIG_DIR"] == agent.env["AZURE_CONFIG_DIR"]  # the task's own `az` session
    # Before any Pulumi process, each script checks that the session can do what those processes will ask.
    for calls in per_script:
        checks = [call["args"] for call in calls[:3]]
        assert [call["tool"] for call in calls[:3]] == ["az", "az", "az"]
        assert checks[0] == ["account", "show", "--subscription", SUBSCRIPTION, "--output", "none"]
        assert sorted(check[3] for check in checks[1:]) == sorted(
            ["https://management.azure.com/", agent.env["AKS_SERVER_APP_ID"]]
        )


@pytest.mark.parametrize("broken", ["missing", "show", "get-access-token"])
def test_a_step_whose_az_session_cannot_serve_pulumi_stops_before_pulumi_runs(
    agent: Agent, broken: str
) -> None:
    if broken == "missing":
        agent.without_az()
    else:
        agent.env["FAKE_AZ_FAIL"] = broken
    result = agent.run("deploy.sh", "dev", str(agent.tmp / "dev"))
    assert result.returncode == 1
    assert "##vso[task.logissue type=error]" in result.stderr
    expected = {
        "missing": "az is not on PATH",
        "show": f"cannot see subscription {SUBSCRIPTION}",
        "get-access-token": "cannot get a token for https://management.azure.com/",
    }[broken]
    assert expected in result.stderr
    assert agent.pulumi() == []


# ---------------------------------------------------------------------------- drift and a stack lock


DRIFTED = {
    "steps": [
        {
            "op": "refresh",
            "urn": "urn:pulumi:dev::aiapp::pulumi:pulumi:Stack::aiapp-dev",
            "detailedDiff": None,
        },
        {
            "op": "update",
            "urn": "urn:pulumi:dev::aiapp::aiapp:infra:Cluster$azure-native:containerservice:ManagedCluster"
            "::aks",
            "detailedDiff": {"tags.owner": {"kind": "update", "inputDiff": False}},
        },
    ],
    "changeSummary": {"update": 1, "same": 11},
}


def test_the_release_says_what_drifted_then_updates_with_refresh(agent: Agent) -> None:
    refresh = agent.tmp / "refresh.json"
    refresh.write_text(json.dumps(DRIFTED))
    agent.env["FAKE_PULUMI_REFRESH"] = str(refresh)
    work = agent.tmp / "dev"
    result = agent.run("deploy.sh", "dev", str(work))
    assert result.returncode == 0, result.stderr
    commands = [call["args"] for call in agent.pulumi()]
    (preview_refresh,) = [i for i, args in enumerate(commands) if args[0] == "refresh"]
    (up,) = [i for i, args in enumerate(commands) if args[0] == "up"]
    assert preview_refresh < up
    # a preview of a refresh: reads everything, writes nothing, takes no lock
    assert {"--preview-only", "--json", "--non-interactive"} <= set(commands[preview_refresh])
    assert "--yes" not in commands[preview_refresh]
    assert "--refresh" in commands[up]  # the update starts from what is really there, and puts drift back
    assert (
        "##vso[task.logissue type=warning]stack dev drifted: 1 resource changed outside Pulumi"
        in result.stdout
    )
    assert (
        "  ~ azure-native:containerservice:ManagedCluster aks: changed outside Pulumi: tags.owner (update)"
        in (result.stdout)
    )
    assert json.loads((work / "drift.json").read_text()) == DRIFTED


def test_a_stack_locked_by_a_cancelled_run_says_since_when_and_how_to_clear_it(agent: Agent) -> None:
    agent.env["FAKE_PULUMI_UP_ERROR"] = DIY_LOCK_ERROR
    work = agent.tmp / "dev"
    result = agent.run("deploy.sh", "dev", str(work))
    assert result.returncode == 255  # the update's own status
    assert not (work / "outputs.json").exists()  # so the smoke test does not run against the old stack
    errors = [
        line for line in result.stdout.splitlines() if line.startswith("##vso[task.logissue type=error]")
    ]
    (error,) = errors
    assert "stack dev is locked since 2025-06-01T03:00:12Z" in error
    assert f"pulumi login '{AZBLOB_BACKEND}' && pulumi cancel --yes --stack dev" in error
    assert "vsts@fv-az123-456 (pid 4242)" in result.stdout  # who left it
    assert "    pulumi refresh --stack dev" in result.stdout


def test_a_failed_update_that_is_no_lock_adds_nothing(agent: Agent) -> None:
    agent.env["FAKE_PULUMI_UP_ERROR"] = "error: creating Namespace aiapp: 403 Forbidden\n"
    result = agent.run("deploy.sh", "dev", str(agent.tmp / "dev"))
    assert result.returncode == 255
    assert "is locked" not in result.stdout and "403 Forbidden" in result.stdout
