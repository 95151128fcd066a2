"""Per-benchmark scorers: completion text -> prediction, EM, F1, correctness, reward and vote key.

Every scorer has the same two methods (``example`` is an :class:`llm.data.Example`):

* ``score(example, completion) -> dict`` with ``prediction`` (the extracted answer, "" if none),
  ``format_rule`` (the extraction rule that found it, one of :data:`llm.scoring.extract.RULES`, or None),
  ``format_ok`` (an answer was found, and for FinQA read as a number, yes/no or program), ``em``, ``f1``,
  ``correct`` (bool) and ``vote_key``;
* ``reward(example, completion) -> float``: the binary training reward r(x, z) = [correct] ∈ {0, 1}.

``score(...)["vote_key"]`` is the answer class used by maj@k (None: no vote).

HotPotQA: correct = EM against the single gold answer; F1 with the yes/no rule.
MuSiQue: correct = max EM over the answer and its aliases; F1 = max F1 with the empty-token rule.
FinQA: correct = the tolerant match by default, the official strict match with ``strict=True``
(:mod:`llm.scoring.finqa_match`); ``em`` is always the strict match; FinQA answers get no partial
credit, so ``f1`` equals ``correct``.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from llm.data.finqa_program import ProgramError, parse_number
from llm.scoring import finqa_match
from llm.scoring.extract import find_answer
from llm.scoring.normalize import max_over_golds, normalize_answer

if TYPE_CHECKING:
    from llm.data import Example


def _no_answer() -> dict[str, Any]:
    return {"prediction": "", "format_rule": None, "format_ok": False, "em": 0.0, "f1": 0.0, "correct": False,
            "vote_key": None}


class _Scorer:
    """Shared ``reward``; subclasses implement ``score``."""

    def score(self, example: "Example", completion: str) -> dict[str, Any]:
        raise NotImplementedError

    def reward(self, example: "Example", completion: str) -> float:
        """r(x, z) = 1 if the completion's answer is correct, else 0."""
        return float(self.score(example, completion)["correct"])


@dataclass(frozen=True)
class QAScorer(_Scorer):
    """HotPotQA (``use_aliases=False, yes_no_rule=True``) and MuSiQue (``use_aliases=True, empty_rule=True``)."""

    use_aliases: bool
    yes_no_rule: bool = False
    empty_rule: bool = False

    def score(self, example: "Example", completion: str) -> dict[str, Any]:
        found = find_answer(completion)
        if found.answer is None:
            return _no_answer()
        golds = example.gold_answers if self.use_aliases else (example.answer,)
        em, f1 = max_over_golds(found.answer, golds, yes_no_rule=self.yes_no_rule, empty_rule=self.empty_rule)
        return {"prediction": found.answer, "format_rule": found.rule, "format_ok": True, "em": em, "f1": f1,
                "correct": em == 1.0, "vote_key": normalize_answer(found.answer) or None}


@dataclass(frozen=True)
class FinQAScorer(_Scorer):
    """FinQA matching: tolerant by default, the official strict rule with ``strict=True``."""

    strict: bool = False
    rtol: float = finqa_match.RTOL
    atol: float = finqa_match.ATOL

    def score(self, example: "Example", completion: str) -> dict[str, Any]:
        found = find_answer(completion)
        if found.answer is None:
            return _no_answer()
        table = example.metadata.get("table")
        strict_value = finqa_match.read_strict(found.answer, table)
        em = finqa_match.strict_match(strict_value, finqa_gold(example, strict=True))
        if self.strict:
            value, correct = strict_value, em
        else:
            parsed = finqa_match.parse_answer(found.answer, table)
            tolerant = parsed is not None and finqa_match.tolerant_match(
                parsed, finqa_gold(example), self.rtol, self.atol)
            value, correct = (strict_value if parsed is None else parsed.value), em or tolerant
        return {"prediction": found.answer, "format_rule": found.rule, "format_ok": value is not None,
                "em": float(em), "f1": float(correct), "correct": correct,
                "vote_key": finqa_match.vote_key(value, strict=self.strict)}


def finqa_gold(example: "Example", *, strict: bool = False) -> float | str:
    """The gold answer: ``exe_ans`` exactly as stored (``strict``) or read by :func:`finqa_match.gold_value`;
    for a question/answer-only record, its answer string read as a number, or yes/no lower-cased."""
    if "exe_ans" in example.metadata:
        exe_ans = example.metadata["exe_ans"]
        return exe_ans if strict else finqa_match.gold_value(exe_ans)
    answer = example.answer.strip().lower()
    if answer in finqa_match.YES_NO:
        return answer
    value = parse_number(answer.replace("$", ""))
    if value is None:
        raise ProgramError(f"FinQA example {example.id!r}: gold answer {example.answer!r} is not a number or yes/no")
    return value
