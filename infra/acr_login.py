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
yet, and the deployer's AcrPush was assigned moments ago: so the login first waits (infra/propagation.py)
until the registry grants that identity push on the repository, asked as docker will ask: an ACR access
token for `repository:<name>:pull,push` (POST /oauth2/token), whose `access` claim lists what was granted
(Azure/acr docs/AAD-OAuth.md, "Calling POST /oauth2/token"; the Docker registry token specification).
"""

from __future__ import annotations

import base64
import binascii
import json
import shutil
import subprocess
import urllib.error
import urllib.parse
import urllib.request
from typing import TYPE_CHECKING

from infra import entra
from infra.propagation import NotYet, Patience, wait_until

if TYPE_CHECKING:
    from infra.outside import ImageOutside

# The user name ACR expects with an exchanged token (not a real user; the token carries the identity).
TOKEN_USERNAME = "00000000-0000-0000-0000-000000000000"


DOCKER_LOGIN_TIMEOUT_S = 120.0


class AcrLoginError(RuntimeError):
    """The registry refused the token exchange, or docker could not store the login."""


class AcrRefused(AcrLoginError):
    """The registry answered 401 or 403: the identity's role on it may still be propagating."""


def exchange_url(login_server: str) -> str:
    return f"https://{login_server}/oauth2/exchange"


def token_url(login_server: str) -> str:
    return f"https://{login_server}/oauth2/token"


def _token(url: str, form: dict[str, str], field: str, refused: str, failed: str, timeout: float) -> str:
    """POST `form` to a token endpoint and return the answer's `field`. 401/403 raise AcrRefused (a role may
    still be propagating: the caller may wait), anything else AcrLoginError; `refused`/`failed` say what."""
    request = urllib.request.Request(
        url,
        data=urllib.parse.urlencode(form).encode(),
        method="POST",
        headers={"Content-Type": "application/x-www-form-urlencoded"},
    )
    try:
        with urllib.request.urlopen(request, timeout=timeout) as response:
            body = json.loads(response.read())
    except urllib.error.HTTPError as exc:
        error = AcrRefused if exc.code in (401, 403) else AcrLoginError
        raise error(refused.format(code=exc.code)) from None
    except (urllib.error.URLError, TimeoutError, json.JSONDecodeError) as exc:
        raise AcrLoginError(f"{failed}: {exc}") from None
    token = body.get(field) if isinstance(body, dict) else None
    if not isinstance(token, str) or not token:
        article = "an" if field.startswith("a") else "a"
        raise AcrLoginError(f"{form['service']} answered without {article} {field}")
    return token


def request_refresh_token(
    url: str, login_server: str, tenant_id: str, access_token: str, timeout: float = 30
) -> str:
    """POST the exchange form to `url` and return the ACR refresh token."""
    form = {
        "grant_type": "access_token",
        "service": login_server,
        "tenant": tenant_id,
        "access_token": access_token,
    }
    return _token(
        url,
        form,
        "refresh_token",
        f"{login_server} refused the token exchange (HTTP {{code}}): the identity running `pulumi up` needs "
        "the AcrPush role on the registry; a role assigned minutes ago may still be propagating",
        f"the token exchange with {login_server} failed",
        timeout,
    )


def request_access_token(
    url: str, login_server: str, refresh_token: str, scope: str, timeout: float = 30
) -> str:
    """POST the refresh token to the registry's token endpoint `url` for `scope`; the ACR access token."""
    form = {
        "grant_type": "refresh_token",
        "service": login_server,
        "scope": scope,
        "refresh_token": refresh_token,
    }
    return _token(
        url,
        form,
        "access_token",
        f"{login_server} refused a token for {scope} (HTTP {{code}})",
        f"asking {login_server} for a token failed",
        timeout,
    )


def granted_actions(access_token: str, repository: str) -> frozenset[str]:
    """The actions the registry granted on `repository` in an access token (a JWT): its `access` claim. Read,
    not verified: the registry verifies its own tokens on every call; here it only says what it granted."""
    try:
        payload = access_token.split(".")[1]
        claims = json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))
    except (IndexError, ValueError, binascii.Error):
        raise AcrLoginError("the registry's access token is not a JWT") from None
    entries = claims.get("access") if isinstance(claims, dict) else None
    return frozenset(
        str(action)
        for entry in entries or []
        if isinstance(entry, dict) and entry.get("type") == "repository" and entry.get("name") == repository
        for action in entry.get("actions") or []
    )


def exchange_refresh_token(login_server: str, tenant_id: str, access_token: str) -> str:
    """The ACR refresh token for `login_server` (RealOutside's; tests/infra/test_acr_login.py runs
    request_refresh_token against a local server)."""
    return request_refresh_token(exchange_url(login_server), login_server, tenant_id, access_token)


def registry_grants(login_server: str, refresh_token: str, repository: str) -> frozenset[str]:
    """What `login_server` grants the refresh token's identity on `repository` (RealOutside's;
    tests/infra/test_propagation.py runs request_access_token and granted_actions against a local server)."""
    access_token = request_access_token(
        token_url(login_server), login_server, refresh_token, push_scope(repository)
    )
    return granted_actions(access_token, repository)


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


def push_scope(repository: str) -> str:
    return f"repository:{repository}:pull,push"


def login_for_push(
    login_server: str,
    tenant_id: str,
    repository: str,
    outside: ImageOutside,
    patience: Patience | None = None,
) -> None:
    """Let the Docker engine push to `login_server`/`repository` as the identity running `pulumi up`, once
    the registry grants it push (never in a preview: the caller checks `pulumi.runtime.is_dry_run()`, since
    the preview identity may not push)."""
    access_token = outside.access_token(entra.ARM_SCOPE)  # about an hour: the wait is ten minutes at most

    def attempt() -> str | NotYet:
        try:
            refresh_token = outside.exchange_refresh_token(login_server, tenant_id, access_token)
            granted = outside.registry_grants(login_server, refresh_token, repository)
        except AcrRefused as refused:
            return NotYet(str(refused))
        if "push" in granted or "*" in granted:
            return refresh_token
        return NotYet(f"it grants {', '.join(sorted(granted)) or 'nothing'} on {repository}, not push")

    refresh_token = wait_until(
        f"push access to {login_server}/{repository}",
        attempt,
        advice="The identity running `pulumi up` needs AcrPush on the registry (this stack assigns it to "
        "aiapp:deployerObjectId, by default the logged-in identity); if it has it, run `pulumi up` again.",
        patience=patience or Patience(),
    )
    outside.docker_login(login_server, TOKEN_USERNAME, refresh_token)
