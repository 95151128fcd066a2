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

import dataclasses
import functools
from typing import TYPE_CHECKING, Any

from llm.data.benchmarks import BENCHMARKS, benchmark_spec
from llm.data.finqa_program import ProgramError, execute_program
from llm.scoring.extract import RULES, Extraction, extract_answer, find_answer
from llm.scoring.normalize import exact_match, normalize_answer, token_f1
from llm.scoring.scorers import FinQAScorer, QAScorer
from llm.scoring.synthetic import SyntheticScorer

if TYPE_CHECKING:
    from llm.data import Example

SCORING_RULES: dict[str, type] = {"finqa": FinQAScorer, "qa": QAScorer, "answer_slot": SyntheticScorer}
"""The verifiers a benchmark's registration names (``Benchmark.scoring_rule``); a rule with a ``strict`` field
has an official strict mode besides its tolerant default."""


def get_scorer(benchmark: str, *, strict: bool = False) -> QAScorer | FinQAScorer | SyntheticScorer:
    """The scorer of a registered benchmark: tolerant (default) or the official rule (``strict=True``).

    Only FinQA has two rules (:mod:`llm.scoring.finqa_match`); the other benchmarks are scored by their
    official rule in both modes (the same scorer object).
    """
    rule = SCORING_RULES[benchmark_spec(benchmark).scoring_rule]
    return _scorer(benchmark, strict and "strict" in {f.name for f in dataclasses.fields(rule)})


@functools.lru_cache(maxsize=None)
def _scorer(benchmark: str, strict: bool) -> QAScorer | FinQAScorer | SyntheticScorer:
    spec = benchmark_spec(benchmark)
    return SCORING_RULES[spec.scoring_rule](**spec.scoring_options, **({"strict": True} if strict else {}))


SCORERS = {name: get_scorer(name) for name in BENCHMARKS}
"""The default (tolerant) scorer of every registered benchmark."""


def score(example: "Example", completion: str) -> dict[str, Any]:
    """``get_scorer(example.benchmark).score(example, completion)``."""
    return get_scorer(example.benchmark).score(example, completion)


def reward(example: "Example", completion: str) -> float:
    """The binary reward r(x, z) ∈ {0, 1} with the default scorer of ``example.benchmark``."""
    return get_scorer(example.benchmark).reward(example, completion)


__all__ = ["RULES", "SCORERS", "SCORING_RULES", "Extraction", "FinQAScorer", "ProgramError", "QAScorer",
           "exact_match", "execute_program", "extract_answer", "find_answer", "get_scorer", "normalize_answer",
           "reward", "score", "token_f1"]
