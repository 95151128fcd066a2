"""Executor for FinQA's program language (the rules of the official ``evaluate.py``, written anew).

A program is a list of steps separated by ``", "``, each ``op(arg1, arg2)``::

    divide(637, const_5)
    subtract(5829, 5735), divide(#0, 5735)
    table_average(operating margin, none), table_max(operating margin, none), subtract(#1, #0)

Operations: ``add``, ``subtract``, ``multiply``, ``divide``, ``exp`` (arg1 ** arg2), ``greater``
("yes" if arg1 > arg2 else "no"), and ``table_max/min/sum/average`` over the numeric cells of the table
row whose first cell equals arg1 (arg2 is ``none``). Arguments: ``#k`` is the result of step k (from 0);
``const_100`` is 100 and ``const_m1`` is -1; a number loses its commas, and a trailing ``%`` divides it
by 100. A table cell loses ``$`` and everything from ``(`` on before it is read as a number; a row with
a cell that is not a number cannot be aggregated. When several rows share a first cell, the last one is
used (the official code builds a dict from first cell to row). The final result is rounded to 5
decimals, and the official execution accuracy requires it to equal ``exe_ans`` exactly.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass

ARITHMETIC_OPS = ("add", "subtract", "multiply", "divide", "exp", "greater")
TABLE_OPS = ("table_max", "table_min", "table_sum", "table_average")
OPS = ARITHMETIC_OPS + TABLE_OPS
RESULT_DECIMALS = 5

# one step: an op name, "(", arguments without parentheses-closing ambiguity, ")" then ", " or the end
_STEP = re.compile(r"\s*([a-z_]+)\((.*?)\)\s*(?:,\s*(?=[a-z_]+\()|$)")


class ProgramError(ValueError):
    """A FinQA program that cannot be parsed or executed (unknown op, bad argument, missing row...)."""


@dataclass(frozen=True)
class Step:
    op: str
    arg1: str
    arg2: str


def parse_program(program: str) -> list[Step]:
    """Split ``"op(a, b), op(c, d)"`` into steps; raise :class:`ProgramError` on anything else.

    A step's closing parenthesis is the first ``)`` followed by ``", op("`` or the end of the program,
    so table row names may contain parentheses (``"net income ( loss )"``). The two arguments are split
    at the last ``", "`` (numbers such as ``1,234`` carry no space after their commas).
    """
    text = program.strip()
    steps: list[Step] = []
    pos = 0
    while pos < len(text):
        match = _STEP.match(text, pos)
        if match is None:
            raise ProgramError(f"cannot parse program {program!r} at character {pos}")
        op, args = match.group(1), match.group(2)
        if op not in OPS:
            raise ProgramError(f"unknown operation {op!r} in program {program!r}")
        if ", " not in args:
            raise ProgramError(f"step {len(steps)} of {program!r} needs two arguments, got {args!r}")
        arg1, arg2 = args.rsplit(", ", 1)
        steps.append(Step(op, arg1.strip(), arg2.strip()))
        pos = match.end()
    if not steps:
        raise ProgramError(f"empty program {program!r}")
    return steps


def format_number(value: float) -> str:
    """Write a FinQA number the way ``exe_ans`` stores it (5 decimals at most, no trailing zeros)."""
    text = f"{round(float(value), RESULT_DECIMALS):.{RESULT_DECIMALS}f}".rstrip("0").rstrip(".")
    return "0" if text in ("-0", "") else text


def parse_number(text: str) -> float | None:
    """A program or table number: commas dropped, ``x%`` -> x / 100, ``const_m1`` -> -1, ``const_k`` -> k."""
    text = text.strip().replace(",", "")
    if text.startswith("const_"):
        name = text[len("const_"):]
        return -1.0 if name == "m1" else _float(name)
    if text.endswith("%"):
        value = _float(text[:-1])
        return None if value is None else value / 100.0
    return _float(text)


def _float(text: str) -> float | None:
    try:
        value = float(text)
    except ValueError:
        return None
    return value if math.isfinite(value) else None


def table_row_numbers(table: list[list[str]], name: str) -> list[float]:
    """The numbers in the last row whose first cell is ``name`` (cells lose ``$`` and any ``(...)`` suffix)."""
    rows = {row[0]: row[1:] for row in table if row}
    if name not in rows:
        raise ProgramError(f"no table row named {name!r}")
    numbers = []
    for cell in rows[name]:
        value = parse_number(cell.replace("$", "").split("(")[0].strip())
        if value is None:
            raise ProgramError(f"table row {name!r} has a non-numeric cell {cell!r}")
        numbers.append(value)
    if not numbers:
        raise ProgramError(f"table row {name!r} has no numeric cells")
    return numbers


def execute_program(program: str, table: list[list[str]] | None = None) -> float | str:
    """Run a FinQA program and return its result rounded to 5 decimals, or "yes"/"no".

    Raises :class:`ProgramError` for an unparseable program, an unknown op, an argument that is not a
    number or a valid ``#k`` reference, a missing table row, or an arithmetic error (division by zero).
    """
    results: list[float | str] = []
    for index, step in enumerate(parse_program(program)):
        if step.op in TABLE_OPS:
            row = table_row_numbers(table or [], step.arg1)
            value: float | str = {"table_max": max, "table_min": min, "table_sum": sum,
                                  "table_average": lambda r: sum(r) / len(r)}[step.op](row)
        else:
            a, b = (_argument(arg, results, index) for arg in (step.arg1, step.arg2))
            value = _arithmetic(step.op, a, b)
        results.append(value)
    final = results[-1]
    return final if isinstance(final, str) else round(final, RESULT_DECIMALS)


def _argument(arg: str, results: list[float | str], index: int) -> float:
    if arg.startswith("#"):
        k = _float(arg[1:])
        if k is None or not k.is_integer() or not 0 <= int(k) < len(results):
            raise ProgramError(f"step {index}: bad reference {arg!r}")
        value = results[int(k)]
    else:
        value = parse_number(arg)
    if not isinstance(value, float) and not isinstance(value, int):
        raise ProgramError(f"step {index}: argument {arg!r} is not a number")
    return float(value)


def _arithmetic(op: str, a: float, b: float) -> float | str:
    try:
        if op == "add":
            return a + b
        if op == "subtract":
            return a - b
        if op == "multiply":
            return a * b
        if op == "divide":
            return a / b
        if op == "exp":
            return float(a ** b)
        return "yes" if a > b else "no"  # greater
    except (ZeroDivisionError, OverflowError, TypeError) as err:
        raise ProgramError(f"{op}({a}, {b}) failed: {err}") from err
