"""Every role any stack assigns is one the release's deploy identity may assign (issue 11, item 8).

The release runs `pulumi up` of dev and prod as the deploy identity, whose Role Based Access Control
Administrator assignment carries a condition listing the roles it may assign (infra/pipelines/grants.py). A
role assignment the runtime declares outside that list fails only there, as a 403 in the night. This test runs
the real program under Pulumi's mocks: dev and prod as configured with every feature that assigns a role
switched on, prod reading a shared store, prod pulling from a shared registry, and both cicd variants; it
reads the condition off the deploy identity's declared assignment and fails for any role outside it. The Azure
DevOps side's own grants are made by the person who applies the cicd stack (never by the release) and are left
out. A guard makes sure every place in infra/ that declares a role assignment produced one here, so a role
added behind a new setting must be switched on below before this test passes.
"""

from __future__ import annotations

import ast
import re

import pytest

from infra.azure_ids import ACR_PULL, RBAC_ADMINISTRATOR
from model.store import FileStore
from tests.harness import REPO_ROOT, Recorded, StackRun, run_program
from tests.harness.devops import PROGRAM_VARIANTS, ROLE_ASSIGNMENT, run_program_with_pipelines
from tests.infra.test_promotion import SHARED_REGISTRY_ID, promoted_config

GUID = r"[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}"
PIPELINES = "aiapp:infra:Pipelines"
# Every setting that adds a role assignment, switched on (as the release's stacks would set them).
EVERY_FEATURE = {
    "aiapp:dataScientistsGroupObjectId": "5d5d5d5d-1111-4222-8333-444444444444",
    "aiapp:deployerObjectId": "6e6e6e6e-1111-4222-8333-444444444444",
    "aiapp:deployerPrincipalType": "ServicePrincipal",
    # A custom domain: cert-manager's DNS-01 identity gets DNS Zone Contributor on the zone.
    "aiapp:customDomain": "app.example.com",
    "aiapp:dnsZoneId": "/subscriptions/00000000-0000-0000-0000-000000000000/resourceGroups/dns/providers/"
    "Microsoft.Network/dnsZones/example.com",
}
STORE_OWNER_ONLY = {"aiapp:dataScientistsGroupObjectId": None}  # refused where the store is another's
SHARED_STORE = "https://aiappdevmdl1a2b3c4d.blob.core.windows.net/models"


@pytest.fixture(scope="module")
def runs(reference_store: FileStore) -> dict[str, StackRun]:
    url = reference_store.url
    found = {
        "dev": run_program(EVERY_FEATURE, stack="dev", model_store=url),
        "prod": run_program(EVERY_FEATURE, stack="prod", model_store=url),
        "prod-shared-store": run_program(
            {**EVERY_FEATURE, **STORE_OWNER_ONLY, "aiapp:modelStoreUrl": SHARED_STORE},
            stack="prod",
            model_store=url,
        ),
        # dev's registry and an image dev built: AcrPull for prod's kubelet there, nothing pushed.
        "prod-shared-registry": run_program(
            {**EVERY_FEATURE, **STORE_OWNER_ONLY, "aiapp:modelStoreUrl": SHARED_STORE, **promoted_config()},
            stack="prod",
            model_store=url,
        ),
    }
    for variant in PROGRAM_VARIANTS:
        found[f"cicd-{variant.name}"] = run_program_with_pipelines(variant, model_store=url)
    return found


def in_pipelines_component(run: StackRun, resource: Recorded) -> bool:
    parent = run.parent_of(resource)
    while parent is not None:
        if parent.type == PIPELINES:
            return True
        parent = run.parent_of(parent)
    return False


def assignable_roles(runs: dict[str, StackRun]) -> set[str]:
    """The roles the deploy identity's RBAC-administrator condition allows, as declared (every cicd run
    declares the same list, for writes and for deletes alike)."""
    lists: set[frozenset[str]] = set()
    for run in runs.values():
        for assignment in run.of_type(ROLE_ASSIGNMENT):
            if assignment.inputs["roleDefinitionId"].lower().endswith(RBAC_ADMINISTRATOR):
                for found in re.findall(
                    rf"GuidEquals \{{((?:{GUID}(?:, )?)+)\}}", assignment.inputs["condition"]
                ):
                    lists.add(frozenset(g.lower() for g in found.split(", ")))
    assert len(lists) == 1, f"expected one list of assignable roles, found {lists}"
    return set(next(iter(lists)))


def runtime_assignments(runs: dict[str, StackRun]) -> list[tuple[str, Recorded]]:
    """(run, assignment) for every role assignment outside the Azure DevOps side."""
    return [
        (name, a)
        for name, run in runs.items()
        for a in run.of_type(ROLE_ASSIGNMENT)
        if not in_pipelines_component(run, a)
    ]


def outside(runs: dict[str, StackRun], allowed: set[str]) -> list[str]:
    """ "<run> <assignment>: <role>" for each runtime role assignment whose role is not in `allowed`."""
    return [
        f"{run} {a.name}: {role}"
        for run, a in runtime_assignments(runs)
        if (role := a.inputs["roleDefinitionId"].rsplit("/", 1)[-1].lower()) not in allowed
    ]


def test_every_role_a_stack_assigns_is_one_the_deploy_identity_may_assign(runs: dict[str, StackRun]) -> None:
    assert outside(runs, assignable_roles(runs)) == [], (
        "roles outside the deploy identity's RBAC-administrator condition: add them to "
        "DEFAULT_ASSIGNABLE_ROLES (infra/pipelines/args.py) if the release must assign them, then re-apply "
        "the cicd stack"
    )
    assert len(runtime_assignments(runs)) >= 15


def test_the_shared_registry_run_pulls_from_dev_s_registry(runs: dict[str, StackRun]) -> None:
    """The run above is what it says: its only AcrPull is on the shared registry."""
    pulls = [
        a
        for _, a in runtime_assignments({"shared": runs["prod-shared-registry"]})
        if a.name.endswith("acrpull")
    ]
    assert [a.inputs["scope"] for a in pulls] == [SHARED_REGISTRY_ID]


def test_a_role_missing_from_the_condition_is_named(runs: dict[str, StackRun]) -> None:
    """The check can fail, and says where: the condition without AcrPull."""
    found = outside(runs, assignable_roles(runs) - {ACR_PULL})
    assert found and all(line.endswith(f"kubelet-acrpull: {ACR_PULL}") for line in found)
    assert {line.split()[0] for line in found} == set(runs) - {"cicd-azure-repos+azblob"}  # no runtime there


def declared_role_assignments() -> set[str]:
    """The fixed tail of the name of each role assignment infra/ declares outside infra/pipelines (e.g.
    "-kubelet-acrpull" of f"{name}-kubelet-acrpull")."""
    tails = set()
    for path in (REPO_ROOT / "infra").rglob("*.py"):
        if "pipelines" in path.parts or path.name == "identity.py":
            continue
        for node in ast.walk(ast.parse(path.read_text())):
            if not isinstance(node, ast.Call):
                continue
            func = node.func
            called = func.attr if isinstance(func, ast.Attribute) else getattr(func, "id", "")
            if called in ("assign_role", "grant_deployer", "RoleAssignment") and node.args:
                name = node.args[0]
                assert isinstance(name, ast.JoinedStr), (
                    f"{path}: a role assignment named by {ast.unparse(name)}"
                )
                tail = name.values[-1]
                assert isinstance(tail, ast.Constant), f"{path}: {ast.unparse(name)} ends in a variable"
                tails.add(str(tail.value))
    return tails


def test_every_role_assignment_in_the_code_was_declared_in_these_runs(runs: dict[str, StackRun]) -> None:
    """The guard: a role assignment behind a setting this test does not switch on would go unchecked."""
    tails = declared_role_assignments()
    assert len(tails) >= 5, "the code scan found too little: infra/ changed shape?"
    names = {a.name for _, a in runtime_assignments(runs)}
    missing = sorted(t for t in tails if not any(n.endswith(t) for n in names))
    assert missing == [], f"switch on the settings that declare these role assignments: {missing}"
