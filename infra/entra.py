"""Entra ID access tokens for the identity running `pulumi up` (azure-identity's DefaultAzureCredential).

The same credential chain the model store uses: `az login` on a laptop, the federated service connection's
environment in Azure DevOps. Tokens are short-lived (about an hour) and must stay `Output.secret`.
"""

from __future__ import annotations

ARM_SCOPE = "https://management.azure.com/.default"
# The AKS server application: the audience of tokens the AKS API server accepts when Entra ID is on
# (what kubelogin requests).
AKS_SCOPE = "6dae42f8-4368-4678-94ff-3960e28e3630/.default"


def get_access_token(scope: str) -> str:
    """An Entra access token for `scope`. Imported lazily: only a real deployment needs azure-identity."""
    from azure.identity import DefaultAzureCredential

    credential = DefaultAzureCredential(exclude_interactive_browser_credential=True)
    try:
        return credential.get_token(scope).token
    finally:
        credential.close()
