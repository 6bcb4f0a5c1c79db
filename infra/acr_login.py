"""Push access to ACR with the admin user off: `docker login` with the deploying identity's exchanged token.

What `az acr login` does: POST the Entra access token (audience Azure Resource Manager) to
`https://<login server>/oauth2/exchange`; ACR answers with a refresh token (valid about three hours) that
docker accepts as the password of the null-GUID user; `docker login` stores it in the Docker CLI's
credential store (or $DOCKER_CONFIG/config.json). The identity needs AcrPush on the registry.

Why the program logs in itself instead of putting the token in `docker.Image(registry=...)`: a resource input
is written to the Pulumi state, which the read-only preview identity can read and decrypt, so a pull request
could take a push credential from it. pulumi-docker pushes with the host's Docker credentials when the
Image's `registry` has no username and password, so the token goes from here to docker's store and nowhere
else. The login cannot be a step before `pulumi up`: on a stack's first update the registry does not exist
yet.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import urllib.error
import urllib.parse
import urllib.request
from typing import TYPE_CHECKING

from infra import entra

if TYPE_CHECKING:
    from infra.outside import ImageOutside

# The user name ACR expects with an exchanged token (not a real user; the token carries the identity).
TOKEN_USERNAME = "00000000-0000-0000-0000-000000000000"


DOCKER_LOGIN_TIMEOUT_S = 120.0


class AcrLoginError(RuntimeError):
    """The registry refused the token exchange, or docker could not store the login."""


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
    """The ACR refresh token for `login_server` (RealOutside's; tests/infra/test_acr_login.py runs
    request_refresh_token against a local server)."""
    return request_refresh_token(exchange_url(login_server), login_server, tenant_id, access_token)


def docker_login(login_server: str, username: str, password: str) -> None:
    """`docker login` to `login_server`; the password goes on stdin, never on a command line (`ps` shows it).

    RealOutside's; no Docker engine or registry here: tests/infra/test_acr_login.py runs it against a stand-in
    `docker` executable."""
    docker = shutil.which("docker")
    if docker is None:
        raise AcrLoginError(
            "docker is not on PATH: `pulumi up` builds and pushes the app image with the Docker engine; "
            "install Docker (engine and CLI) where pulumi runs"
        )
    try:
        done = subprocess.run(
            [docker, "login", login_server, "--username", username, "--password-stdin"],
            input=password,
            capture_output=True,
            text=True,
            timeout=DOCKER_LOGIN_TIMEOUT_S,
            check=False,
        )
    except subprocess.TimeoutExpired:
        raise AcrLoginError(
            f"`docker login {login_server}` did not finish in {DOCKER_LOGIN_TIMEOUT_S:.0f} s: is the Docker "
            "engine running?"
        ) from None
    if done.returncode != 0:
        detail = (done.stderr or done.stdout).strip()
        if password:
            detail = detail.replace(password, "***")  # never echo the token
        raise AcrLoginError(
            f"`docker login {login_server}` failed (exit {done.returncode}): {detail or 'no message'}"
        )


def login_for_push(login_server: str, tenant_id: str, outside: ImageOutside) -> None:
    """Let the Docker engine push to `login_server` as the identity running `pulumi up` (never in a preview:
    the caller checks `pulumi.runtime.is_dry_run()`, since the preview identity may not push)."""
    access_token = outside.access_token(entra.ARM_SCOPE)
    refresh_token = outside.exchange_refresh_token(login_server, tenant_id, access_token)
    outside.docker_login(login_server, TOKEN_USERNAME, refresh_token)
