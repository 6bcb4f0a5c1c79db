"""The whole stack, dev and prod, under Pulumi's mocks, fed resource by resource through the running policy
pack exactly as the engine feeds it at `pulumi up`: not one diagnostic. So the program and the pack cannot
drift apart; a failure here names the resource and the rule it breaks.

The stack with the Azure DevOps side on (aiapp:pipelinesEnabled; tests/harness/devops.py's two variants:
Azure Repos + azblob:// state alone, GitHub + Pulumi Cloud beside the runtime) is fed through the pack too.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable

import pytest

from model.store import FileStore
from policy.rules import azure, devops, edge, kubernetes
from policy.rules.tags import takes_tags
from tests.harness import StackRun, run_program
from tests.harness.devops import PROGRAM_VARIANTS, ProgramVariant, run_program_with_pipelines
from tests.infra.test_promotion import PROMOTED, promoted_config

from .engine import PackServer

HTTP_ROUTE = "kubernetes:gateway.networking.k8s.io/v1:HTTPRoute"

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
    # The edge rules' subjects: a Gateway and routes attached to it (the app's Service is ClusterIP now).
    assert declared[edge.GATEWAY] == 1 and declared[HTTP_ROUTE] == 2, dict(declared)
    tagged = [r for r in stack.resources if r.type.startswith("azure-native:") and takes_tags(r.type)]
    assert len(tagged) >= 4, f"{stack.stack}: only {[r.type for r in tagged]} take tags"


def findings(stack: StackRun, pack: PackServer) -> list[str]:
    found = []
    for resource in stack.resources:
        for diagnostic in pack.analyze(resource.type, resource.inputs, resource.name, stack=stack.stack):
            found.append(
                f"{resource.type} '{resource.name}' [{diagnostic.policy}, {diagnostic.enforcement}]: "
                f"{diagnostic.message}"
            )
    return found


def test_every_resource_passes_every_policy(stack: StackRun, pack: PackServer) -> None:
    found = findings(stack, pack)
    assert not found, f"{stack.stack} stack violates the policy pack:\n" + "\n".join(found)


def stack_findings(stack: StackRun, pack: PackServer) -> list[str]:
    """The stack policies, given every resource's outputs at once, as the engine runs them after an update."""
    resources = [(r.type, r.outputs, r.name) for r in stack.resources if r.custom]
    return [
        f"[{d.policy}, {d.enforcement}] {d.urn}: {d.message}"
        for d in pack.analyze_stack(resources, stack=stack.stack)
    ]


def test_the_whole_stack_passes_every_stack_policy(stack: StackRun, pack: PackServer) -> None:
    found = stack_findings(stack, pack)
    assert not found, f"{stack.stack} stack violates the policy pack:\n" + "\n".join(found)


# ------------------------------------------------------------------------------------ with the pipelines

# What the Azure DevOps side declares that a policy guards (plain-text secrets, the connections' scheme,
# principal types, tags), and, beside the runtime, what the runtime declares (it reads a shared store: no
# storage account of its own).
DEVOPS_GUARDED_TYPES = (devops.VARIABLE_GROUP, devops.SERVICE_ENDPOINT_AZURERM, azure.ROLE_ASSIGNMENT)
RUNTIME_GUARDED_TYPES = (azure.REGISTRY, azure.MANAGED_CLUSTER, kubernetes.DEPLOYMENT, kubernetes.SERVICE)


@pytest.fixture(scope="module", params=PROGRAM_VARIANTS, ids=[v.name for v in PROGRAM_VARIANTS])
def with_pipelines(
    request: pytest.FixtureRequest, reference_store: FileStore
) -> tuple[ProgramVariant, StackRun]:
    variant: ProgramVariant = request.param
    return variant, run_program_with_pipelines(variant, reference_store.url)


def test_the_stack_with_pipelines_declares_what_the_policies_guard(
    with_pipelines: tuple[ProgramVariant, StackRun],
) -> None:
    variant, stack = with_pipelines
    declared = Counter(resource.type for resource in stack.resources)
    wanted = DEVOPS_GUARDED_TYPES + (RUNTIME_GUARDED_TYPES if variant.runtime else ())
    missing = [resource_type for resource_type in wanted if not declared[resource_type]]
    assert not missing, f"{variant.name}: the stack declares none of {missing}; declared: {dict(declared)}"
    assert declared[devops.VARIABLE_GROUP] == 2 and declared[devops.SERVICE_ENDPOINT_AZURERM] == 2


def test_every_resource_of_the_stack_with_pipelines_passes_every_policy(
    with_pipelines: tuple[ProgramVariant, StackRun], pack: PackServer
) -> None:
    variant, stack = with_pipelines
    found = findings(stack, pack) + stack_findings(stack, pack)
    assert not found, f"{variant.name} stack violates the policy pack:\n" + "\n".join(found)


# ------------------------------------------------------------------------------------ a promoted image


def test_prod_running_a_promoted_image_from_a_shared_registry_passes_every_policy(
    pack: PackServer, reference_store: FileStore
) -> None:
    """What the release deploys to prod: dev's digest from dev's registry; nothing built, no registry."""
    stack = run_program(promoted_config(), stack="prod", model_store=reference_store.url)
    (deployment,) = [r for r in stack.resources if r.type == kubernetes.DEPLOYMENT]
    assert deployment.inputs["spec"]["template"]["spec"]["containers"][0]["image"] == PROMOTED["image"]
    found = findings(stack, pack) + stack_findings(stack, pack)
    assert not found, "prod with a promoted image violates the policy pack:\n" + "\n".join(found)
