"""Who may do what: built-in Azure role ids and one way to assign them (always with a principal type)."""

from __future__ import annotations

from dataclasses import dataclass

import pulumi
from pulumi_azure_native import authorization

from infra.config import DeployerSettings

# Built-in role definition ids (the same in every tenant). The reader roles are for read-only identities,
# such as the pull-request preview's.
ACR_PULL = "7f951dda-4ed3-4680-a7ca-43fe172d538d"
ACR_PUSH = "8311e382-0749-4cb8-b61a-304f252e45ec"
STORAGE_BLOB_DATA_READER = "2a2b9908-6ea1-4ae2-8e65-a410df84e7d1"
STORAGE_BLOB_DATA_CONTRIBUTOR = "ba92f5b4-2d11-453d-a403-e96b0029c9fe"
AKS_RBAC_CLUSTER_ADMIN = "b1ff04bb-8a4e-4dc4-8eb5-8693973ce19b"
AKS_CLUSTER_USER = "4abbcc35-e782-43d8-92c5-2d3f1bd2253f"


# First-party Entra applications through which people sign in: a deployment whose token was issued to one of
# these runs as a user; any other client id is a service principal (a pipeline's federated identity, say).
USER_SIGN_IN_APPS = {
    "04b07795-8ddb-461a-bbee-02f9e1bf7b46",  # Azure CLI
    "1950a258-227b-4e31-a9cf-717495945fc2",  # Azure PowerShell
}


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
) -> authorization.RoleAssignment:
    return authorization.RoleAssignment(
        name,
        scope=scope,
        role_definition_id=role_definition_id(subscription_id, role),
        principal_id=principal.object_id,
        principal_type=principal.principal_type,
        description=description,
        opts=opts,
    )
