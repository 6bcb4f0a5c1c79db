"""`make image`: fetch the model from MODEL_STORE, build app/Dockerfile, print the image's figures.

    python -m tools.image.build [--tag REF] [--base IMAGE] [--model-version V] [--no-fetch] [--bench]

The engine is Docker when an engine answers `docker info`, else buildah (chroot isolation; engine.py).
The base is --base, else $BASE_IMAGE; else, with Docker, the Dockerfile's pinned debian:bookworm-slim; with
buildah the local debootstrap'ed bookworm made by tools/image/base.sh (no registry can be pulled here).

The last line printed is one JSON object: image (name:tag), image_id, engine, base, model, total_mb,
app_layers_mb (the layers above the base), build_s; MB = 10^6 bytes. Build logs go to stderr.

--bench measures what `make bench` reports, on a temporary copy of the context (the checkout is never
modified) and, with buildah, in a private container storage holding only the base (deleted afterwards): a cold
build (no layer cache), then a rebuild after an app-code-only change. Its last line has image_total_mb,
image_app_layers_mb, image_cold_build_s, image_rebuild_s. (tests/container asserts that such a rebuild reuses
the dependency layer.)
"""

from __future__ import annotations

import argparse
import json
import os
import re
import subprocess
import sys
import tempfile
import time
import tomllib
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit, urlunsplit

from model.errors import ModelError
from model.manifest import Manifest, verify_model_dir
from tools.image.context import DOCKERFILE, MODEL_SUBDIR, ContextError, copy_context, touch_app_code
from tools.image.engine import Buildah, Docker, Engine, EngineError, ImageInfo, app_layers_size, detect

REPO = Path(__file__).resolve().parents[2]
BASE_SCRIPT = REPO / "tools" / "image" / "base.sh"
IMAGE_NAME = "localhost/aiapp"
MB = 1_000_000


class BuildError(RuntimeError):
    """Anything that stops `make image`; the message says what to do."""


def fetch_model(version: str, store: str | None, dest: Path) -> None:
    """`python -m model fetch`: download and verify the model the image bakes in (the build never will)."""
    command = [sys.executable, "-m", "model", "fetch", "--version", version, "--dest", str(dest)]
    command += ["--store", store] if store else []
    done = subprocess.run(command, cwd=REPO, stdout=sys.stderr, stderr=sys.stderr, check=False)
    if done.returncode != 0:
        raise BuildError(
            f"fetching model version {version} failed (see above); publish one or set MODEL_STORE"
        )


def local_test_base() -> str:
    """The local bookworm base (made once per machine by base.sh; later calls return at once)."""
    done = subprocess.run(["bash", str(BASE_SCRIPT)], stdout=subprocess.PIPE, text=True, check=False)
    lines = done.stdout.strip().splitlines()
    if done.returncode != 0 or not lines:
        raise BuildError(f"{BASE_SCRIPT} failed (exit {done.returncode}); see its messages above")
    return lines[-1]


def dockerfile_default_base(dockerfile: Path) -> str:
    match = re.search(r"^ARG BASE_IMAGE=(\S+)", dockerfile.read_text(), re.MULTILINE)
    if match is None:
        raise BuildError(f"{dockerfile} has no `ARG BASE_IMAGE=<default>` line")
    return match.group(1)


def resolve_base(engine: Engine, requested: str | None) -> str:
    if requested:
        return requested
    if engine.name == "docker":
        return dockerfile_default_base(REPO / DOCKERFILE)
    return local_test_base()


def _git(*args: str) -> str | None:
    done = subprocess.run(["git", "-C", str(REPO), *args], capture_output=True, text=True, check=False)
    return done.stdout.strip() if done.returncode == 0 and done.stdout.strip() else None


def _without_credentials(url: str) -> str:
    """A remote URL as a label may show it: never with the user:token@ part some clones carry."""
    parts = urlsplit(url)
    if parts.scheme and "@" in parts.netloc:
        return urlunsplit(parts._replace(netloc=parts.netloc.rsplit("@", 1)[1]))
    return url


def _project_version() -> str | None:
    pyproject = REPO / "pyproject.toml"
    if not pyproject.is_file():
        return None
    return tomllib.loads(pyproject.read_text()).get("project", {}).get("version")


def build_args(manifest: Manifest, base: str) -> dict[str, str]:
    """The Dockerfile's build args: the model (from its manifest), the base, source and revision."""
    source = os.environ.get("SOURCE_URL") or _git("config", "--get", "remote.origin.url") or "unknown"
    return {
        "BASE_IMAGE": base,
        "MODEL_NAME": manifest.name,
        "MODEL_VERSION": manifest.version,
        "MODEL_SHA256": manifest.sha256,
        "GIT_COMMIT": os.environ.get("GIT_COMMIT") or _git("rev-parse", "HEAD") or "unknown",
        "SOURCE_URL": _without_credentials(source),
        "APP_VERSION": os.environ.get("APP_VERSION") or _project_version() or "0.0.0-dev",
    }


def default_tag(manifest: Manifest) -> str:
    revision = _git("rev-parse", "--short=12", "HEAD") or "dev"
    return f"{IMAGE_NAME}:{revision}-model{manifest.version}"


def verified_manifest(model_dir: Path) -> Manifest:
    try:
        return verify_model_dir(model_dir)
    except ModelError as exc:
        raise BuildError(f"the model to bake in is not servable: {exc}") from None


def _mb(size: int) -> float:
    return round(size / MB, 1)


def figures(engine: Engine, image: ImageInfo, base: str) -> dict[str, Any]:
    return {
        "total_mb": _mb(image.size),
        "app_layers_mb": _mb(app_layers_size(image, engine.inspect(base))),
    }


def build_once(engine: Engine, context: Path, tag: str, args: Mapping[str, str]) -> dict[str, Any]:
    result = engine.build(context, context / DOCKERFILE, tag, args)
    image = engine.inspect(tag)
    return {
        "image": tag,
        "image_id": image.image_id,
        "engine": engine.name,
        "base": args["BASE_IMAGE"],
        "model": {
            "name": args["MODEL_NAME"],
            "version": args["MODEL_VERSION"],
            "sha256": args["MODEL_SHA256"],
        },
        **figures(engine, image, args["BASE_IMAGE"]),
        "build_s": round(result.seconds, 1),
    }


def bench(engine: Engine, context: Path, args: Mapping[str, str]) -> dict[str, Any]:
    """Cold build, then an app-code-only rebuild, from a temporary copy of `context`, in a private storage."""
    base = args["BASE_IMAGE"]
    with (
        tempfile.TemporaryDirectory(prefix="aiapp-image-bench-") as scratch,
        engine.isolated(base) as private,
    ):
        copy = copy_context(context, Path(scratch) / "context", context / MODEL_SUBDIR)
        cold = private.build(copy, copy / DOCKERFILE, f"{IMAGE_NAME}-bench:cold", args, no_cache=True)
        sizes = figures(private, private.inspect(f"{IMAGE_NAME}-bench:cold"), base)
        touch_app_code(copy, f"bench: an app-code-only change at {time.time()}")
        rebuild = private.build(copy, copy / DOCKERFILE, f"{IMAGE_NAME}-bench:rebuild", args)
    return {
        "image_engine": engine.name,
        "image_base": base,
        "image_total_mb": sizes["total_mb"],
        "image_app_layers_mb": sizes["app_layers_mb"],
        "image_cold_build_s": round(cold.seconds, 1),
        "image_rebuild_s": round(rebuild.seconds, 1),
        "image_rebuild_ratio": round(rebuild.seconds / cold.seconds, 3),
    }


ENGINES: dict[str, Callable[[], Engine]] = {"auto": detect, "docker": Docker, "buildah": Buildah}


def parser() -> argparse.ArgumentParser:
    cli = argparse.ArgumentParser(prog="python -m tools.image.build", description=__doc__.split("\n\n")[0])
    cli.add_argument("--tag", help=f"image reference (default {IMAGE_NAME}:<git rev>-model<version>)")
    cli.add_argument(
        "--base", default=os.environ.get("BASE_IMAGE"), help="BASE_IMAGE build arg (env BASE_IMAGE)"
    )
    cli.add_argument("--model-version", default=os.environ.get("MODEL_VERSION", "latest"))
    cli.add_argument(
        "--store", default=os.environ.get("MODEL_STORE"), help="model store URL (env MODEL_STORE)"
    )
    cli.add_argument("--context", type=Path, default=REPO, help="build context (default: the repo root)")
    cli.add_argument("--no-fetch", action="store_true", help="use the model already in <context>/build/model")
    cli.add_argument("--bench", action="store_true", help="measure a cold build and an app-code-only rebuild")
    cli.add_argument("--engine", choices=("auto", "docker", "buildah"), default="auto", help="default: auto")
    return cli


def main(argv: list[str] | None = None) -> int:
    options = parser().parse_args(argv)
    context = options.context.resolve()
    model_dir = context / MODEL_SUBDIR
    try:
        if not options.no_fetch:
            fetch_model(options.model_version, options.store, model_dir)
        manifest = verified_manifest(model_dir)
        engine = ENGINES[options.engine]()
        args = build_args(manifest, resolve_base(engine, options.base))
        if options.bench:
            report = bench(engine, context, args)
        else:
            report = build_once(engine, context, options.tag or default_tag(manifest), args)
    except (BuildError, ContextError, EngineError) as exc:
        print(f"image: {exc}", file=sys.stderr)
        return 1
    print(json.dumps(report, sort_keys=True))
    return 0


if __name__ == "__main__":
    sys.exit(main())
