"""The container engine that builds the image: Docker where an engine answers, else buildah (rootful).

Both expose the same small surface: build, inspect (config + layers with sizes), list and remove images.
buildah always names its storage driver, $AIAPP_STORAGE_DRIVER (default overlay; tools/image/base.sh uses the
same variable and default): an image is found only in the storage of the driver it was stored with. Why not
vfs: measured here, vfs copies the whole root filesystem at every build step, so an app-code-only rebuild took
29 s against a 56 s cold build (52 %); overlay: 6 s against 53 s (12 %). Set AIAPP_STORAGE_DRIVER=vfs on a
kernel without overlayfs.
"""

from __future__ import annotations

import abc
import contextlib
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

PLATFORM = "linux/amd64"
STORAGE_DRIVERS = ("overlay", "vfs")
STORAGE_DRIVER = os.environ.get("AIAPP_STORAGE_DRIVER") or "overlay"
STORAGE = ("--storage-driver", STORAGE_DRIVER)


class EngineError(RuntimeError):
    """The engine is missing or a build/inspect failed; the message says which command and why."""


@dataclass(frozen=True)
class ImageInfo:
    reference: str
    image_id: str
    layers: tuple[str, ...]  # uncompressed layer digests (diff ids), base first
    size: int  # bytes, uncompressed, all layers
    config: Mapping[str, Any]  # the Docker image config's "config": Entrypoint, Cmd, Labels, Healthcheck...


@dataclass(frozen=True)
class BuildResult:
    seconds: float
    log: str


class Engine(abc.ABC):
    """What both engines offer; each says how it starts a build (`build_command`), the rest is shared."""

    name: str

    def build(
        self,
        context: Path,
        dockerfile: Path,
        tag: str,
        build_args: Mapping[str, str],
        *,
        no_cache: bool = False,
    ) -> BuildResult:
        command = [*self.build_command(no_cache), "-f", str(dockerfile), "-t", tag]
        return _build([*command, *_arg_flags(build_args), str(context)], tag)

    @abc.abstractmethod
    def build_command(self, no_cache: bool) -> list[str]: ...

    @abc.abstractmethod
    def inspect(self, reference: str) -> ImageInfo: ...

    @abc.abstractmethod
    def image_ids(self) -> set[str]: ...

    @abc.abstractmethod
    def remove_images(self, ids: Sequence[str]) -> None: ...

    @abc.abstractmethod
    def isolated(self, base: str) -> contextlib.AbstractContextManager[Engine]: ...


def _run(command: Sequence[str], *, what: str, timeout: float = 120) -> str:
    try:
        done = subprocess.run(command, capture_output=True, text=True, timeout=timeout, check=False)
    except FileNotFoundError:
        raise EngineError(f"{command[0]} is not installed ({what})") from None
    if done.returncode != 0:
        reason = done.stderr.strip() or done.stdout.strip()
        raise EngineError(f"{what} failed ({' '.join(command)}): {reason}")
    return done.stdout


def _build(command: list[str], tag: str) -> BuildResult:
    """Run a build, echo its log to stderr as it goes (stdout stays for the JSON line), and time it."""
    print(f"build: {' '.join(command)}", file=sys.stderr, flush=True)
    started = time.monotonic()
    proc = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    assert proc.stdout is not None
    lines = []
    for line in proc.stdout:
        lines.append(line)
        sys.stderr.write(line)
    proc.wait()
    seconds = time.monotonic() - started
    log = "".join(lines)
    if proc.returncode != 0:
        tail = "".join(lines[-30:])
        raise EngineError(f"building {tag} failed (exit {proc.returncode}); last lines:\n{tail}")
    return BuildResult(seconds=seconds, log=log)


def _arg_flags(build_args: Mapping[str, str]) -> list[str]:
    return [flag for key, value in sorted(build_args.items()) for flag in ("--build-arg", f"{key}={value}")]


class Buildah(Engine):
    """buildah on the machine's container storage, or on a private one under `root` (see `isolated`)."""

    name = "buildah"

    def __init__(self, root: Path | None = None) -> None:
        if STORAGE_DRIVER not in STORAGE_DRIVERS:
            allowed = ", ".join(STORAGE_DRIVERS)
            raise EngineError(f"AIAPP_STORAGE_DRIVER={STORAGE_DRIVER!r}: use one of {allowed}")
        self.root = root
        self.storage = [*STORAGE]
        if root is not None:
            self.storage += ["--root", str(root / "root"), "--runroot", str(root / "runroot")]

    def build_command(self, no_cache: bool) -> list[str]:
        command = ["buildah", *self.storage, "bud", "--isolation", "chroot", "--layers", "--format", "docker"]
        return [*command, "--platform", PLATFORM, *(["--no-cache"] if no_cache else [])]

    def inspect(self, reference: str) -> ImageInfo:
        command = ["buildah", *self.storage, "inspect", "--type", "image", reference]
        raw = json.loads(_run(command, what=f"inspecting {reference}"))
        manifest = json.loads(raw["Manifest"])
        # Local storage keeps layers uncompressed: the manifest's sizes are the layers' tar sizes.
        layers = tuple(layer["digest"] for layer in manifest["layers"])
        size = sum(int(layer["size"]) for layer in manifest["layers"])
        image_id = manifest["config"]["digest"].removeprefix("sha256:")
        return ImageInfo(reference, image_id, layers, size, raw["Docker"].get("config") or {})

    def image_ids(self) -> set[str]:
        command = ["buildah", *self.storage, "images", "--all", "--quiet", "--no-trunc"]
        out = _run(command, what="listing images")
        return {line.strip().removeprefix("sha256:") for line in out.splitlines() if line.strip()}

    def remove_images(self, ids: Sequence[str]) -> None:
        if ids:
            _run(["buildah", *self.storage, "rmi", "--force", *ids], what="removing images", timeout=600)

    @contextlib.contextmanager
    def isolated(self, base: str) -> Iterator[Buildah]:
        """A private, empty storage holding only `base`, deleted afterwards: a truly cold build, and a rebuild
        whose cache holds nothing but that build's layers (on the shared storage, an older chain of the same
        steps may win the cache lookup and make a rebuild redo layers an app-code change did not touch)."""
        root = Path(tempfile.mkdtemp(prefix="aiapp-image-storage-", dir="/var/tmp"))
        try:
            private = Buildah(root)
            destination = f"containers-storage:[{STORAGE_DRIVER}@{root / 'root'}+{root / 'runroot'}]{base}"
            _run(["buildah", *self.storage, "push", base, destination], what=f"copying {base}", timeout=600)
            yield private
        finally:
            shutil.rmtree(root, ignore_errors=True)


class Docker(Engine):
    name = "docker"

    def build_command(self, no_cache: bool) -> list[str]:
        return ["docker", "build", "--platform", PLATFORM, *(["--no-cache"] if no_cache else [])]

    def inspect(self, reference: str) -> ImageInfo:
        raw = json.loads(_run(["docker", "image", "inspect", reference], what=f"inspecting {reference}"))[0]
        return ImageInfo(
            reference,
            raw["Id"].removeprefix("sha256:"),
            tuple(raw["RootFS"]["Layers"]),
            int(raw["Size"]),  # uncompressed content of all layers
            raw.get("Config") or {},
        )

    def image_ids(self) -> set[str]:
        out = _run(["docker", "images", "--all", "--quiet", "--no-trunc"], what="listing images")
        return {line.strip().removeprefix("sha256:") for line in out.splitlines() if line.strip()}

    def remove_images(self, ids: Sequence[str]) -> None:
        if ids:
            _run(["docker", "rmi", "--force", *ids], what="removing images", timeout=600)

    @contextlib.contextmanager
    def isolated(self, base: str) -> Iterator[Docker]:
        """Docker's own store; the images made inside are removed afterwards (builds pass --no-cache)."""
        before = self.image_ids()
        try:
            yield self
        finally:
            self.remove_images(sorted(self.image_ids() - before))


def docker_answers() -> bool:
    """True when a Docker engine answers (a docker CLI alone, without a daemon, does not count)."""
    if shutil.which("docker") is None:
        return False
    try:
        info = subprocess.run(["docker", "info"], capture_output=True, timeout=20, check=False)
    except subprocess.TimeoutExpired:
        return False
    return info.returncode == 0


def detect() -> Engine:
    """Docker where an engine answers, else buildah; neither is a clear error."""
    if docker_answers():
        return Docker()
    if shutil.which("buildah") is None:
        raise EngineError(
            "no container engine: no Docker daemon answers `docker info` and buildah is not installed "
            "(apt-get install buildah debootstrap, or start Docker)"
        )
    return Buildah()


def app_layers_size(image: ImageInfo, base: ImageInfo) -> int:
    """Bytes in the image's layers above its base; the base's layers must be the image's first ones."""
    if image.layers[: len(base.layers)] != base.layers:
        raise EngineError(f"{image.reference} is not built on {base.reference}: their first layers differ")
    return image.size - base.size
