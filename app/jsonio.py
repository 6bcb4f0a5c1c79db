"""JSON on the hot paths: orjson reads the request bodies and writes the 200 answers, the standard library's
json stays the reference for everything orjson does not do the same way.

Reading: orjson.loads takes strict RFC 8259 JSON in UTF-8 and builds the same Python objects json.loads does
(dict, list, str, int, float, bool, None; the same floats: both round correctly), with one exception: an
integer outside 64 bits becomes a float. So a body with a run of 19 digits or more (where such integers
start) goes to json.loads, as does whatever orjson refuses: NaN and Infinity, UTF-16/32 and a BOM, lone
surrogates, nesting past orjson's limit, and every invalid body; the caller then gets json.loads' result or
exception, and a client's mistake is still told in json's own words (tests/app/test_jsonio.py holds the two
to the same results).

Writing: orjson.dumps writes what json_bytes writes (compact, keys in order) with two differences of form,
not of value: non-ASCII characters as UTF-8 rather than \\u escapes, and a float's shortest round-trip digits
in orjson's notation (6e-6, 0.00001) rather than Python's repr (6e-06, 1e-05). A NaN or an infinity, which
orjson would write as null, and an integer beyond 64 bits go through json_bytes instead (NaN, Infinity: what
the inference protocol's answers say, as Triton's do). Error bodies are always json_bytes'.
orjson costs a fifth of json's instructions to read a digit and a tenth to write its answer (a float's repr
was most of an answer's cost: README, "Benchmarks").
"""

from __future__ import annotations

import json
from typing import Any

import orjson

from app.errors import json_bytes

# 19 digits in a row: an integer that may be outside 64 bits (or a long fraction, or digits in a string: those
# go to json too, which reads them the same, only slower). Found by turning every digit into "0" and looking
# for nineteen of them: two passes in C over the body, a tenth of what a regular expression costs here.
_DIGITS_TO_ZERO = bytes(ord("0") if chr(byte).isdigit() and byte < 128 else byte for byte in range(256))
_LONG_DIGITS = b"0" * 19


def loads(body: bytes) -> Any:
    """json.loads(body), faster; raises what json.loads raises (ValueError, UnicodeDecodeError,
    RecursionError)."""
    if _LONG_DIGITS not in body.translate(_DIGITS_TO_ZERO):
        try:
            return orjson.loads(body)
        except orjson.JSONDecodeError:
            pass
    return json.loads(body)


def answer_bytes(payload: Any) -> bytes:
    """A 200 answer's JSON (see the module's docstring for how it differs from json_bytes)."""
    try:
        body = orjson.dumps(payload)
    except orjson.JSONEncodeError:  # an integer beyond 64 bits, a str that is not UTF-8 (a lone surrogate)
        return json_bytes(payload)
    # orjson writes null for NaN and the infinities; no answer holds a None, so null means one of those (or a
    # string that spells it: then json_bytes writes the same value, a little slower).
    if b"null" in body:
        return json_bytes(payload)
    return body
