"""A release's good night and bad nights, the scripts run as the agent runs them (tests/pipelines/agent.py:
stand-in `pulumi` and `az` that record every call; FAKE_PULUMI_UPS says how each `pulumi up` ends and what
the stack's outputs are then). The smoke tests run against the real app (`python -m app` on 127.0.0.1), the
webhook is a real HTTP server on 127.0.0.1 (fake_http). The SLO watch itself is tested against a real
Prometheus in test_watch.py; here its failure is its verdict file, as watch.sh leaves it.

The app the tests serve is the build the stack served before the release (PREVIOUS): after a rollback, the
smoke test must find it again.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from pytest_httpserver import HTTPServer

from model.manifest import Manifest
from tests.conftest import LiveApp, free_port, serve_app
from tests.pipelines.agent import COMMIT, DIY_LOCK_ERROR, Agent, promotion_object, stack_outputs

PROD_REGISTRY = "aiappprod.azurecr.io"
UP_ERROR = (
    "error: kubernetes:apps/v1:Deployment aiapp/aiapp: resource aiapp/aiapp was not successfully created by "
    "the Kubernetes API server: 0 of 2 updated replicas are available\n"
)
DEAD_URL = f"http://127.0.0.1:{free_port()}"  # where a broken release's app would answer: nothing does


@pytest.fixture(scope="module")
def previous_app(reference_model_dir: Path) -> Iterator[LiveApp]:
    """The build the stacks served before tonight's release: the reference model, built from COMMIT."""
    with serve_app(reference_model_dir, GIT_COMMIT=COMMIT) as app:
        yield app


@pytest.fixture
def previous(reference_manifest: Manifest) -> dict[str, str]:
    return promotion_object(
        "a", model_version=reference_manifest.version, model_sha256=reference_manifest.sha256
    )


@pytest.fixture
def before(previous: dict[str, str], previous_app: LiveApp) -> dict[str, Any]:
    """The stack's outputs before tonight's release: it serves `previous`, run by the live previous app."""
    return stack_outputs(previous, previous_app.url)


@pytest.fixture
def webhook(agent: Agent, fake_http: HTTPServer) -> HTTPServer:
    """The cicd stack's aiapp:alertWebhookUrl, mapped into the rollback step as RELEASE_WEBHOOK_URL."""
    fake_http.expect_request("/webhookb2/secret-token", method="POST").respond_with_data("1")
    agent.env["RELEASE_WEBHOOK_URL"] = fake_http.url_for("/webhookb2/secret-token")
    return fake_http


def tonight(agent: Agent, before: dict[str, Any], *ups: dict[str, Any]) -> Path:
    """The stack's outputs before the release, and how each `pulumi up` of the night ends."""
    Path(agent.env["FAKE_PULUMI_OUTPUTS"]).write_text(json.dumps(before))
    queue = agent.tmp / "ups.json"
    queue.write_text(json.dumps(list(ups)))
    agent.env["FAKE_PULUMI_UPS"] = str(queue)
    agent.env["SMOKE_TIMEOUT"] = "2"
    return agent.tmp / "work"


def posted(webhook: HTTPServer) -> dict[str, Any]:
    (request, _), *rest = webhook.log
    assert rest == [], "one post per release"
    return json.loads(request.data)


def the_one_message(result: Any) -> str:
    errors = [
        line for line in result.stderr.splitlines() if line.startswith("##vso[task.logissue type=error]")
    ]
    assert len(errors) == 1, result.stderr
    return errors[0].removeprefix("##vso[task.logissue type=error]")


def commands(agent: Agent, since: int = 0) -> list[list[str]]:
    return [
        call["args"]
        for call in agent.calls[since:]
        if call["tool"] == "pulumi" and call["args"][0] != "login"
    ]


def config_value(args: list[str]) -> str:
    return args[args.index("--config") + 1]


# ------------------------------------------------------------------------------------------- a good night


def test_prod_runs_exactly_what_dev_served_and_never_builds(
    agent: Agent, previous_app: LiveApp, previous: dict[str, str], before: dict[str, Any]
) -> None:
    """Dev's object is handed to prod as aiapp:promotedImage, after aiapp:modelVersion is removed from prod's
    stack file (the program refuses both); prod's smoke test checks prod serves exactly that object."""
    served = stack_outputs(previous, previous_app.url, acr_login_server="aiappdev.azurecr.io")
    work = tonight(agent, before, {"outputs": served})
    agent.env["PROMOTED_IMAGE"] = json.dumps(previous)  # dev's azure.PROMOTION, as release.yml hands it on

    deployed = agent.run("deploy.sh", "prod", str(work))
    assert deployed.returncode == 0, deployed.stdout + deployed.stderr
    steps = commands(agent)
    rm = steps.index(["config", "rm", "aiapp:modelVersion", "--stack", "contoso/aiapp/prod"])
    (up,) = [i for i, args in enumerate(steps) if args[0] == "up"]
    assert rm < up
    assert json.loads(config_value(steps[up]).removeprefix("aiapp:promotedImage=")) == previous
    assert not any("aiapp:modelVersion=" in arg for arg in steps[up])  # prod never builds
    assert "PROMOTION" not in deployed.stdout  # only dev hands an object on

    smoked = agent.run("smoke.sh", "prod", str(work))
    assert smoked.returncode == 0, smoked.stderr
    assert (work / "smoke.passed").exists()


@pytest.mark.parametrize(
    "given, message",
    [
        (None, "PROMOTED_IMAGE is not set: prod never builds"),
        (
            '{"image": "aiappdev.azurecr.io/aiapp:latest"}',  # every problem at once
            "lacks modelName, modelVersion, modelSha256, commit, appVersion; image "
            "'aiappdev.azurecr.io/aiapp:latest' names a tag (:latest), not a digest",
        ),
        (
            "$[ stageDependencies.dev.deploy_dev.outputs['x'] ]",
            "PROMOTED_IMAGE (dev's promotion output): is not JSON",
        ),
    ],
)
def test_prod_refuses_anything_but_dev_s_object_before_touching_anything(
    agent: Agent, given: str | None, message: str
) -> None:
    if given is not None:
        agent.env["PROMOTED_IMAGE"] = given
    result = agent.run("deploy.sh", "prod", str(agent.tmp / "work"))
    assert result.returncode == 1
    assert message in result.stderr
    assert agent.calls == []  # neither pulumi nor az ran


def test_dev_removes_a_promoted_image_then_builds_the_resolved_model(agent: Agent, previous: dict) -> None:
    work = tonight(agent, stack_outputs(previous), {"outputs": stack_outputs(promotion_object("b"))})
    result = agent.run("deploy.sh", "dev", str(work))
    assert result.returncode == 0, result.stderr
    steps = commands(agent)
    rm = steps.index(["config", "rm", "aiapp:promotedImage", "--stack", "dev"])
    (up,) = [i for i, args in enumerate(steps) if args[0] == "up"]
    assert rm < up and config_value(steps[up]) == "aiapp:modelVersion=1"


def test_the_first_release_of_a_stack_says_there_is_nothing_to_roll_back_to(agent: Agent) -> None:
    work = tonight(agent, {}, {"outputs": stack_outputs(promotion_object("b"))})
    result = agent.run("deploy.sh", "dev", str(work))
    assert result.returncode == 0, result.stderr
    assert (
        "##vso[task.logissue type=warning]stack dev serves no promotion object yet (its first release): if "
        "this release fails, there is nothing to roll back to" in result.stdout
    )
    assert not (work / "previous.json").exists()


# -------------------------------------------------------------------------------------------- bad nights


def test_a_failed_update_is_rolled_back_to_the_previous_object_checked_and_reported(
    agent: Agent, previous: dict[str, str], before: dict[str, Any], webhook: HTTPServer
) -> None:
    work = tonight(agent, before, {"error": UP_ERROR}, {"outputs": before})
    assert agent.run("deploy.sh", "dev", str(work)).returncode == 255
    since = len(agent.calls)

    rolled = agent.run("rollback.sh", "dev", str(work))
    assert rolled.returncode == 1
    # Dev's file got aiapp:modelVersion from the failed update: removed, then the previous object, no build.
    assert commands(agent, since) == [
        ["stack", "output", "--json", "--stack", "dev"],
        ["config", "rm", "aiapp:modelVersion", "--stack", "dev"],
        [
            "up",
            "--refresh",
            "--non-interactive",
            "--yes",
            "--diff",
            "--color",
            "never",
            "--policy-pack",
            "policy",
            "--stack",
            "dev",
            "--config",
            f"aiapp:promotedImage={json.dumps(previous, separators=(',', ':'))}",
            "--message",
            f"rollback of release 20250101.1: back to {previous['image']}",
        ],
        ["stack", "output", "--json", "--stack", "dev"],
    ]
    assert "smoke test passed" in rolled.stdout  # the restored object, checked against the live app
    message = the_one_message(rolled)
    assert message == (
        "release 20250101.1 failed on stack dev: pulumi up of dev did not finish: " + UP_ERROR.strip() + ". "
        f"Restored {previous['image']} (model digits 1, commit {COMMIT[:12]}), and its smoke test passed. "
        "Look at: the pulumi up log above: the resource that failed (a Deployment that never became ready: "
        "its pods' events and logs, `kubectl -n <namespace> describe deployment`). Prod was not touched."
    )
    report = posted(webhook)
    assert report["text"] == message
    assert report["restored"] == previous and report["stack"] == "dev"
    assert agent.env["RELEASE_WEBHOOK_URL"] not in rolled.stdout + rolled.stderr  # a credential, never shown


def test_a_failed_smoke_test_is_rolled_back(
    agent: Agent, previous: dict[str, str], before: dict[str, Any], webhook: HTTPServer
) -> None:
    broken = stack_outputs(promotion_object("b"), DEAD_URL)
    work = tonight(agent, before, {"outputs": broken}, {"outputs": before})
    assert agent.run("deploy.sh", "dev", str(work)).returncode == 0
    assert agent.run("smoke.sh", "dev", str(work)).returncode == 1

    rolled = agent.run("rollback.sh", "dev", str(work))
    assert rolled.returncode == 1
    message = the_one_message(rolled)
    assert message.startswith(
        "release 20250101.1 failed on stack dev: the smoke test of dev failed: SMOKE TEST FAILED for stack "
        f"dev: {DEAD_URL}/readyz did not answer 200"
    )
    assert f"Restored {previous['image']}" in message and "its smoke test passed" in message
    assert "what /readyz, /version or /v1/predict answered" in message
    assert posted(webhook)["failed"].startswith("the smoke test of dev failed")


def test_a_failed_watch_is_rolled_back(
    agent: Agent, previous_app: LiveApp, previous: dict[str, str], before: dict[str, Any], webhook: HTTPServer
) -> None:
    """The new build answers the smoke test (it serves the same model and commit from another digest), then
    fails its watch, whose verdict watch.sh left (the watch itself: test_watch.py)."""
    slow = stack_outputs(previous | {"image": promotion_object("b")["image"]}, previous_app.url)
    work = tonight(agent, before, {"outputs": slow}, {"outputs": before})
    assert agent.run("deploy.sh", "dev", str(work)).returncode == 0
    assert agent.run("smoke.sh", "dev", str(work)).returncode == 0
    verdict = "WATCH FAILED for stack dev: p99 latency 812.0 ms > 500 ms (Prometheus)"
    (work / "watch.verdict").write_text(verdict + "\n")

    rolled = agent.run("rollback.sh", "dev", str(work))
    assert rolled.returncode == 1
    message = the_one_message(rolled)
    assert (
        f"failed on stack dev: the SLO watch of dev failed: {verdict}. Restored {previous['image']}"
        in message
    )
    assert "the watch's figures above" in message
    (up,) = [args for args in commands(agent) if args[0] == "up"][1:]
    assert config_value(up) == f"aiapp:promotedImage={json.dumps(previous, separators=(',', ':'))}"


def test_a_step_out_of_time_left_no_verdict_and_the_message_says_so(
    agent: Agent, before: dict[str, Any], webhook: HTTPServer
) -> None:
    work = tonight(agent, before, {"outputs": before}, {"outputs": before})
    assert agent.run("deploy.sh", "dev", str(work)).returncode == 0
    assert agent.run("smoke.sh", "dev", str(work)).returncode == 0
    # the watch step was stopped by its time limit: it wrote nothing
    rolled = agent.run("rollback.sh", "dev", str(work))
    assert "the SLO watch of dev failed: it did not finish within its time." in the_one_message(rolled)


def test_the_first_release_has_nothing_to_roll_back_to_and_says_so(
    agent: Agent, previous: dict[str, str], webhook: HTTPServer
) -> None:
    work = tonight(agent, {}, {"error": UP_ERROR})
    agent.env["PROMOTED_IMAGE"] = json.dumps(previous)
    assert agent.run("deploy.sh", "prod", str(work)).returncode == 255
    since = len(agent.calls)

    rolled = agent.run("rollback.sh", "prod", str(work))
    assert rolled.returncode == 1
    assert [args[0] for args in commands(agent, since)] == []  # no rollback tried
    message = the_one_message(rolled)
    assert "Nothing was restored: this was stack contoso/aiapp/prod's first release" in message
    assert "nothing to roll back to" in message
    assert "Stack contoso/aiapp/prod may still run the failed release: roll it back by hand" in message
    assert "Prod was not touched" not in message
    assert posted(webhook)["restored"] is None


def test_a_previous_image_in_another_registry_is_no_rollback_target(
    agent: Agent, previous_app: LiveApp, reference_manifest: Manifest, webhook: HTTPServer
) -> None:
    """Prod switched to the shared registry (dev's): the image it ran before was in its own, now gone."""
    own = promotion_object(
        "a",
        registry=PROD_REGISTRY,
        model_version=reference_manifest.version,
        model_sha256=reference_manifest.sha256,
    )
    shared = stack_outputs(promotion_object("b"), DEAD_URL)
    work = tonight(agent, stack_outputs(own, previous_app.url), {"outputs": shared})
    agent.env["PROMOTED_IMAGE"] = json.dumps(promotion_object("b"))
    assert agent.run("deploy.sh", "prod", str(work)).returncode == 0
    assert agent.run("smoke.sh", "prod", str(work)).returncode == 1
    since = len(agent.calls)

    rolled = agent.run("rollback.sh", "prod", str(work))
    assert rolled.returncode == 1
    assert commands(agent, since) == [["stack", "output", "--json", "--stack", "contoso/aiapp/prod"]]
    message = the_one_message(rolled)
    assert (
        f"Nothing was restored: there is no rollback target, as the previous image {own['image']} is in "
        f"registry {PROD_REGISTRY} and stack contoso/aiapp/prod now pulls from aiappdev.azurecr.io" in message
    )
    assert posted(webhook)["restored"] is None


def test_a_rollback_whose_update_fails_says_nothing_was_restored(
    agent: Agent, previous: dict[str, str], webhook: HTTPServer
) -> None:
    before = stack_outputs(previous)
    work = tonight(agent, before, {"error": UP_ERROR}, {"error": "error: 403 Forbidden\n"})
    assert agent.run("deploy.sh", "dev", str(work)).returncode == 255
    rolled = agent.run("rollback.sh", "dev", str(work))
    message = the_one_message(rolled)
    assert (
        "Nothing was restored: the rollback's pulumi up failed (exit 255): error: 403 Forbidden." in message
    )
    assert "roll it back by hand" in message


def test_an_update_that_met_a_locked_stack_changed_nothing_and_is_not_rolled_back(
    agent: Agent, previous: dict[str, str], webhook: HTTPServer
) -> None:
    work = tonight(agent, stack_outputs(previous), {"error": DIY_LOCK_ERROR})
    assert agent.run("deploy.sh", "dev", str(work)).returncode == 255
    since = len(agent.calls)
    rolled = agent.run("rollback.sh", "dev", str(work))
    assert rolled.returncode == 1
    assert [args for args in commands(agent, since) if args[0] in ("up", "config")] == []
    message = the_one_message(rolled)
    assert "failed on stack dev: pulumi up of dev could not begin: the stack is locked." in message
    assert "Stack dev was not changed, so nothing was rolled back." in message
    assert "the commands that clear it, above" in message and "by hand" not in message


def test_a_job_that_failed_before_the_update_changes_nothing(agent: Agent, webhook: HTTPServer) -> None:
    agent.env["PROMOTED_IMAGE"] = "not json"
    work = agent.tmp / "work"
    assert agent.run("deploy.sh", "prod", str(work)).returncode == 1
    rolled = agent.run("rollback.sh", "prod", str(work))
    assert rolled.returncode == 1
    assert agent.calls == []  # no sign-in, no pulumi
    message = the_one_message(rolled)
    assert message.startswith("release 20250101.1 failed on stack prod: the job stopped before the update")
    assert "was not changed, so nothing was rolled back" in message and "by hand" not in message
    assert posted(webhook)["outcome"].endswith("nothing was rolled back")


def test_a_rollback_step_that_cannot_sign_in_still_reports(
    agent: Agent, previous: dict[str, str], webhook: HTTPServer
) -> None:
    work = tonight(agent, stack_outputs(previous), {"error": UP_ERROR})
    assert agent.run("deploy.sh", "dev", str(work)).returncode == 255
    agent.env["FAKE_AZ_FAIL"] = "show"  # the step's `az` login no longer works
    since = len(agent.calls)
    rolled = agent.run("rollback.sh", "dev", str(work))
    assert rolled.returncode == 1
    assert commands(agent, since) == []
    assert "Nothing was restored: this step could not sign in to Azure or the Pulumi backend" in (
        the_one_message(rolled)
    )
    assert posted(webhook)["restored"] is None


def test_without_a_webhook_the_rollback_warns_and_still_fails_the_run(agent: Agent, previous: dict) -> None:
    agent.env["RELEASE_WEBHOOK_URL"] = "$(RELEASE_WEBHOOK_URL)"  # not in the group: the literal macro
    work = tonight(agent, stack_outputs(previous), {"error": UP_ERROR}, {"error": UP_ERROR})
    agent.run("deploy.sh", "dev", str(work))
    rolled = agent.run("rollback.sh", "dev", str(work))
    assert rolled.returncode == 1
    assert (
        "##vso[task.logissue type=warning]no release webhook: the cicd stack's aiapp:alertWebhookUrl is not "
        "set" in rolled.stdout
    )
    the_one_message(rolled)


def test_a_webhook_that_refuses_the_report_is_a_warning_that_never_shows_its_url(
    agent: Agent, previous: dict, fake_http: HTTPServer
) -> None:
    fake_http.expect_request("/hook/s3cr3t", method="POST").respond_with_data("no", status=500)
    agent.env["RELEASE_WEBHOOK_URL"] = fake_http.url_for("/hook/s3cr3t")
    work = tonight(agent, stack_outputs(previous), {"error": UP_ERROR}, {"error": UP_ERROR})
    agent.run("deploy.sh", "dev", str(work))
    rolled = agent.run("rollback.sh", "dev", str(work))
    assert rolled.returncode == 1
    assert "##vso[task.logissue type=warning]the release webhook answered HTTP 500" in rolled.stdout
    assert "s3cr3t" not in rolled.stdout + rolled.stderr
    the_one_message(rolled)


# --------------------------------------------------------------------------------- the preview of prod


def test_a_pull_request_previews_prod_with_what_prod_runs(agent: Agent, previous: dict[str, str]) -> None:
    Path(agent.env["FAKE_PULUMI_OUTPUTS"]).write_text(json.dumps(stack_outputs(previous)))
    out = agent.tmp / "preview-prod.txt"
    result = agent.run("preview.sh", "prod", str(out))
    assert result.returncode == 0, result.stderr
    steps = commands(agent)
    rm = steps.index(["config", "rm", "aiapp:modelVersion", "--stack", "contoso/aiapp/prod"])
    (preview,) = [i for i, args in enumerate(steps) if args[0] == "preview"]
    assert rm < preview
    compact = json.dumps(previous, separators=(",", ":"))
    assert config_value(steps[preview]) == f"aiapp:promotedImage={compact}"
    # the PR comment says which
    assert out.read_text().startswith(
        "Previewed with what contoso/aiapp/prod runs now, its promotion output, "
    )


def test_before_prod_s_first_release_its_preview_says_it_shows_a_build(agent: Agent) -> None:
    Path(agent.env["FAKE_PULUMI_OUTPUTS"]).write_text("{}")
    out = agent.tmp / "preview-prod.txt"
    result = agent.run("preview.sh", "prod", str(out))
    assert result.returncode == 0, result.stderr
    (preview,) = [args for args in commands(agent) if args[0] == "preview"]
    assert "--config" not in preview and not [args for args in commands(agent) if args[0] == "config"]
    assert "has no promotion output yet" in result.stdout and "previewed as its stack file configures it" in (
        out.read_text()
    )
