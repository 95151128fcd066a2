"""Per-benchmark scorers: completion text -> prediction, EM, F1, correctness, reward and vote key.

Every scorer has the same two methods (``example`` is an :class:`llm.data.Example`):

* ``score(example, completion) -> dict`` with ``prediction`` (the extracted answer, "" if none),
  ``format_ok`` (an answer was found), ``em``, ``f1``, ``correct`` (bool) and ``vote_key``;
* ``reward(example, completion) -> float``: the binary training reward r(x, z) = [correct] ∈ {0, 1}.

``score(...)["vote_key"]`` is the answer class used by maj@k (None: no vote).

HotPotQA: correct = EM against the single gold answer; F1 with the yes/no rule.
MuSiQue: correct = max EM over the answer and its aliases; F1 = max F1 with the empty-token rule.
FinQA: correct = numeric match (``tolerant`` by default, ``strict`` = official round-to-5); ``em`` is
the strict match; FinQA answers get no partial credit, so ``f1`` equals ``correct``.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from llm.scoring import finqa_match
from llm.scoring.extract import extract_answer
from llm.finqa_program import ProgramError, parse_number
from llm.scoring.normalize import max_over_golds, normalize_answer

if TYPE_CHECKING:
    from llm.data import Example


def _no_answer() -> dict[str, Any]:
    return {"prediction": "", "format_ok": False, "em": 0.0, "f1": 0.0, "correct": False, "vote_key": None}


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
        prediction = extract_answer(completion)
        if prediction is None:
            return _no_answer()
        golds = example.gold_answers if self.use_aliases else (example.answer,)
        em, f1 = max_over_golds(prediction, golds, yes_no_rule=self.yes_no_rule, empty_rule=self.empty_rule)
        key = normalize_answer(prediction)
        return {"prediction": prediction, "format_ok": True, "em": em, "f1": f1, "correct": em == 1.0,
                "vote_key": key or None}


@dataclass(frozen=True)
class FinQAScorer(_Scorer):
    """FinQA numeric matching; ``strict=True`` applies the official round-to-5 equality to every answer."""

    strict: bool = False
    rtol: float = finqa_match.RTOL
    atol: float = finqa_match.ATOL

    def score(self, example: "Example", completion: str) -> dict[str, Any]:
        prediction = extract_answer(completion)
        if prediction is None:
            return _no_answer()
        parsed = finqa_match.parse_answer(prediction, example.metadata.get("table"))
        if parsed is None:
            return {**_no_answer(), "prediction": prediction}
        gold = finqa_gold(example)
        strict = finqa_match.strict_match(parsed, gold)
        correct = strict if self.strict else finqa_match.tolerant_match(parsed, gold, self.rtol, self.atol)
        return {"prediction": prediction, "format_ok": True, "em": float(strict), "f1": float(correct),
                "correct": correct, "vote_key": finqa_match.vote_key(parsed)}


def finqa_gold(example: "Example") -> float | str:
    """``exe_ans`` from the official record, or the answer string of a question/answer-only record."""
    if "exe_ans" in example.metadata:
        return finqa_match.gold_value(example.metadata["exe_ans"])
    answer = example.answer.strip().lower()
    if answer in ("yes", "no"):
        return answer
    value = parse_number(answer.replace("$", ""))
    if value is None:
        raise ProgramError(f"FinQA example {example.id!r}: gold answer {example.answer!r} is not a number or yes/no")
    return value
