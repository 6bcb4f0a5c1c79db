"""Who runs `pulumi up`, and the one way to assign a role (always with a principal type, and a condition when
the role lets its holder grant roles). The role ids are in infra/azure_ids.py."""

from __future__ import annotations

import re
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

    def grant_deployer(
        self,
        name: str,
        *,
        scope: pulumi.Input[str],
        role: str,
        description: str,
        opts: pulumi.ResourceOptions,
    ) -> authorization.RoleAssignment:
        """`role` on `scope` for the identity running `pulumi up` (assign_role, with the deployer)."""
        return assign_role(
            name,
            scope=scope,
            role=role,
            principal=self.deployer,
            subscription_id=self.subscription_id,
            description=description,
            opts=opts,
        )


def current_context(deployer: DeployerSettings) -> AzureContext:
    """The logged-in client's subscription and tenant, and the deployer: as configured, else the logged-in
    client, a user if it signed in through the Azure CLI or PowerShell, else a service principal."""
    client = authorization.get_client_config_output()
    object_id = deployer.object_id if deployer.object_id is not None else client.object_id
    principal_type: pulumi.Input[str] = deployer.principal_type or client.client_id.apply(
        lambda client_id: "User" if client_id in USER_SIGN_IN_APPS else "ServicePrincipal"
    )
    return AzureContext(client.subscription_id, client.tenant_id, Principal(object_id, principal_type))


# The subscription an ARM scope belongs to: /subscriptions/<id>, and everything below it.
_SUBSCRIPTION_OF_SCOPE = re.compile(r"^/subscriptions/(?P<id>[^/]+)(?:/|$)", re.IGNORECASE)


def role_definition_id(scope: str, role: str, default_subscription: str) -> str:
    """A built-in role's definition id as seen from `scope`: prefixed with the scope's own subscription, which
    may not be the one `pulumi up` deploys to (the state container, the Key Vault key, the model store, the
    deploy scopes can each live in another). Azure accepts another subscription's prefix, but reads the
    assignment back with the scope's (Azure/azure-rest-api-specs issue 10939; the same seen as perpetual
    churn in hashicorp/terraform-provider-azurerm issue 8558): after a `pulumi up --refresh` the state holds
    another roleDefinitionId than the program declares, a change to an assignment on every later update.
    `default_subscription`: for a scope outside any subscription (a management group)."""
    match = _SUBSCRIPTION_OF_SCOPE.match(scope)
    subscription = match["id"] if match else default_subscription
    return f"/subscriptions/{subscription}/providers/Microsoft.Authorization/roleDefinitions/{role}"


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
    administrator may assign. subscription_id: the deploying subscription, used only for a scope outside any
    subscription (the role definition id takes the scope's own subscription)."""
    return authorization.RoleAssignment(
        name,
        scope=scope,
        role_definition_id=pulumi.Output.all(scope, subscription_id).apply(
            lambda values: role_definition_id(values[0], role, values[1])
        ),
        principal_id=principal.object_id,
        principal_type=principal.principal_type,
        description=description,
        condition=condition,
        condition_version="2.0" if condition else None,
        opts=opts,
    )
