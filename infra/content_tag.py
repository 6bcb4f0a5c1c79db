"""The image tag, derived from content: the files the build context ships, the model's sha256, the build args.

The files are exactly those the root .dockerignore lets into the build context (the image's source), plus
the Dockerfile itself; the fetched model is represented by its sha256. The same inputs give the same tag on
any machine (relative paths, sorted, no timestamps), so an unchanged `pulumi up` pushes and changes nothing,
and any changed file or model gives a new tag.
"""

from __future__ import annotations

import hashlib
import os
import re
from collections.abc import Iterable, Mapping
from functools import lru_cache
from pathlib import Path

TAG_LENGTH = 20
DOCKERIGNORE = ".dockerignore"


@lru_cache(maxsize=256)
def _pattern_regex(pattern: str) -> re.Pattern[str]:
    """A .dockerignore pattern as a regex over '/'-separated relative paths (Docker's rules: `*` and `?`
    stay within one path segment, `**` spans any number of segments)."""
    out, i = "", 0
    while i < len(pattern):
        if pattern.startswith("**/", i):
            out, i = out + "(?:.*/)?", i + 3
        elif pattern.startswith("**", i):
            out, i = out + ".*", i + 2
        elif pattern[i] == "*":
            out, i = out + "[^/]*", i + 1
        elif pattern[i] == "?":
            out, i = out + "[^/]", i + 1
        else:
            out, i = out + re.escape(pattern[i]), i + 1
    return re.compile(f"^{out}$")


def parse_dockerignore(text: str) -> list[tuple[str, bool]]:
    """(pattern, is_exception) pairs in order; comments and blank lines dropped, paths normalised."""
    rules = []
    for raw in text.splitlines():
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        negated = line.startswith("!")
        pattern = line[1:].strip() if negated else line
        pattern = re.sub(r"/+", "/", pattern).strip("/")
        if pattern.startswith("./"):
            pattern = pattern[2:]
        if pattern:
            rules.append((pattern, negated))
    return rules


def is_ignored(relative: str, rules: Iterable[tuple[str, bool]]) -> bool:
    """Docker's rule: the last pattern matching the path, or one of its parent directories, decides."""
    parts = relative.split("/")
    candidates = ["/".join(parts[: n + 1]) for n in range(len(parts))]
    ignored = False
    for pattern, negated in rules:
        regex = _pattern_regex(pattern)
        if any(regex.match(candidate) for candidate in candidates):
            ignored = not negated
    return ignored


def _may_hold_exceptions(directory: str, rules: Iterable[tuple[str, bool]]) -> bool:
    """Whether some `!` pattern could re-admit a path inside `directory` (else an ignored one is pruned)."""
    segments = directory.split("/")
    for pattern, negated in rules:
        if not negated:
            continue
        pattern_segments = pattern.split("/")
        for index, segment in enumerate(segments):
            if index >= len(pattern_segments) or pattern_segments[index].startswith("**"):
                return True
            if not _pattern_regex(pattern_segments[index]).match(segment):
                break
        else:
            return True
    return False


def context_files(root: Path, exclude_prefixes: Iterable[str] = ()) -> list[Path]:
    """The files of the build context rooted at `root`, as the root .dockerignore admits them."""
    ignore_file = root / DOCKERIGNORE
    if not ignore_file.is_file():
        raise FileNotFoundError(
            f"{ignore_file} is missing: without it the build context would be the whole directory (.venv, "
            ".git and all); the image's .dockerignore lists what the image ships"
        )
    rules = parse_dockerignore(ignore_file.read_text())
    excluded = tuple(p.strip("/") for p in exclude_prefixes)
    files = []
    for current, dirs, names in os.walk(root):
        base = Path(current).relative_to(root).as_posix()
        prefix = "" if base == "." else f"{base}/"
        # Prune ignored directories nothing can re-admit (.venv, .git, node_modules: thousands of files).
        dirs[:] = sorted(
            d
            for d in dirs
            if f"{prefix}{d}" not in excluded
            and (not is_ignored(f"{prefix}{d}", rules) or _may_hold_exceptions(f"{prefix}{d}", rules))
        )
        for name in names:
            relative = f"{prefix}{name}"
            if not is_ignored(relative, rules):
                files.append(Path(current) / name)
    return sorted(files, key=lambda p: p.relative_to(root).as_posix())


def image_files(root: Path, dockerfile: str, model_dir: str) -> list[Path]:
    """The files the image is built from, sorted: the build context without the fetched model (represented by
    its sha256), and the Dockerfile."""
    files = context_files(root, exclude_prefixes=[model_dir])
    if not files:
        raise FileNotFoundError(f"the build context {root} holds no files the .dockerignore admits")
    return sorted({*files, root / dockerfile}, key=lambda p: p.relative_to(root).as_posix())


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
