"""FinQA's official program evaluation (``code/evaluate/evaluate.py`` of czyssrs/FinQA), quirk for quirk.

Strict scoring (:mod:`llm.scoring.finqa_match`) uses it, so that a program a model writes is judged
exactly as the official execution accuracy judges it. The lenient executor used by default is
:mod:`llm.data.finqa_program`; its docstring lists the differences rule by rule.

Official procedure, step by step (each quirk it implies follows the arrow):

1. **Tokens.** The program string is split at every ``", "``; inside each piece a ``(`` ends a token
   (which keeps it: ``"add("``), and a ``)`` is a token of its own. ``"EOF"`` is appended, and the
   executor drops the last token again.
   → Only ``", "`` separates: ``add(1,2)`` has the single argument ``"1,2"`` and is invalid; a trailing
   ``", "`` yields no token and is ignored; two spaces after a comma leave a space inside a token.
2. **Structure.** Tokens 0, 4, 8, ... stripped of ``(`` at both ends must be an operation name, and
   tokens 3, 7, 11, ... must be ``)``; otherwise the program is invalid.
   → A leading space (token ``" add("``), a separator other than ``", "`` between steps, and a ``(``
   inside a row name (which shifts the tokens) all make it invalid.
3. **Steps.** The tokens are joined with ``"|"`` and the text is cut at every ``)``; what follows the
   last ``)`` is dropped.
   → A missing final ``)`` silently drops the last step: ``add(1, 2), divide(#0, 3`` is 3.
   A step containing two ``(`` is invalid. The op is the text before ``(``, the arguments are what
   follows, both stripped of ``"|"`` and spaces; arg1 and arg2 are the first two ``"|"``-separated
   fields, each stripped of spaces (a missing arg2 is invalid; more fields are ignored, so a ``|``
   inside an argument splits it). An op name token without its ``(`` passes step 2 and glues to the
   next token (``add, x(, 3|4)`` has the op ``add|x``): such a step is skipped, the result stays.
4. **Arithmetic** (``add subtract multiply divide exp greater``). An argument containing ``#``
   anywhere is the result of step ``int(argument without its "#")``: ``#0#`` is ``#0``, ``#1e0`` is
   invalid, so is a step not yet computed. Any other argument is read by :func:`official_number`.
   The operation is Python's on whatever values it gets: ``greater`` on two "yes"/"no" results
   compares the strings ("yes" > "no"), ``add`` concatenates them, a negative number to a fractional
   power is complex, and any error (division by zero, overflow, a type error) makes it invalid.
5. **Table** (any op containing ``table``). A dict from each row's first cell to its other cells is
   built (the last of equal names wins; an empty row is an error). If arg1 contains ``#``, the
   reference must resolve but its value is not used: the row of the previous table step is used
   again (with no previous table step, invalid). Otherwise arg1 must be a key of the dict (an empty
   arg1 matches the header row, whose first cell is usually empty) and every cell, after dropping
   ``$``, everything from ``(`` on and the surrounding spaces, must be read by
   :func:`official_number`. ``max``/``min``/``sum``/``sum / len`` follow Python (a row with no cells
   sums to 0). arg2 is ignored. An op that contains ``table`` without being one of the four stores the
   previous result.
6. **Result.** The result of the last step executed (none: no result) rounded to 5 decimals unless it
   is "yes" or "no"; a value ``round`` refuses (a concatenated string, a complex number) is invalid.
   Infinity and NaN pass through; execution accuracy then requires ``result == exe_ans``.
"""

from __future__ import annotations

from typing import Sequence

from llm.data.finqa_program import AGGREGATES, ARITHMETIC, OPS, RESULT_DECIMALS

Value = float | str | complex

NO_RESULT = "n/a"
"""The official "no result yet" value: the result before any step, and a value like any other (a step
that references it gets the string)."""


class _Invalid(Exception):
    """A step the official evaluation flags as invalid (it stops there)."""


def official_number(text: str) -> float | None:
    """FinQA's number reader: commas dropped, then Python ``float``; failing that, a text containing
    ``%`` loses every ``%`` and is divided by 100; failing that, a text containing ``const`` loses every
    ``const_`` and ``m1`` means -1; None when no float comes out.

    So ``1e-06``, ``3.4719E-01``, ``inf``, ``nan``, ``1_000`` and `` 7 `` are read, ``%5`` and ``5%%``
    are 0.05, and ``+-2.4``, ``$5`` and ``−5`` (unicode minus) are refused.
    """
    text = text.replace(",", "")
    value = _float(text)
    if value is not None:
        return value
    if "%" in text:
        value = _float(text.replace("%", ""))
        return None if value is None else value / 100.0
    if "const" in text:
        name = text.replace("const_", "")
        return _float("-1" if name == "m1" else name)
    return None


def _float(text: str) -> float | None:
    try:
        return float(text)
    except ValueError:
        return None


def tokenize(program: str) -> list[str]:
    """Step 1 of the module docstring: the official token list, ending in ``"EOF"``."""
    tokens: list[str] = []
    for piece in program.split(", "):
        current = ""
        for char in piece:
            if char == ")" and current:
                tokens.append(current)
                current = ""
            current += char
            if char in "()":
                tokens.append(current)
                current = ""
        if current:
            tokens.append(current)
    return [*tokens, "EOF"]


def evaluate_program(program: str, table: Sequence[Sequence[str]] | None) -> float | str | None:
    """The official result of ``program`` on ``table`` (module docstring), or None when it is invalid
    or yields no result (execution accuracy counts both as wrong)."""
    tokens = tokenize(program)[:-1]
    for index, token in enumerate(tokens):
        if (index % 4 == 0 and token.strip("(") not in OPS) or (index % 4 == 3 and token != ")"):
            return None
    try:
        result = _run_steps("|".join(tokens).split(")")[:-1], table)
        if result in ("yes", "no"):
            return result  # type: ignore[return-value]
        return None if result == NO_RESULT else round(result, RESULT_DECIMALS)  # type: ignore[arg-type]
    except (ArithmeticError, LookupError, TypeError, ValueError, _Invalid):
        return None


def _run_steps(steps: list[str], table: Sequence[Sequence[str]] | None) -> Value:
    results: dict[int, Value] = {}
    result: Value = NO_RESULT
    row: list[float] | None = None  # the row of the latest table step, reused by a table op on #k
    for index, step in enumerate(steps):
        step = step.strip()
        if step.count("(") > 1:
            raise _Invalid
        before, after = step.split("(")  # no "(": ValueError, invalid
        op = before.strip("|").strip()
        fields = after.strip("|").strip().split("|")
        arg1, arg2 = fields[0].strip(), fields[1].strip()  # no second field: IndexError, invalid
        if op in ARITHMETIC:
            a, b = (_operand(arg, results) for arg in (arg1, arg2))
            result = results[index] = ARITHMETIC[op](a, b)  # type: ignore[arg-type]
        elif "table" in op:
            # no table, or an empty row anywhere in it: an error, as officially
            names = {cells[0]: cells[1:] for cells in table}  # type: ignore[union-attr]
            if "#" in arg1:
                _reference(arg1, results)
                if row is None:
                    raise _Invalid
            elif arg1 in names:
                row = [_cell(cell) for cell in names[arg1]]
            else:
                raise _Invalid
            if op in AGGREGATES:
                result = AGGREGATES[op](row)
            results[index] = result
        # any other op (reachable only through a token that is an op name without "(", as in
        # "add(1, 2), add, x(, 3|4)") leaves the result as it was and stores nothing
    return result


def _reference(arg: str, results: dict[int, Value]) -> Value:
    return results[int(arg.replace("#", ""))]  # int("1e0"): ValueError; unknown step: KeyError


def _operand(arg: str, results: dict[int, Value]) -> Value:
    if "#" in arg:
        return _reference(arg, results)
    value = official_number(arg)
    if value is None:
        raise _Invalid
    return value


def _cell(cell: str) -> float:
    value = official_number(cell.replace("$", "").strip().split("(")[0].strip())
    if value is None:
        raise _Invalid
    return value
