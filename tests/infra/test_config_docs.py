"""The README's tables of aiapp:* keys are written from infra/config/'s models, and kept so."""

from __future__ import annotations

import subprocess
import sys

from infra.config import KEYS
from infra.config.__main__ import README, tables


def test_the_readme_tables_are_the_ones_the_models_write() -> None:
    check = subprocess.run(
        [sys.executable, "-m", "infra.config", "--check"], capture_output=True, text=True, check=False
    )
    assert check.returncode == 0, check.stderr
    assert tables() in README.read_text()


def test_every_key_has_one_row_that_says_what_it_does() -> None:
    rows = [line for line in tables().splitlines() if line.startswith("| `")]
    keys = [row.split("`")[1] for row in rows]
    assert sorted(keys) == sorted(KEYS)  # each key once, none invented
    for row in rows:
        assert row.rstrip(" |").rsplit("| ", 1)[-1].strip(), f"no description: {row}"
