"""FinQA's program language, read leniently: the parser and executor the loader and the default scorer use.

This module sits below both :mod:`llm.data` (the loader validates gold programs with it) and
:mod:`llm.scoring` (the scorer executes programs a model writes), so neither imports the other for it.
The official evaluation, quirks included, is :mod:`llm.scoring.finqa_official` (strict scoring).

A program is a list of steps, each ``op(arg1, arg2)``::

    divide(637, const_5)
    subtract(5829, 5735), divide(#0, 5735)
    table_average(operating margin, none), table_max(operating margin, none), subtract(#1, #0)

Operations (:data:`ARITHMETIC`, :data:`AGGREGATES`): ``add``, ``subtract``, ``multiply``, ``divide``,
``exp`` (arg1 ** arg2), ``greater`` ("yes" if arg1 > arg2 else "no"), and ``table_max/min/sum/average``
over the cells of the table row whose first cell equals arg1 (arg2 is ignored, ``none`` by convention).
The final result is rounded to 5 decimals (:data:`RESULT_DECIMALS`), as ``exe_ans`` is.

Lenient reading, rule by rule (the official behaviour in brackets; see :mod:`llm.scoring.finqa_official`):

* Whitespace around the program is ignored [a leading space makes the program invalid].
* Steps are separated by a comma with any spaces around it, and one trailing comma is ignored
  [steps must be separated by exactly ``", "``; a trailing ``", "`` is ignored, a bare ``","`` is not].
* A step's ``)`` is the first one followed by a separator and the next ``op(``, or by the end, so a row
  name may contain parentheses (``net income ( loss )``) [a ``(`` inside a step makes it invalid].
  A missing final ``)`` makes the program invalid [the unclosed last step is silently dropped].
* The two arguments are split at the last ``", "`` (``1,234`` has no space after its comma)
  [the arguments are split at every ``", "``: a third one, or ``add(1,2)`` with none, is invalid].
* ``#k`` (digits only) is the result of step k < the current step, checked when the program is parsed, so a
  data file whose program refers to a later step is refused on loading [any argument containing ``#`` is a
  reference: ``#0#`` is ``#0``; the index is read by ``int``, so ``#1e0`` is invalid].
* A number argument loses its commas; a trailing ``%`` divides by 100; ``const_m1`` is -1 and
  ``const_<x>`` is x; infinities and NaN are refused [``float`` reads ``inf``/``nan``; a ``%`` anywhere
  divides by 100, so ``%5`` is 0.05].
* Only numbers are arithmetic arguments: a "yes"/"no" result cannot be an argument [Python semantics:
  ``greater`` compares the strings, ``add`` concatenates them].
* A table operation needs a row name, neither empty nor a ``#k`` reference [a reference reuses the row
  of the previous table step; an empty name matches the header row, whose first cell is usually empty].
* Table rows: empty rows are skipped [an empty row makes every table operation invalid]; when several
  rows share a first cell, the last one is used (as the official dict from first cell to row); a cell
  loses ``$`` and everything from ``(`` on; every cell must be a finite number, and the row must have at
  least one cell [a row without cells sums to 0].
* Division by zero, overflow and complex powers are errors [the same, except that a complex result that
  no later step uses is harmless]. A ``|`` inside an argument is part of it [it splits the argument].
"""

from __future__ import annotations

import math
import operator
import re
from dataclasses import dataclass
from typing import Callable, Sequence

ARITHMETIC: dict[str, Callable[[float, float], float | str]] = {
    "add": operator.add,
    "subtract": operator.sub,
    "multiply": operator.mul,
    "divide": operator.truediv,
    "exp": operator.pow,
    "greater": lambda a, b: "yes" if a > b else "no",
}
AGGREGATES: dict[str, Callable[[list[float]], float]] = {
    "table_max": max,
    "table_min": min,
    "table_sum": sum,
    "table_average": lambda row: sum(row) / len(row),
}
OPS = tuple(ARITHMETIC) + tuple(AGGREGATES)
RESULT_DECIMALS = 5

# one step: an op name, "(", the arguments, the first ")" that is followed by a step separator and the
# next "op(", or by an optional trailing comma and the end
_STEP = re.compile(r"([a-z_]+)\((.*?)\)\s*(?:,\s*(?=[a-z_]+\()|,?\s*$)")
_REFERENCE = re.compile(r"#(\d+)")


class ProgramError(ValueError):
    """A FinQA program that cannot be parsed or executed (unknown op, bad argument, missing row...)."""


@dataclass(frozen=True)
class Step:
    op: str
    arg1: str
    arg2: str


def parse_program(program: str) -> list[Step]:
    """Split ``"op(a, b), op(c, d)"`` into steps; raise :class:`ProgramError` on anything else (module rules)."""
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
        for arg in (arg1.strip(), arg2.strip()):
            reference = _REFERENCE.fullmatch(arg)
            if reference and int(reference.group(1)) >= len(steps):
                raise ProgramError(f"step {len(steps)}: bad reference {arg!r} in {program!r} (not an earlier "
                                   f"step's result)")
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
    """A program or table number: commas dropped, ``x%`` -> x / 100, ``const_m1`` -> -1, ``const_k`` -> k.

    None for anything else, infinities and NaN included.
    """
    text = text.strip().replace(",", "")
    if text.startswith("const_"):
        name = text[len("const_"):]
        return -1.0 if name == "m1" else _finite(name)
    if text.endswith("%"):
        value = _finite(text[:-1])
        return None if value is None else value / 100.0
    return _finite(text)


def _finite(text: str) -> float | None:
    try:
        value = float(text)
    except ValueError:
        return None
    return value if math.isfinite(value) else None


def table_row_numbers(table: Sequence[Sequence[str]], name: str) -> list[float]:
    """The numbers in the last row whose first cell is ``name`` (cells lose ``$`` and any ``(...)`` suffix)."""
    if not name or _REFERENCE.fullmatch(name):
        raise ProgramError(f"a table operation needs a row name, got {name!r}")
    rows = {row[0]: row[1:] for row in table if row}
    if name not in rows:
        raise ProgramError(f"no table row named {name!r}")
    numbers = []
    for cell in rows[name]:
        value = parse_number(cell.replace("$", "").split("(")[0])
        if value is None:
            raise ProgramError(f"table row {name!r} has a non-numeric cell {cell!r}")
        numbers.append(value)
    if not numbers:
        raise ProgramError(f"table row {name!r} has no numeric cells")
    return numbers


def execute_program(program: str, table: Sequence[Sequence[str]] | None = None) -> float | str:
    """Run a FinQA program and return its result rounded to 5 decimals, or "yes"/"no".

    Raises :class:`ProgramError` for an unparseable program, an unknown op, an argument that is not a
    number or a valid ``#k`` reference, a missing table row, or an arithmetic error (division by zero,
    overflow, a complex power).
    """
    results: list[float | str] = []
    for index, step in enumerate(parse_program(program)):
        if step.op in AGGREGATES:
            value: float | str = AGGREGATES[step.op](table_row_numbers(table or [], step.arg1))
        else:
            a, b = (_argument(arg, results, index) for arg in (step.arg1, step.arg2))
            value = _arithmetic(step.op, a, b)
        results.append(value)
    final = results[-1]
    return final if isinstance(final, str) else round(final, RESULT_DECIMALS)


def _argument(arg: str, results: list[float | str], index: int) -> float:
    reference = _REFERENCE.fullmatch(arg)
    if reference:
        k = int(reference.group(1))
        if k >= len(results):
            raise ProgramError(f"step {index}: bad reference {arg!r}")
        value: float | str | None = results[k]
    elif arg.startswith("#"):
        raise ProgramError(f"step {index}: bad reference {arg!r}")
    else:
        value = parse_number(arg)
    if not isinstance(value, float):
        raise ProgramError(f"step {index}: argument {arg!r} is not a number")
    return value


def _arithmetic(op: str, a: float, b: float) -> float | str:
    try:
        value = ARITHMETIC[op](a, b)
    except (ZeroDivisionError, OverflowError) as err:
        raise ProgramError(f"{op}({a}, {b}) failed: {err}") from err
    if isinstance(value, complex):
        raise ProgramError(f"{op}({a}, {b}) is not a real number")
    return value
