"""The world outside Pulumi's engine that the image build reaches, passed in as one argument.

Resources go through the engine and its providers; a few steps of the image build cannot: reading the
project's files, fetching the model from the store, and logging the Docker engine in to ACR (an Entra token,
exchanged for an ACR refresh token, handed to `docker login`). AppImage receives them as an `ImageOutside`
(AppImageArgs.outside): `pulumi up` passes `RealOutside()`, the tests a recorder of their own
(tests/harness/outside.py). Nothing is patched: what the program may reach is this Protocol, and no more.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

from infra import acr_login, entra
from model.store import Store, open_store

# The project directory: the one holding Pulumi.yaml, __main__.py, app/ and the .dockerignore.
PROJECT_ROOT = Path(__file__).resolve().parent.parent


class ImageOutside(Protocol):
    """What building and pushing the app image needs from outside the engine."""

    @property
    def project_root(self) -> Path:
        """The build context (app/, model/, .dockerignore, pyproject.toml); build/ is written under it."""
        ...

    def open_store(self, url: str) -> Store:
        """The model store at `url`, read only (`https://<account>.blob.core.windows.net/<container>`)."""
        ...

    def access_token(self, scope: str) -> str:
        """An Entra access token for `scope`, for the identity running `pulumi up`."""
        ...

    def exchange_refresh_token(self, login_server: str, tenant_id: str, access_token: str) -> str:
        """ACR's refresh token for `login_server` in exchange for an Entra access token."""
        ...

    def docker_login(self, login_server: str, username: str, password: str) -> None:
        """Store a login for `login_server` in the Docker engine's credential store."""
        ...


@dataclass(frozen=True)
class RealOutside:
    """The real world: this checkout, Azure Blob Storage, Entra ID (azure-identity), ACR, the Docker CLI."""

    project_root: Path = PROJECT_ROOT

    def open_store(self, url: str) -> Store:
        return open_store(url)

    def access_token(self, scope: str) -> str:
        return entra.get_access_token(scope)

    def exchange_refresh_token(self, login_server: str, tenant_id: str, access_token: str) -> str:
        return acr_login.exchange_refresh_token(login_server, tenant_id, access_token)

    def docker_login(self, login_server: str, username: str, password: str) -> None:
        acr_login.docker_login(login_server, username, password)
