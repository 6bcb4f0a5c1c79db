"""The world outside Pulumi's engine that the program reaches, passed in as one argument.

Resources go through the engine and its providers; a few steps cannot: reading the project's files, fetching
the model from the store, logging the Docker engine in to ACR (an Entra token, exchanged for an ACR refresh
token, handed to `docker login`) once the registry grants push, and asking the cluster whether the deployer
may create in it yet (infra/propagation.py says why). AppImage receives them as an `ImageOutside`
(AppImageArgs.outside), Cluster as a `ClusterOutside` (ClusterArgs.outside): `pulumi up` passes
`RealOutside()` (an `Outside`, both), the tests a recorder of their own (tests/harness/outside.py). Nothing is
patched: what the program may reach is these Protocols, and no more.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Literal, Protocol

from infra import acr_login, cluster_access, entra
from infra.propagation import NotYet
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

    def registry_grants(self, login_server: str, refresh_token: str, repository: str) -> frozenset[str]:
        """The actions (pull, push) `login_server` grants the refresh token's identity on `repository`."""
        ...

    def docker_login(self, login_server: str, username: str, password: str) -> None:
        """Store a login for `login_server` in the Docker engine's credential store."""
        ...


class ClusterOutside(Protocol):
    """What the kubernetes Provider's first use needs from outside the engine."""

    def review_cluster_access(self, kubeconfig: str, verb: str, resource: str) -> Literal[True] | NotYet:
        """True once the kubeconfig's user may `verb` `resource` in its cluster, else NotYet with the API
        server's words (a SelfSubjectAccessReview)."""
        ...

    def api_served(self, kubeconfig: str, path: str) -> Literal[True] | NotYet:
        """True once the kubeconfig's cluster serves `path` (an add-on's CRD API group), else NotYet."""
        ...


class Outside(ImageOutside, ClusterOutside, Protocol):
    """Everything the program reaches outside the engine."""


@dataclass(frozen=True)
class RealOutside:
    """The real world: this checkout, Azure Blob Storage, Entra ID (azure-identity), ACR, the Docker CLI, and
    the AKS API server through kubelogin."""

    project_root: Path = PROJECT_ROOT

    def open_store(self, url: str) -> Store:
        return open_store(url)

    def access_token(self, scope: str) -> str:
        return entra.get_access_token(scope)

    def exchange_refresh_token(self, login_server: str, tenant_id: str, access_token: str) -> str:
        return acr_login.exchange_refresh_token(login_server, tenant_id, access_token)

    def registry_grants(self, login_server: str, refresh_token: str, repository: str) -> frozenset[str]:
        return acr_login.registry_grants(login_server, refresh_token, repository)

    def docker_login(self, login_server: str, username: str, password: str) -> None:
        acr_login.docker_login(login_server, username, password)

    def review_cluster_access(self, kubeconfig: str, verb: str, resource: str) -> Literal[True] | NotYet:
        return cluster_access.review(kubeconfig, verb, resource)

    def api_served(self, kubeconfig: str, path: str) -> Literal[True] | NotYet:
        return cluster_access.served(kubeconfig, path)
