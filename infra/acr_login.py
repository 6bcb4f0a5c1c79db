"""Push credentials for ACR with the admin user off: the identity's Entra token, exchanged for an ACR token.

What `az acr login --expose-token` does: POST the Entra access token (audience Azure Resource Manager) to
`https://<login server>/oauth2/exchange`; ACR answers with a refresh token (valid about three hours) that
docker accepts as the password of the null-GUID user. The identity needs AcrPush on the registry.
"""

from __future__ import annotations

import json
import urllib.error
import urllib.parse
import urllib.request

# The user name ACR expects with an exchanged token (not a real user; the token carries the identity).
TOKEN_USERNAME = "00000000-0000-0000-0000-000000000000"


class AcrLoginError(RuntimeError):
    """The registry refused the token exchange."""


def exchange_url(login_server: str) -> str:
    return f"https://{login_server}/oauth2/exchange"


def request_refresh_token(
    url: str, login_server: str, tenant_id: str, access_token: str, timeout: float = 30
) -> str:
    """POST the exchange form to `url` and return the ACR refresh token."""
    form = urllib.parse.urlencode(
        {
            "grant_type": "access_token",
            "service": login_server,
            "tenant": tenant_id,
            "access_token": access_token,
        }
    ).encode()
    request = urllib.request.Request(
        url, data=form, method="POST", headers={"Content-Type": "application/x-www-form-urlencoded"}
    )
    try:
        with urllib.request.urlopen(request, timeout=timeout) as response:
            body = json.loads(response.read())
    except urllib.error.HTTPError as exc:
        raise AcrLoginError(
            f"{login_server} refused the token exchange (HTTP {exc.code}): the identity running `pulumi up` "
            "needs the AcrPush role on the registry; a role assigned minutes ago may still be propagating"
        ) from None
    except (urllib.error.URLError, TimeoutError, json.JSONDecodeError) as exc:
        raise AcrLoginError(f"the token exchange with {login_server} failed: {exc}") from None
    token = body.get("refresh_token") if isinstance(body, dict) else None
    if not isinstance(token, str) or not token:
        raise AcrLoginError(f"{login_server} answered the token exchange without a refresh_token")
    return token


def exchange_refresh_token(login_server: str, tenant_id: str, access_token: str) -> str:
    """The ACR refresh token for `login_server` (the tests replace this function: no registry here)."""
    return request_refresh_token(exchange_url(login_server), login_server, tenant_id, access_token)
