"""What a run recorded: each resource registration (`Recorded`) and the run as a whole (`StackRun`)."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from tests.harness.outside import RecordingOutside


@dataclass(frozen=True)
class Recorded:
    """One resource registration as the engine saw it (inputs with secrets unwrapped)."""

    type: str
    name: str
    urn: str
    id: str
    inputs: dict[str, Any]
    outputs: dict[str, Any]
    parent: str | None
    custom: bool
    protect: bool
    provider: str | None
    dependencies: tuple[str, ...]
    ignore_changes: tuple[str, ...]
    delete_before_replace: bool
    additional_secret_outputs: tuple[str, ...]
    replace_on_changes: tuple[str, ...]
    retain_on_delete: bool
    secret_inputs: frozenset[str]


@dataclass
class StackRun:
    stack: str
    preview: bool
    config: dict[str, str]
    workdir: Path
    outside: RecordingOutside  # what the program reached outside the engine
    resources: list[Recorded] = field(default_factory=list)
    reads: list[Recorded] = field(default_factory=list)  # existing resources read by id (`Resource.get`)
    outputs: dict[str, Any] = field(default_factory=dict)
    secret_outputs: frozenset[str] = frozenset()
    unknown_outputs: frozenset[str] = frozenset()
    calls: list[tuple[str, dict[str, Any]]] = field(default_factory=list)
    call_providers: list[tuple[str, str]] = field(default_factory=list)  # (token, provider urn, or "")
    existing_stack: bool = False  # with preview: resources exist unchanged, their outputs are known

    @property
    def token_scopes(self) -> list[str]:
        """The Entra scopes the program asked tokens for."""
        return self.outside.token_scopes

    @property
    def acr_exchanges(self) -> list[dict[str, str]]:
        return self.outside.acr_exchanges

    @property
    def docker_logins(self) -> list[dict[str, str]]:
        return self.outside.docker_logins

    @property
    def registry_checks(self) -> list[dict[str, str]]:
        """Each time the program asked the registry what it grants (before `docker login`)."""
        return self.outside.registry_checks

    @property
    def cluster_reviews(self) -> list[dict[str, str]]:
        """Each access review the program asked of the cluster (kubeconfig, verb, resource)."""
        return self.outside.cluster_reviews

    @property
    def store_urls(self) -> list[str]:
        """The model store URLs the program opened."""
        return self.outside.store_urls

    def of_type(self, token: str) -> list[Recorded]:
        return [r for r in self.resources if r.type == token]

    def one(self, token: str, name: str | None = None) -> Recorded:
        found = [r for r in self.of_type(token) if name is None or r.name == name]
        if len(found) != 1:
            names = [r.name for r in self.of_type(token)]
            raise AssertionError(f"expected exactly one {token} named {name!r}, found {len(found)}: {names}")
        return found[0]

    def by_urn(self, urn: str) -> Recorded:
        for r in self.resources:
            if r.urn == urn:
                return r
        raise AssertionError(f"no resource with urn {urn}")

    def parent_of(self, rec: Recorded) -> Recorded | None:
        """The component `rec` was declared in; None for resources parented by the stack itself."""
        return next((r for r in self.resources if r.urn == rec.parent), None)

    def children(self, rec: Recorded) -> list[Recorded]:
        return [r for r in self.resources if r.parent == rec.urn]
