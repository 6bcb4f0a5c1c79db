"""ACR: where the app image is pushed (by the deploying identity) and pulled from (by AKS's kubelet)."""

from __future__ import annotations

from dataclasses import dataclass

import pulumi
from pulumi_azure_native import containerregistry

from infra import azure_ids, identity
from infra.config.runtime import RegistrySettings, StackSettings


@dataclass(frozen=True)
class RegistryArgs:
    resource_group: pulumi.Input[str]
    stack: StackSettings
    registry: RegistrySettings
    azure: identity.AzureContext  # its deployer gets AcrPush


class Registry(pulumi.ComponentResource):
    """A container registry with the admin user off: pushes use an Entra identity with AcrPush."""

    def __init__(self, name: str, args: RegistryArgs, opts: pulumi.ResourceOptions | None = None) -> None:
        super().__init__("aiapp:infra:Registry", name, None, opts)
        child = pulumi.ResourceOptions(parent=self)
        acr = containerregistry.Registry(
            args.stack.compact_name("acr"),
            resource_group_name=args.resource_group,
            location=args.stack.location,
            sku=containerregistry.SkuArgs(name=args.registry.sku),
            admin_user_enabled=False,  # never: no shared password exists to leak
            anonymous_pull_enabled=False,
            tags=args.stack.tags,
            opts=child,
        )
        self.push_role = identity.assign_role(
            f"{name}-deployer-acrpush",
            scope=acr.id,
            role=azure_ids.ACR_PUSH,
            principal=args.azure.deployer,
            subscription_id=args.azure.subscription_id,
            description="The identity running `pulumi up` pushes the app image.",
            opts=child,
        )
        self.id: pulumi.Output[str] = acr.id
        self.name: pulumi.Output[str] = acr.name
        self.login_server: pulumi.Output[str] = acr.login_server
        self.register_outputs({"id": self.id, "login_server": self.login_server})
