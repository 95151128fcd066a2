"""Matching a model's FinQA answer against ``exe_ans``.

The official metric (execution accuracy) runs a predicted *program* and requires
``round(result, 5) == exe_ans``. A chat model usually answers with a number, so two rules are offered:

* ``strict`` (official): the answer's value v (a trailing ``%`` divides by 100; ``$`` and commas are
  dropped) must satisfy ``round(v, 5) == exe_ans``; a "yes"/"no" answer must equal it.
* ``tolerant`` (default; a documented DEVIATION from the official metric for number answers): v matches
  gold g when, with w the number as written (without its ``%``), one of c = w, w/100, 100·w satisfies
  ``|c - g| <= rtol·|g|`` (rtol = 1e-2), or when ``|w - g| <= atol`` (atol = 5e-6, half the last decimal ``exe_ans`` keeps; this only matters near 0).
  The factor 100 accepts percent and fraction forms alike, because FinQA's gold mixes them
  (``exe_ans`` 0.34719 for the human answer "34.7%", while programs ending in ``multiply(#0, const_100)``
  store 14.1): "14.1%", "14.1" and "0.141" all match 0.141 and 14.1. The 1 % relative tolerance accepts
  answers rounded as people write them ("56%" for 0.56197, "127" for 127.4).

Under both rules an answer written as a program (``divide(114400, 329500)``) is executed on the record's
table (:func:`llm.scoring.finqa_program.execute_program`) and judged by the official round-to-5 rule.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from llm.finqa_program import RESULT_DECIMALS, ProgramError, execute_program, parse_number

RTOL = 1e-2
ATOL = 5e-6
_YES_NO = re.compile(r"[^\w]*(yes|no)\b", re.IGNORECASE)  # "yes" or "no" as the first word
_PROGRAM = re.compile(r"^\s*[a-z_]+\(")
# a number: optional sign, optional $, digits with thousands commas or a decimal point, optional %
_NUMBER = re.compile(r"(?<![\w.])([-−]?)\s*\$?\s*((?:\d{1,3}(?:,\d{3})+|\d+)(?:\.\d+)?|\.\d+)\s*(%?)")


@dataclass(frozen=True)
class ParsedAnswer:
    """A FinQA answer: ``value`` is a float (percent already divided by 100) or "yes"/"no".

    ``written`` is the number as written before removing ``%`` (for "14.1%", 14.1); ``kind`` is
    "number", "yes/no" or "program".
    """

    value: float | str
    written: float | str
    kind: str


def parse_answer(text: str, table: list[list[str]] | None = None) -> ParsedAnswer | None:
    """Read a yes/no, a program (executed on ``table``) or the first number in ``text``; None if none."""
    yes_no = _YES_NO.match(text)
    if yes_no:
        word = yes_no.group(1).lower()
        return ParsedAnswer(word, word, "yes/no")
    if _PROGRAM.match(text):
        try:
            result = execute_program(text.strip(), table)
        except ProgramError:
            return None
        return ParsedAnswer(result, result, "program")
    match = _NUMBER.search(text)
    if match is None:
        return None
    sign, digits, percent = match.groups()
    written = (-1.0 if sign else 1.0) * float(digits.replace(",", ""))
    value = parse_number(f"{written}{percent}")
    if value is None:
        return None
    return ParsedAnswer(value, written, "number")


def gold_value(exe_ans: float | str) -> float | str:
    """``exe_ans`` as stored: a float, or "yes"/"no"."""
    return exe_ans.strip().lower() if isinstance(exe_ans, str) else float(exe_ans)


def strict_match(answer: ParsedAnswer, gold: float | str) -> bool:
    """The official rule: round(value, 5) == exe_ans (strings compared exactly)."""
    if isinstance(answer.value, str) or isinstance(gold, str):
        return answer.value == gold
    return round(answer.value, RESULT_DECIMALS) == gold


def tolerant_match(answer: ParsedAnswer, gold: float | str, rtol: float = RTOL, atol: float = ATOL) -> bool:
    """The deviation for number answers: some c in {w, w/100, 100 w} with |c - g| <= rtol |g|, or |w - g| <= atol."""
    if answer.kind != "number" or isinstance(gold, str):
        return strict_match(answer, gold)
    candidates = (answer.written, answer.written / 100.0, answer.written * 100.0)
    return abs(answer.written - gold) <= atol or any(abs(c - gold) <= rtol * abs(gold) for c in candidates)


def vote_key(answer: ParsedAnswer | None) -> str | None:
    """Majority-vote key: "yes"/"no", or the value to 4 significant digits ("14.1%" and "0.141" agree)."""
    if answer is None:
        return None
    return answer.value if isinstance(answer.value, str) else f"{answer.value:.4g}"
