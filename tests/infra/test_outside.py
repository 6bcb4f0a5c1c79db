"""The program's outside world is one argument (infra/outside.py's Outside: ImageOutside and ClusterOutside):
the real implementation that `pulumi up` gets and the tests' recorder (tests/harness/outside.py) both offer
all of it, with the same signatures, so a step added to a Protocol cannot work under test and be missing in
a real deployment."""

from __future__ import annotations

import inspect
from pathlib import Path

import pytest

from infra.outside import PROJECT_ROOT, ClusterOutside, ImageOutside, Outside, RealOutside
from tests.harness import RecordingOutside

PROTOCOLS = (ImageOutside, ClusterOutside)
MEMBERS = sorted(name for protocol in PROTOCOLS for name in vars(protocol) if not name.startswith("_"))


def parameters(function: object) -> list[str]:
    return [p for p in inspect.signature(function).parameters if p != "self"]  # type: ignore[arg-type]


@pytest.mark.parametrize("outside", [RealOutside(), RecordingOutside(Path("/x"), "file:///x")], ids=type)
def test_each_implementation_offers_every_member_of_the_protocol(outside: Outside) -> None:
    assert MEMBERS == [
        "access_token",
        "api_served",
        "docker_login",
        "exchange_refresh_token",
        "open_store",
        "project_root",
        "registry_grants",
        "review_cluster_access",
    ]
    assert {name for name in dir(Outside) if not name.startswith("_")} == set(MEMBERS)
    for name in MEMBERS:
        declared = next(getattr(p, name) for p in PROTOCOLS if name in vars(p))
        if isinstance(declared, property):
            assert isinstance(getattr(outside, name), Path)
        else:
            assert parameters(getattr(outside, name)) == parameters(declared), name


def test_the_real_project_root_is_the_directory_pulumi_runs_the_program_from() -> None:
    assert RealOutside().project_root == PROJECT_ROOT
    assert (PROJECT_ROOT / "Pulumi.yaml").is_file() and (PROJECT_ROOT / "__main__.py").is_file()
