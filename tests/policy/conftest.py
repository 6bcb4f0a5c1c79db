from __future__ import annotations

from collections.abc import Callable, Iterator

import pytest

from tests.harness import StackRun, run_program

from .engine import PackServer, pack_server


@pytest.fixture(scope="session")
def pack() -> Iterator[PackServer]:
    """The real policy pack process, started once for the session as the engine starts it."""
    with pack_server() as server:
        yield server


@pytest.fixture(scope="session")
def stack_runs() -> Callable[[str], StackRun]:
    """The whole program run under mocks with a stack's own config, once per stack per session."""
    runs: dict[str, StackRun] = {}

    def get(stack: str) -> StackRun:
        if stack not in runs:
            runs[stack] = run_program(stack=stack)
        return runs[stack]

    return get
