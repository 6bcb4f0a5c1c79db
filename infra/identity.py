"""Who runs `pulumi up`, and the one way to assign a role (always with a principal type, and a condition when
the role lets its holder grant roles). The role ids are in infra/azure_ids.py."""

from __future__ import annotations

from dataclasses import dataclass

import pulumi
from pulumi_azure_native import authorization

from infra.azure_ids import USER_SIGN_IN_APPS
from infra.config.runtime import DeployerSettings


@dataclass(frozen=True)
class Principal:
    """An Entra identity and its type; an explicit type lets Azure assign a role to a principal created
    moments ago (before it has replicated), and makes the assignment's intent reviewable."""

    object_id: pulumi.Input[str]
    principal_type: pulumi.Input[str]


@dataclass(frozen=True)
class AzureContext:
    """The subscription and tenant `pulumi up` runs against, and the identity running it."""

    subscription_id: pulumi.Input[str]
    tenant_id: pulumi.Input[str]
    deployer: Principal


def current_context(deployer: DeployerSettings) -> AzureContext:
    """The logged-in client's subscription and tenant, and the deployer: as configured, else the logged-in
    client, a user if it signed in through the Azure CLI or PowerShell, else a service principal."""
    client = authorization.get_client_config_output()
    object_id = deployer.object_id if deployer.object_id is not None else client.object_id
    principal_type: pulumi.Input[str] = deployer.principal_type or client.client_id.apply(
        lambda client_id: "User" if client_id in USER_SIGN_IN_APPS else "ServicePrincipal"
    )
    return AzureContext(client.subscription_id, client.tenant_id, Principal(object_id, principal_type))


def role_definition_id(subscription_id: pulumi.Input[str], role: str) -> pulumi.Output[str]:
    return pulumi.Output.concat(
        "/subscriptions/", subscription_id, "/providers/Microsoft.Authorization/roleDefinitions/", role
    )


def assign_role(
    name: str,
    *,
    scope: pulumi.Input[str],
    role: str,
    principal: Principal,
    subscription_id: pulumi.Input[str],
    description: str,
    opts: pulumi.ResourceOptions,
    condition: str | None = None,
) -> authorization.RoleAssignment:
    """condition: an ABAC condition (version 2.0) that limits what the role allows, e.g. which roles an RBAC
    administrator may assign."""
    return authorization.RoleAssignment(
        name,
        scope=scope,
        role_definition_id=role_definition_id(subscription_id, role),
        principal_id=principal.object_id,
        principal_type=principal.principal_type,
        description=description,
        condition=condition,
        condition_version="2.0" if condition else None,
        opts=opts,
    )
