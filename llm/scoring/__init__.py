"""Verifiers and metrics for single completions: answer extraction, EM/F1, FinQA execution.

Public API (stable; the trainer and ``tsallis eval`` use it)::

    from llm.scoring import get_scorer, reward, score
    scorer = get_scorer("finqa")             # or "hotpotqa", "musique"; get_scorer("finqa", strict=True)
    r = scorer.reward(example, completion)   # binary training reward r(x, z) in {0.0, 1.0}
    d = scorer.score(example, completion)    # {"prediction", "format_rule", "format_ok", "em", "f1", "correct",
                                             #  "vote_key"}
    r = reward(example, completion)          # same, with the default scorer of example.benchmark
    find_answer(completion)                  # Extraction(answer="Paris", rule="answer_line")

Rules (see each module's docstring for the formulas):

* :mod:`llm.scoring.normalize`: SQuAD normalisation, EM, token F1 (HotPotQA yes/no rule, MuSiQue
  empty-token rule and max over aliases).
* :mod:`llm.scoring.extract`: the final answer and the rule that found it (answer tag, answer line,
  ``####``, ``\\boxed{}``, "the answer is"), with a documented precedence.
* :mod:`llm.data.finqa_program` (shared with :mod:`llm.data`): FinQA's program language, read leniently.
* :mod:`llm.scoring.finqa_official`: FinQA's official program evaluation, quirks included.
* :mod:`llm.scoring.finqa_match`: strict (official) and tolerant (documented deviation) FinQA matching.
* :mod:`llm.scoring.scorers`: one scorer per benchmark.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from llm.data.finqa_program import ProgramError, execute_program
from llm.scoring.extract import RULES, Extraction, extract_answer, find_answer
from llm.scoring.normalize import exact_match, normalize_answer, token_f1
from llm.scoring.scorers import FinQAScorer, QAScorer
from llm.scoring.synthetic import SyntheticScorer

if TYPE_CHECKING:
    from llm.data import Example

SCORERS: dict[str, QAScorer | FinQAScorer | SyntheticScorer] = {
    "finqa": FinQAScorer(),
    "hotpotqa": QAScorer(use_aliases=False, yes_no_rule=True),
    "musique": QAScorer(use_aliases=True, empty_rule=True),
    "synthetic": SyntheticScorer(),
}


STRICT_SCORERS: dict[str, QAScorer | FinQAScorer | SyntheticScorer] = {**SCORERS, "finqa": FinQAScorer(strict=True)}


def get_scorer(benchmark: str, *, strict: bool = False) -> QAScorer | FinQAScorer:
    """The scorer of a benchmark: tolerant (default) or the official rule (``strict=True``).

    Only FinQA has two rules (:mod:`llm.scoring.finqa_match`); HotPotQA and MuSiQue are scored by their
    official EM in both modes.
    """
    if benchmark not in SCORERS:
        raise ValueError(f"unknown benchmark {benchmark!r}; choose one of {', '.join(SCORERS)}")
    return (STRICT_SCORERS if strict else SCORERS)[benchmark]


def score(example: "Example", completion: str) -> dict[str, Any]:
    """``get_scorer(example.benchmark).score(example, completion)``."""
    return get_scorer(example.benchmark).score(example, completion)


def reward(example: "Example", completion: str) -> float:
    """The binary reward r(x, z) ∈ {0, 1} with the default scorer of ``example.benchmark``."""
    return get_scorer(example.benchmark).reward(example, completion)


__all__ = ["RULES", "SCORERS", "STRICT_SCORERS", "Extraction", "FinQAScorer", "ProgramError", "QAScorer",
           "exact_match", "execute_program", "extract_answer", "find_answer", "get_scorer", "normalize_answer",
           "reward", "score", "token_f1"]
