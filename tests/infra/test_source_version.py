"""The commit, version and source the image carries (GIT_COMMIT, APP_VERSION, SOURCE_URL; stack outputs
app_commit, app_version), in a real git repository the test creates: the commit of the newest change to the
image's own files, so the tag stays a function of content; the origin remote without any credential; git is
only read."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

from infra.source_version import (
    SourceVersionError,
    app_version,
    normalize_source_url,
    source_commit,
    source_url,
)
from tests import harness
from tests.infra.conftest import tree_digest

GIT_IDENTITY = ("-c", "user.name=Test", "-c", "user.email=test@example.com", "-c", "commit.gpgsign=false")


def git(repo: Path, *args: str) -> str:
    done = subprocess.run(
        ["git", *GIT_IDENTITY, "-C", str(repo), *args], capture_output=True, text=True, check=True, timeout=60
    )
    return done.stdout.strip()


def commit_all(repo: Path, message: str) -> str:
    git(repo, "add", "--all")
    git(repo, "commit", "--quiet", "--message", message)
    return git(repo, "rev-parse", "HEAD")


@pytest.fixture
def repo(tmp_path: Path) -> Path:
    """A checkout of the image's sources (app/, model/, .dockerignore, pyproject.toml) and a README."""
    root = harness.prepare_workdir(tmp_path / "checkout")
    (root / "README.md").write_text("docs\n")
    (root / ".gitignore").write_text("build/\n")
    git(root, "init", "--quiet", "--initial-branch", "main")
    commit_all(root, "initial")
    return root


def image(run: harness.StackRun) -> tuple[str, str, str]:
    """(tag, GIT_COMMIT, APP_VERSION) of the image the run declared; the outputs must say the same."""
    declared = run.one("docker:index/image:Image").inputs
    args = declared["build"]["args"]
    assert (run.outputs["app_commit"], run.outputs["app_version"]) == (
        args["GIT_COMMIT"],
        args["APP_VERSION"],
    )
    return declared["imageName"].rsplit(":", 1)[1], args["GIT_COMMIT"], args["APP_VERSION"]


def test_two_runs_on_the_same_content_give_the_same_tag_and_commit(repo: Path, store_url: str) -> None:
    head = git(repo, "rev-parse", "HEAD")
    git_dir = tree_digest(repo / ".git")
    first = image(harness.run_program(model_store=store_url, workdir=repo))
    second = image(harness.run_program(model_store=store_url, workdir=repo))
    assert first == second
    assert first[1] == head and first[2] == "0.1.0"
    assert tree_digest(repo / ".git") == git_dir, "the program wrote to the repository"


def test_a_commit_outside_the_images_files_changes_neither_commit_nor_tag(repo: Path, store_url: str) -> None:
    before = image(harness.run_program(model_store=store_url, workdir=repo))
    (repo / "README.md").write_text("more docs\n")
    (repo / "app" / "tests").mkdir(exist_ok=True)  # .dockerignore keeps app/tests out of the image
    (repo / "app" / "tests" / "test_x.py").write_text("def test_x(): pass\n")
    later = commit_all(repo, "docs and tests only")
    after = image(harness.run_program(model_store=store_url, workdir=repo))
    assert after == before and after[1] != later  # nothing to build: the image is the same


def test_a_commit_to_the_images_files_is_the_new_commit_and_tag(repo: Path, store_url: str) -> None:
    before = image(harness.run_program(model_store=store_url, workdir=repo))
    factory = repo / "app" / "factory.py"
    factory.write_text(factory.read_text() + "\n# a change\n")
    later = commit_all(repo, "app change")
    after = image(harness.run_program(model_store=store_url, workdir=repo))
    assert after[1] == later != before[1]
    assert after[0] != before[0]


def test_a_change_to_the_dockerfile_counts_as_a_change_to_the_image(repo: Path) -> None:
    dockerfile = repo / "app" / "Dockerfile"  # kept out of the build context, yet it defines the image
    dockerfile.write_text(dockerfile.read_text() + "\n# a change\n")
    later = commit_all(repo, "Dockerfile change")
    assert source_commit(repo, ["app/Dockerfile", "app/factory.py"]).commit == later


def test_uncommitted_changes_to_the_images_files_are_reported_dirty(repo: Path, store_url: str) -> None:
    head = git(repo, "rev-parse", "HEAD")
    clean = image(harness.run_program(model_store=store_url, workdir=repo))
    (repo / "app" / "new_module.py").write_text("VALUE = 1\n")  # untracked, but in the build context
    dirty = image(harness.run_program(model_store=store_url, workdir=repo))
    assert dirty[1] == f"{head}-dirty" and dirty[0] != clean[0]
    found = source_commit(repo, ["app/factory.py", "app/new_module.py"])
    assert found.warning is not None and "app/new_module.py" in found.warning


def test_outside_a_git_checkout_the_commit_is_unknown(tmp_path: Path) -> None:
    (tmp_path / "app.py").write_text("x = 1\n")
    found = source_commit(tmp_path, ["app.py"])
    assert found.commit == "unknown"
    assert found.warning == f"{tmp_path} is not a git checkout: the image reports commit 'unknown'"


def test_files_never_committed_have_no_commit(tmp_path: Path) -> None:
    git(tmp_path, "init", "--quiet")
    (tmp_path / "app.py").write_text("x = 1\n")
    assert source_commit(tmp_path, ["app.py"]).commit == "unknown"


def test_a_shallow_clone_is_flagged(repo: Path, tmp_path: Path) -> None:
    (repo / "README.md").write_text("later\n")
    commit_all(repo, "a second commit")
    shallow = tmp_path / "shallow"
    git(tmp_path, "clone", "--quiet", "--depth", "1", f"file://{repo}", str(shallow))
    found = source_commit(shallow, ["app/factory.py"])
    # The real last change to app/factory.py is the first commit, older than the clone: git cannot see it.
    assert found.commit == git(shallow, "rev-parse", "HEAD")
    assert found.warning is not None and "shallow clone" in found.warning and "fetchDepth: 0" in found.warning


def test_the_version_is_pyprojects(tmp_path: Path) -> None:
    (tmp_path / "pyproject.toml").write_text('[project]\nname = "x"\nversion = "2.3.4"\n')
    assert app_version(tmp_path) == "2.3.4"


@pytest.mark.parametrize(
    ("content", "message"),
    [
        (None, "cannot read the app's version from"),
        ('[project]\nname = "x"\n', "has no [project] version"),
        ("[project\n", "cannot read the app's version from"),
    ],
)
def test_a_missing_version_is_a_clear_error(tmp_path: Path, content: str | None, message: str) -> None:
    if content is not None:
        (tmp_path / "pyproject.toml").write_text(content)
    with pytest.raises(SourceVersionError, match=r"APP_VERSION comes from") as caught:
        app_version(tmp_path)
    assert message in str(caught.value)


# ------------------------------------------------------------------------------------------ SOURCE_URL


def build_args(run: harness.StackRun) -> dict[str, str]:
    return run.one("docker:index/image:Image").inputs["build"]["args"]


def test_the_image_names_its_origin_without_the_token_the_clone_carries(repo: Path, store_url: str) -> None:
    token = "s3cr3t-pat-0123456789"
    git(repo, "remote", "add", "origin", f"https://build:{token}@dev.azure.com/contoso/ai/_git/aiapp")
    run = harness.run_program(model_store=store_url, workdir=repo)
    assert build_args(run)["SOURCE_URL"] == "https://dev.azure.com/contoso/ai/_git/aiapp"
    recorded = repr([(r.inputs, r.outputs) for r in run.resources]) + repr(run.outputs)
    assert token not in recorded
    origin = git(repo, "remote", "get-url", "origin")
    assert origin.endswith("@dev.azure.com/contoso/ai/_git/aiapp")  # the clone's own remote is untouched


def test_the_source_url_is_part_of_the_content_tag(repo: Path, store_url: str) -> None:
    git(repo, "remote", "add", "origin", "git@github.com:contoso/aiapp.git")
    first = image(harness.run_program(model_store=store_url, workdir=repo))
    git(repo, "remote", "set-url", "origin", "git@github.com:contoso/aiapp-fork.git")
    moved = image(harness.run_program(model_store=store_url, workdir=repo))
    assert moved[1:] == first[1:] and moved[0] != first[0]  # same commit and version, another label


def test_without_an_origin_remote_the_source_is_unknown(repo: Path, tmp_path: Path) -> None:
    assert source_url(repo) == "unknown"  # a checkout without remotes
    assert source_url(tmp_path / "nothing-here") == "unknown"  # not even a directory git can enter


@pytest.mark.parametrize(
    ("remote", "expected"),
    [
        ("https://github.com/contoso/aiapp.git", "https://github.com/contoso/aiapp.git"),
        ("https://x-access-token:ghs_abc@github.com/contoso/aiapp", "https://github.com/contoso/aiapp"),
        (
            "https://contoso@dev.azure.com/contoso/ai/_git/aiapp",
            "https://dev.azure.com/contoso/ai/_git/aiapp",
        ),
        ("git@github.com:contoso/aiapp.git", "https://github.com/contoso/aiapp.git"),
        ("ssh://git@github.com:22/contoso/aiapp.git", "https://github.com/contoso/aiapp.git"),
        ("git@ssh.dev.azure.com:v3/contoso/ai/aiapp", "https://dev.azure.com/contoso/ai/_git/aiapp"),
        ("https://git.example.com:8443/team/aiapp/?ref=x#frag", "https://git.example.com:8443/team/aiapp"),
        ("HTTPS://GitHub.com/contoso/aiapp", "https://github.com/contoso/aiapp"),
        ("/home/someone/src/aiapp", "unknown"),  # a local path says nothing to others, and names a person
        ("file:///srv/git/aiapp.git", "unknown"),
        ("C:/src/aiapp", "unknown"),
        ("https://github.com/contoso/ai app", "unknown"),
        ("https://github.com:notaport/contoso/aiapp", "unknown"),
        ("", "unknown"),
    ],
)
def test_remote_urls_are_normalized_to_credential_free_web_addresses(remote: str, expected: str) -> None:
    assert normalize_source_url(remote) == expected
