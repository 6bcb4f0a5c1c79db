"""The hot path's shortcuts give what the standard library gives: app.jsonio.loads is json.loads (the same
objects, or the same exception with the same message), answer_bytes writes the same values as json_bytes,
and app.prediction.rounded is numpy's round to the bit."""

from __future__ import annotations

import codecs
import json
import math
import struct
from typing import Any

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from app.errors import json_bytes
from app.jsonio import answer_bytes, loads
from app.prediction import rounded
from tests.app.test_fuzz import json_values

SETTINGS = settings(max_examples=300, deadline=None)


def _same(a: Any, b: Any) -> bool:
    """Equal, of the same types all the way down, floats to the bit (-0.0 is not 0.0; NaN is NaN)."""
    if type(a) is not type(b):
        return False
    if type(a) is float:
        return struct.pack("<d", a) == struct.pack("<d", b)
    if type(a) is list:
        return len(a) == len(b) and all(map(_same, a, b))
    if type(a) is dict:
        return list(a) == list(b) and all(_same(a[key], b[key]) for key in a)
    return bool(a == b)


def _outcome(parse: Any, body: bytes) -> tuple[str, Any]:
    try:
        return "value", parse(body)
    except (ValueError, UnicodeDecodeError, RecursionError) as exc:
        return type(exc).__name__, str(exc)


def _assert_as_json(body: bytes) -> None:
    ours, reference = _outcome(loads, body), _outcome(json.loads, body)
    assert ours[0] == reference[0], (body[:200], ours, reference)
    assert _same(ours[1], reference[1]), (body[:200], ours, reference)


json_numbers = st.from_regex(
    r"\A-?(0|[1-9][0-9]{0,30})(\.[0-9]{1,25})?([eE][-+]?[0-9]{1,3})?\Z", fullmatch=True
)


@SETTINGS
@given(json_values, st.sampled_from([(",", ":"), (", ", ": ")]), st.booleans(), st.sampled_from([None, 2]))
def test_loads_reads_what_json_writes_as_json_reads_it(
    value: Any, separators: tuple[str, str], ensure_ascii: bool, indent: int | None
) -> None:
    text = json.dumps(value, separators=separators, ensure_ascii=ensure_ascii, indent=indent)
    _assert_as_json(text.encode("utf-8", "surrogatepass"))


@SETTINGS
@given(st.lists(json_numbers, min_size=1, max_size=8))
def test_loads_reads_numbers_as_json_does(numbers: list[str]) -> None:
    """Integers of every length (orjson alone would make a float of one beyond 64 bits) and floats."""
    _assert_as_json(f"[{','.join(numbers)}]".encode())
    _assert_as_json(numbers[0].encode())


@SETTINGS
@given(st.binary(max_size=60) | json_values.map(lambda v: json.dumps(v).encode()[:-1]))
def test_loads_fails_as_json_fails(body: bytes) -> None:
    _assert_as_json(body)


@pytest.mark.parametrize(
    "body",
    [
        b"18446744073709551615",
        b"18446744073709551616",
        b"-9223372036854775809",
        b"[1" + b"0" * 400 + b"]",
        b"1e400",
        b'{"a": NaN, "b": -Infinity}',
        codecs.BOM_UTF8 + b'{"a": 1}',
        '{"é": [1]}'.encode("utf-16"),
        '{"a": 1}'.encode("utf-32-le"),
        b'"\\ud800"',
        b'"\xed\xa0\x80"',
        b"[" * 100_000 + b"]" * 100_000,
        b'{"a": 1, "a": 2}',
        b'"a\x01b"',
        b"",
        b"\xff",
        b'{"instances": [[0, 1.5e-7, 16.0, -0.0]]}',
        b'{"id": "12345678901234567890123"}',
    ],
)
def test_loads_on_the_edges(body: bytes) -> None:
    _assert_as_json(body)


finite_answers = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False, allow_infinity=False) | st.text(),
    lambda children: (
        st.lists(children, max_size=5) | st.dictionaries(st.text(max_size=10), children, max_size=5)
    ),
    max_leaves=30,
)


@SETTINGS
@given(finite_answers)
def test_answer_bytes_writes_the_values_json_bytes_writes(value: Any) -> None:
    written = answer_bytes(value)
    assert _same(json.loads(written), json.loads(json_bytes(value)))


@pytest.mark.parametrize("value", [math.nan, math.inf, -math.inf, 2**64, -(2**63) - 1, "\ud800"])
def test_answer_bytes_leaves_to_json_what_orjson_writes_otherwise(value: Any) -> None:
    """NaN and the infinities as the protocol writes them, integers beyond 64 bits, lone surrogates."""
    payload = {"outputs": [{"data": [0.5, value]}], "id": "null"}
    assert answer_bytes(payload) == json_bytes(payload)


def test_answer_bytes_is_compact_utf8_in_key_order() -> None:
    assert answer_bytes({"b": [1, 0.5, "é"], "a": True}) == '{"b":[1,0.5,"é"],"a":true}'.encode()


special_float32 = st.sampled_from(
    [0.0, -0.0, 5e-7, -5e-7, 4.9999997e-7, 1.5e-6, 2.5e-6, -1e-9, 1.0, 0.9999995, 1e30, -1e30, 3.4e38]
)


@SETTINGS
@given(
    st.lists(
        st.lists(
            st.floats(width=32, allow_nan=False, allow_infinity=False) | special_float32,
            min_size=10,
            max_size=10,
        ),
        min_size=1,
        max_size=4,
    )
)
def test_rounded_is_numpys_round_to_the_bit(rows: list[list[float]]) -> None:
    probabilities = np.array(rows, dtype=np.float32)
    assert _same(rounded(probabilities), np.round(probabilities.astype(np.float64), 6).tolist())


@pytest.mark.parametrize("bad", [math.nan, math.inf, -math.inf])
def test_rounded_leaves_nan_and_infinity_to_numpy(bad: float) -> None:
    probabilities = np.array([[0.25, bad, -1e-9]], dtype=np.float32)
    assert _same(rounded(probabilities), np.round(probabilities.astype(np.float64), 6).tolist())
