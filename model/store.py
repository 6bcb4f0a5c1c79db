"""Two model stores behind one small interface: a directory (`file://DIR`) and Azure Blob Storage.

The interface is what publishing safely needs and no more: create-only writes (a version is never
overwritten) and compare-and-swap on the `latest` pointer (two publishers never lose each other's update).
"""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import os
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Protocol
from urllib.parse import urlparse

from model.errors import ModelNotFound, StoreAccessDenied, StoreConflict

REPO_ROOT = Path(__file__).resolve().parent.parent
DEFAULT_STORE = f"file://{REPO_ROOT / '.models'}"
# For the Azurite emulator in tests and local work only: in Azure the store is reached with an identity.
CONNECTION_STRING_ENV = "MODEL_STORE_CONNECTION_STRING"


class Store(Protocol):
    url: str

    def read(self, key: str) -> bytes:
        """The object's bytes; ModelNotFound if it does not exist."""

    def read_tagged(self, key: str) -> tuple[bytes, str] | None:
        """The object's bytes and a version tag for `write_if`, or None if it does not exist."""

    def create(self, key: str, data: bytes) -> None:
        """Write a new object; StoreConflict if it exists. Readers never see a partial object."""

    def write_if(self, key: str, data: bytes, tag: str | None) -> None:
        """Replace the object only if it still has `tag` (None: only if absent); StoreConflict otherwise."""

    def keys(self, prefix: str) -> list[str]:
        """Every key under `prefix`."""


def default_store_url() -> str:
    return os.environ.get("MODEL_STORE") or DEFAULT_STORE


def open_store(url: str) -> Store:
    parsed = urlparse(url)
    if parsed.scheme == "file":
        if parsed.netloc or not parsed.path.startswith("/"):
            raise ValueError(f"MODEL_STORE {url!r}: a file store needs an absolute path, file:///abs/dir")
        return FileStore(Path(parsed.path))
    if parsed.scheme in ("https", "http") and parsed.path.strip("/"):
        return BlobStore(url)
    raise ValueError(
        f"MODEL_STORE {url!r} is not a model store URL: use file:///abs/dir or "
        "https://<account>.blob.core.windows.net/<container>"
    )


class FileStore:
    """A directory. Writes go to a temporary file and are renamed into place, so readers see whole files."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self.url = f"file://{root}"

    def _path(self, key: str) -> Path:
        return self.root / key

    def read(self, key: str) -> bytes:
        try:
            return self._path(key).read_bytes()
        except FileNotFoundError:
            raise ModelNotFound(f"{key} does not exist in {self.url}") from None
        except PermissionError:
            raise StoreAccessDenied(f"no permission to read {key} in {self.url}") from None

    def read_tagged(self, key: str) -> tuple[bytes, str] | None:
        try:
            data = self._path(key).read_bytes()
        except FileNotFoundError:
            return None
        return data, hashlib.sha256(data).hexdigest()

    def create(self, key: str, data: bytes) -> None:
        path = self._path(key)
        with self._staged(path, data) as staged:
            try:
                os.link(staged, path)  # atomic and fails if the name exists: a create-only rename
            except FileExistsError:
                raise StoreConflict(f"{key} already exists in {self.url}") from None

    def write_if(self, key: str, data: bytes, tag: str | None) -> None:
        path = self._path(key)
        path.parent.mkdir(parents=True, exist_ok=True)
        with self._locked(path), self._staged(path, data) as staged:
            current = self.read_tagged(key)
            if (current[1] if current else None) != tag:
                raise StoreConflict(f"{key} in {self.url} was changed by another writer")
            os.replace(staged, path)

    def keys(self, prefix: str) -> list[str]:
        base = self._path(prefix)
        if not base.is_dir():
            return []
        return sorted(
            str(p.relative_to(self.root))
            for p in base.rglob("*")
            if p.is_file() and not p.name.startswith(".")
        )

    @contextlib.contextmanager
    def _staged(self, path: Path, data: bytes) -> Iterator[str]:
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, staged = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.")
        try:
            with os.fdopen(fd, "wb") as fh:
                fh.write(data)
                fh.flush()
                os.fsync(fh.fileno())
            yield staged
        finally:
            with contextlib.suppress(FileNotFoundError):
                os.unlink(staged)

    @contextlib.contextmanager
    def _locked(self, path: Path) -> Iterator[None]:
        with open(path.parent / f".{path.name}.lock", "a") as lock:
            fcntl.flock(lock, fcntl.LOCK_EX)
            yield


class BlobStore:
    """A private container in Azure Blob Storage, reached with an Entra identity (DefaultAzureCredential).

    Create-only writes use If-None-Match: *, compare-and-swap uses the blob's ETag (If-Match).
    """

    def __init__(self, url: str) -> None:
        from azure.storage.blob import ContainerClient  # lazy: the file store and the app do not need azure

        self.url = url.rstrip("/")
        account_url, _, container = self.url.rpartition("/")
        connection_string = os.environ.get(CONNECTION_STRING_ENV)
        if connection_string:
            self._container = ContainerClient.from_connection_string(connection_string, container)
        else:
            from azure.identity import DefaultAzureCredential

            self._container = ContainerClient(account_url, container, credential=DefaultAzureCredential())

    @contextlib.contextmanager
    def _errors(self, key: str) -> Iterator[None]:
        from azure.core.exceptions import (
            ClientAuthenticationError,
            HttpResponseError,
            ResourceExistsError,
            ResourceModifiedError,
            ResourceNotFoundError,
        )

        try:
            yield
        except ResourceNotFoundError as exc:
            if getattr(exc, "error_code", None) == "ContainerNotFound":
                raise ModelNotFound(
                    f"the container of {self.url} does not exist: deploy the stack (it creates it) "
                    "or check the URL"
                ) from None
            raise ModelNotFound(f"{key} does not exist in {self.url}") from None
        except (ResourceExistsError, ResourceModifiedError):
            raise StoreConflict(f"{key} in {self.url} exists or was changed by another writer") from None
        except ClientAuthenticationError as exc:
            raise StoreAccessDenied(f"{self.url} refused our identity: {exc.message}") from None
        except HttpResponseError as exc:
            if exc.status_code == 403:
                raise StoreAccessDenied(
                    f"{self.url} denied {key} to our identity ({exc.error_code}): it needs Storage Blob Data "
                    "Reader (fetch) or Contributor (publish); new role assignments take a few minutes"
                ) from None
            if exc.status_code == 412:
                raise StoreConflict(f"{key} in {self.url} was changed by another writer") from None
            raise

    def read(self, key: str) -> bytes:
        with self._errors(key):
            return self._container.download_blob(key).readall()

    def read_tagged(self, key: str) -> tuple[bytes, str] | None:
        try:
            with self._errors(key):
                downloader = self._container.download_blob(key)
                return downloader.readall(), downloader.properties.etag
        except ModelNotFound:
            return None

    def create(self, key: str, data: bytes) -> None:
        with self._errors(key):
            self._container.upload_blob(key, data, overwrite=False)

    def write_if(self, key: str, data: bytes, tag: str | None) -> None:
        from azure.core import MatchConditions

        with self._errors(key):
            if tag is None:
                self._container.upload_blob(key, data, overwrite=False)
            else:
                self._container.upload_blob(
                    key, data, overwrite=True, etag=tag, match_condition=MatchConditions.IfNotModified
                )

    def keys(self, prefix: str) -> list[str]:
        with self._errors(prefix):
            return sorted(self._container.list_blob_names(name_starts_with=prefix))
