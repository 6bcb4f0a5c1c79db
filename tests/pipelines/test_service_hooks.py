"""A failed or cancelled release run is POSTed to aiapp:alertWebhookUrl (issue 11, item 11: the service
hooks), under Pulumi's mocks: the hooks the program declares, and that the URL stays a secret. Azure DevOps
sending the POST is not exercised here (no organization). The release's rollback step posts what it did to the
same URL, which reaches it as a secret variable of the deploy group (issue 12; the post itself:
tests/pipelines/test_release.py)."""

from __future__ import annotations

import pulumi
import pytest

from infra.config import ConfigError, load_settings
from infra.pipelines.names import DEPLOY_VARIABLE_GROUP, RELEASE_PIPELINE, RELEASE_WEBHOOK_VARIABLE
from model.store import FileStore
from tests.harness import StackRun, last_run, run_program
from tests.harness.devops import (
    AZURE_REPOS_AZBLOB,
    CICD_STACK,
    DEVOPS_BUILD_DEFINITION,
    DEVOPS_PROJECT,
    DEVOPS_VARIABLE_GROUP,
    PROGRAM_VARIANTS,
    make_args,
    run_pipelines,
    walk,
)

HOOK = "azuredevops:index/servicehookWebhookTfs:ServicehookWebhookTfs"
WEBHOOK = "https://contoso.webhook.office.com/webhookb2/aaaa@bbbb/IncomingWebhook/cccc/dddd"


def hooks(run: StackRun) -> dict[str, dict]:
    """build status -> the hook's inputs."""
    found = {h.inputs["buildCompleted"]["buildStatus"]: h for h in run.of_type(HOOK)}
    assert len(found) == len(run.of_type(HOOK)), "one hook per status"
    return found


def test_no_webhook_no_hooks() -> None:
    run = run_pipelines()
    assert run.of_type(HOOK) == []
    for group in run.of_type(DEVOPS_VARIABLE_GROUP):
        assert RELEASE_WEBHOOK_VARIABLE not in {v["name"] for v in group.inputs["variables"]}


@pytest.mark.parametrize("as_secret", [True, False], ids=["given-as-secret", "given-as-plain-string"])
def test_the_release_gets_the_webhook_as_a_secret_variable_of_its_group_only(as_secret: bool) -> None:
    run = run_pipelines(make_args(alert_webhook_url=pulumi.Output.secret(WEBHOOK) if as_secret else WEBHOOK))
    groups = {g.inputs["name"]: g for g in run.of_type(DEVOPS_VARIABLE_GROUP)}
    carrying = {
        name
        for name, group in groups.items()
        if RELEASE_WEBHOOK_VARIABLE in {v["name"] for v in group.inputs["variables"]}
    }
    assert carrying == {DEPLOY_VARIABLE_GROUP}  # the ci pipeline (pull requests) never sees it
    deploy = groups[DEPLOY_VARIABLE_GROUP]
    (variable,) = [v for v in deploy.inputs["variables"] if v["name"] == RELEASE_WEBHOOK_VARIABLE]
    assert variable["isSecret"] is True and variable["secretValue"] == WEBHOOK and not variable.get("value")
    assert "variables" in deploy.secret_inputs


@pytest.mark.parametrize("as_secret", [True, False], ids=["given-as-secret", "given-as-plain-string"])
def test_a_failed_and_a_cancelled_release_each_post_to_the_webhook(as_secret: bool) -> None:
    url = pulumi.Output.secret(WEBHOOK) if as_secret else WEBHOOK
    run = run_pipelines(make_args(alert_webhook_url=url))
    found = hooks(run)
    assert set(found) == {"Failed", "Stopped"}
    (release,) = [d for d in run.of_type(DEVOPS_BUILD_DEFINITION) if d.inputs["name"] == RELEASE_PIPELINE]
    provider = run.one("pulumi:providers:azuredevops")
    for hook in found.values():
        assert hook.inputs["buildCompleted"]["definitionName"] == RELEASE_PIPELINE
        assert hook.inputs["projectId"] == run.one(DEVOPS_PROJECT).id
        assert hook.inputs["url"] == WEBHOOK
        assert "url" in hook.secret_inputs  # even when the caller forgot to mark it
        assert "url" in hook.additional_secret_outputs
        assert release.urn in hook.dependencies and hook.provider == provider.urn


@pytest.mark.parametrize("bad", ["http://hooks.example.com/x?token=s3cr3t", "hooks.example.com/s3cr3t", ""])
def test_a_webhook_that_is_not_https_stops_the_run_naming_the_key_not_the_value(bad: str) -> None:
    with pytest.raises(ConfigError) as caught:
        run_pipelines(make_args(alert_webhook_url=pulumi.Output.secret(bad)))
    message = str(caught.value)
    assert "aiapp:alertWebhookUrl: is not an https:// URL" in message
    assert "pulumi config set --secret aiapp:alertWebhookUrl" in message
    assert "s3cr3t" not in message
    assert last_run().of_type(HOOK) == []


def test_a_webhook_stored_in_plain_text_is_refused() -> None:
    values = {k.removeprefix("aiapp:"): v for k, v in AZURE_REPOS_AZBLOB.items()} | {
        "alertWebhookUrl": WEBHOOK
    }
    with pytest.raises(ConfigError) as caught:
        load_settings(
            values.get, stack_name=CICD_STACK, stored_encrypted=lambda key: key != "alertWebhookUrl"
        )
    assert "aiapp:alertWebhookUrl: is stored in plain text" in str(caught.value)
    assert WEBHOOK not in str(caught.value)


def test_the_cicd_stack_declares_the_hooks_from_its_config_and_keeps_the_url_secret(
    reference_store: FileStore,
) -> None:
    variant = PROGRAM_VARIANTS[0]
    run = run_program(
        dict(variant.config),
        stack=CICD_STACK,
        secrets={"aiapp:alertWebhookUrl": WEBHOOK},
        model_store=reference_store.url,
    )
    assert set(hooks(run)) == {"Failed", "Stopped"}
    for resource in run.resources:
        for key, value in resource.inputs.items():
            if any(isinstance(v, str) and WEBHOOK in v for v in walk(value)):
                assert key in resource.secret_inputs, f"{resource.type} {resource.name}: {key}"
