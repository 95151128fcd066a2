"""Matching a model's FinQA answer against ``exe_ans``: the strict (official) and the tolerant rule.

The official metric (execution accuracy) runs a predicted *program* and requires its result, rounded
to 5 decimals, to equal ``exe_ans``. A chat model usually answers with a number, so two rules are offered.

**Strict** (the official rule; :func:`read_strict`, :func:`strict_match`). The answer text is read as the
official evaluation reads a value:

1. a number string its parser reads (:func:`llm.scoring.finqa_official.official_number`: ``1,234``,
   ``14.1%``, ``3.4719E-01``, ``const_100``, also ``inf`` and ``nan``), rounded to 5 decimals;
2. otherwise a program, executed exactly as the official ``evaluate.py`` does, quirks included
   (:func:`llm.scoring.finqa_official.evaluate_program`);
3. otherwise the text itself when it is exactly ``yes`` or ``no``.

It is correct when that value equals ``exe_ans`` exactly, as stored: numbers by ``==`` and strings
character for character, so ``Yes`` or ``yes, it did`` is wrong for ``exe_ans = "yes"``. What the
official parser refuses (``$5``, ``5 million``, ``+-2.4``, ``−5``) is not a strict answer at all.

**Tolerant** (the default; a documented DEVIATION from the official metric; :func:`parse_answer`,
:func:`tolerant_match`). Correct when the strict rule says so, or when the answer read tolerantly
matches:

* a yes/no answer: its first word, any case (``Yes, it did``), equals ``exe_ans``;
* a program (text starting ``op(``): executed by the lenient executor (:mod:`llm.data.finqa_program`) and
  held to the round-to-5 rule;
* otherwise the first number in the text: an optional sign (``+``, ``-`` or the unicode minus; a number
  right after another sign, as in ``+-2.4``, is refused), an optional ``$``, digits with optional thousands
  commas and decimals, an optional exponent (``3.471900e-01``, ``1E-06``) and an optional ``%``.
  With w the number as written (without its ``%``) and g = ``exe_ans``, it matches when one of
  c = w, w/100, 100·w satisfies ``|c - g| <= rtol·|g|`` (rtol = 1e-2), or when ``|w - g| <= atol``
  (atol = 5e-6, half the last decimal ``exe_ans`` keeps; this only matters near 0). The factor 100
  accepts percent and fraction forms alike, because FinQA's gold mixes them (``exe_ans`` 0.34719 for
  the human answer "34.7%", while programs ending in ``multiply(#0, const_100)`` store 14.1): "14.1%",
  "14.1" and "0.141" all match 0.141 and 14.1. The 1 % relative tolerance accepts answers rounded as
  people write them ("56%" for 0.56197, "127" for 127.4).

So everything strict accepts, tolerant accepts too.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass
from typing import Sequence

from llm.data.finqa_program import RESULT_DECIMALS, ProgramError, execute_program, format_number
from llm.scoring.finqa_official import evaluate_program, official_number

RTOL = 1e-2
ATOL = 5e-6
YES_NO = ("yes", "no")
_YES_NO = re.compile(r"[^\w]*(yes|no)\b", re.IGNORECASE)  # "yes" or "no" as the first word
_PROGRAM = re.compile(r"^\s*[a-z_]+\(")
# a number not glued to a word, a dot or another sign: sign, optional $, digits, exponent, optional %
_NUMBER = re.compile(r"(?<![\w.+\-−])([-−+]?)\s*\$?\s*((?:\d{1,3}(?:,\d{3})+|\d+)(?:\.\d+)?|\.\d+)"
                     r"([eE][-+]?\d+)?\s*(%?)")

Table = Sequence[Sequence[str]]


@dataclass(frozen=True)
class ParsedAnswer:
    """A FinQA answer read tolerantly: ``value`` is a float (percent already divided by 100) or "yes"/"no".

    ``written`` is the number as written before removing ``%`` (for "14.1%", 14.1); ``kind`` is
    "number", "yes/no" or "program".
    """

    value: float | str
    written: float | str
    kind: str


def read_strict(text: str, table: Table | None = None) -> float | str | None:
    """The official reading of an answer (module docstring, strict rule 1-3), or None if it has none."""
    number = official_number(text)
    if number is not None:
        return round(number, RESULT_DECIMALS)
    result = evaluate_program(text, table)
    if result is not None:
        return result
    return text if text in YES_NO else None


def strict_match(value: float | str | None, gold: float | str) -> bool:
    """The official rule: the strict value equals ``exe_ans`` exactly (``==``; strings character for character)."""
    return value is not None and value == gold


def parse_answer(text: str, table: Table | None = None) -> ParsedAnswer | None:
    """Read a yes/no, a program (executed on ``table``) or the first number in ``text`` (tolerant rule)."""
    yes_no = _YES_NO.match(text)
    if yes_no:
        word = yes_no.group(1).lower()
        return ParsedAnswer(word, word, "yes/no")
    if _PROGRAM.match(text):
        try:
            result = execute_program(text, table)
        except ProgramError:
            return None
        return ParsedAnswer(result, result, "program")
    match = _NUMBER.search(text)
    if match is None:
        return None
    sign, digits, exponent, percent = match.groups()
    written = (-1.0 if sign in ("-", "−") else 1.0) * float(digits.replace(",", "") + (exponent or ""))
    if not math.isfinite(written):
        return None
    return ParsedAnswer(written / 100.0 if percent else written, written, "number")


def gold_value(exe_ans: float | str) -> float | str:
    """``exe_ans`` for the tolerant rule: a float, or "yes"/"no" stripped and lower-cased."""
    return exe_ans.strip().lower() if isinstance(exe_ans, str) else float(exe_ans)


def tolerant_match(answer: ParsedAnswer, gold: float | str, rtol: float = RTOL, atol: float = ATOL) -> bool:
    """The tolerant reading matches (module docstring); the caller also accepts what :func:`strict_match` accepts."""
    if answer.kind != "number" or isinstance(gold, str):
        return answer.value == gold  # yes/no, or a program result (rounded by the executor)
    candidates = (answer.written, answer.written / 100.0, answer.written * 100.0)
    return abs(answer.written - gold) <= atol or any(abs(c - gold) <= rtol * abs(gold) for c in candidates)


def vote_key(value: float | str | None, *, strict: bool = False) -> str | None:
    """Majority-vote key of a value: "yes"/"no" (any string) as is; a number to 4 significant digits
    ("14.1%" and "0.141" agree), or, with ``strict``, written to the 5 decimals the strict rule compares."""
    if value is None or isinstance(value, str):
        return value
    return format_number(value) if strict else f"{value:.4g}"
