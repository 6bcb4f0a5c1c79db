"""The image tag, derived from content: the files the build context ships, the model's sha256, the build args.

The files are exactly those Docker puts into the build context under the root .dockerignore, found with
Docker's own rules (docker-py's `exclude_paths`, what `docker build` in Docker's Python SDK sends, a port of
moby's matcher), plus the Dockerfile, which the builder always gets; the fetched model is represented by its
sha256, and the .dockerignore itself by the file list it gives. The same inputs give the same tag on any
machine (relative paths, sorted, no timestamps), so an unchanged `pulumi up` pushes and changes nothing, and
any changed file or model gives a new tag.

Why a tag of our own, when pulumi-docker hashes the build context too (its provider's Check adds
`build.contextDigest`, so an Image whose inputs are unchanged is not rebuilt): that digest only decides
whether to rebuild, and a rebuilt image under the same name would move the tag. A content tag gives every
distinct image its own name, so a pushed tag never changes meaning and the registry keeps each image a
Deployment may still run (untagged manifests are what ACR's retention policy purges).
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Mapping
from pathlib import Path

from docker.utils.build import exclude_paths

TAG_LENGTH = 20
DOCKERIGNORE = ".dockerignore"


def dockerignore_patterns(root: Path) -> list[str]:
    """The patterns of `root`/.dockerignore, read as Docker's Python SDK reads them (blank lines and
    comments dropped); a missing file is an error: the context would be the whole directory."""
    ignore_file = root / DOCKERIGNORE
    if not ignore_file.is_file():
        raise FileNotFoundError(
            f"{ignore_file} is missing: without it the build context would be the whole directory (.venv, "
            ".git and all); the image's .dockerignore lists what the image ships"
        )
    lines = (line.strip() for line in ignore_file.read_text().splitlines())
    return [line for line in lines if line and not line.startswith("#")]


def context_files(root: Path, dockerfile: str, exclude_prefixes: Iterable[str] = ()) -> list[Path]:
    """The files of the build context rooted at `root` for `dockerfile` (relative to `root`), sorted, without
    the .dockerignore itself and anything under `exclude_prefixes`."""
    excluded = tuple(p.strip("/") for p in exclude_prefixes)
    admitted = exclude_paths(str(root), dockerignore_patterns(root), dockerfile=dockerfile)
    relative = sorted(
        Path(path).as_posix()
        for path in admitted
        if path != DOCKERIGNORE
        and not any(path == prefix or path.startswith(f"{prefix}/") for prefix in excluded)
        and not (root / path).is_dir()
    )
    return [root / path for path in relative]


def image_files(root: Path, dockerfile: str, model_dir: str) -> list[Path]:
    """The files the image is built from, sorted: the build context without the fetched model (represented by
    its sha256), with the Dockerfile."""
    if not (root / dockerfile).is_file():
        raise FileNotFoundError(f"{root / dockerfile} is missing: the image is built from it")
    files = context_files(root, dockerfile, exclude_prefixes=[model_dir])
    if files == [root / dockerfile]:
        raise FileNotFoundError(f"the build context {root} holds no files the .dockerignore admits")
    return files


def content_tag(
    root: Path, dockerfile: str, model_dir: str, model_sha256: str, build_args: Mapping[str, str]
) -> str:
    """The tag of the image built from `root` with `dockerfile`, the model in `model_dir` and `build_args`."""
    digest = hashlib.sha256()
    for file in image_files(root, dockerfile, model_dir):
        digest.update(file.relative_to(root).as_posix().encode() + b"\0")
        digest.update(hashlib.sha256(file.read_bytes()).digest())
    digest.update(b"model\0" + model_sha256.encode())
    for key in sorted(build_args):
        digest.update(f"arg\0{key}={build_args[key]}\0".encode())
    return digest.hexdigest()[:TAG_LENGTH]
