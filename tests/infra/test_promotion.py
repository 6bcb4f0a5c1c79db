"""One registry, one digest (issue 12), the program's side, under Pulumi's mocks.

A stack given aiapp:promotedImage builds no image and fetches no model: its Deployment runs exactly that
image, its pod labels and outputs come from the object. A stack given aiapp:sharedRegistryId creates no
registry: it reads that one and gives its kubelet AcrPull there. Every stack exports `promotion`, the object
another stack takes as aiapp:promotedImage, and `release_watch`, what the release's watch judges by. Every
malformed object and every key that may not stand beside it is refused before any resource is declared."""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping
from dataclasses import replace
from typing import Any

import pytest

from infra.azure_ids import ACR_PULL, ACR_PUSH
from infra.monitoring import watch
from infra.monitoring.promql import replace_threshold
from infra.monitoring.rules import Group, RulesFileError, load
from infra.monitoring.watch import ERROR_RATIO_ALERT, max_error_ratio
from infra.served import PromotionError
from tests import harness
from tests.harness import StackRun

IMAGE = "docker:index/image:Image"
REGISTRY = "azure-native:containerregistry:Registry"
ROLE_ASSIGNMENT = "azure-native:authorization:RoleAssignment"
DEPLOYMENT = "kubernetes:apps/v1:Deployment"
# dev's registry, in a subscription of its own: the read takes the id as it is, whatever its subscription.
SHARED_SUBSCRIPTION = "22222222-3333-4444-8555-666666666666"
SHARED_LOGIN_SERVER = "aiappdevacr1a2b3c4d.azurecr.io"
SHARED_REGISTRY_ID = (
    f"/subscriptions/{SHARED_SUBSCRIPTION}/resourceGroups/aiapp-dev-acr-rg/providers/"
    "Microsoft.ContainerRegistry/registries/aiappdevacr1a2b3c4d"
)
DIGEST = "4f" * 32
# Values no build of this checkout produces (the reference model is version 1, the commit "unknown"), so a
# value found where one of these is expected came from the object.
PROMOTED: dict[str, str] = {
    "image": f"{SHARED_LOGIN_SERVER}/aiapp@sha256:{DIGEST}",
    "modelName": "digits",
    "modelVersion": "7",
    "modelSha256": "5e" * 32,
    "commit": "c0ffee" + "0" * 34,
    "appVersion": "0.9.1",
}
# prod pulling from dev's registry: its own registry's SKU would do nothing, so it is removed.
SHARED_PROD = {"aiapp:sharedRegistryId": SHARED_REGISTRY_ID, "aiapp:acrSku": None}


def promoted_config(obj: Mapping[str, Any] | str = PROMOTED, **more: Any) -> dict[str, Any]:
    value = obj if isinstance(obj, str) else json.dumps(obj)
    return {**SHARED_PROD, "aiapp:promotedImage": value, **more}


def container(run: StackRun) -> dict[str, Any]:
    (found,) = run.one(DEPLOYMENT).inputs["spec"]["template"]["spec"]["containers"]
    return found


def roles(run: StackRun, role: str) -> list[Any]:
    return [a for a in run.of_type(ROLE_ASSIGNMENT) if a.inputs["roleDefinitionId"].endswith(f"/{role}")]


@pytest.fixture(scope="module")
def prod_promoted(store_url: str) -> StackRun:
    return harness.run_program(promoted_config(), stack="prod", model_store=store_url)


# ------------------------------------------------------------------------------------- a promoted image


def test_a_promoted_image_is_run_exactly_and_nothing_is_built_or_fetched(prod_promoted: StackRun) -> None:
    run = prod_promoted
    assert container(run)["image"] == PROMOTED["image"]
    types = {r.type for r in run.resources}
    assert IMAGE not in types and "aiapp:infra:AppImage" not in types
    # No model fetch, no build context, no push login.
    assert run.store_urls == [] and not (run.workdir / "build").exists()
    assert (run.acr_exchanges, run.registry_checks, run.docker_logins) == ([], [], [])


def test_its_pod_labels_come_from_the_object(prod_promoted: StackRun) -> None:
    labels = prod_promoted.one(DEPLOYMENT).inputs["spec"]["template"]["metadata"]["labels"]
    assert (labels["aiapp/model-name"], labels["aiapp/model-version"]) == ("digits", "7")


def test_its_outputs_come_from_the_object_and_promotion_is_the_object(prod_promoted: StackRun) -> None:
    out = prod_promoted.outputs
    assert out["promotion"] == PROMOTED
    assert (out["image"], out["model_name"], out["model_version"], out["model_sha256"]) == (
        PROMOTED["image"],
        PROMOTED["modelName"],
        PROMOTED["modelVersion"],
        PROMOTED["modelSha256"],
    )
    assert (out["app_commit"], out["app_version"]) == (PROMOTED["commit"], PROMOTED["appVersion"])
    # What the smoke test reads (pipelines/smoke_test.py: model_version, model_sha256, model_name,
    # app_commit) is the object's, and the registry the stack pulls from is the shared one.
    assert (out["acr_login_server"], out["registry_id"]) == (SHARED_LOGIN_SERVER, SHARED_REGISTRY_ID)


def test_a_pull_request_preview_shows_the_promoted_image_and_builds_nothing(store_url: str) -> None:
    """The release's preview of prod passes prod's current `promotion` as aiapp:promotedImage."""
    run = harness.run_program(promoted_config(), stack="prod", preview=True, model_store=store_url)
    assert container(run)["image"] == PROMOTED["image"]  # known: the shared registry is read in a preview
    assert run.outputs["promotion"] == PROMOTED and "image" not in run.unknown_outputs
    assert run.of_type(IMAGE) == [] and run.store_urls == []


# ------------------------------------------------------------------------------------- a shared registry


def test_a_shared_registry_is_read_not_created_and_the_kubelet_may_pull_from_it(
    prod_promoted: StackRun,
) -> None:
    run = prod_promoted
    assert run.of_type(REGISTRY) == [] and run.of_type("aiapp:infra:Registry") == []
    assert "aiapp-prod-acr-rg" not in {g.name for g in run.of_type("azure-native:resources:ResourceGroup")}
    (read,) = run.reads
    assert (read.type, read.id, read.outputs["loginServer"]) == (
        REGISTRY,
        SHARED_REGISTRY_ID,
        SHARED_LOGIN_SERVER,
    )
    assert run.parent_of(read).type == "aiapp:infra:SharedRegistry"
    # AcrPull for the kubelet on the shared registry, in that registry's subscription; no AcrPush anywhere.
    (pull,) = roles(run, ACR_PULL)
    kubelet = run.one("azure-native:containerservice:ManagedCluster").outputs["identityProfile"][
        "kubeletidentity"
    ]
    assert (pull.inputs["scope"], pull.inputs["principalId"]) == (SHARED_REGISTRY_ID, kubelet["objectId"])
    assert pull.inputs["roleDefinitionId"].startswith(f"/subscriptions/{SHARED_SUBSCRIPTION}/providers/")
    assert pull.urn in run.one(DEPLOYMENT).dependencies  # pods start once the kubelet may pull
    assert roles(run, ACR_PUSH) == []


def test_dev_hands_prod_its_promotion_verbatim(dev_run: StackRun, store_url: str) -> None:
    """The release's hand-over: dev's `promotion` and `registry_id` outputs, as `pulumi stack output --json`
    prints them, become prod's aiapp:promotedImage and aiapp:sharedRegistryId; prod then runs dev's digest."""
    handed = json.dumps(dev_run.outputs["promotion"])
    prod = harness.run_program(
        {
            "aiapp:promotedImage": handed,
            "aiapp:sharedRegistryId": dev_run.outputs["registry_id"],
            "aiapp:acrSku": None,
        },
        stack="prod",
        model_store=store_url,
    )
    built = dev_run.one(IMAGE)
    assert container(prod)["image"] == dev_run.outputs["image"] == built.outputs["repoDigest"]
    assert prod.outputs["promotion"] == dev_run.outputs["promotion"]
    assert prod.outputs["acr_login_server"] == dev_run.outputs["acr_login_server"]
    assert prod.of_type(IMAGE) == [] and prod.store_urls == []


def test_a_built_stacks_promotion_is_its_own_outputs(stack_run: StackRun) -> None:
    out = stack_run.outputs
    build_args = stack_run.one(IMAGE).inputs["build"]["args"]
    assert out["promotion"] == {
        "image": stack_run.one(IMAGE).outputs["repoDigest"],
        "modelName": build_args["MODEL_NAME"],
        "modelVersion": build_args["MODEL_VERSION"],
        "modelSha256": build_args["MODEL_SHA256"],
        "commit": build_args["GIT_COMMIT"],
        "appVersion": build_args["APP_VERSION"],
    }
    assert [
        out[k] for k in ("image", "model_name", "model_version", "model_sha256", "app_commit", "app_version")
    ] == list(out["promotion"].values())


# ------------------------------------------------------------------------------ a stack's own registry


def test_a_stack_rolls_back_to_an_image_of_its_own_registry(dev_run: StackRun, store_url: str) -> None:
    """dev's rollback: its previous `promotion`, from its own registry (no sharedRegistryId)."""
    previous = {**dev_run.outputs["promotion"], "modelVersion": "6"}
    run = harness.run_program(
        {"aiapp:promotedImage": json.dumps(previous)}, stack="dev", model_store=store_url
    )
    assert container(run)["image"] == previous["image"]
    assert run.of_type(IMAGE) == [] and run.store_urls == []
    assert len(run.of_type(REGISTRY)) == 1 and run.outputs["promotion"] == previous


def test_an_image_of_another_registry_is_refused_where_the_stack_pulls_from_its_own(store_url: str) -> None:
    """Only an update knows its own registry's name (Azure suffixes it): refused there, before the
    Deployment is declared, with what to do."""
    with pytest.raises(PromotionError) as caught:
        harness.run_program({"aiapp:promotedImage": json.dumps(PROMOTED)}, stack="dev", model_store=store_url)
    message = str(caught.value)
    assert f"its image is in {SHARED_LOGIN_SERVER}, but this stack's nodes pull from aiappdevacr" in message
    assert "`pulumi config set aiapp:promotedImage <that object>`" in message
    assert harness.last_run().of_type(DEPLOYMENT) == []


# ----------------------------------------------------------------------------------------- release_watch


@pytest.mark.parametrize(
    ("stack", "config", "expected"),
    [
        ("dev", {}, {"minutes": 3, "latencyP99Ms": 500, "maxErrorRatio": 0.01}),
        ("prod", {}, {"minutes": 10, "latencyP99Ms": 500, "maxErrorRatio": 0.01}),
        (
            "prod",
            {**promoted_config(), "aiapp:watchMinutes": "7", "aiapp:alertLatencyP99Ms": "800"},
            {"minutes": 7, "latencyP99Ms": 800, "maxErrorRatio": 0.01},
        ),
    ],
    ids=["dev", "prod", "prod-promoted-configured"],
)
def test_release_watch_says_how_long_and_by_which_thresholds(
    stack: str, config: dict, expected: dict, store_url: str
) -> None:
    run = harness.run_program(config, stack=stack, model_store=store_url)
    assert run.outputs["release_watch"] == expected
    # The latency is the alert's, in seconds there: one setting, two uses.
    latency = expected["latencyP99Ms"] / 1000
    rule_groups = run.of_type("azure-native:alertsmanagement:PrometheusRuleGroup")
    exprs = [
        r["expression"] for g in rule_groups for r in g.inputs["rules"] if r["alert"] == "AppLatencyP99High"
    ]
    assert exprs and exprs[0].endswith(f"> {latency:g}")


def error_alert_changed(change: Callable[[str], str]) -> tuple[Group, ...]:
    """monitoring/alerts.yml's groups with the AppErrorRatioHigh expression changed."""
    return tuple(
        replace(
            g,
            rules=tuple(
                replace(r, expr=change(r.expr)) if r.alert == ERROR_RATIO_ALERT else r for r in g.rules
            ),
        )
        for g in load()
    )


def test_the_error_ratio_is_the_alerts_read_from_the_rules_file() -> None:
    """Not a second literal: a rules file with another threshold gives another ratio; one without the alert,
    or with it ending otherwise, is refused."""
    assert max_error_ratio(load()) == 0.01
    assert max_error_ratio(error_alert_changed(lambda e: replace_threshold(e, "0.025"))) == 0.025
    with pytest.raises(RulesFileError, match="AppErrorRatioHigh: must be one alert ending with `> <ratio>`"):
        max_error_ratio(error_alert_changed(lambda e: e.replace("> 0.01", "< 0.01")))
    without = tuple(
        replace(g, rules=tuple(r for r in g.rules if r.alert != ERROR_RATIO_ALERT)) for g in load()
    )
    with pytest.raises(RulesFileError):
        max_error_ratio(without)


def test_the_programs_release_watch_reads_the_rules_file(
    monkeypatch: pytest.MonkeyPatch, store_url: str
) -> None:
    """The output takes the ratio the rules file has when the program runs."""
    monkeypatch.setattr(watch, "load", lambda: error_alert_changed(lambda e: replace_threshold(e, "0.025")))
    run = harness.run_program(stack="dev", model_store=store_url)
    assert run.outputs["release_watch"]["maxErrorRatio"] == 0.025
