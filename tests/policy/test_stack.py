"""The whole stack, dev and prod, under Pulumi's mocks, fed resource by resource through the running policy
pack exactly as the engine feeds it at `pulumi up`: not one diagnostic. So the program and the pack cannot
drift apart; a failure here names the resource and the rule it breaks.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable

import pytest

from policy.rules import azure, kubernetes
from policy.rules.tags import takes_tags
from tests.harness import StackRun

from .engine import PackServer

STACKS = ("dev", "prod")

# Every resource type a policy guards that the stack must declare, so "no violation" cannot mean "nothing
# was checked". (The Azure DevOps types are checked whenever the stack declares them: see the test below.)
GUARDED_TYPES = (
    azure.REGISTRY,
    azure.STORAGE_ACCOUNT,
    azure.BLOB_CONTAINER,
    azure.MANAGED_CLUSTER,
    azure.ROLE_ASSIGNMENT,
    kubernetes.DEPLOYMENT,
    kubernetes.SERVICE,
)


@pytest.fixture(params=STACKS)
def stack(request: pytest.FixtureRequest, stack_runs: Callable[[str], StackRun]) -> StackRun:
    return stack_runs(request.param)


def test_the_stack_declares_what_the_policies_guard(stack: StackRun) -> None:
    declared = Counter(resource.type for resource in stack.resources)
    missing = [resource_type for resource_type in GUARDED_TYPES if not declared[resource_type]]
    assert not missing, f"{stack.stack}: the stack declares none of {missing}; declared: {dict(declared)}"
    load_balancers = [
        service
        for service in stack.of_type(kubernetes.SERVICE)
        if (service.inputs.get("spec") or {}).get("type") == "LoadBalancer"
    ]
    assert load_balancers, (
        f"{stack.stack}: no Service of type LoadBalancer, so the exposure rules saw nothing"
    )
    tagged = [r for r in stack.resources if r.type.startswith("azure-native:") and takes_tags(r.type)]
    assert len(tagged) >= 4, f"{stack.stack}: only {[r.type for r in tagged]} take tags"


def test_every_resource_passes_every_policy(stack: StackRun, pack: PackServer) -> None:
    findings = []
    for resource in stack.resources:
        for diagnostic in pack.analyze(resource.type, resource.inputs, resource.name, stack=stack.stack):
            findings.append(
                f"{resource.type} '{resource.name}' [{diagnostic.policy}, {diagnostic.enforcement}]: "
                f"{diagnostic.message}"
            )
    assert not findings, f"{stack.stack} stack violates the policy pack:\n" + "\n".join(findings)
