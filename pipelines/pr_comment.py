"""Post a stack's `pulumi preview` on the pull request that triggered the ci run.

Azure Repos: a comment thread through the Azure DevOps REST API, as the build's own identity
(SYSTEM_ACCESSTOKEN, limited to this project). GitHub: an issue comment through the GitHub REST API with
PR_COMMENT_TOKEN, a token that may only write pull-request comments on this repository. The provider and the
pull request come from the variables Azure Pipelines sets (BUILD_REPOSITORY_PROVIDER, SYSTEM_PULLREQUEST_*).

    python pipelines/pr_comment.py --stack prod --preview preview-prod.txt   # and preview-prod.txt.status

Standard library only. Exits 1, with the reason and the fix, when the comment cannot be posted.
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

# GitHub refuses comments over 65536 characters; Azure DevOps allows more. Keep well below both.
MAX_OUTPUT_CHARS = 60_000
_ANSI = re.compile(r"\x1b\[[0-9;]*[A-Za-z]")
_PLACEHOLDER = re.compile(r"^\$\([A-Za-z_.]+\)$")  # an unset pipeline variable, passed through literally


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
    return "\n\n".join(part for part in (headline, details, " · ".join(footer)) if part)


# ---------------------------------------------------------------------------------------- the providers


def _env(env: Mapping[str, str], name: str, what: str) -> str:
    value = env.get(name, "").strip()
    if not value or _PLACEHOLDER.match(value):
        raise CommentError(f"{name} is not set ({what})")
    return value


@dataclass(frozen=True)
class Target:
    url: str
    headers: dict[str, str]
    payload: dict
    forbidden_hint: str


def azure_repos_target(env: Mapping[str, str], body: str) -> Target:
    collection = _env(env, "SYSTEM_COLLECTIONURI", "set by Azure Pipelines").rstrip("/")
    project = _env(env, "SYSTEM_TEAMPROJECTID", "set by Azure Pipelines")
    repository = _env(env, "BUILD_REPOSITORY_ID", "set by Azure Pipelines")
    pull_request = _env(env, "SYSTEM_PULLREQUEST_PULLREQUESTID", "set in pull-request runs only")
    token = _env(
        env, "SYSTEM_ACCESSTOKEN", "map it in the step: env: SYSTEM_ACCESSTOKEN: $(System.AccessToken)"
    )
    return Target(
        url=f"{collection}/{project}/_apis/git/repositories/{repository}/pullRequests/{pull_request}/threads"
        "?api-version=7.1",
        headers={"Authorization": f"Bearer {token}"},
        # "closed": an informational thread that does not hold the pull request open.
        payload={"comments": [{"parentCommentId": 0, "content": body, "commentType": 1}], "status": "closed"},
        forbidden_hint=(
            "give the project's build service ('<project> Build Service (<organization>)') the repository "
            "permission 'Contribute to pull requests' (Project settings > Repositories > Security)"
        ),
    )


def github_target(env: Mapping[str, str], body: str) -> Target:
    repository = _env(env, "BUILD_REPOSITORY_NAME", "set by Azure Pipelines: owner/name")
    number = _env(env, "SYSTEM_PULLREQUEST_PULLREQUESTNUMBER", "set in pull-request runs only")
    token = _env(
        env, "PR_COMMENT_TOKEN", "the secret of the aiapp-preview variable group; map it in the step"
    )
    api = env.get("GITHUB_API_URL", "https://api.github.com").rstrip("/")
    return Target(
        url=f"{api}/repos/{repository}/issues/{number}/comments",
        headers={
            "Authorization": f"Bearer {token}",
            "Accept": "application/vnd.github+json",
            "X-GitHub-Api-Version": "2022-11-28",
        },
        payload={"body": body},
        forbidden_hint="PR_COMMENT_TOKEN needs the permission 'Pull requests: write' on this repository",
    )


def post(target: Target) -> None:
    data = json.dumps(target.payload).encode()
    headers = {"Content-Type": "application/json", "User-Agent": "aiapp-ci", **target.headers}
    request = urllib.request.Request(target.url, data=data, headers=headers, method="POST")
    try:
        with urllib.request.urlopen(request, timeout=30) as response:
            response.read()
    except urllib.error.HTTPError as error:
        detail = error.read().decode(errors="replace")[:500]
        hint = f"; {target.forbidden_hint}" if error.code in (401, 403) else ""
        raise CommentError(f"{target.url.split('?')[0]} answered HTTP {error.code}: {detail}{hint}") from None
    except OSError as exc:
        raise CommentError(f"cannot reach {target.url.split('?')[0]}: {exc}") from None


def comment(preview: Preview, env: Mapping[str, str]) -> str:
    """Post the preview on the pull request; returns the URL it was posted to."""
    collection, project, build = (
        env.get(k, "") for k in ("SYSTEM_COLLECTIONURI", "SYSTEM_TEAMPROJECT", "BUILD_BUILDID")
    )
    run_url = (
        f"{collection.rstrip('/')}/{project}/_build/results?buildId={build}" if collection and build else None
    )
    body = render(preview, run_url, env.get("BUILD_SOURCEVERSION"))
    provider = env.get("BUILD_REPOSITORY_PROVIDER", "")
    if provider == "TfsGit":
        target = azure_repos_target(env, body)
    elif provider == "GitHub":
        target = github_target(env, body)
    else:
        raise CommentError(f"BUILD_REPOSITORY_PROVIDER is {provider!r}: only TfsGit and GitHub are supported")
    post(target)
    return target.url.split("?")[0]


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--stack", required=True, help="the stack the preview is of")
    parser.add_argument(
        "--preview", type=Path, required=True, help="the preview's output (and <file>.status)"
    )
    args = parser.parse_args(argv)
    try:
        where = comment(read_preview(args.stack, args.preview), os.environ)
    except CommentError as exc:
        print(
            f"##vso[task.logissue type=error]cannot post the preview on the pull request: {exc}",
            file=sys.stderr,
        )
        print(f"error: cannot post the preview on the pull request: {exc}", file=sys.stderr)
        return 1
    print(f"posted the {args.stack} preview to {where}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
