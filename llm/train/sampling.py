"""A training step's groups: M samples per prompt (or the gold targets), scored, optionally with dynamic sampling.

* Estimators that train on targets (SFT) get each prompt's gold answer as a one-sample group.
* Otherwise the engine samples M completions per prompt and the verifier scores them: rewards (G, M).
* With ``rollout.dynamic_sampling_rounds`` > 0 (DAPO), groups whose rewards are all equal are replaced by groups
  of fresh prompts from the data order, in up to that many extra rounds (:func:`llm.train.dynamic_sampling.dynamic_sample`).
  Round 0 uses the step's rollout seed, so with no extra round the step is the plain one.

Every generated completion token is counted (``generated_tokens``, including discarded groups): the compute a
run spends, the axis on which runs with and without dynamic sampling compare.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

import torch

from llm.data import Example
from llm.rollout.base import Rollout
from llm.rollout.rationale import LikelihoodSample
from llm.seeding import derive_seed
from llm.train.dynamic_sampling import dynamic_sample
from llm.train.update import target_rollouts

if TYPE_CHECKING:
    from llm.train.run import Run


@dataclass
class StepBatch:
    """This rank's groups of one step."""

    indices: list[int]
    """Training-set indices of the groups' prompts."""
    examples: list[Example]
    groups: list[list[Rollout]]
    rewards: torch.Tensor
    """(G_local, M) float64."""
    generated_tokens: int
    """Completion tokens generated for the step, discarded groups included (0 for gold targets)."""
    score_seconds: float = 0.0
    """Time spent in the verifier (the rest of the call is generation)."""
    metrics: dict[str, float] = field(default_factory=dict)
    """``dynamic/`` composition and token accounting (empty without dynamic sampling)."""
    log_w: torch.Tensor | None = None
    """The likelihood form (:mod:`llm.train.likelihood`): (G_local, M) float64 log p_θ(y* | x, z_m); ``rewards``
    then holds w. None in the reward form."""
    samples: list[list[LikelihoodSample]] | None = None
    """The likelihood form: each group's rationales with the gold answer after them (their masks)."""


def score(reward, examples: list[Example], groups: list[list[Rollout]]) -> torch.Tensor:
    """r(x_g, z_gm) as a (G, M) float64 tensor."""
    return torch.tensor([[reward(x, r.text) for r in group] for x, group in zip(examples, groups)],
                        dtype=torch.float64)


class _Timed:
    """A scorer that adds up the seconds it spends."""

    def __init__(self, reward) -> None:
        self.reward, self.seconds = reward, 0.0

    def __call__(self, examples: list[Example], groups: list[list[Rollout]]) -> torch.Tensor:
        start = time.perf_counter()
        rewards = score(self.reward, examples, groups)
        self.seconds += time.perf_counter() - start
        return rewards


def sample_batch(run: "Run", indices: list[int], seed: int) -> StepBatch:
    """The step's groups for prompts ``indices`` (module docstring), sampled with ``run.generate`` and scored with
    ``run.reward``; ``seed`` is the step's rollout seed, and dynamic sampling takes fresh prompts from
    ``run.order``."""
    config, data, generate = run.config, run.data, run.generate
    scorer = _Timed(run.reward)
    if config.algo.spec.trains_on_targets:
        examples = [data.train[i] for i in indices]
        groups = target_rollouts(run.tokenizer, [data.train_prompts[i] for i in indices], examples)
        return StepBatch(list(indices), examples, groups, scorer(examples, groups), 0, scorer.seconds)

    def round_groups(round_indices: list[int], number: int) -> list[list[Rollout]]:
        round_seed = seed if number == 0 else derive_seed(seed, number)
        return generate([data.train_prompts[i] for i in round_indices], round_seed)

    def round_rewards(round_indices: list[int], groups: list[list[Rollout]]) -> torch.Tensor:
        return scorer([data.train[i] for i in round_indices], groups)

    rounds = config.rollout.dynamic_sampling_rounds
    if rounds == 0:
        groups = round_groups(list(indices), 0)
        tokens = sum(len(r.completion_ids) for group in groups for r in group)
        rewards = round_rewards(list(indices), groups)
        return StepBatch(list(indices), [data.train[i] for i in indices], groups, rewards, tokens, scorer.seconds)
    batch = dynamic_sample(list(indices), run.order.take, round_groups, round_rewards, max_extra_rounds=rounds,
                           fallback=config.rollout.dynamic_sampling_fallback)
    chosen = [int(i) for i in batch.indices]
    return StepBatch(chosen, [data.train[i] for i in chosen], [list(g) for g in batch.groups],
                     torch.as_tensor(batch.rewards, dtype=torch.float64), int(batch.generated_tokens),
                     scorer.seconds, batch.metrics())
