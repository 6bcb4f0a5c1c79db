"""A custom domain in an Azure DNS zone: the CNAME that names the edge, and the identity cert-manager
answers DNS-01 challenges as (workload identity federated with its ServiceAccount, DNS Zone Contributor
on the zone)."""

from __future__ import annotations

import re
from dataclasses import dataclass

import pulumi
from pulumi_azure_native import dns, managedidentity

from infra import azure_ids, identity
from infra.config import shapes
from infra.config.runtime import StackSettings


@dataclass(frozen=True)
class CustomDomainArgs:
    stack: StackSettings
    host: str  # e.g. app.example.com, inside the zone
    zone_id: str  # the Azure DNS zone's ARM id
    target: pulumi.Input[str]  # the edge's Azure DNS label host: the CNAME points there
    subscription_id: pulumi.Input[str]
    resource_group: pulumi.Input[str]  # where the identity is created (the stack's group)
    oidc_issuer_url: pulumi.Input[str]
    service_account: str  # system:serviceaccount:<namespace>:<name> of cert-manager's controller


class CustomDomain(pulumi.ComponentResource):
    def __init__(self, name: str, args: CustomDomainArgs, opts: pulumi.ResourceOptions | None = None) -> None:
        super().__init__("aiapp:infra:CustomDomain", name, None, opts)
        child = pulumi.ResourceOptions(parent=self)
        match = re.match(shapes.DNS_ZONE_ID, args.zone_id)
        if match is None:  # infra/config validated it: this is a programming error
            raise ValueError(f"not an Azure DNS zone id: {args.zone_id}")
        parts = args.zone_id.split("/")
        self.zone_subscription, self.zone_resource_group, self.zone_name = parts[2], parts[4], match["zone"]

        # The edge's name: a CNAME to the Azure DNS label host, which Azure keeps pointing at the public IP
        # of the proxy's LoadBalancer Service; a new IP needs no DNS change here.
        dns.RecordSet(
            f"{name}-cname",
            resource_group_name=self.zone_resource_group,
            zone_name=self.zone_name,
            relative_record_set_name=args.host.removesuffix(f".{self.zone_name}"),
            record_type="CNAME",
            ttl=300,
            cname_record=dns.CnameRecordArgs(cname=args.target),
            opts=child,
        )
        solver = managedidentity.UserAssignedIdentity(
            f"{name}-dns01",
            resource_group_name=args.resource_group,
            location=args.stack.location,
            tags=args.stack.tags,
            opts=child,
        )
        managedidentity.FederatedIdentityCredential(
            f"{name}-dns01-federation",
            resource_group_name=args.resource_group,
            resource_name_=solver.name,
            issuer=args.oidc_issuer_url,
            subject=args.service_account,
            audiences=["api://AzureADTokenExchange"],
            opts=child,
        )
        # DNS Zone Contributor on this one zone only: cert-manager writes _acme-challenge TXT records there.
        self.zone_access = identity.assign_role(
            f"{name}-dns01-zone-contributor",
            scope=args.zone_id,
            role=azure_ids.DNS_ZONE_CONTRIBUTOR,
            principal=identity.Principal(solver.principal_id, "ServicePrincipal"),
            subscription_id=args.subscription_id,
            description="cert-manager answers Let's Encrypt DNS-01 challenges for the app's custom domain.",
            opts=child,
        )
        self.client_id: pulumi.Output[str] = solver.client_id
        self.register_outputs({"client_id": self.client_id})
