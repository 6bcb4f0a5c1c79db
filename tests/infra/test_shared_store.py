"""One model store for dev and prod: the dev stack owns it, prod reads it through aiapp:modelStoreUrl.

With the key set, a stack creates no store and grants nothing on it; its image is built from the model
fetched from that store (for real, from the test's file store, as tests/harness/outside.py redirects blob
URLs), and it exports the store as model_store_url. Access problems say that the grant belongs to the
store's owner.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from infra.model_source import ModelSourceError, fetch_from_store
from model.errors import StoreAccessDenied
from model.store import FileStore, Store
from tests import harness
from tests.harness import StackRun
from tests.infra.conftest import tree_digest
from tests.infra.test_model_fetch import FakeClock

SHARED = "https://aiappdevmdl1a2b3c4d.blob.core.windows.net/models"
BLOB_READER = "2a2b9908-6ea1-4ae2-8e65-a410df84e7d1"
BLOB_CONTRIBUTOR = "ba92f5b4-2d11-453d-a403-e96b0029c9fe"


@pytest.fixture(scope="module")
def prod_shared(store_url: str, reference_store: FileStore) -> StackRun:
    before = tree_digest(reference_store.root)
    run = harness.run_program({"aiapp:modelStoreUrl": SHARED}, stack="prod", model_store=store_url)
    assert tree_digest(reference_store.root) == before, "the program wrote to the shared store"
    return run


def test_a_stack_reading_a_shared_store_creates_no_store_and_grants_nothing_on_it(
    prod_shared: StackRun, prod_run: StackRun
) -> None:
    types = {r.type for r in prod_shared.resources}
    assert "aiapp:infra:ModelStore" not in types
    assert not [t for t in types if t.startswith("azure-native:storage:")]
    assert [g.name for g in prod_shared.of_type("azure-native:resources:ResourceGroup")] == [
        "aiapp-prod-rg",
        "aiapp-prod-acr-rg",  # the registry's own
    ]
    roles = [
        a.inputs["roleDefinitionId"].rsplit("/", 1)[-1]
        for a in prod_shared.of_type("azure-native:authorization:RoleAssignment")
    ]
    assert BLOB_READER not in roles and BLOB_CONTRIBUTOR not in roles
    # Exactly the store's resources fewer than the stack that owns one: group, account, blob service,
    # container, the deployer's blob role and the component itself.
    assert len(prod_run.resources) - len(prod_shared.resources) == 6


def test_the_image_carries_the_model_of_the_shared_store(prod_shared: StackRun, store_url: str) -> None:
    assert prod_shared.store_urls == [SHARED]  # opened the configured store, and only that
    image = prod_shared.one("docker:index/image:Image")
    assert image.inputs["build"]["args"]["MODEL_VERSION"] == prod_shared.outputs["model_version"] == "1"
    assert prod_shared.outputs["model_store_url"] == SHARED
    # Nothing in this stack gates the fetch: of the role assignments, the image waits only for AcrPush.
    roles = [
        prod_shared.by_urn(u).inputs["roleDefinitionId"].rsplit("/", 1)[-1]
        for u in image.dependencies
        if prod_shared.by_urn(u).type == "azure-native:authorization:RoleAssignment"
    ]
    assert roles == ["8311e382-0749-4cb8-b61a-304f252e45ec"]  # AcrPush


def test_the_typical_setup_prod_reads_the_store_dev_owns(dev_run: StackRun, store_url: str) -> None:
    """dev creates the store (protected); prod is configured with dev's model_store_url output."""
    account = dev_run.one("azure-native:storage:StorageAccount")
    assert account.protect and dev_run.one("azure-native:storage:BlobContainer").protect
    dev_store = dev_run.outputs["model_store_url"]
    prod = harness.run_program({"aiapp:modelStoreUrl": dev_store}, stack="prod", model_store=store_url)
    assert prod.store_urls == [dev_store] == dev_run.store_urls
    assert prod.outputs["model_store_url"] == dev_store
    assert (prod.outputs["model_version"], prod.outputs["model_sha256"]) == (
        dev_run.outputs["model_version"],
        dev_run.outputs["model_sha256"],
    )


def test_an_empty_shared_store_says_where_to_publish(tmp_path: Path) -> None:
    empty = FileStore(tmp_path / "empty")
    with pytest.raises(ModelSourceError) as caught:
        harness.run_program({"aiapp:modelStoreUrl": SHARED}, stack="prod", model_store=empty.url)
    message = str(caught.value)
    assert (
        f"Publish a model into the shared model store (aiapp:modelStoreUrl) with `MODEL_STORE={SHARED}"
        in message
    )
    assert harness.last_run().of_type("docker:index/image:Image") == []


def _denied(url: str) -> Store:
    """A store that refuses the identity, as Blob Storage does before a role assignment has propagated."""
    raise StoreAccessDenied(f"{url}: AuthorizationPermissionMismatch on digits/latest")


@pytest.mark.parametrize("shared", [True, False], ids=["shared-store", "own-store"])
def test_access_denied_says_who_must_grant_the_reader_role(shared: bool, tmp_path: Path) -> None:
    clock = FakeClock()
    with pytest.raises(ModelSourceError) as caught:
        fetch_from_store(
            _denied,
            SHARED,
            tmp_path / "model",
            "digits",
            "latest",
            shared,
            deadline_s=30,
            interval_s=15,
            sleep=clock.sleep,
            clock=clock,
        )
    message = str(caught.value)
    assert "needs Storage Blob Data Reader on the model store" in message
    assert "AuthorizationPermissionMismatch" in message  # the store's own answer
    if shared:
        assert "the store belongs to the stack that created it (aiapp:modelStoreUrl)" in message
        assert "az role assignment create --role 'Storage Blob Data Reader'" in message
    else:
        assert "check aiapp:deployerObjectId" in message and "aiapp:modelStoreUrl" not in message
    assert clock.sleeps == [15, 15]  # tried at 0, 15 and 30 s while a role assignment propagates


def test_a_preview_reads_the_shared_store_and_builds_nothing(store_url: str) -> None:
    """The URL is known before any resource exists, so a preview shows the model it would ship (the pipelines'
    preview identity may read the store); it builds and pushes no image."""
    run = harness.run_program(
        {"aiapp:modelStoreUrl": SHARED}, stack="prod", preview=True, model_store=store_url
    )
    assert run.store_urls == [SHARED]
    assert (run.outputs["model_version"], run.outputs["model_store_url"]) == ("1", SHARED)
    assert "image" in run.unknown_outputs and run.acr_exchanges == []
    assert run.one("docker:index/image:Image").inputs["buildOnPreview"] is False
