"""Publish, fetch and list model versions in a store.

Layout: `<name>/<version>/model.onnx`, `<name>/<version>/manifest.json` and `<name>/latest`.
A version is complete once its manifest exists (written after the model); `latest` moves last, only
forward, by compare-and-swap. So a reader following `latest` never meets a partial upload, and two
publishers racing for a version cannot both get it.
"""

from __future__ import annotations

import json
import os
import shutil
import tempfile
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from model.errors import IntegrityError, ModelNotFound, QualityGateError, StoreConflict, VersionExists
from model.manifest import (
    DEFAULT_MODEL_NAME,
    MANIFEST_FILE,
    MODEL_FILE,
    Manifest,
    describe,
    sha256_of,
    spec_problems,
    verify_model_dir,
)
from model.store import Store

DEFAULT_MIN_ACCURACY = 0.95
LATEST = "latest"


@dataclass(frozen=True)
class VersionInfo:
    version: str
    complete: bool
    latest: bool
    manifest: Manifest | None


def _key(name: str, *parts: str) -> str:
    return "/".join((name, *parts))


def _check_version(version: str) -> str:
    if not version.isdigit() or int(version) < 1:
        raise ValueError(f"model version {version!r} must be a positive integer (or 'latest' to fetch)")
    return str(int(version))


def latest_version(store: Store, name: str = DEFAULT_MODEL_NAME) -> str:
    pointer = store.read_tagged(_key(name, LATEST))
    if pointer is None:
        raise ModelNotFound(
            f"no {name!r} model is published in {store.url}: publish one with "
            f"`python -m model publish --store {store.url}` (`make model` publishes the reference model)"
        )
    try:
        return _check_version(str(json.loads(pointer[0])["version"]))
    except (ValueError, KeyError, TypeError):
        raise IntegrityError(f"{name}/latest in {store.url} is corrupt: republish to repair it") from None


def _version_files(store: Store, name: str) -> dict[str, set[str]]:
    """The file names under each version number, from one listing (no object is read)."""
    files: dict[str, set[str]] = {}
    for key in store.keys(f"{name}/"):
        parts = key.split("/")
        if len(parts) == 3 and parts[1].isdigit():
            files.setdefault(parts[1], set()).add(parts[2])
    return files


def list_versions(store: Store, name: str = DEFAULT_MODEL_NAME) -> list[VersionInfo]:
    """Every version, oldest first; incomplete ones (a model without a manifest) included and marked."""
    files = _version_files(store, name)
    try:
        latest = latest_version(store, name)
    except ModelNotFound:
        latest = None
    infos = []
    for version in sorted(files, key=int):
        manifest = None
        if MANIFEST_FILE in files[version]:
            raw = store.read(_key(name, version, MANIFEST_FILE))
            manifest = Manifest.from_json(raw, f"{name}/{version}/{MANIFEST_FILE} in {store.url}")
        infos.append(VersionInfo(version, manifest is not None, version == latest, manifest))
    return infos


def inspect_onnx(model_bytes: bytes) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """The model's real inputs and outputs, read by onnxruntime (which also proves the file loads)."""
    import onnxruntime

    try:
        session = onnxruntime.InferenceSession(model_bytes, providers=["CPUExecutionProvider"])
    except Exception as exc:  # onnxruntime raises its own exception types for every kind of bad file
        raise QualityGateError(f"the model does not load in onnxruntime: {exc}") from None
    return describe(session.get_inputs()), describe(session.get_outputs())


def publish(
    store: Store,
    model_bytes: bytes,
    metrics: dict[str, Any],
    framework: dict[str, str],
    name: str = DEFAULT_MODEL_NAME,
    version: str | None = None,
    min_accuracy: float = DEFAULT_MIN_ACCURACY,
) -> Manifest:
    """Upload one new version and move `latest` to it if it is the newest. Never overwrites a version."""
    accuracy = metrics.get("accuracy")
    if not isinstance(accuracy, int | float) or accuracy < min_accuracy:
        raise QualityGateError(
            f"accuracy {accuracy} is below the minimum {min_accuracy}: improve the model, or lower the gate "
            "with --min-accuracy if this is intended"
        )
    inputs, outputs = inspect_onnx(model_bytes)
    problems = spec_problems(inputs, outputs)
    if problems:
        raise QualityGateError(f"the model's spec is not what the app serves: {'; '.join(problems)}")

    def manifest_for(v: str) -> Manifest:
        return Manifest(
            name=name,
            version=v,
            sha256=sha256_of(model_bytes),
            size=len(model_bytes),
            created=datetime.now(UTC).isoformat(timespec="seconds"),
            metrics=metrics,
            input=inputs,
            output=outputs,
            framework=framework,
        )

    if version is not None:
        manifest = manifest_for(_check_version(version))
        _claim(store, manifest, model_bytes, explicit=True)
    else:
        while True:  # another publisher may claim the number we picked: take the next one
            taken = [int(version) for version in _version_files(store, name)]  # claimed, complete or not
            manifest = manifest_for(str(max(taken, default=0) + 1))
            if _claim(store, manifest, model_bytes, explicit=False):
                break
    store.create(_key(name, manifest.version, MANIFEST_FILE), manifest.to_json())
    _advance_latest(store, name, manifest.version)
    return manifest


def _claim(store: Store, manifest: Manifest, model_bytes: bytes, explicit: bool) -> bool:
    """Write the model file, create-only: whoever writes it first owns the version."""
    try:
        store.create(_key(manifest.name, manifest.version, MODEL_FILE), model_bytes)
    except StoreConflict:
        if explicit:
            raise VersionExists(
                f"{manifest.name} version {manifest.version} already exists in {store.url}; versions are "
                "never overwritten: publish without --version to take the next one"
            ) from None
        return False
    return True


def _advance_latest(store: Store, name: str, version: str) -> None:
    key = _key(name, LATEST)
    while True:
        current = store.read_tagged(key)
        if current is not None:
            try:
                if int(json.loads(current[0])["version"]) >= int(version):
                    return  # a newer version is already latest: never move backwards
            except (ValueError, KeyError, TypeError):
                pass  # a corrupt pointer is repaired by this write
        try:
            store.write_if(key, json.dumps({"version": version}).encode(), current[1] if current else None)
            return
        except StoreConflict:
            continue


def fetch(store: Store, dest: Path, name: str = DEFAULT_MODEL_NAME, version: str = LATEST) -> Manifest:
    """Download one version into `dest` (model.onnx + manifest.json), verified, all or nothing.

    The files are staged and verified beside `dest`, then swapped in with renames: `dest` holds either the
    old verified model or the new one, never a mix or a partial file.
    """
    resolved = latest_version(store, name) if version == LATEST else _check_version(version)
    where = f"{name} version {resolved} in {store.url}"
    try:
        raw_manifest = store.read(_key(name, resolved, MANIFEST_FILE))
    except ModelNotFound:
        raise ModelNotFound(
            f"{where} has no manifest (missing or an unfinished upload); `python -m model list` shows "
            "the complete versions"
        ) from None
    manifest = Manifest.from_json(raw_manifest, f"the manifest of {where}")
    if (manifest.name, manifest.version) != (name, resolved):
        raise IntegrityError(f"the manifest of {where} describes {manifest.name} {manifest.version}")
    model_bytes = store.read(_key(name, resolved, MODEL_FILE))

    dest = dest.resolve()
    dest.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(dir=dest.parent, prefix=f".{dest.name}.fetch-"))
    staging.chmod(0o755)  # mkdtemp's 0700 would stay private to its creator, e.g. inside an image
    try:
        (staging / MODEL_FILE).write_bytes(model_bytes)
        (staging / MANIFEST_FILE).write_bytes(raw_manifest)
        try:
            verify_model_dir(staging)
        except IntegrityError as exc:
            raise IntegrityError(f"{where} is corrupt: {exc}; republish it") from None
        _swap_into(staging, dest)
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    return manifest


def _swap_into(staging: Path, dest: Path) -> None:
    if not dest.exists():
        os.rename(staging, dest)
        return
    retired = Path(tempfile.mkdtemp(dir=dest.parent, prefix=f".{dest.name}.old-"))
    os.rename(dest, retired / dest.name)
    os.rename(staging, dest)
    shutil.rmtree(retired, ignore_errors=True)
