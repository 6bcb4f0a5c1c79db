"""The autoscaled system pool (issue 11, item 5): a count at creation, and no count of Pulumi's on any later
update, under Pulumi's mocks. What AKS does with a count while the autoscaler is on, and what azure-native's
refresh writes into the inputs, is read from the providers' source (cited in infra/cluster.py), not run."""

from __future__ import annotations

import re
from typing import Any

from infra.cluster import SYSTEM_POOL_COUNT
from tests.harness import StackRun

CLUSTER = "azure-native:containerservice:ManagedCluster"


def at_path(inputs: dict[str, Any], path: str) -> Any:
    """The value a Pulumi property path (`a[0].b`, as ignoreChanges takes it) names in `inputs`; KeyError or
    IndexError when it names nothing, so a misspelt path cannot pass for an ignored one."""
    value: Any = inputs
    for name, index in re.findall(r"([A-Za-z_][A-Za-z0-9_]*)|\[(\d+)\]", path):
        value = value[name] if name else value[int(index)]
    return value


def test_later_updates_never_send_a_pool_count_of_their_own(stack_run: StackRun) -> None:
    cluster = stack_run.one(CLUSTER)
    assert SYSTEM_POOL_COUNT in cluster.ignore_changes
    # The ignored path is the system pool's count as the program declares it (the count it is created with).
    (pool,) = cluster.inputs["agentPoolProfiles"]
    assert at_path(cluster.inputs, SYSTEM_POOL_COUNT) == pool["count"] == pool["minCount"]
    assert pool["enableAutoScaling"] is True


def test_only_the_count_is_left_to_the_autoscaler(stack_run: StackRun) -> None:
    """Bounds, size, version and the rest still follow the config on every update."""
    assert stack_run.one(CLUSTER).ignore_changes == (SYSTEM_POOL_COUNT,)


def test_the_path_reader_refuses_a_path_that_names_nothing() -> None:
    inputs = {"agentPoolProfiles": [{"count": 1}]}
    assert at_path(inputs, "agentPoolProfiles[0].count") == 1
    for wrong in (
        "agentPoolProfile[0].count",
        "agentPoolProfiles[1].count",
        "agentPoolProfiles[0].nodeCount",
    ):
        try:
            at_path(inputs, wrong)
        except (KeyError, IndexError):
            continue
        raise AssertionError(f"{wrong} named something")
