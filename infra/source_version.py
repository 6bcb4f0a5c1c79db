"""What the image says about its source (GIT_COMMIT and APP_VERSION, shown by /version; SOURCE_URL, the OCI
source label), derived from content.

The commit is the newest one that changed a file of the image (the files the build context's .dockerignore
lets in, and the Dockerfile), not HEAD: a commit that touches only tests, docs or pipelines leaves it, and so
the image tag, unchanged, and `pulumi up` builds nothing. The version is pyproject.toml's.

Git is only read (`git log`, and `git status` without optional locks, so not even the index is refreshed).
Outside a git checkout, or without git, the commit is "unknown": the image builds, and says so. A file changed
since that commit makes it "<sha>-dirty": the image is not exactly that commit.

The source URL is `git remote get-url origin`, as a URL a browser or `git clone` can use without any
credential: ssh remotes become https, a `user:token@` part some clones carry is dropped, and a local path or
anything unrecognised becomes "unknown" (a label is public to whoever can pull the image).

Known limit: a commit that only deletes a file of the image is not among the commits of the remaining files;
the tag still changes (the file set is hashed), but the commit shown is the previous change's.
Shallow clones: a commit older than the clone's depth is unknown to git, so the oldest commit of the clone
stands in for it; pipelines check out with full history (fetchDepth: 0).
"""

from __future__ import annotations

import os
import re
import subprocess
import tomllib
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

# What the image reports as its commit is the promotion contract's (its `commit`), defined there.
from pipelines.promotion import COMMIT_SHA_, DIRTY_SUFFIX, UNKNOWN_COMMIT

UNKNOWN_SOURCE = "unknown"
PYPROJECT = "pyproject.toml"
GIT_TIMEOUT_S = 30.0
_SHA = re.compile(rf"^{COMMIT_SHA_}$")
# scp-like ssh remotes: [user@]host:path (no scheme; a Windows drive letter is not a host).
_SCP_REMOTE = re.compile(r"^(?:[^@/\s]+@)?(?P<host>[A-Za-z0-9.-]{2,}):(?P<path>[^/].*)$")
_HOST = re.compile(r"^[A-Za-z0-9.-]+(?::[0-9]+)?$")
_SAFE_PATH = re.compile(r"^[A-Za-z0-9._~%/+-]*$")


class SourceVersionError(RuntimeError):
    """The app's version cannot be read; the message says what to fix."""


@dataclass(frozen=True)
class SourceCommit:
    commit: str  # a full SHA, "<sha>-dirty" or "unknown"
    warning: str | None = None  # why the commit may not be what one expects (logged by the caller)


def _git(root: Path, *args: str) -> subprocess.CompletedProcess[str]:
    # --literal-pathspecs: file names are paths, never globs; GIT_OPTIONAL_LOCKS=0: `status` writes nothing.
    return subprocess.run(
        ["git", "--literal-pathspecs", "-C", str(root), *args],
        capture_output=True,
        text=True,
        timeout=GIT_TIMEOUT_S,
        check=False,
        env={**os.environ, "GIT_OPTIONAL_LOCKS": "0", "GIT_TERMINAL_PROMPT": "0"},
    )


def source_commit(root: Path, paths: Sequence[str]) -> SourceCommit:
    """The newest commit that changed one of `paths` (relative to `root`), as `git log -1 -- <paths>` says."""
    if not paths:
        raise ValueError("no paths: the image's files are needed to find the commit of their last change")
    try:
        inside = _git(root, "rev-parse", "--is-inside-work-tree")
    except FileNotFoundError:
        return SourceCommit(UNKNOWN_COMMIT, "git is not installed: the image reports commit 'unknown'")
    if inside.returncode != 0 or inside.stdout.strip() != "true":
        return SourceCommit(
            UNKNOWN_COMMIT, f"{root} is not a git checkout: the image reports commit 'unknown'"
        )
    logged = _git(root, "log", "-1", "--format=%H", "--", *paths)
    commit = logged.stdout.strip()
    if logged.returncode != 0 or not _SHA.match(commit):
        # A repository without commits, or whose commits never held these files: nothing to name.
        return SourceCommit(
            UNKNOWN_COMMIT, f"no commit in {root} holds the image's files: the image reports commit 'unknown'"
        )
    status = _git(root, "status", "--porcelain", "--untracked-files=all", "--", *paths)
    if status.returncode != 0 or status.stdout.strip():
        changed = ", ".join(line[3:] for line in status.stdout.splitlines()[:5])
        warning = f"the image's files differ from commit {commit[:12]} ({changed}): it reports {DIRTY_SUFFIX}"
        return SourceCommit(commit + DIRTY_SUFFIX, warning)
    shallow = _git(root, "rev-parse", "--is-shallow-repository").stdout.strip() == "true"
    warning = (
        f"{root} is a shallow clone: {commit[:12]} may be newer than the last change to the image's files "
        "(clone with full history, e.g. fetchDepth: 0)"
        if shallow
        else None
    )
    return SourceCommit(commit, warning)


def app_version(root: Path) -> str:
    """The `[project] version` of pyproject.toml in `root`."""
    path = root / PYPROJECT
    try:
        version = tomllib.loads(path.read_text()).get("project", {}).get("version")
    except (OSError, tomllib.TOMLDecodeError) as exc:
        raise SourceVersionError(
            f"cannot read the app's version from {path} ({exc}); the image's APP_VERSION comes from its "
            "[project] version"
        ) from None
    if not isinstance(version, str) or not version.strip():
        raise SourceVersionError(
            f"{path} has no [project] version; the image's APP_VERSION comes from it: add one, "
            'e.g. `version = "0.1.0"`'
        )
    return version.strip()


def _azure_devops_ssh(host: str, path: str) -> tuple[str, str] | None:
    """Azure Repos' ssh remote (ssh.dev.azure.com:v3/org/project/repo) as its https address."""
    parts = path.strip("/").split("/")
    if host.lower() == "ssh.dev.azure.com" and len(parts) == 4 and parts[0] == "v3":
        _, org, project_name, repo = parts
        return "dev.azure.com", f"/{org}/{project_name}/_git/{repo}"
    return None


def normalize_source_url(remote: str) -> str:
    """`remote` as an https (or http) URL without user, password, query or fragment; "unknown" when it is
    not a network remote (a local path, file://) or does not parse."""
    remote = remote.strip()
    match = _SCP_REMOTE.match(remote) if "://" not in remote else None
    if match:
        scheme, host, path = "https", match["host"], "/" + match["path"]
    else:
        try:
            parts = urlsplit(remote)
            port = parts.port if parts.scheme in ("https", "http") else None  # an ssh port is not the web's
        except ValueError:  # an unparsable port or address
            return UNKNOWN_SOURCE
        if parts.scheme not in ("https", "http", "ssh", "git", "git+ssh", "ssh+git") or not parts.hostname:
            return UNKNOWN_SOURCE
        host, path = parts.hostname, parts.path
        scheme = parts.scheme if parts.scheme in ("https", "http") else "https"
        if port:
            host = f"{host}:{port}"
    azure = _azure_devops_ssh(host, path)
    if azure:
        host, path = azure
    path = path.rstrip("/")
    if not _HOST.match(host) or not _SAFE_PATH.match(path) or not path:
        return UNKNOWN_SOURCE
    return urlunsplit((scheme, host.lower(), path, "", ""))


def source_url(root: Path) -> str:
    """The repository the image is built from (`origin`, read only), normalized; "unknown" without one."""
    try:
        remote = _git(root, "remote", "get-url", "origin")
    except FileNotFoundError:
        return UNKNOWN_SOURCE
    if remote.returncode != 0 or not remote.stdout.strip():
        return UNKNOWN_SOURCE
    return normalize_source_url(remote.stdout.strip().splitlines()[0])
