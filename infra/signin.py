"""Sign-in on the cluster: the app's AUTH_* settings, the one new way out of its pods (to Entra ID's keys),
and how a caller gets a token.

The egress rule. The app fetches Entra ID's signing keys (https://login.microsoftonline.com/<tenant>/
discovery/v2.0/keys) at start and hourly. A standard NetworkPolicy cannot name a host, only addresses, and
Entra's front doors are many, shared and changing (no published range to pin); the cluster's Cilium could
match the name with an FQDN rule, but on AKS that needs Advanced Container Networking Services, a paid
add-on. So the rule allows TCP 443 to public addresses only: every private range is excepted, so that the
pods still reach nothing inside the virtual network or the cluster (other pods, the API server, nodes), nor
the instance metadata service (169.254.169.254, which hands out the node's identity tokens) or Azure's
platform address (168.63.129.16, public yet the host's own). What it allows beyond Entra is HTTPS to the
internet, which the app never opens itself: its only outbound call is the key fetch (app/signing_keys.py).
Where ACNS is enabled, a CiliumNetworkPolicy with `toFQDNs: login.microsoftonline.com` would narrow this.
IPv4 only: the cluster's network is IPv4 (Azure CNI overlay).
"""

from __future__ import annotations

from dataclasses import dataclass

import pulumi
from pulumi_kubernetes.core.v1 import EnvVarArgs
from pulumi_kubernetes.networking.v1 import (
    IPBlockArgs,
    NetworkPolicyEgressRuleArgs,
    NetworkPolicyPeerArgs,
    NetworkPolicyPortArgs,
)

ENTRA_LOGIN = "https://login.microsoftonline.com"
HTTPS_PORT = 443
NOT_PUBLIC = (
    "10.0.0.0/8",  # RFC 1918: the virtual network, pod and service ranges of AKS's defaults
    "172.16.0.0/12",  # RFC 1918
    "192.168.0.0/16",  # RFC 1918
    "100.64.0.0/10",  # RFC 6598 shared address space (carrier-grade NAT, some overlay setups)
    "169.254.0.0/16",  # link-local: the instance metadata service and its identity tokens
    "168.63.129.16/32",  # Azure's platform address (DNS, DHCP, health probes): public, but the host's own
)


@dataclass(frozen=True)
class SignIn:
    """What the app checks tokens against (app/settings.py's AUTH_*)."""

    audience: str  # the API's application (client) id
    issuer: pulumi.Input[str]
    role: str  # the app role callers must hold


def entra_issuer(tenant_id: pulumi.Input[str]) -> pulumi.Output[str]:
    """The `iss` of Entra ID v2 access tokens of a tenant."""
    return pulumi.Output.concat(ENTRA_LOGIN, "/", tenant_id, "/v2.0")


def token_scope(client_id: pulumi.Input[str]) -> pulumi.Output[str]:
    """The scope a client asks for: the API's identifier URI (api://<client id>), `.default`."""
    return pulumi.Output.concat("api://", client_id, "/.default")


def token_command(client_id: pulumi.Input[str]) -> pulumi.Output[str]:
    """The exact command that prints an access token for the API (the Azure CLI is pre-authorized)."""
    return pulumi.Output.concat(
        "az account get-access-token --scope ", token_scope(client_id), " --query accessToken -o tsv"
    )


def app_env(sign_in: SignIn) -> list[EnvVarArgs]:
    """The Deployment's AUTH_* (AUTH_JWKS_URL unset: the app reads it from the issuer's configuration)."""
    return [
        EnvVarArgs(name="AUTH_AUDIENCE", value=sign_in.audience),
        EnvVarArgs(name="AUTH_ISSUER", value=sign_in.issuer),
        EnvVarArgs(name="AUTH_REQUIRED_ROLE", value=sign_in.role),
    ]


def key_egress() -> NetworkPolicyEgressRuleArgs:
    """TCP 443 to public IPv4 addresses: Entra ID's keys (the module's docstring says why no narrower)."""
    return NetworkPolicyEgressRuleArgs(
        to=[NetworkPolicyPeerArgs(ip_block=IPBlockArgs(cidr="0.0.0.0/0", except_=list(NOT_PUBLIC)))],
        ports=[NetworkPolicyPortArgs(port=HTTPS_PORT, protocol="TCP")],
    )
