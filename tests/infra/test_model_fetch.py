"""The program's model fetch, for real against file stores the tests publish into (the model package's own
publish), and the reference-model option; plus the retry while a role assignment propagates."""

from __future__ import annotations

from pathlib import Path

import pytest

from infra.model_source import ModelSourceError, with_access_retry
from model.errors import StoreAccessDenied
from model.manifest import Manifest, verify_model_dir
from model.registry import publish
from model.store import FileStore
from model.train import Trained
from tests import harness
from tests.infra.conftest import tree_digest


def image_args(run: harness.StackRun) -> dict[str, str]:
    return run.one("docker:index/image:Image").inputs["build"]["args"]


def test_latest_is_fetched_by_default(two_version_store: FileStore) -> None:
    before = tree_digest(two_version_store.root)
    run = harness.run_program(model_store=two_version_store.url)
    manifest = verify_model_dir(run.workdir / "build" / "model")
    assert manifest.version == "2"
    assert image_args(run)["MODEL_VERSION"] == run.outputs["model_version"] == "2"
    assert image_args(run)["MODEL_SHA256"] == run.outputs["model_sha256"] == manifest.sha256
    assert tree_digest(two_version_store.root) == before  # read only


def test_a_pinned_version_is_fetched(two_version_store: FileStore) -> None:
    run = harness.run_program({"aiapp:modelVersion": "1"}, model_store=two_version_store.url)
    assert verify_model_dir(run.workdir / "build" / "model").version == "1"
    assert run.outputs["model_version"] == "1"
    deployment = run.one("kubernetes:apps/v1:Deployment").inputs["spec"]["template"]["metadata"]
    assert deployment["labels"]["aiapp/model-version"] == "1"


def test_an_empty_store_says_how_to_publish(tmp_path: Path) -> None:
    empty = FileStore(tmp_path / "empty")
    with pytest.raises(ModelSourceError) as caught:
        harness.run_program(model_store=empty.url)
    message = str(caught.value)
    run = harness.last_run()
    account = run.one("azure-native:storage:StorageAccount").outputs["name"]
    store = f"https://{account}.blob.core.windows.net/models"
    assert f"MODEL_STORE={store} python -m model publish" in message
    assert "pulumi config set aiapp:modelSource reference" in message
    assert run.of_type("docker:index/image:Image") == []  # no image without a model
    assert not (run.workdir / "build" / "model").exists()


def test_a_missing_version_is_a_clear_error(two_version_store: FileStore) -> None:
    with pytest.raises(ModelSourceError, match=r"digits version 9 .* has no manifest"):
        harness.run_program({"aiapp:modelVersion": "9"}, model_store=two_version_store.url)


def test_a_corrupt_model_is_never_built(tmp_path: Path, reference_trained: Trained) -> None:
    store = FileStore(tmp_path / "corrupt")
    publish(store, reference_trained.onnx, reference_trained.metrics, reference_trained.framework)
    model_file = store.root / "digits" / "1" / "model.onnx"
    model_file.write_bytes(model_file.read_bytes()[:-1] + b"\0")
    with pytest.raises(ModelSourceError, match=r"corrupt"):
        harness.run_program(model_store=store.url)
    run = harness.last_run()
    assert run.of_type("docker:index/image:Image") == []
    assert not (run.workdir / "build" / "model").exists()


def test_the_reference_model_option_builds_without_touching_the_store(
    tmp_path: Path, reference_trained: Trained
) -> None:
    empty = FileStore(tmp_path / "empty")
    run = harness.run_program({"aiapp:modelSource": "reference"}, model_store=empty.url)
    manifest = verify_model_dir(run.workdir / "build" / "model")
    from model.manifest import sha256_of

    assert manifest.sha256 == sha256_of(reference_trained.onnx) == run.outputs["model_sha256"]
    model_args = {k: v for k, v in image_args(run).items() if k.startswith("MODEL_")}
    assert model_args == {"MODEL_NAME": "digits", "MODEL_VERSION": "1", "MODEL_SHA256": manifest.sha256}
    assert run.store_urls == []  # the stack's store was not even opened
    assert not empty.root.exists()


def test_component_level_run_component_works_for_other_helpers() -> None:
    """run_component: one component in a fresh mock stack, its returned mapping resolved as outputs."""
    from infra.config.runtime import RegistrySettings, StackSettings
    from infra.identity import AzureContext, Principal
    from infra.registry import Registry, RegistryArgs

    def build() -> dict:
        stack = StackSettings(stack="dev", environment="dev", owner="team")
        azure = AzureContext("sub", "tenant", Principal("someone", "User"))
        registry = Registry("acr", RegistryArgs(stack, RegistrySettings(sku="Premium"), azure))
        return {"login_server": registry.login_server}

    run = harness.run_component(build)
    assert run.one("azure-native:containerregistry:Registry").inputs["sku"] == {"name": "Premium"}
    assert run.outputs["login_server"].endswith(".azurecr.io")
    assert run.one("azure-native:authorization:RoleAssignment").inputs["principalId"] == "someone"


# --------------------------------------------------------------------------------------------- retrying


class FakeClock:
    def __init__(self) -> None:
        self.now = 0.0
        self.sleeps: list[float] = []

    def sleep(self, seconds: float) -> None:
        self.sleeps.append(seconds)
        self.now += seconds

    def __call__(self) -> float:
        return self.now


def test_access_denied_is_retried_until_the_role_assignment_arrives(reference_manifest: Manifest) -> None:
    clock = FakeClock()
    answers: list[object] = [StoreAccessDenied("403"), StoreAccessDenied("403"), reference_manifest]

    def action() -> Manifest:
        answer = answers.pop(0)
        if isinstance(answer, Exception):
            raise answer
        return answer  # type: ignore[return-value]

    got = with_access_retry(action, "fetching", deadline_s=300, interval_s=15, sleep=clock.sleep, clock=clock)
    assert got is reference_manifest
    assert clock.sleeps == [15, 15]


def test_access_denied_gives_up_after_the_deadline_with_advice() -> None:
    clock = FakeClock()
    calls = []

    def action() -> Manifest:
        calls.append(clock.now)
        raise StoreAccessDenied("https://x.blob.core.windows.net/models denied digits/latest")

    with pytest.raises(ModelSourceError) as caught:
        with_access_retry(
            action, "fetching model", deadline_s=300, interval_s=15, sleep=clock.sleep, clock=clock
        )
    assert len(calls) == 21 and clock.now == 300  # a try every 15 s for 5 minutes, then give up
    assert "Storage Blob Data Reader" in str(caught.value) and "aiapp:deployerObjectId" in str(caught.value)


def test_other_errors_are_not_retried() -> None:
    clock = FakeClock()

    def action() -> Manifest:
        raise ValueError("boom")

    with pytest.raises(ValueError, match="boom"):
        with_access_retry(action, "fetching", sleep=clock.sleep, clock=clock)
    assert clock.sleeps == []
