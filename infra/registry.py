"""ACR: where the app image is pushed (by the deploying identity) and pulled from (by AKS's kubelet).

A stack's own registry outlives the runtime, as the model store does: a resource group of its own, and the
group and the registry protected, so `pulumi destroy` keeps the images another stack may pull
(aiapp:sharedRegistryId). (Azure deletes everything in a resource group with it, whatever Pulumi's `protect`
says, so the registry must not share a group with what `pulumi destroy` removes.) A stack given another
stack's registry creates none: it reads that one (SharedRegistry)."""

from __future__ import annotations

from dataclasses import dataclass

import pulumi
from pulumi_azure_native import containerregistry, resources

from infra import azure_ids, identity
from infra.config.runtime import RegistrySettings, StackSettings


@dataclass(frozen=True)
class RegistryArgs:
    stack: StackSettings
    registry: RegistrySettings
    azure: identity.AzureContext  # its deployer gets AcrPush


class Registry(pulumi.ComponentResource):
    """A container registry with the admin user off: pushes use an Entra identity with AcrPush."""

    def __init__(self, name: str, args: RegistryArgs, opts: pulumi.ResourceOptions | None = None) -> None:
        super().__init__("aiapp:infra:Registry", name, None, opts)
        child = pulumi.ResourceOptions(parent=self)
        kept = pulumi.ResourceOptions(parent=self, protect=True)
        group = resources.ResourceGroup(
            args.stack.name("acr-rg"), location=args.stack.location, tags=args.stack.tags, opts=kept
        )
        acr = containerregistry.Registry(
            args.stack.compact_name("acr"),
            resource_group_name=group.name,
            location=args.stack.location,
            sku=containerregistry.SkuArgs(name=args.registry.sku),
            admin_user_enabled=False,  # never: no shared password exists to leak
            anonymous_pull_enabled=False,
            tags=args.stack.tags,
            # The images other stacks pull (by digest) live here: a `pulumi destroy` must not take them. (A
            # registry created before it was kept moves here by a replacement, which the engine allows while
            # the old one is unprotected: pulumi/pulumi pkg/resource/deploy/step_generator.go, "if new.Protect
            # && old.Protect".)
            opts=kept,
        )
        self.push_role = args.azure.grant_deployer(
            f"{name}-deployer-acrpush",
            scope=acr.id,
            role=azure_ids.ACR_PUSH,
            description="The identity running `pulumi up` pushes the app image.",
            opts=child,
        )
        self.id: pulumi.Output[str] = acr.id
        self.name: pulumi.Output[str] = acr.name
        self.login_server: pulumi.Output[str] = acr.login_server
        self.register_outputs({"id": self.id, "login_server": self.login_server})


class SharedRegistry(pulumi.ComponentResource):
    """Another stack's registry, read by its resource id: nothing here creates, changes or deletes it.

    A read (`Registry.get`), not the getRegistry invoke: the provider's Read GETs the id as given, in
    whatever subscription it names (pulumi/pulumi-azure-native provider/pkg/provider/provider.go, Read:
    `crudClient.Read(ctx, id, ...)`), while an invoke builds its path with the provider's own subscription
    (same file, Invoke: `"subscriptionId": k.subscriptionID`). The engine keeps a read resource in the state
    as external and never deletes it, `pulumi destroy` included (pulumi/pulumi pkg/resource/deploy/step.go,
    DeleteStep.Apply: "Deleting an External resource is a no-op"). A registry that no longer exists fails the
    read, so a preview says so too."""

    def __init__(self, name: str, registry_id: str, opts: pulumi.ResourceOptions | None = None) -> None:
        super().__init__("aiapp:infra:SharedRegistry", name, None, opts)
        acr = containerregistry.Registry.get(
            f"{name}-acr", registry_id, opts=pulumi.ResourceOptions(parent=self)
        )
        self.id: pulumi.Output[str] = pulumi.Output.from_input(registry_id)
        self.login_server: pulumi.Output[str] = acr.login_server
        self.register_outputs({"id": self.id, "login_server": self.login_server})
