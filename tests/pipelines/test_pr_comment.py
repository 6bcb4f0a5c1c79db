"""pipelines/pr_comment.py against a real HTTP server on 127.0.0.1 playing the Azure DevOps and GitHub REST
APIs (pytest-httpserver, the `fake_http` fixture): what it sends is checked; how the real services answer is
only as the fakes here answer (the shapes of Azure DevOps' thread list and GitHub's comment list)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from pytest_httpserver import HTTPServer
from werkzeug import Request

from tests.pipelines.agent import COMMIT
from tests.pipelines.yaml_templates import PIPELINES_DIR

AZURE_REPOS_THREADS = "/contoso/project-guid/_apis/git/repositories/repo-guid/pullRequests/42/threads"
GITHUB_COMMENTS = "/repos/contoso/aiapp/issues/7/comments"
FORBIDDEN = {"message": "Forbidden: TF401027"}
WARNING = "##vso[task.logissue type=warning]"


def sent(fake_http: HTTPServer) -> list[Request]:
    return [request for request, _ in fake_http.log]


def comment(
    tmp_path: Path, env: dict[str, str], output: str | None, status: int | None, stack: str = "prod"
) -> subprocess.CompletedProcess:
    preview = tmp_path / f"preview-{stack}.txt"
    if output is not None:
        preview.write_text(output)
        Path(f"{preview}.status").write_text(f"{status}\n")
    return subprocess.run(
        [sys.executable, str(PIPELINES_DIR / "pr_comment.py"), "--stack", stack, "--preview", str(preview)],
        env={"PATH": os.environ["PATH"], **env},
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


def azure_repos_env(base: str) -> dict[str, str]:
    return {
        "BUILD_REPOSITORY_PROVIDER": "TfsGit",
        "SYSTEM_COLLECTIONURI": f"{base}/contoso/",
        "SYSTEM_TEAMPROJECT": "AI app",
        "SYSTEM_TEAMPROJECTID": "project-guid",
        "BUILD_REPOSITORY_ID": "repo-guid",
        "SYSTEM_PULLREQUEST_PULLREQUESTID": "42",
        "SYSTEM_ACCESSTOKEN": "build-token",
        "BUILD_BUILDID": "777",
        "BUILD_SOURCEVERSION": COMMIT,
        "PR_COMMENT_TOKEN": "$(PR_COMMENT_TOKEN)",
    }


def github_env(base: str) -> dict[str, str]:
    return {
        "BUILD_REPOSITORY_PROVIDER": "GitHub",
        "BUILD_REPOSITORY_NAME": "contoso/aiapp",
        "SYSTEM_PULLREQUEST_PULLREQUESTNUMBER": "7",
        "PR_COMMENT_TOKEN": "github_pat_comment",
        "GITHUB_API_URL": base,
    }


def base_url(fake_http: HTTPServer) -> str:
    return fake_http.url_for("/").rstrip("/")


def thread(thread_id: int, *contents: str, deleted: bool = False) -> dict:
    """A pull-request thread as Azure DevOps lists it: the root comment (id 1) and replies."""
    comments = [
        {"id": i, "parentCommentId": 0 if i == 1 else 1, "content": text, "isDeleted": False}
        for i, text in enumerate(contents, start=1)
    ]
    return {"id": thread_id, "comments": comments, "isDeleted": deleted, "status": "closed"}


# ------------------------------------------------------------------------------------------ Azure Repos


def test_the_first_preview_on_an_azure_repos_pull_request_starts_a_thread(
    fake_http: HTTPServer, tmp_path: Path
) -> None:
    listed = {"value": [thread(3, "Looks good to me")], "count": 1}
    fake_http.expect_request(AZURE_REPOS_THREADS, method="GET").respond_with_json(listed)
    fake_http.expect_request(AZURE_REPOS_THREADS, method="POST").respond_with_json({"id": 9}, status=201)
    base = base_url(fake_http)
    output = "Previewing update (prod):\n\x1b[32m+ 3 to create\x1b[0m\n```injected```\n"
    result = comment(tmp_path, azure_repos_env(base), output, 0)
    assert result.returncode == 0, result.stderr
    listing, posted = sent(fake_http)
    assert (listing.method, listing.args.to_dict()) == ("GET", {"api-version": "7.1"})
    assert (posted.path, posted.args.to_dict()) == (AZURE_REPOS_THREADS, {"api-version": "7.1"})
    assert posted.headers["Authorization"] == "Bearer build-token"
    content = posted.json["comments"][0]["content"]
    assert content.startswith("<!-- aiapp-preview:prod -->\n")  # how the next push finds this comment
    assert "`pulumi preview` of stack `prod`" in content and ":white_check_mark:" in content
    assert "+ 3 to create" in content and "\x1b" not in content
    assert "```injected```" not in content  # the output cannot close the code block
    assert f"{base}/contoso/AI app/_build/results?buildId=777" in content
    assert posted.json["status"] == "closed"  # informational: it holds nothing open
    assert WARNING not in result.stdout


def test_a_later_push_updates_the_stacks_azure_repos_comment_instead_of_adding_a_thread(
    fake_http: HTTPServer, tmp_path: Path
) -> None:
    listed = {
        "value": [
            thread(2, "<!-- aiapp-preview:prod -->\nold preview", deleted=True),  # deleted by a reviewer
            thread(4, "<!-- aiapp-preview:dev -->\nthe dev preview"),  # another stack's
            thread(5, "<!-- aiapp-preview:prod -->\nthe previous prod preview", "a reviewer's reply"),
        ]
    }
    fake_http.expect_request(AZURE_REPOS_THREADS, method="GET").respond_with_json(listed)
    fake_http.expect_request(f"{AZURE_REPOS_THREADS}/5/comments/1", method="PATCH").respond_with_json(
        {"id": 1}
    )
    result = comment(tmp_path, azure_repos_env(base_url(fake_http)), "error: policy violation", 255)
    assert result.returncode == 0, result.stderr
    methods = [request.method for request in sent(fake_http)]
    assert methods == ["GET", "PATCH"]  # no POST: nothing new on the pull request
    patched = sent(fake_http)[1]
    assert patched.args.to_dict() == {"api-version": "7.1"}
    assert set(patched.json) == {"content"}
    assert patched.json["content"].startswith("<!-- aiapp-preview:prod -->")
    assert "failed (exit code 255)" in patched.json["content"]
    assert "updated the prod preview" in result.stdout


def test_comment_says_when_the_preview_did_not_run(fake_http: HTTPServer, tmp_path: Path) -> None:
    fake_http.expect_request(AZURE_REPOS_THREADS, method="GET").respond_with_json({"value": []})
    fake_http.expect_request(AZURE_REPOS_THREADS, method="POST").respond_with_json({}, status=201)
    assert comment(tmp_path, azure_repos_env(base_url(fake_http)), None, None).returncode == 0
    assert "did not run" in sent(fake_http)[-1].json["comments"][0]["content"]


# ----------------------------------------------------------------------------------------------- GitHub


def test_the_first_preview_on_a_github_pull_request_posts_a_comment(
    fake_http: HTTPServer, tmp_path: Path
) -> None:
    fake_http.expect_request(GITHUB_COMMENTS, method="GET").respond_with_json([])
    fake_http.expect_request(GITHUB_COMMENTS, method="POST").respond_with_json({"id": 1}, status=201)
    result = comment(tmp_path, github_env(base_url(fake_http)), "error: policy violation: acr-admin\n", 255)
    assert result.returncode == 0, result.stderr
    listing, posted = sent(fake_http)
    assert listing.args.to_dict() == {"per_page": "100", "page": "1"}
    assert posted.headers["Authorization"] == "Bearer github_pat_comment"
    body = posted.json["body"]
    assert body.startswith("<!-- aiapp-preview:prod -->")
    assert "failed (exit code 255)" in body and "acr-admin" in body


def test_a_later_push_edits_the_stacks_github_comment_found_on_any_page(
    fake_http: HTTPServer, tmp_path: Path
) -> None:
    """A busy pull request: the preview is on the second page of comments (GitHub lists 100 a page)."""
    page_one = [{"id": n, "body": f"review comment {n}"} for n in range(100)]
    page_two = [
        {"id": 500, "body": "<!-- aiapp-preview:dev -->\ndev"},
        {"id": 501, "body": "<!-- aiapp-preview:prod -->\nprod, previous push"},
    ]
    fake_http.expect_request(
        GITHUB_COMMENTS, method="GET", query_string="per_page=100&page=1"
    ).respond_with_json(page_one)
    fake_http.expect_request(
        GITHUB_COMMENTS, method="GET", query_string="per_page=100&page=2"
    ).respond_with_json(page_two)
    fake_http.expect_request("/repos/contoso/aiapp/issues/comments/501", method="PATCH").respond_with_json({})
    result = comment(tmp_path, github_env(base_url(fake_http)), "Previewing update (prod):\n", 0)
    assert result.returncode == 0, result.stderr
    patched = sent(fake_http)[-1]
    assert patched.method == "PATCH" and patched.json["body"].startswith("<!-- aiapp-preview:prod -->")
    assert [r.method for r in sent(fake_http)] == ["GET", "GET", "PATCH"]


# ------------------------------------------------------------------------- a courtesy, never a failure


def test_a_missing_permission_warns_with_the_fix_and_the_job_goes_on(
    fake_http: HTTPServer, tmp_path: Path
) -> None:
    fake_http.expect_request(AZURE_REPOS_THREADS, method="GET").respond_with_json(FORBIDDEN, status=403)
    result = comment(tmp_path, azure_repos_env(base_url(fake_http)), "ok", 0)
    assert result.returncode == 0
    (warning,) = [line for line in result.stdout.splitlines() if line.startswith(WARNING)]
    assert "HTTP 403" in warning and "Contribute to pull requests" in warning
    assert "##vso[task.logissue type=error]" not in result.stdout + result.stderr


def test_an_expired_github_token_warns_and_the_job_goes_on(fake_http: HTTPServer, tmp_path: Path) -> None:
    fake_http.expect_request(GITHUB_COMMENTS, method="GET").respond_with_json([])
    fake_http.expect_request(GITHUB_COMMENTS, method="POST").respond_with_json(
        {"message": "Bad credentials"}, status=401
    )
    result = comment(tmp_path, github_env(base_url(fake_http)), "ok", 0)
    assert result.returncode == 0
    assert WARNING in result.stdout and "HTTP 401" in result.stdout and "githubCommentToken" in result.stdout


def test_no_token_an_unreachable_service_or_a_surprise_never_fail_the_job(
    fake_http: HTTPServer, tmp_path: Path
) -> None:
    base = base_url(fake_http)
    no_token = comment(
        tmp_path, azure_repos_env(base) | {"SYSTEM_ACCESSTOKEN": "$(System.AccessToken)"}, "ok", 0
    )
    assert no_token.returncode == 0 and "SYSTEM_ACCESSTOKEN is not set" in no_token.stdout
    unreachable = comment(tmp_path, azure_repos_env("http://127.0.0.1:9"), "ok", 0)  # the discard port
    assert unreachable.returncode == 0 and WARNING in unreachable.stdout
    # An answer of a shape nobody expected (a thread without an id) is a bug here, not a reason to fail.
    listed = {
        "value": [{"comments": [{"id": 1, "parentCommentId": 0, "content": "<!-- aiapp-preview:prod -->"}]}]
    }
    fake_http.expect_request(AZURE_REPOS_THREADS, method="GET").respond_with_json(listed)
    surprise = comment(tmp_path, azure_repos_env(base), "ok", 0)
    assert surprise.returncode == 0 and f"{WARNING}cannot post the prod preview" in surprise.stdout
    assert "KeyError" in surprise.stdout
    unknown = comment(tmp_path, {"BUILD_REPOSITORY_PROVIDER": "Bitbucket"}, "ok", 0)
    assert unknown.returncode == 0 and "only TfsGit and GitHub are supported" in unknown.stdout
