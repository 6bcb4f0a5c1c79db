"""Every policy of the pack, in one list. Import it from here, never from policy/__main__.py (a server).

The package is imported as `policy.rules` by the tests and as `rules` by the running pack (the engine runs
policy/__main__.py with policy/ on sys.path), so modules inside it import each other relatively.
"""

from __future__ import annotations

from pulumi_policy import Policy, ResourceValidationPolicy, StackValidationPolicy

from . import azure, devops, edge, kubernetes, tags

# Run on each resource alone (at its registration) ...
RESOURCE_POLICIES: list[ResourceValidationPolicy] = [
    *azure.POLICIES,
    *tags.POLICIES,
    *kubernetes.POLICIES,
    *devops.POLICIES,
    *edge.POLICIES,
]
# ... and on all of the stack's resources together, once per update.
STACK_POLICIES: list[StackValidationPolicy] = [*kubernetes.STACK_POLICIES, *edge.STACK_POLICIES]
ALL_POLICIES: list[Policy] = [*RESOURCE_POLICIES, *STACK_POLICIES]

__all__ = ["ALL_POLICIES", "RESOURCE_POLICIES", "STACK_POLICIES"]
