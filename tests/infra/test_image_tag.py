"""The image tag is derived from content: the same app source and model give the same tag, run after run and
directory after directory; a changed app file or model gives a new one."""

from __future__ import annotations

from pathlib import Path

import pytest

from infra.content_tag import content_tag, context_files
from model.store import FileStore
from tests import harness


def tag_of(run: harness.StackRun) -> str:
    return run.one("docker:index/image:Image").inputs["imageName"].rsplit(":", 1)[1]


def test_two_runs_over_the_same_source_and_model_give_the_same_tag(store_url: str, tmp_path: Path) -> None:
    first = harness.run_program(model_store=store_url, workdir=tmp_path / "one")
    second = harness.run_program(model_store=store_url, workdir=tmp_path / "two")  # another checkout
    again = harness.run_program(model_store=store_url, workdir=tmp_path / "one")  # model already fetched
    assert tag_of(first) == tag_of(second) == tag_of(again)
    assert len(tag_of(first)) == 20


def test_a_changed_app_file_gives_a_new_tag(store_url: str, tmp_path: Path) -> None:
    before = tag_of(harness.run_program(model_store=store_url, workdir=tmp_path))
    factory = tmp_path / "app" / "factory.py"
    factory.write_text(factory.read_text() + "\n# a change\n")
    after = tag_of(harness.run_program(model_store=store_url, workdir=tmp_path))
    assert after != before


def test_a_changed_model_gives_a_new_tag(two_version_store: FileStore, tmp_path: Path) -> None:
    first = harness.run_program(
        {"aiapp:modelVersion": "1"}, model_store=two_version_store.url, workdir=tmp_path
    )
    second = harness.run_program(
        {"aiapp:modelVersion": "2"}, model_store=two_version_store.url, workdir=tmp_path
    )
    assert first.outputs["model_sha256"] != second.outputs["model_sha256"]
    assert tag_of(first) != tag_of(second)


def test_a_file_the_dockerignore_keeps_out_does_not_change_the_tag(store_url: str, tmp_path: Path) -> None:
    before = tag_of(harness.run_program(model_store=store_url, workdir=tmp_path))
    (tmp_path / "app" / "__pycache__").mkdir(exist_ok=True)
    (tmp_path / "app" / "__pycache__" / "factory.cpython-311.pyc").write_bytes(b"bytecode")
    (tmp_path / "notes.txt").write_text("not part of the image")
    assert tag_of(harness.run_program(model_store=store_url, workdir=tmp_path)) == before


# ------------------------------------------------------------------------------------ the tag function


def write(root: Path, files: dict[str, str]) -> None:
    for name, text in files.items():
        (root / name).parent.mkdir(parents=True, exist_ok=True)
        (root / name).write_text(text)


WHITELIST = (
    "*\n!app/\n!model/manifest.py\n!build/model/model.onnx\n**/__pycache__\napp/Dockerfile\napp/tests\n"
)


def test_context_files_follow_docker_rules(tmp_path: Path) -> None:
    write(
        tmp_path,
        {
            ".dockerignore": WHITELIST,
            "app/a.py": "a",
            "app/sub/b.py": "b",
            "app/Dockerfile": "FROM x",
            "app/tests/test_a.py": "t",
            "app/__pycache__/a.pyc": "c",
            "a/b/__pycache__/c.pyc": "c",
            "model/manifest.py": "m",
            "model/train.py": "t",
            "build/model/model.onnx": "onnx",
            "README.md": "r",
            "docs/x.md": "d",
            ".venv/lib/x.py": "x",
        },
    )
    files = [
        p.relative_to(tmp_path).as_posix()
        for p in context_files(tmp_path, "app/Dockerfile", exclude_prefixes=["build/model"])
    ]
    # The Dockerfile is always sent to the builder, even when the .dockerignore leaves it out of COPY.
    assert files == ["app/Dockerfile", "app/a.py", "app/sub/b.py", "model/manifest.py"]
    with_model = context_files(tmp_path, "app/Dockerfile")
    assert tmp_path / "build" / "model" / "model.onnx" in with_model


def test_a_later_pattern_overrides_an_earlier_one_as_in_docker(tmp_path: Path) -> None:
    write(
        tmp_path,
        {
            ".dockerignore": "app\n!app/keep/**\napp/keep/secret.txt\n# a comment\n\n",
            "app/drop.py": "x",
            "app/keep/sub/ok.py": "ok",
            "app/keep/secret.txt": "s",
            "Dockerfile": "FROM x",
        },
    )
    files = [p.relative_to(tmp_path).as_posix() for p in context_files(tmp_path, "Dockerfile")]
    assert files == ["Dockerfile", "app/keep/sub/ok.py"]


def test_the_tag_covers_the_dockerfile_model_and_build_args(tmp_path: Path) -> None:
    write(tmp_path, {".dockerignore": WHITELIST, "app/a.py": "a", "app/Dockerfile": "FROM x"})
    args = {"MODEL_NAME": "digits"}
    base = content_tag(tmp_path, "app/Dockerfile", "build/model", "0" * 64, args)
    assert content_tag(tmp_path, "app/Dockerfile", "build/model", "0" * 64, dict(args)) == base
    assert content_tag(tmp_path, "app/Dockerfile", "build/model", "1" * 64, args) != base
    assert content_tag(tmp_path, "app/Dockerfile", "build/model", "0" * 64, {"MODEL_NAME": "other"}) != base
    write(tmp_path, {"app/Dockerfile": "FROM y"})
    assert content_tag(tmp_path, "app/Dockerfile", "build/model", "0" * 64, args) != base


def test_a_missing_dockerignore_is_an_error_not_the_whole_directory(tmp_path: Path) -> None:
    write(tmp_path, {"app/a.py": "a", "app/Dockerfile": "FROM x"})
    with pytest.raises(FileNotFoundError, match=r"\.dockerignore is missing"):
        context_files(tmp_path, "app/Dockerfile")


def test_a_context_of_nothing_but_the_dockerfile_is_an_error(tmp_path: Path) -> None:
    write(tmp_path, {".dockerignore": "*\n", "app/a.py": "a", "app/Dockerfile": "FROM x"})
    with pytest.raises(FileNotFoundError, match=r"holds no files the \.dockerignore admits"):
        content_tag(tmp_path, "app/Dockerfile", "build/model", "0" * 64, {})
