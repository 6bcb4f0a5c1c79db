"""Entra ID access tokens for the identity running `pulumi up` (azure-identity's DefaultAzureCredential).

The same credential chain the model store uses: `az login` on a laptop, the federated service connection's
environment in Azure DevOps. Tokens are short-lived (about an hour). One use only: the ACR token exchange
(infra/acr_login.py), reached through infra/outside.py's RealOutside. A token never becomes a resource input
or an output: the state is readable by the preview identity. (The Kubernetes provider gets its tokens from
kubelogin at run time: infra/cluster.py.)
"""

from __future__ import annotations

ARM_SCOPE = "https://management.azure.com/.default"


def get_access_token(scope: str) -> str:
    """An Entra access token for `scope`. Imported lazily: only a real deployment needs azure-identity."""
    from azure.identity import DefaultAzureCredential

    credential = DefaultAzureCredential(exclude_interactive_browser_credential=True)
    try:
        return credential.get_token(scope).token
    finally:
        credential.close()
