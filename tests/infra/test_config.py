"""Stack configuration: defaults, and every bad value rejected with the key and the allowed values, before any
resource is declared."""

from __future__ import annotations

import pytest

from infra.config import ConfigError, load_settings
from tests import harness


def settings_from(values: dict[str, str], stack: str = "dev"):
    return load_settings(lambda key: values.get(f"aiapp:{key}"), stack_name=stack)


def test_defaults_need_only_an_owner() -> None:
    s = settings_from({"aiapp:owner": "team"})
    assert s.stack.location == "westeurope"
    assert s.stack.environment == "dev"  # from the stack name
    assert s.stack.tags == {"owner": "team", "environment": "dev", "app": "aiapp"}
    assert s.deployer.object_id is None and s.deployer.principal_type is None  # both from the login
    assert s.registry.sku == "Basic"
    assert (s.model_store.sku, s.model_store.container, s.model_store.soft_delete_days) == (
        "Standard_LRS",
        "models",
        7,
    )
    assert (s.model.name, s.model.version, s.model.source) == ("digits", "latest", "store")
    assert (s.cluster.kubernetes_version, s.cluster.min_nodes, s.cluster.max_nodes) == ("1.33", 1, 3)
    assert (s.workload.replicas, s.workload.max_replicas, s.workload.dns_label) == (1, 5, None)


def test_prod_defaults_to_two_replicas() -> None:
    prod = {"aiapp:owner": "team", "aiapp:onCallEmails": '["oncall@example.com"]'}
    assert settings_from(prod, stack="prod").workload.replicas == 2


def test_extra_tags_are_merged_and_cannot_override_the_required_ones() -> None:
    s = settings_from({"aiapp:owner": "team", "aiapp:tags": '{"costCenter": "42", "owner": "someone-else"}'})
    assert s.stack.tags == {"costCenter": "42", "owner": "team", "environment": "dev", "app": "aiapp"}


def test_all_problems_are_reported_together() -> None:
    with pytest.raises(ConfigError) as caught:
        settings_from({"aiapp:acrSku": "Gold", "aiapp:replicas": "many"})
    message = str(caught.value)
    assert "aiapp:owner: is required" in message
    assert "aiapp:acrSku: 'Gold' is not one of the allowed values Basic, Standard, Premium" in message
    assert "aiapp:replicas: 'many' is not a whole number between 1 and 100" in message


# (config overrides, the exact text the error must contain)
BAD_CONFIG = [
    ({"aiapp:owner": None}, "aiapp:owner: is required"),
    ({"aiapp:location": "West Europe"}, "aiapp:location: 'West Europe' is not an Azure region name"),
    ({"aiapp:namePrefix": "AI-App"}, "aiapp:namePrefix: 'AI-App' is not 2 to 8 lowercase letters or digits"),
    (
        {"aiapp:environment": "qa"},
        "aiapp:environment: 'qa' is not one of the allowed values dev, test, staging, prod",
    ),
    ({"aiapp:tags": "[1, 2]"}, "aiapp:tags: '[1, 2]' is not a JSON object of string tags"),
    ({"aiapp:deployerObjectId": "me"}, "aiapp:deployerObjectId: 'me' is not an Entra object id (a GUID)"),
    (
        {"aiapp:deployerObjectId": "d0d0d0d0-1111-4222-8333-444444444444"},
        "aiapp:deployerPrincipalType: is required with aiapp:deployerObjectId (allowed values User, "
        "ServicePrincipal)",
    ),
    (
        {"aiapp:deployerPrincipalType": "Group"},
        "aiapp:deployerPrincipalType: 'Group' is not one of the allowed values User, ServicePrincipal",
    ),
    (
        {"aiapp:acrSku": "Gold"},
        "aiapp:acrSku: 'Gold' is not one of the allowed values Basic, Standard, Premium",
    ),
    (
        {"aiapp:modelStoreSku": "Premium_LRS"},
        "aiapp:modelStoreSku: 'Premium_LRS' is not one of the allowed values",
    ),
    ({"aiapp:modelContainer": "Models"}, "aiapp:modelContainer: 'Models' is not a blob container name"),
    ({"aiapp:modelSoftDeleteDays": "0"}, "aiapp:modelSoftDeleteDays: 0 is outside the allowed range 1..365"),
    (
        {"aiapp:dataScientistsGroupObjectId": "data-team"},
        "aiapp:dataScientistsGroupObjectId: 'data-team' is not",
    ),
    ({"aiapp:modelName": "Digits!"}, "aiapp:modelName: 'Digits!' is not a model name"),
    ({"aiapp:modelVersion": "v3"}, "aiapp:modelVersion: 'v3' is not 'latest' or a positive whole number"),
    ({"aiapp:modelVersion": "0"}, "aiapp:modelVersion: '0' is not 'latest' or a positive whole number"),
    (
        {"aiapp:modelSource": "azure"},
        "aiapp:modelSource: 'azure' is not one of the allowed values store, reference",
    ),
    ({"aiapp:kubernetesVersion": "latest"}, "aiapp:kubernetesVersion: 'latest' is not a Kubernetes version"),
    ({"aiapp:nodeVmSize": "big"}, "aiapp:nodeVmSize: 'big' is not an Azure VM size"),
    ({"aiapp:nodeMinCount": "0"}, "aiapp:nodeMinCount: 0 is outside the allowed range 1..100"),
    (
        {"aiapp:nodeMinCount": "3", "aiapp:nodeMaxCount": "2"},
        "aiapp:nodeMaxCount: 2 is below aiapp:nodeMinCount (3)",
    ),
    (
        {"aiapp:aksTier": "Gold"},
        "aiapp:aksTier: 'Gold' is not one of the allowed values Free, Standard, Premium",
    ),
    (
        {"aiapp:nodeZones": '["1", "4"]'},
        'aiapp:nodeZones: \'["1", "4"]\' is not a JSON list of distinct zones',
    ),
    (
        {"aiapp:imageRepository": "My App"},
        "aiapp:imageRepository: 'My App' is not a registry repository name",
    ),
    ({"aiapp:baseImage": "debian bookworm"}, "aiapp:baseImage: 'debian bookworm' is not an image reference"),
    ({"aiapp:namespace": "AI_APP"}, "aiapp:namespace: 'AI_APP' is not a Kubernetes namespace name"),
    ({"aiapp:replicas": "0"}, "aiapp:replicas: 0 is outside the allowed range 1..100"),
    ({"aiapp:maxReplicas": "1", "aiapp:replicas": "2"}, "aiapp:maxReplicas: 1 is below aiapp:replicas (2)"),
    ({"aiapp:cpuTargetPercent": "5"}, "aiapp:cpuTargetPercent: 5 is outside the allowed range 10..100"),
    ({"aiapp:cpuRequest": "lots"}, "aiapp:cpuRequest: 'lots' is not a Kubernetes CPU quantity"),
    (
        {"aiapp:cpuRequest": "2", "aiapp:cpuLimit": "500m"},
        "aiapp:cpuLimit: 500m is below aiapp:cpuRequest (2)",
    ),
    ({"aiapp:memoryLimit": "1GB"}, "aiapp:memoryLimit: '1GB' is not a Kubernetes memory quantity"),
    (
        {"aiapp:memoryRequest": "1Gi", "aiapp:memoryLimit": "512Mi"},
        "aiapp:memoryLimit: 512Mi is below aiapp:memoryRequest (1Gi)",
    ),
    ({"aiapp:dnsLabel": "-app"}, "aiapp:dnsLabel: '-app' is not a DNS label"),
]


@pytest.mark.parametrize(("overrides", "message"), BAD_CONFIG, ids=[next(iter(o)) for o, _ in BAD_CONFIG])
def test_each_bad_value_stops_the_program_before_any_resource(
    overrides: dict, message: str, store_url: str
) -> None:
    with pytest.raises(ConfigError) as caught:
        harness.run_program(overrides, model_store=store_url)
    assert message in str(caught.value)
    assert "pulumi config set aiapp:" in str(caught.value)  # says how to fix it
    assert harness.last_run().resources == []  # raised before any resource was declared


def test_prod_refuses_a_single_replica(store_url: str) -> None:
    with pytest.raises(ConfigError, match=r"aiapp:replicas: 1 is too few for prod"):
        harness.run_program(
            {"aiapp:replicas": "1", "aiapp:maxReplicas": "3"}, stack="prod", model_store=store_url
        )
    assert harness.last_run().resources == []


def test_an_unknown_stack_name_needs_an_explicit_environment() -> None:
    with pytest.raises(
        ConfigError, match=r"aiapp:environment: is not set and the stack name 'sandbox' is not"
    ):
        settings_from({"aiapp:owner": "team"}, stack="sandbox")
    assert (
        settings_from({"aiapp:owner": "t", "aiapp:environment": "test"}, stack="sandbox").stack.environment
        == "test"
    )
