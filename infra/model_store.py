"""The model store: a private blob container in a StorageV2 account that only Entra identities can reach.

It outlives the runtime: it has a resource group of its own, and the group, the account and the container are
protected. (Azure deletes everything in a resource group with it, whatever Pulumi's `protect` says, so the
store must not share a group with what `pulumi destroy` removes.)"""

from __future__ import annotations

from dataclasses import dataclass

import pulumi
from pulumi_azure_native import resources, storage

from infra import azure_ids, identity
from infra.config.runtime import ModelStoreSettings, StackSettings


@dataclass(frozen=True)
class ModelStoreArgs:
    stack: StackSettings
    store: ModelStoreSettings
    # Its deployer may read and write (it builds images from the store, and may publish by hand); the data
    # scientists' group named in the settings, if any, may publish.
    azure: identity.AzureContext


class ModelStore(pulumi.ComponentResource):
    """Versioned, soft-deleted, key-less blob storage for published models."""

    def __init__(self, name: str, args: ModelStoreArgs, opts: pulumi.ResourceOptions | None = None) -> None:
        super().__init__("aiapp:infra:ModelStore", name, None, opts)
        child = pulumi.ResourceOptions(parent=self)
        kept = pulumi.ResourceOptions(parent=self, protect=True)
        group = resources.ResourceGroup(
            args.stack.name("models-rg"), location=args.stack.location, tags=args.stack.tags, opts=kept
        )
        account = storage.StorageAccount(
            args.stack.compact_name("mdl"),
            resource_group_name=group.name,
            location=args.stack.location,
            kind=storage.Kind.STORAGE_V2,
            sku=storage.SkuArgs(name=args.store.sku),
            enable_https_traffic_only=True,
            minimum_tls_version=storage.MinimumTlsVersion.TLS1_2,
            allow_blob_public_access=False,
            allow_shared_key_access=False,  # Entra only: no account key or SAS can read a model
            default_to_o_auth_authentication=True,
            allow_cross_tenant_replication=False,
            tags=args.stack.tags,
            # Models and their history live here: a `pulumi destroy` or a replacement must not take them.
            opts=kept,
        )
        blob_service = storage.BlobServiceProperties(
            f"{name}-blob-service",
            resource_group_name=group.name,
            account_name=account.name,
            blob_services_name="default",
            is_versioning_enabled=True,
            delete_retention_policy=storage.DeleteRetentionPolicyArgs(
                enabled=True, days=args.store.soft_delete_days
            ),
            container_delete_retention_policy=storage.DeleteRetentionPolicyArgs(
                enabled=True, days=args.store.soft_delete_days
            ),
            opts=child,
        )
        container = storage.BlobContainer(
            f"{name}-container",
            resource_group_name=group.name,
            account_name=account.name,
            container_name=args.store.container,
            public_access=storage.PublicAccess.NONE,
            opts=pulumi.ResourceOptions(parent=self, protect=True, depends_on=[blob_service]),
        )
        self.deployer_access = args.azure.grant_deployer(
            f"{name}-deployer-blob-contributor",
            scope=account.id,
            role=azure_ids.STORAGE_BLOB_DATA_CONTRIBUTOR,
            description="The identity running `pulumi up` reads models to build images, and may publish.",
            opts=child,
        )
        if args.store.data_scientists_group is not None:
            identity.assign_role(
                f"{name}-publishers-blob-contributor",
                scope=container.id,
                role=azure_ids.STORAGE_BLOB_DATA_CONTRIBUTOR,
                principal=identity.Principal(args.store.data_scientists_group, "Group"),
                subscription_id=args.azure.subscription_id,
                description="Data scientists publish models into the model container.",
                opts=child,
            )
        self.account_name: pulumi.Output[str] = account.name
        self.account_id: pulumi.Output[str] = account.id
        self.container_name: pulumi.Output[str] = container.name
        # The URL every tool takes as MODEL_STORE: https://<account>.blob.core.windows.net/<container>
        self.url: pulumi.Output[str] = pulumi.Output.concat(account.primary_endpoints.blob, container.name)
        self.register_outputs({"url": self.url, "account_id": self.account_id})
