"""Names that must be unique beyond this stack."""

from __future__ import annotations

import hashlib

import pulumi

from infra.config.runtime import StackSettings


def dns_label(stack: StackSettings, subscription_id: pulumi.Input[str]) -> pulumi.Output[str]:
    """`<prefix>-<env>-<6 hex>`: the suffix comes from the subscription, so the label is stable for a stack
    and does not collide with another team's deployment of this project in the same region."""

    def label(subscription: str) -> str:
        suffix = hashlib.sha256(f"{subscription}/{stack.stack}".encode()).hexdigest()[:6]
        return f"{stack.name_prefix}-{stack.environment}-{suffix}"

    return pulumi.Output.from_input(subscription_id).apply(label)
