"""The verifier of the synthetic reversal task (:mod:`llm.data.synthetic`): it reads only the answer slot.

A completion of the task is k free tokens then the answer. With ``text`` the decoded completion (EOS dropped;
every other token is one character)::

    prediction = text[k:]            if len(text) = k + L, else none (the completion stopped early)
    r(x, z)    = [prediction = y*]   (exact string match; y* is the example's target, corrupted or not)

so the reward ignores the k latent tokens, and P_θ(x) = Σ_u p_θ(u y* | x) (:mod:`llm.evaluation.exact`).
``vote_key`` is the prediction, so maj@k votes over answer strings.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from llm.data import Example

FORMAT_RULE = "answer_slot"
"""The one extraction rule of this task: the last L characters of a full-length completion."""


@dataclass(frozen=True)
class SyntheticScorer:
    """Exact match of the answer slot; see the module docstring."""

    def score(self, example: "Example", completion: str) -> dict[str, Any]:
        free = int(example.metadata["free_tokens"])
        length = free + len(example.answer)
        if len(completion) != length:
            return {"prediction": "", "format_rule": None, "format_ok": False, "em": 0.0, "f1": 0.0,
                    "correct": False, "vote_key": None}
        prediction = completion[free:]
        correct = prediction == example.answer
        return {"prediction": prediction, "format_rule": FORMAT_RULE, "format_ok": True, "em": float(correct),
                "f1": float(correct), "correct": correct, "vote_key": prediction}

    def reward(self, example: "Example", completion: str) -> float:
        """r(x, z) = 1 if the answer slot holds the target, else 0."""
        return float(self.score(example, completion)["correct"])
