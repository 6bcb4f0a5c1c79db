"""Just enough PromQL structure for the alert rules: the comparison a rule ends with (its threshold), and the
measures an expression compares (what it evaluates to without its thresholds), found at the top level of the
expression: outside parentheses, braces, brackets and strings. Not a parser: promtool and a real Prometheus
judge whether an expression is valid (tests/monitoring)."""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass

COMPARISONS = (">=", "<=", "==", "!=", ">", "<")
_NUMBER = re.compile(r"\s*(bool\s+)?(?P<number>[-+]?(\d+(\.\d*)?|\.\d+)([eE][-+]?\d+)?)\s*$")
_SET_OPERATOR = re.compile(r"(unless|and|or)\b")
# Vector matching after a set operator: `a unless on(pod) b`.
_MATCHING = re.compile(r"^\s*(on|ignoring)\s*\([^)]*\)\s*")


@dataclass(frozen=True)
class Comparison:
    measure: str  # the left-hand side, e.g. `sum(rate(x[5m]))`
    operator: str  # one of COMPARISONS
    threshold: str  # the number as written, e.g. `0.01`


def _scan(expr: str) -> Iterator[tuple[int, str, int]]:
    """(index, character, depth) of each character outside quoted strings; depth counts (, { and [."""
    depth, quote, escaped = 0, "", False
    for index, char in enumerate(expr):
        if quote:
            if char == quote and not escaped:
                quote = ""
            escaped = char == "\\" and not escaped
            continue
        if char in "\"'`":
            quote = char
            continue
        if char in ")}]":
            depth -= 1
        yield index, char, depth
        if char in "({[":
            depth += 1


def _top_level(expr: str) -> list[int]:
    return [index for index, char, depth in _scan(expr) if depth == 0 and char not in "({[)}]"]


def _strip_parentheses(expr: str) -> str:
    """`(a > 1)` -> `a > 1`, as long as the outer pair encloses the whole expression."""
    expr = expr.strip()
    while expr.startswith("("):
        closing = next(i for i, char, depth in _scan(expr) if depth == 0 and char == ")")
        if closing != len(expr) - 1:
            break
        expr = expr[1:-1].strip()
    return expr


def top_level_comparison(expr: str) -> Comparison | None:
    """The comparison against a number that `expr` ends with at its top level, e.g. `... > 0.5`."""
    expr = _strip_parentheses(expr)
    for index in reversed(_top_level(expr)):
        operator = next((op for op in COMPARISONS if expr.startswith(op, index)), None)
        if operator is None or (index > 0 and expr[index - 1] in "<>=!"):
            continue
        match = _NUMBER.match(expr, index + len(operator))
        return Comparison(expr[:index].strip(), operator, match.group("number")) if match else None
    return None


def _set_operands(expr: str) -> list[str]:
    """The operands of `a unless b`, `a and b`, `a or b` at the top level (one item when there are none)."""
    parts, start = [], 0
    for index in _top_level(expr):
        if index < start or (index > 0 and (expr[index - 1].isalnum() or expr[index - 1] in "_:")):
            continue
        match = _SET_OPERATOR.match(expr, index)
        if match:
            parts.append(expr[start:index])
            start = match.end()
    parts.append(expr[start:])
    return [_MATCHING.sub("", part, count=1).strip() for part in parts]


def measures(expr: str) -> list[str]:
    """What `expr` compares, without its thresholds: `a / b > 0.01` -> [`a / b`]; `(x > 0) unless (y > 0)`
    -> [`x`, `y`]. Each is an expression of its own, whose value the alert is about."""
    expr = _strip_parentheses(expr)
    operands = _set_operands(expr)
    if len(operands) > 1:
        return [m for operand in operands for m in measures(operand)]
    comparison = top_level_comparison(expr)
    return [_strip_parentheses(comparison.measure)] if comparison else [expr]


def replace_threshold(expr: str, threshold: str) -> str:
    """`expr` with the number of the comparison it ends with replaced (ValueError when it ends with none)."""
    comparison = top_level_comparison(expr)
    if comparison is None or _strip_parentheses(expr) != expr.strip():
        raise ValueError(f"does not end with a comparison against a number: {expr}")
    stripped = expr.rstrip()
    return stripped[: len(stripped) - len(comparison.threshold)] + threshold
