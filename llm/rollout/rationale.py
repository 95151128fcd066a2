"""Rationale-then-gold-answer samples: what the paper's estimators read from a rollout (Sections 6 and 7.1).

The policy samples a rationale z after the prompt x until an end-of-rationale marker (Qwen3's ``</think>``, any
string) or, for a task whose rationale has a fixed length, for exactly ``budget`` tokens. The gold answer y*
(with its terminator, e.g. EOS) is then teacher-forced after [x, z], which gives the likelihood weight::

    log w = log p_θ(y* | x, z) = Σ_{t in y*} log softmax(logits_t)[y*_t]

(at temperature 1: w is the model's own probability of the gold answer, whatever the sampling temperature).

Budget forcing (the paper forces ``</think>`` once the thinking budget is spent, after Muennighoff et al.): a
rationale that reaches the budget, or ends with EOS, without its marker is closed by appending the marker's
tokens. Forced tokens were not sampled, so they carry no score-function term and are not part of y*: they
condition the answer and nothing else (``forced`` counts them). A sampled EOS stays in the rationale, with its
score term. A rationale that produced its marker keeps
it as sampled tokens (the token that completed the marker string included, as the engines cut stop strings).

A :class:`LikelihoodSample` lays out one sample as the trainer's completion ``rationale + answer`` with two
masks: ``rationale_mask`` on the sampled rationale tokens (score term, coefficient ``score``) and
``answer_mask`` on y* (pathwise term, coefficient ``answer`` of :func:`tsallis.compute_likelihood_weights`).
"""

from __future__ import annotations

from dataclasses import dataclass, replace

from llm.rollout.base import Rollout, SamplingConfig


@dataclass(frozen=True)
class RationaleFormat:
    """How a rationale ends: at the marker ``end`` (budget-forced after ``budget`` tokens), or after exactly
    ``budget`` tokens when ``end`` is None."""

    budget: int
    """Most rationale tokens sampled; the paper's FinQA budget is 4096 - 128 (128 left for the answer)."""
    end: str | None = None
    """End-of-rationale marker, e.g. ``"</think>"``; None: a fixed-length rationale of ``budget`` tokens."""

    def __post_init__(self) -> None:
        if isinstance(self.budget, bool) or not isinstance(self.budget, int) or self.budget < 1:
            raise ValueError(f"RationaleFormat.budget must be an integer >= 1, got budget={self.budget!r}")
        if self.end is not None and (not isinstance(self.end, str) or not self.end):
            raise ValueError(f"RationaleFormat.end must be a non-empty string or None, got end={self.end!r}")

    def sampling(self, base: SamplingConfig) -> SamplingConfig:
        """``base`` sampling settings for the rationale: at most ``budget`` tokens, stopping at the marker."""
        return replace(base, max_new_tokens=self.budget, stop=(self.end,) if self.end is not None else ())


@dataclass(frozen=True)
class LikelihoodSample:
    """One rationale z of prompt x with the gold answer y* after it (module docstring)."""

    prompt_index: int
    sample_index: int
    prompt_ids: list[int]
    rationale_ids: list[int]
    """z as the model conditions on it: sampled tokens, then ``forced`` marker tokens."""
    rationale_logprobs: list[float]
    """The rollout's log-probs of the sampled rationale tokens (``len(rationale_ids) - forced`` entries)."""
    forced: int
    """How many marker tokens budget forcing appended at the end of ``rationale_ids``."""
    answer_ids: list[int]
    """y* with its terminator, teacher-forced after the rationale."""

    def __post_init__(self) -> None:
        sampled = len(self.rationale_ids) - self.forced
        if self.forced < 0 or sampled < 0 or len(self.rationale_logprobs) != sampled:
            raise ValueError(f"LikelihoodSample (prompt {self.prompt_index}, sample {self.sample_index}): "
                             f"{len(self.rationale_logprobs)} log-probs for {sampled} sampled rationale tokens")
        if not self.answer_ids:
            raise ValueError(f"LikelihoodSample (prompt {self.prompt_index}): the gold answer has no tokens")

    @property
    def completion_ids(self) -> list[int]:
        """The trainer's completion: rationale (sampled and forced) then gold answer."""
        return self.rationale_ids + self.answer_ids

    @property
    def rationale_mask(self) -> list[float]:
        """1 on the sampled rationale tokens (the score-function term), 0 on forced and answer tokens."""
        sampled = len(self.rationale_ids) - self.forced
        return [1.0] * sampled + [0.0] * (self.forced + len(self.answer_ids))

    @property
    def answer_mask(self) -> list[float]:
        """1 on the gold-answer tokens (the pathwise term), 0 on the rationale."""
        return [0.0] * len(self.rationale_ids) + [1.0] * len(self.answer_ids)


def close_rationale(rollout: Rollout, fmt: RationaleFormat, marker_ids: list[int], answer_ids: list[int]
                    ) -> LikelihoodSample:
    """The rationale of ``rollout`` closed as ``fmt`` says, followed by ``answer_ids``.

    * A marker format and a rollout that stopped at the marker: z is the rollout as sampled.
    * A marker format and a rollout that hit the budget or EOS: the marker's tokens ``marker_ids`` are appended
      (budget forcing).
    * A fixed-length format: z is the rollout's first ``budget`` tokens (fewer if the model ended early).

    Every sampled token stays in z, an EOS included: it was drawn from p(z | x), so its score term belongs to
    the estimator (dropping it would miss p(EOS) (w(z) − P) ∇log p(EOS | x) in E[ĝ]).
    """
    ids, logprobs = list(rollout.completion_ids), list(rollout.logprobs)
    forced: list[int] = []
    if fmt.end is None:
        ids, logprobs = ids[: fmt.budget], logprobs[: fmt.budget]
    elif rollout.finish_reason != "stop":
        if not marker_ids:
            raise ValueError(f"close_rationale: the marker {fmt.end!r} tokenizes to no tokens")
        forced = list(marker_ids)
    return LikelihoodSample(rollout.prompt_index, rollout.sample_index, list(rollout.prompt_ids), ids + forced,
                            logprobs, len(forced), list(answer_ids))
