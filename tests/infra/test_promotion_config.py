"""aiapp:promotedImage and aiapp:sharedRegistryId refused when wrong: each problem named exactly, with its
fix, reported with every other config problem, and before the program declares any resource."""

from __future__ import annotations

import json
from typing import Any

import pytest

from infra.config import ConfigError, load_settings
from tests import harness
from tests.infra.test_promotion import DIGEST, PROMOTED, SHARED_PROD, SHARED_REGISTRY_ID, promoted_config

SET_IT = (
    "set it with `pulumi config set aiapp:promotedImage "
    + '"$(pulumi stack output promotion --json --stack dev)"`'
)
SERVER = "aiappdevacr1a2b3c4d.azurecr.io"


def refused(config: dict[str, Any], store_url: str) -> str:
    """The program's config error for prod with `config`; it must come before any resource."""
    with pytest.raises(ConfigError) as caught:
        harness.run_program(config, stack="prod", model_store=store_url)
    assert harness.last_run().resources == []
    return str(caught.value)


def changed(**values: Any) -> dict[str, Any]:
    return {**PROMOTED, **values}


def without(*keys: str) -> dict[str, Any]:
    return {k: v for k, v in PROMOTED.items() if k not in keys}


# (aiapp:promotedImage as JSON text or an object, what the error must say)
MALFORMED: list[tuple[str, Any, str]] = [
    ("not-json", "{image: x}", "aiapp:promotedImage: is not JSON (Expecting property name"),
    ("a-list", json.dumps([PROMOTED]), "aiapp:promotedImage: is a list, not a JSON object"),
    ("a-string", json.dumps(PROMOTED["image"]), "aiapp:promotedImage: is a string, not a JSON object"),
    (
        "a-tag",
        changed(image=f"{SERVER}/aiapp:0.9.1"),
        f"image '{SERVER}/aiapp:0.9.1' names a tag (:0.9.1), not a digest: promote by digest, "
        "<login server>/<repository>@sha256:<64 hex>",
    ),
    ("no-digest", changed(image=f"{SERVER}/aiapp"), f"image '{SERVER}/aiapp' has no digest"),
    (
        "short-digest",
        changed(image=f"{SERVER}/aiapp@sha256:{DIGEST[:63]}"),
        "its digest has 63 hex digits, not 64",
    ),
    (
        "long-digest",
        changed(image=f"{SERVER}/aiapp@sha256:{DIGEST}0"),
        "its digest has 65 hex digits, not 64",
    ),
    (
        "uppercase-digest",
        changed(image=f"{SERVER}/aiapp@sha256:{DIGEST.upper()}"),
        "its digest is not lowercase hex",
    ),
    (
        "other-algorithm",
        changed(image=f"{SERVER}/aiapp@sha512:{DIGEST}"),
        f"its digest 'sha512:{DIGEST}' is not sha256:<64 hex>",
    ),
    (
        "tag-and-digest",
        changed(image=f"{SERVER}/aiapp:0.9.1@sha256:{DIGEST}"),
        "carries a tag (:0.9.1) beside its digest: give the digest alone",
    ),
    ("no-login-server", changed(image=f"aiapp@sha256:{DIGEST}"), "names no registry login server"),
    (
        "bad-repository",
        changed(image=f"{SERVER}/AIapp@sha256:{DIGEST}"),
        "'AIapp' is not a registry repository name",
    ),
    ("missing-keys", without("commit", "appVersion"), "aiapp:promotedImage: lacks commit, appVersion"),
    ("extra-key", {**PROMOTED, "tag": "0.9.1"}, "has keys the contract does not: 'tag'"),
    ("number", changed(modelVersion=7), "modelVersion is a number (7), not a string"),
    ("null", changed(image=None), "image is null (null), not a string"),
    ("list", changed(commit=["c0ffee"]), 'commit is a list (["c0ffee"]), not a string'),
    ("latest", changed(modelVersion="latest"), "modelVersion 'latest' is not a published version number"),
    ("short-sha256", changed(modelSha256="abc"), "modelSha256 'abc' is not 64 lowercase hex digits"),
    ("branch-as-commit", changed(commit="main"), "commit 'main' is not a full commit SHA (40 hex digits"),
    ("model-name", changed(modelName="Digits!"), "modelName 'Digits!' is not a model name"),
    ("app-version", changed(appVersion="0.9 beta"), "appVersion '0.9 beta' is not a version such as 0.1.0"),
    (
        "another-registry",
        changed(image=f"otherregistry.azurecr.io/aiapp@sha256:{DIGEST}"),
        "image is in otherregistry.azurecr.io, not in the registry this stack pulls from "
        f"(aiapp:sharedRegistryId, {SERVER}): its nodes may pull only from there",
    ),
]


@pytest.mark.parametrize(("value", "message"), [m[1:] for m in MALFORMED], ids=[m[0] for m in MALFORMED])
def test_each_malformed_promotion_is_named_before_any_resource(
    value: Any, message: str, store_url: str
) -> None:
    found = refused(promoted_config(value), store_url)
    assert message in found
    assert SET_IT in found


def test_every_problem_of_the_object_is_said_at_once(store_url: str) -> None:
    found = refused(
        promoted_config({**without("modelSha256"), "image": f"{SERVER}/aiapp:v1", "x": 1}), store_url
    )
    (line,) = [line for line in found.splitlines() if "aiapp:promotedImage" in line]
    assert (
        "lacks modelSha256; has keys the contract does not: 'x'; image" in line
        and "names a tag (:v1)" in line
    )


@pytest.mark.parametrize(
    "beside",
    [
        {"aiapp:modelVersion": "3"},
        {"aiapp:modelVersion": "latest"},
        {"aiapp:modelSource": "reference"},
        {"aiapp:baseImage": "debian:bookworm-slim"},
    ],
    ids=["modelVersion", "modelVersion-at-its-default", "modelSource", "baseImage"],
)
def test_a_build_key_beside_a_promoted_image_is_refused_with_its_removal(
    beside: dict, store_url: str
) -> None:
    (key,) = beside
    found = refused(promoted_config(**beside), store_url)
    assert f"aiapp:promotedImage: {key} may not be set beside it: the promoted image holds its model" in found
    assert f"remove it: `pulumi config rm {key}`" in found
    assert SET_IT not in found  # the object itself is fine


def test_all_build_keys_beside_it_and_other_problems_are_reported_together(store_url: str) -> None:
    found = refused(
        promoted_config(
            changed(modelVersion=7),
            **{"aiapp:modelVersion": "3", "aiapp:baseImage": "debian", "aiapp:replicas": "many"},
        ),
        store_url,
    )
    assert "modelVersion is a number (7), not a string" in found
    assert "aiapp:modelVersion, aiapp:baseImage may not be set beside it" in found
    assert "remove them: `pulumi config rm aiapp:modelVersion`, `pulumi config rm aiapp:baseImage`" in found
    assert "aiapp:replicas: 'many' is not a whole number" in found  # another section's problem, same error


def test_a_shared_registry_needs_a_promoted_image(store_url: str) -> None:
    found = refused(SHARED_PROD, store_url)
    assert (
        "aiapp:promotedImage: is required with aiapp:sharedRegistryId: a stack pulling from another stack's "
        "registry builds nothing (it may not push there)" in found
    )
    assert SET_IT in found


def test_a_shared_registry_refuses_an_own_registry_sku(store_url: str) -> None:
    # Pulumi.prod.yaml sets aiapp:acrSku: the switch to a shared registry removes it.
    found = refused({**promoted_config(), "aiapp:acrSku": "Standard"}, store_url)
    assert (
        "aiapp:sharedRegistryId: is set, so this stack creates no registry, but aiapp:acrSku only applies "
        "to a registry it creates" in found
    )
    assert "remove it: `pulumi config rm aiapp:acrSku`" in found


@pytest.mark.parametrize(
    "registry_id",
    [
        "aiappdevacr1a2b3c4d",  # a name, not an id
        SHARED_REGISTRY_ID.replace("ContainerRegistry/registries", "Storage/storageAccounts"),
        SHARED_REGISTRY_ID.replace("aiappdevacr1a2b3c4d", "aiapp-dev-acr"),  # registry names have no hyphens
        SHARED_REGISTRY_ID + "/replications/westeurope",
    ],
    ids=["a-name", "a-storage-account", "a-hyphen", "a-child"],
)
def test_a_malformed_shared_registry_id_is_refused_with_its_shape(registry_id: str, store_url: str) -> None:
    found = refused({**promoted_config(), "aiapp:sharedRegistryId": registry_id}, store_url)
    assert f"aiapp:sharedRegistryId: {registry_id!r} is not a container registry's resource id" in found
    assert "pulumi config set aiapp:sharedRegistryId $(pulumi stack output registry_id --stack dev)" in found


def test_a_login_server_with_a_domain_name_label_hash_is_the_registrys() -> None:
    """A registry created with a domain name label scope is <name>-<hash>.azurecr.io."""
    image = f"aiappdevacr1a2b3c4d-h7d2e9f0c4b1a3e5.azurecr.io/aiapp@sha256:{DIGEST}"
    config = {
        "owner": "team",
        "onCallEmails": '["oncall@example.com"]',
        "sharedRegistryId": SHARED_REGISTRY_ID,
        "promotedImage": json.dumps(changed(image=image)),
    }
    promoted = load_settings(config.get, stack_name="prod").image.promoted
    assert promoted is not None and promoted.image == image
