"""Post a stack's `pulumi preview` on the pull request that triggered the ci run: one comment per stack, which
later pushes update in place.

Azure Repos: a comment thread through the Azure DevOps REST API, as the build's own identity
(SYSTEM_ACCESSTOKEN, limited to this project). GitHub: an issue comment through the GitHub REST API with
PR_COMMENT_TOKEN, a token that may only write pull-request comments on this repository. The provider and the
pull request come from the variables Azure Pipelines sets (BUILD_REPOSITORY_PROVIDER, SYSTEM_PULLREQUEST_*).

Each comment starts with a hidden marker, `<!-- aiapp-preview:<stack> -->` (an HTML comment: Markdown shows
nothing). A later run lists the pull request's comments, finds its stack's marker and edits that comment;
only when there is none does it post a new one. So a pull request carries one preview per stack, the newest.

The comment is a courtesy to reviewers, never a gate: the preview's own step has already passed or failed the
run. Whatever goes wrong here (a 403 for a missing "Contribute to pull requests", an expired GitHub token, the
service down, a bug) is logged as an Azure Pipelines warning with the reason and the fix, and the exit status
is 0, so the pull request's build validation does not fail because of it.

    python pipelines/pr_comment.py --stack prod --preview preview-prod.txt   # and preview-prod.txt.status

Standard library only.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import sys
import urllib.error
import urllib.request
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

# GitHub refuses comments over 65536 characters; Azure DevOps allows more. Keep well below both.
MAX_OUTPUT_CHARS = 60_000
_ANSI = re.compile(r"\x1b\[[0-9;]*[A-Za-z]")
_PLACEHOLDER = re.compile(r"^\$\([A-Za-z_.]+\)$")  # an unset pipeline variable, passed through literally
# GitHub lists at most 100 comments a page; pages after this many are not searched.
_MAX_PAGES = 30


def marker(stack: str) -> str:
    """The hidden first line of a stack's comment, by which a later run finds it."""
    return f"<!-- aiapp-preview:{stack} -->"


class CommentError(Exception):
    """The comment cannot be posted; the message says why and what to do."""


@dataclass(frozen=True)
class Preview:
    stack: str
    output: str | None  # None: the preview did not run (an earlier step failed)
    exit_code: int | None


def read_preview(stack: str, path: Path) -> Preview:
    if not path.exists():
        return Preview(stack, None, None)
    status_file = path.with_name(path.name + ".status")
    status = status_file.read_text().strip() if status_file.exists() else ""
    return Preview(stack, path.read_text(errors="replace"), int(status) if status.isdigit() else None)


def _fenced(text: str) -> str:
    text = _ANSI.sub("", text).replace("```", "``\u200b`")
    if len(text) > MAX_OUTPUT_CHARS:
        half = MAX_OUTPUT_CHARS // 2
        left_out = f"... {len(text) - MAX_OUTPUT_CHARS} characters left out: see the log ..."
        text = f"{text[:half]}\n\n{left_out}\n\n{text[-half:]}"
    return f"```\n{text.rstrip()}\n```"


def render(preview: Preview, run_url: str | None, commit: str | None) -> str:
    """The comment's Markdown."""
    if preview.output is None:
        headline = f"#### :warning: `pulumi preview` of stack `{preview.stack}` did not run"
        details = "An earlier step of the job failed; its log says why."
    else:
        if preview.exit_code == 0:
            headline = (
                f"#### :white_check_mark: `pulumi preview` of stack `{preview.stack}` (policy pack enforced)"
            )
        else:
            code = "unknown" if preview.exit_code is None else preview.exit_code
            headline = (
                f"#### :x: `pulumi preview` of stack `{preview.stack}` failed (exit code {code}): "
                "an error or a policy violation, below"
            )
        details = f"<details><summary>The preview</summary>\n\n{_fenced(preview.output)}\n\n</details>"
    footer = []
    if run_url:
        footer.append(f"[The ci run]({run_url})")
    if commit:
        footer.append(f"commit `{commit[:12]}`")
    parts = (marker(preview.stack), headline, details, " · ".join(footer))
    return "\n\n".join(part for part in parts if part)


# ---------------------------------------------------------------------------------------- the providers


def _env(env: Mapping[str, str], name: str, what: str) -> str:
    value = env.get(name, "").strip()
    if not value or _PLACEHOLDER.match(value):
        raise CommentError(f"{name} is not set ({what})")
    return value


@dataclass(frozen=True)
class Api:
    """JSON over HTTPS with one set of credentials; every failure a CommentError that says what to do."""

    headers: Mapping[str, str]
    forbidden_hint: str

    def call(self, method: str, url: str, payload: object | None = None) -> Any:
        data = None if payload is None else json.dumps(payload).encode()
        headers = {"User-Agent": "aiapp-ci", **self.headers}
        if data is not None:
            headers["Content-Type"] = "application/json"
        request = urllib.request.Request(url, data=data, headers=headers, method=method)
        where = f"{method} {url.split('?')[0]}"
        try:
            with urllib.request.urlopen(request, timeout=30) as response:
                body = response.read()
        except urllib.error.HTTPError as error:
            detail = error.read().decode(errors="replace")[:500]
            hint = f"; {self.forbidden_hint}" if error.code in (401, 403) else ""
            raise CommentError(f"{where} answered HTTP {error.code}: {detail}{hint}") from None
        except OSError as exc:
            raise CommentError(f"{where} failed: {exc}") from None
        try:
            return json.loads(body) if body.strip() else None
        except ValueError:
            raise CommentError(f"{where} answered something that is not JSON") from None


class AzureRepos:
    """Pull-request threads: list them, edit the root comment of the one with the marker, or start one (Azure
    DevOps REST API 7.1: Pull Request Threads - List and Create, Pull Request Thread Comments - Update)."""

    def __init__(self, env: Mapping[str, str]) -> None:
        collection = _env(env, "SYSTEM_COLLECTIONURI", "set by Azure Pipelines").rstrip("/")
        project = _env(env, "SYSTEM_TEAMPROJECTID", "set by Azure Pipelines")
        repository = _env(env, "BUILD_REPOSITORY_ID", "set by Azure Pipelines")
        pull_request = _env(env, "SYSTEM_PULLREQUEST_PULLREQUESTID", "set in pull-request runs only")
        token = _env(
            env, "SYSTEM_ACCESSTOKEN", "map it in the step: env: SYSTEM_ACCESSTOKEN: $(System.AccessToken)"
        )
        self.threads = (
            f"{collection}/{project}/_apis/git/repositories/{repository}/pullRequests/{pull_request}/threads"
        )
        self.api = Api(
            {"Authorization": f"Bearer {token}"},
            "give the project's build service ('<project> Build Service (<organization>)') the repository "
            "permission 'Contribute to pull requests' (Project settings > Repositories > Security)",
        )

    def _ours(self, stack: str) -> tuple[int, int] | None:
        """(thread id, comment id) of the stack's comment, if an earlier run posted it."""
        listed = self.api.call("GET", f"{self.threads}?api-version=7.1") or {}
        for thread in listed.get("value") or []:
            if thread.get("isDeleted"):
                continue
            for item in thread.get("comments") or []:
                if (
                    not item.get("isDeleted")
                    and item.get("parentCommentId", 0) == 0
                    and marker(stack) in (item.get("content") or "")
                ):
                    return int(thread["id"]), int(item["id"])
        return None

    def upsert(self, stack: str, body: str) -> str:
        found = self._ours(stack)
        if found is not None:
            thread, item = found
            url = f"{self.threads}/{thread}/comments/{item}"
            self.api.call("PATCH", f"{url}?api-version=7.1", {"content": body})
            return f"updated the {stack} preview: {url}"
        # "closed": an informational thread that does not hold the pull request open.
        root = {"parentCommentId": 0, "content": body, "commentType": 1}
        payload = {"comments": [root], "status": "closed"}
        self.api.call("POST", f"{self.threads}?api-version=7.1", payload)
        return f"posted the {stack} preview: {self.threads}"


class GitHub:
    """Issue comments of the pull request: list them (100 a page), edit the one with the marker, or post one
    (GitHub REST API: GET /repos/{repo}/issues/{number}/comments, PATCH /repos/{repo}/issues/comments/{id},
    POST /repos/{repo}/issues/{number}/comments)."""

    def __init__(self, env: Mapping[str, str]) -> None:
        repository = _env(env, "BUILD_REPOSITORY_NAME", "set by Azure Pipelines: owner/name")
        number = _env(env, "SYSTEM_PULLREQUEST_PULLREQUESTNUMBER", "set in pull-request runs only")
        token = _env(
            env, "PR_COMMENT_TOKEN", "the secret of the aiapp-preview variable group; map it in the step"
        )
        api = env.get("GITHUB_API_URL", "https://api.github.com").rstrip("/")
        self.repository_api = f"{api}/repos/{repository}"
        self.comments = f"{self.repository_api}/issues/{number}/comments"
        self.api = Api(
            {
                "Authorization": f"Bearer {token}",
                "Accept": "application/vnd.github+json",
                "X-GitHub-Api-Version": "2022-11-28",
            },
            "PR_COMMENT_TOKEN has expired or lacks 'Pull requests: write' on this repository: make a new one "
            "and `pulumi config set --secret aiapp:githubCommentToken` it in the cicd stack",
        )

    def _ours(self, stack: str) -> int | None:
        for page in range(1, _MAX_PAGES + 1):
            listed = self.api.call("GET", f"{self.comments}?per_page=100&page={page}") or []
            for item in listed:
                if marker(stack) in (item.get("body") or ""):
                    return int(item["id"])
            if len(listed) < 100:
                return None
        return None

    def upsert(self, stack: str, body: str) -> str:
        found = self._ours(stack)
        if found is not None:
            url = f"{self.repository_api}/issues/comments/{found}"
            self.api.call("PATCH", url, {"body": body})
            return f"updated the {stack} preview: {url}"
        self.api.call("POST", self.comments, {"body": body})
        return f"posted the {stack} preview: {self.comments}"


def comment(preview: Preview, env: Mapping[str, str]) -> str:
    """Post the preview on the pull request, or update the stack's comment; returns what was done."""
    collection, project, build = (
        env.get(k, "") for k in ("SYSTEM_COLLECTIONURI", "SYSTEM_TEAMPROJECT", "BUILD_BUILDID")
    )
    run_url = (
        f"{collection.rstrip('/')}/{project}/_build/results?buildId={build}" if collection and build else None
    )
    body = render(preview, run_url, env.get("BUILD_SOURCEVERSION"))
    provider = env.get("BUILD_REPOSITORY_PROVIDER", "")
    if provider == "TfsGit":
        target: AzureRepos | GitHub = AzureRepos(env)
    elif provider == "GitHub":
        target = GitHub(env)
    else:
        raise CommentError(f"BUILD_REPOSITORY_PROVIDER is {provider!r}: only TfsGit and GitHub are supported")
    return target.upsert(preview.stack, body)


def warn(message: str) -> None:
    """An Azure Pipelines warning (one line: a logging command ends with its line), and the same as text."""
    one_line = " ".join(message.split())
    print(f"##vso[task.logissue type=warning]{one_line}")
    print(f"warning: {message}", file=sys.stderr)


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--stack", required=True, help="the stack the preview is of")
    parser.add_argument(
        "--preview", type=Path, required=True, help="the preview's output (and <file>.status)"
    )
    args = parser.parse_args(argv)
    what = f"cannot post the {args.stack} preview on the pull request (the run goes on)"
    try:
        done = comment(read_preview(args.stack, args.preview), os.environ)
    except CommentError as exc:
        warn(f"{what}: {exc}")
    except Exception as exc:  # a courtesy never fails the run, whatever went wrong
        warn(f"{what}: unexpected {type(exc).__name__}: {exc}")
    else:
        print(done)
    return 0


if __name__ == "__main__":
    sys.exit(main())
