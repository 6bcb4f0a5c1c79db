"""The program's outside world, faked: an `Outside` (infra/outside.py) that reaches nothing.

Entra answers "mock-entra-token-for:<scope>", ACR's token exchange "mock-acr-refresh-token@<login server>",
the registry grants pull and push at once, the cluster allows at once (so no run waits), `docker login`
runs nothing; each call is recorded. The model store is real: the program opens the URL of
the storage account it declares (https://<account>.blob.core.windows.net/<container>), the recorder checks
that URL and hands back the file:// store the test chose instead. The project directory is the run's workdir.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

from infra.config.shapes import BLOB_STORE_URL
from infra.propagation import NotYet
from model.store import Store, open_store


@dataclass
class RecordingOutside:
    project_root: Path
    store_url: str  # the file:// store that every blob container URL the program opens stands for
    token_scopes: list[str] = field(default_factory=list)
    acr_exchanges: list[dict[str, str]] = field(default_factory=list)
    docker_logins: list[dict[str, str]] = field(default_factory=list)
    store_urls: list[str] = field(default_factory=list)
    registry_checks: list[dict[str, str]] = field(default_factory=list)
    cluster_reviews: list[dict[str, str]] = field(default_factory=list)

    def open_store(self, url: str) -> Store:
        self.store_urls.append(url)
        if not re.match(BLOB_STORE_URL, url):  # Azure's container rule, as the program checks it
            raise AssertionError(
                f"the program opened {url!r}, not a blob container URL of its storage account"
            )
        return open_store(self.store_url)

    def access_token(self, scope: str) -> str:
        self.token_scopes.append(scope)
        return f"mock-entra-token-for:{scope}"

    def exchange_refresh_token(self, login_server: str, tenant_id: str, access_token: str) -> str:
        self.acr_exchanges.append(
            {"login_server": login_server, "tenant": tenant_id, "access_token": access_token}
        )
        return f"mock-acr-refresh-token@{login_server}"

    def docker_login(self, login_server: str, username: str, password: str) -> None:
        self.docker_logins.append({"server": login_server, "username": username, "password": password})

    def registry_grants(self, login_server: str, refresh_token: str, repository: str) -> frozenset[str]:
        self.registry_checks.append(
            {"login_server": login_server, "refresh_token": refresh_token, "repository": repository}
        )
        return frozenset({"pull", "push"})

    def review_cluster_access(self, kubeconfig: str, verb: str, resource: str) -> Literal[True] | NotYet:
        self.cluster_reviews.append({"kubeconfig": kubeconfig, "verb": verb, "resource": resource})
        return True

    def api_served(self, kubeconfig: str, path: str) -> Literal[True] | NotYet:
        self.cluster_reviews.append({"kubeconfig": kubeconfig, "path": path})
        return True
