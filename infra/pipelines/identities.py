"""The pipelines' two ways into Azure: a managed identity each, federated to exactly one Azure DevOps service
connection (workload identity federation: no secret exists for Azure at all), holding its grants.

A user-assigned managed identity rather than an Entra app registration: it can never hold a client secret,
and creating one needs only Azure RBAC on a resource group, not Microsoft Graph permissions (so no azuread
provider and no directory role for whoever runs `pulumi up`)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import pulumi
import pulumi_azuredevops as azuredevops
from pulumi_azure_native import authorization, managedidentity

from infra.config.devops import AzureBlobState
from infra.identity import Principal, assign_role
from infra.pipelines.args import Context
from infra.pipelines.grants import STATE_DECRYPT_DATA_ACTIONS, RoleGrant
from infra.pipelines.names import PREVIEW_CONNECTION


@dataclass(frozen=True)
class AzureConnection:
    endpoint: azuredevops.ServiceEndpointAzureRM
    principal_id: pulumi.Output[str]
    client_id: pulumi.Output[str]


def azure_connection(
    ctx: Context, project_id: pulumi.Output[str], role: str, connection_name: str, grants: Sequence[RoleGrant]
) -> AzureConnection:
    args = ctx.args
    identity_name = f"{args.stack.name_prefix}-pipelines-{role}"
    identity = managedidentity.UserAssignedIdentity(
        f"{ctx.name}-{role}-identity",
        resource_name_=identity_name,
        resource_group_name=args.devops.identity_resource_group,
        location=args.stack.location,
        tags=args.stack.tags,
        opts=ctx.opts,
    )
    subscription_id = args.azure.subscription_id
    endpoint = azuredevops.ServiceEndpointAzureRM(
        f"{ctx.name}-{role}-connection",
        project_id=project_id,
        service_endpoint_name=connection_name,
        description=f"Workload identity federation to the managed identity {identity_name}; no secret. "
        "Managed by Pulumi.",
        service_endpoint_authentication_scheme="WorkloadIdentityFederation",
        credentials=azuredevops.ServiceEndpointAzureRMCredentialsArgs(serviceprincipalid=identity.client_id),
        azurerm_spn_tenantid=args.azure.tenant_id,
        azurerm_subscription_id=subscription_id,
        azurerm_subscription_name=args.devops.subscription_name or subscription_id,
        # No validation at creation: the federated credential below can only exist after the connection.
        features=azuredevops.ServiceEndpointAzureRMFeaturesArgs(validate=False),
        opts=ctx.opts,
    )
    managedidentity.FederatedIdentityCredential(
        f"{ctx.name}-{role}-federation",
        resource_name_=identity.name,
        resource_group_name=args.devops.identity_resource_group,
        federated_identity_credential_resource_name=f"azure-devops-{connection_name}",
        # Trust exactly this service connection: the issuer and subject Azure DevOps says it presents.
        issuer=endpoint.workload_identity_federation_issuer,
        subject=endpoint.workload_identity_federation_subject,
        audiences=["api://AzureADTokenExchange"],
        opts=ctx.opts,
    )
    principal = Principal(identity.principal_id, "ServicePrincipal")
    for grant in grants:
        assign_role(
            f"{ctx.name}-{role}-{grant.key}",
            scope=grant.scope,
            role=grant.role,
            principal=principal,
            subscription_id=subscription_id,
            description=f"{connection_name}: {grant.why}",
            condition=grant.condition,
            opts=ctx.opts,
        )
    return AzureConnection(endpoint, identity.principal_id, identity.client_id)


def state_decrypt_only(ctx: Context, principal_id: pulumi.Output[str], state: AzureBlobState) -> None:
    """Previews decrypt the stack's secrets; no built-in role decrypts without also updating keys. The role
    is defined on the vault's resource group (custom roles cannot be scoped to one resource); it is assigned
    on the state key alone."""
    definition = authorization.RoleDefinition(
        f"{ctx.name}-state-decrypt-role",
        scope=state.resource_group_id,
        role_name=f"{ctx.args.stack.name_prefix} Pulumi state decrypt ({state.vault_name}/{state.key_name})",
        description="Read and decrypt with the Pulumi state key; no encrypt, no key management.",
        role_type="CustomRole",
        permissions=[authorization.PermissionArgs(actions=[], data_actions=list(STATE_DECRYPT_DATA_ACTIONS))],
        assignable_scopes=[state.resource_group_id],
        opts=ctx.opts,
    )
    authorization.RoleAssignment(
        f"{ctx.name}-preview-state-decrypt",
        scope=state.key_id,
        role_definition_id=definition.id,
        principal_id=principal_id,
        principal_type="ServicePrincipal",
        description=f"{PREVIEW_CONNECTION}: pulumi preview decrypts the stack's secrets (azurekeyvault://)",
        opts=ctx.opts,
    )
