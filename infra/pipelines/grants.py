"""Who gets what in Azure: the deploy identity holds only what `pulumi up` of dev and prod needs, the preview
identity (pull requests included) only reads. Each grant carries why it is needed (its description)."""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from dataclasses import dataclass

from infra import azure_ids
from infra.config.devops import AzureBlobState
from infra.pipelines.args import PipelinesArgs

# Roles that can grant access or own everything: never assignable by the pipeline.
PRIVILEGED_ROLES = frozenset(
    {
        azure_ids.OWNER,
        azure_ids.USER_ACCESS_ADMINISTRATOR,
        azure_ids.RBAC_ADMINISTRATOR,
        azure_ids.CONTRIBUTOR,
    }
)
# Key Vault data actions the preview identity needs to decrypt the stack's secrets, and nothing else.
STATE_DECRYPT_DATA_ACTIONS = (
    "Microsoft.KeyVault/vaults/keys/read",
    "Microsoft.KeyVault/vaults/keys/decrypt/action",
)


@dataclass(frozen=True)
class RoleGrant:
    """One Azure role on one scope, with the reason it is needed (it becomes the assignment's description)."""

    key: str  # unique per identity, part of the Pulumi resource name
    role: str  # built-in role GUID
    scope: str
    why: str
    condition: str | None = None


def only_roles_condition(roles: Sequence[str]) -> str:
    """An ABAC condition: role assignments may be written or deleted only for `roles`."""
    allowed = ", ".join(roles)
    return (
        "((!(ActionMatches{'Microsoft.Authorization/roleAssignments/write'})) OR "
        "(@Request[Microsoft.Authorization/roleAssignments:RoleDefinitionId] "
        f"ForAnyOfAnyValues:GuidEquals {{{allowed}}}))"
        " AND "
        "((!(ActionMatches{'Microsoft.Authorization/roleAssignments/delete'})) OR "
        "(@Resource[Microsoft.Authorization/roleAssignments:RoleDefinitionId] "
        f"ForAnyOfAnyValues:GuidEquals {{{allowed}}}))"
    )


def deploy_role_grants(args: PipelinesArgs) -> list[RoleGrant]:
    """The deploy identity's roles: what `pulumi up` of dev and prod needs, and nothing else."""
    grants: list[RoleGrant] = []
    for scope in args.devops.deploy_scopes:
        where = _scope_key(scope)
        grants += [
            RoleGrant(
                f"contributor-{where}",
                azure_ids.CONTRIBUTOR,
                scope,
                "pulumi up creates, updates and deletes the stack's registry, storage, cluster, identities",
            ),
            RoleGrant(
                f"rbac-admin-{where}",
                azure_ids.RBAC_ADMINISTRATOR,
                scope,
                "pulumi up assigns AcrPull, blob and AKS roles to the stack's identities; the condition "
                "limits it to exactly those roles (Contributor alone cannot write role assignments)",
                condition=only_roles_condition(args.assignable_roles),
            ),
            RoleGrant(
                f"acr-push-{where}",
                azure_ids.ACR_PUSH,
                scope,
                "pulumi up pushes the app image; the registry's admin user is off: data-plane RBAC",
            ),
            RoleGrant(
                f"aks-admin-{where}",
                azure_ids.AKS_RBAC_CLUSTER_ADMIN,
                scope,
                "pulumi up applies the Kubernetes workload; local accounts are off, so access is Entra RBAC",
            ),
            RoleGrant(
                f"metrics-reader-{where}",
                azure_ids.MONITORING_DATA_READER,
                scope,
                "the release's SLO watch queries the app's metrics through the Azure Monitor workspace's "
                "Prometheus API (release_watch), from the first night on",
            ),
        ]
    for zone in args.devops.dns_zone_ids:  # a custom domain's zone outside the deploy scopes
        where = _scope_key(zone)
        grants += [
            RoleGrant(
                f"dns-{where}",
                azure_ids.DNS_ZONE_CONTRIBUTOR,
                zone,
                "pulumi up writes the custom domain's CNAME (aiapp:customDomain) in this zone",
            ),
            RoleGrant(
                f"dns-rbac-admin-{where}",
                azure_ids.RBAC_ADMINISTRATOR,
                zone,
                "pulumi up gives cert-manager's identity DNS Zone Contributor on this zone (DNS-01); the "
                "condition allows that role only",
                condition=only_roles_condition([azure_ids.DNS_ZONE_CONTRIBUTOR]),
            ),
        ]
    grants += _model_readers(
        args, "the release resolves and fetches the model version, and bakes it into the image"
    )
    state = args.devops.state
    if isinstance(state, AzureBlobState):
        grants += [
            RoleGrant(
                "state-writer",
                azure_ids.STORAGE_BLOB_DATA_CONTRIBUTOR,
                state.container_id,
                "pulumi up reads and writes the stack state (azblob://) and its lock",
            ),
            RoleGrant(
                "state-crypto",
                azure_ids.KEY_VAULT_CRYPTO_USER,
                state.key_id,
                "pulumi up encrypts and decrypts the stack's secrets (azurekeyvault://)",
            ),
        ]
    return grants


def preview_role_grants(args: PipelinesArgs) -> list[RoleGrant]:
    """The preview identity's roles: read-only. (The state key's decrypt-only custom role is added apart.)"""
    grants: list[RoleGrant] = []
    for scope in args.devops.deploy_scopes:
        where = _scope_key(scope)
        grants += [
            RoleGrant(
                f"reader-{where}", azure_ids.READER, scope, "pulumi preview reads the current Azure resources"
            ),
            RoleGrant(
                f"aks-user-{where}",
                azure_ids.AKS_CLUSTER_USER,
                scope,
                "pulumi preview lists the cluster's user kubeconfig (Entra-only: it holds no credential)",
            ),
            RoleGrant(
                f"aks-reader-{where}",
                azure_ids.AKS_RBAC_READER,
                scope,
                "pulumi preview reads the Kubernetes objects it diffs against",
            ),
        ]
    grants += [
        RoleGrant(f"dns-reader-{_scope_key(zone)}", azure_ids.READER, zone, "pulumi preview reads the CNAME")
        for zone in args.devops.dns_zone_ids
    ]
    grants += _model_readers(args, "pulumi preview resolves the model the image would carry")
    state = args.devops.state
    if isinstance(state, AzureBlobState):
        grants.append(
            RoleGrant(
                "state-reader",
                azure_ids.STORAGE_BLOB_DATA_READER,
                state.container_id,
                "pulumi preview reads the stack state (a preview takes no lock and writes nothing)",
            )
        )
    return grants


def _model_readers(args: PipelinesArgs, why: str) -> list[RoleGrant]:
    """Blob Data Reader on the model store (aiapp:modelStoreScope), else on the deploy scopes."""
    scopes = [args.devops.model_store_scope] if args.devops.model_store_scope else args.devops.deploy_scopes
    return [
        RoleGrant(f"model-reader-{_scope_key(scope)}", azure_ids.STORAGE_BLOB_DATA_READER, scope, why)
        for scope in scopes
    ]


def _scope_key(scope: str) -> str:
    """A stable, readable part of a resource name for a scope: its last segment and a digest of the whole
    (the list's order may change without replacing any role assignment)."""
    last = scope.rstrip("/").rsplit("/", 1)[-1].lower()
    return f"{last}-{hashlib.sha256(scope.lower().encode()).hexdigest()[:6]}"
