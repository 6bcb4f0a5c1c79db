"""Fixtures of the pipeline tests: an agent step with stand-ins for pulumi and az (see agent.py)."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.pipelines.agent import Agent, make_agent


@pytest.fixture
def agent(tmp_path: Path) -> Agent:
    return make_agent(tmp_path)
