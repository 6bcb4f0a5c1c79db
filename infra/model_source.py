"""Put the model the image will serve into the build context: fetched from the store, or the reference model.

The program only ever READS the model store (previews run on every pull request with a read-only identity):
the stack's own, or another stack's (aiapp:modelStoreUrl, a store shared by dev and prod). A fresh role
assignment takes minutes to reach the storage data plane, so access-denied answers are retried for a while
before giving up.
"""

from __future__ import annotations

import contextlib
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from model.errors import ModelError, ModelNotFound, StoreAccessDenied, VersionExists
from model.manifest import Manifest, sha256_of
from model.registry import fetch, publish
from model.store import FileStore, Store

log = logging.getLogger(__name__)

RBAC_PROPAGATION_S = 300.0
RETRY_INTERVAL_S = 15.0
REFERENCE_VERSION = "1"

# What to do when the store keeps denying access, by who owns the store.
OWN_STORE_ACCESS_ADVICE = (
    "The identity running `pulumi up` needs Storage Blob Data Reader on the model store; this stack "
    "grants it (as Contributor) to the deploying identity, so check aiapp:deployerObjectId, then run "
    "`pulumi up` again"
)
SHARED_STORE_ACCESS_ADVICE = (
    "The identity running `pulumi up` needs Storage Blob Data Reader on the model store, and this stack "
    "does not grant it: the store belongs to the stack that created it (aiapp:modelStoreUrl). Grant it there "
    "(`az role assignment create --role 'Storage Blob Data Reader' --assignee <object id of the identity> "
    "--scope <the store's storage account id>`), wait a few minutes, then run `pulumi up` again"
)


class ModelSourceError(RuntimeError):
    """No model can be put into the image; the message says what to do."""


@dataclass(frozen=True)
class FetchedModel:
    name: str
    version: str
    sha256: str
    source: str  # "store" or "reference"


def with_access_retry(
    action: Callable[[], Manifest],
    what: str,
    advice: str = OWN_STORE_ACCESS_ADVICE,
    deadline_s: float = RBAC_PROPAGATION_S,
    interval_s: float = RETRY_INTERVAL_S,
    sleep: Callable[[float], None] = time.sleep,
    clock: Callable[[], float] = time.monotonic,
) -> Manifest:
    """Run `action`, retrying StoreAccessDenied until `deadline_s` has passed (RBAC propagation)."""
    start = clock()
    attempt = 1
    while True:
        try:
            return action()
        except StoreAccessDenied as exc:
            waited = clock() - start
            if waited + interval_s > deadline_s:
                raise ModelSourceError(
                    f"{what}: still denied after {waited:.0f} s ({exc}). {advice}"
                ) from None
            log.warning(
                "%s: access denied (attempt %d), retrying in %.0f s: %s", what, attempt, interval_s, exc
            )
            attempt += 1
            sleep(interval_s)


def fetch_from_store(
    open_store: Callable[[str], Store],
    store_url: str,
    dest: Path,
    name: str,
    version: str,
    shared: bool = False,
    **retry: Any,
) -> FetchedModel:
    """Fetch and verify `name`/`version` from the store at `store_url` (opened with `open_store`) into `dest`;
    `shared`: another stack's store."""
    what = f"fetching model {name} {version} from {store_url}"
    advice = SHARED_STORE_ACCESS_ADVICE if shared else OWN_STORE_ACCESS_ADVICE
    try:
        manifest = with_access_retry(
            lambda: fetch(open_store(store_url), dest, name, version), what, advice, **retry
        )
    except ModelNotFound as exc:
        whose = "the shared model store (aiapp:modelStoreUrl)" if shared else "this stack's store"
        raise ModelSourceError(
            f"{exc}. Publish a model into {whose} with `MODEL_STORE={store_url} python -m model "
            "publish` (your identity needs Storage Blob Data Contributor on it), or, for a first "
            "deployment, build with the reference model: `pulumi config set aiapp:modelSource reference`"
        ) from None
    except ModelError as exc:
        raise ModelSourceError(f"{what}: {exc}") from None
    return FetchedModel(manifest.name, manifest.version, manifest.sha256, "store")


def _local_store(cache_dir: Path) -> Store:
    cache_dir.mkdir(parents=True, exist_ok=True)
    return FileStore(cache_dir.resolve())


def reference_model(cache_dir: Path, dest: Path, name: str) -> FetchedModel:
    """Train the reference model (deterministic: byte-identical each time) and put it into `dest`.

    It goes through a private file store under the build directory, never the stack's store, so the image
    gets exactly what a published model would give it: model.onnx with a manifest, verified by `fetch`.
    """
    from model.train import train  # lazy: scikit-learn is only needed on this path

    store = _local_store(cache_dir)
    trained = train()
    # Already there from an earlier run: the same bytes (training is deterministic), checked below.
    with contextlib.suppress(VersionExists):
        publish(store, trained.onnx, trained.metrics, trained.framework, name=name, version=REFERENCE_VERSION)
    manifest = fetch(store, dest, name, REFERENCE_VERSION)

    if manifest.sha256 != sha256_of(trained.onnx):
        raise ModelSourceError(
            f"the cached reference model in {cache_dir} differs from a fresh training run (library versions "
            f"changed?): delete {cache_dir} and run `pulumi up` again"
        )
    return FetchedModel(manifest.name, manifest.version, manifest.sha256, "reference")
