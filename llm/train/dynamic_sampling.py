"""Dynamic sampling (DAPO, arXiv 2503.14476): fill the batch with groups whose rewards are not all equal.

A group whose M rewards are all equal (all failures at cold start, all successes once solved) has zero
reward variance and gives GRPO no signal. Dynamic sampling generates more prompts until the batch holds G
groups with non-zero variance, at the price of the tokens generated for the discarded groups:

    round 0:  generate the step's G prompts, score them, keep the informative groups
    round k:  while fewer than G are kept and k <= max_extra_rounds, take ``round_prompts`` fresh prompts
              from the data order (default: as many as are still missing), generate, score, keep
    batch:    the first G informative groups in generation order; when the round bound stops the search
              short, ``fallback`` decides: "fill" adds the earliest zero-variance groups to reach G (they
              carry no GRPO signal but keep the batch size), "partial" trains on the fewer groups found

Every generated completion token is counted, kept or not (``generated_tokens``; ``discarded_tokens`` are
those of groups outside the batch, including informative surplus of a round that found more than were
missing): comparisons with dynamic sampling must be at equal generated tokens, not equal steps.

:class:`DynamicSampler` is the planner (pure: it sees each round's groups and rewards and says how many
fresh prompts to ask for next); :func:`dynamic_sample` drives it with the trainer's callables::

    batch = dynamic_sample(order.take(G), order.take,
                           generate=lambda indices, round: engine.generate(prompts_of(indices), n=M, ...,
                                                                          seed=derive_seed(seed, step, rank, round)),
                           score=lambda indices, groups: [[reward(data.train[i], r.text) for r in g]
                                                          for i, g in zip(indices, groups)],
                           max_extra_rounds=3)
    batch.indices, batch.groups, batch.rewards      # the step's groups (G, or fewer with "partial")
    record.update(batch.metrics())                  # dynamic/... counts and tokens

Each round must draw fresh randomness (the round number is passed to ``generate`` for its seed). In a
multi-process run the ranks' rounds must stay in step (e.g. plan on the gathered groups).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from tsallis._arrays import check_integer

FALLBACKS = ("fill", "partial")


def informative(rewards: Any) -> np.ndarray:
    """Whether each group's rewards differ (non-zero variance): (n, M) -> (n,) bool; M = 1 is never informative."""
    values = np.asarray(rewards, dtype=np.float64)
    return values.max(axis=1) != values.min(axis=1)


def _tokens(group: Sequence[Any]) -> int:
    return sum(len(sample.completion_ids) for sample in group)


@dataclass(frozen=True)
class RoundRecord:
    """One generation round."""

    round: int
    """0 for the step's own prompts, then 1, 2, ..."""
    indices: tuple[int, ...]
    """The prompts generated."""
    informative: tuple[bool, ...]
    """Per prompt, whether its group has non-zero reward variance."""
    kept: int
    """Informative groups of this round that entered the batch."""
    generated_tokens: int
    """Completion tokens generated in this round (every group)."""


@dataclass(frozen=True)
class DynamicBatch:
    """The step's batch and what it cost."""

    indices: list[int]
    """Prompt index of each group: the kept informative groups in generation order, then any fill groups."""
    groups: list[Any]
    """The groups (as ``generate`` returned them), aligned with ``indices``."""
    rewards: np.ndarray
    """(len(indices), M) float64."""
    informative: np.ndarray
    """(len(indices),) bool: False for fill groups."""
    batch_tokens: int
    """Completion tokens of the batch's groups."""
    rounds: tuple[RoundRecord, ...]
    """Every generation round, in order."""
    status: str
    """"full" (G informative groups), "filled" (fewer, topped up with zero-variance groups) or "partial"."""

    @property
    def generated_tokens(self) -> int:
        """Completion tokens generated over all rounds, discarded groups included."""
        return sum(r.generated_tokens for r in self.rounds)

    @property
    def discarded_tokens(self) -> int:
        """Generated tokens of groups outside the batch."""
        return self.generated_tokens - self.batch_tokens

    def metrics(self) -> dict[str, float]:
        """Namespaced step diagnostics (plain floats)."""
        generated = sum(len(r.indices) for r in self.rounds)
        found = sum(sum(r.informative) for r in self.rounds)
        kept = int(self.informative.sum())
        return {
            "dynamic/rounds": float(len(self.rounds)),
            "dynamic/prompts_generated": float(generated),
            "dynamic/groups_informative": float(found),
            "dynamic/groups_kept": float(kept),
            "dynamic/groups_filled": float(len(self.indices) - kept),
            "dynamic/groups_surplus": float(found - kept),
            "dynamic/frac_informative": found / generated,
            "dynamic/generated_tokens": float(self.generated_tokens),
            "dynamic/batch_tokens": float(self.batch_tokens),
            "dynamic/discarded_tokens": float(self.discarded_tokens),
            "dynamic/full": float(self.status == "full"),
        }


def _check_count(name: str, value: Any, minimum: int) -> int:
    check_integer(name, value, minimum)
    return int(value)


class DynamicSampler:
    """The planner of one step: feed it each round with :meth:`observe` until that returns 0, then :meth:`result`.

    Parameters
    ----------
    target : int >= 1
        G, the informative groups wanted (the step's prompts per step).
    max_extra_rounds : int >= 0
        Generation rounds allowed after the first (0: no extra generation, only the fallback).
    round_prompts : int >= 1 or None
        Fresh prompts per extra round; None asks for as many as are still missing (no informative surplus
        is ever generated beyond need, at the cost of more rounds). DAPO generates a fixed batch per round.
    fallback : "fill" or "partial"
        What the batch is when the rounds run out with fewer than G informative groups.
    """

    def __init__(self, target: int, max_extra_rounds: int, round_prompts: int | None = None,
                 fallback: str = "fill") -> None:
        self.target = _check_count("target", target, 1)
        self.max_extra_rounds = _check_count("max_extra_rounds", max_extra_rounds, 0)
        self.round_prompts = None if round_prompts is None else _check_count("round_prompts", round_prompts, 1)
        if fallback not in FALLBACKS:
            raise ValueError(f"fallback must be one of {FALLBACKS}, got fallback={fallback!r}")
        self.fallback = fallback
        self._kept: list[tuple[int, Any, np.ndarray]] = []  # informative (index, group, rewards)
        self._spare: list[tuple[int, Any, np.ndarray]] = []  # zero-variance ones, for "fill"
        self._rounds: list[RoundRecord] = []
        self._num_samples: int | None = None
        self._done = False

    def observe(self, indices: Sequence[int], groups: Sequence[Any], rewards: Any) -> int:
        """Take one round's groups and their (len(indices), M) rewards; return how many fresh prompts to
        generate next, or 0 when the batch is decided."""
        if self._done:
            raise ValueError("the batch is already decided; observe was called after it returned 0")
        values = np.asarray(rewards, dtype=np.float64)
        if values.ndim != 2 or values.shape[0] != len(indices) or len(groups) != len(indices):
            raise ValueError(f"round {len(self._rounds)}: need one group and one reward row per prompt, got "
                             f"{len(indices)} prompts, {len(groups)} groups and rewards of shape {values.shape}")
        if self._num_samples is None:
            self._num_samples = values.shape[1]
        if values.shape[1] != self._num_samples or any(len(g) != self._num_samples for g in groups):
            raise ValueError(f"round {len(self._rounds)}: every group must have M = {self._num_samples} samples")
        if not np.all(np.isfinite(values)):
            raise ValueError(f"round {len(self._rounds)}: rewards must be finite")
        useful = informative(values)
        kept = 0
        for index, group, row, ok in zip(indices, groups, values, useful):
            if not ok:
                self._spare.append((int(index), group, row))
            elif len(self._kept) < self.target:
                self._kept.append((int(index), group, row))
                kept += 1
        self._rounds.append(RoundRecord(len(self._rounds), tuple(int(i) for i in indices),
                                        tuple(bool(u) for u in useful), kept, sum(_tokens(g) for g in groups)))
        missing = self.target - len(self._kept)
        if missing == 0 or len(self._rounds) > self.max_extra_rounds:
            self._done = True
            return 0
        return self.round_prompts if self.round_prompts is not None else missing

    def result(self) -> DynamicBatch:
        """The batch, once :meth:`observe` has returned 0."""
        if not self._done:
            raise ValueError("the batch is not decided yet: observe rounds until it returns 0")
        chosen = list(self._kept)
        if len(chosen) == self.target:
            status = "full"
        elif self.fallback == "fill":
            chosen += self._spare[: self.target - len(chosen)]
            status = "filled"
        else:
            status = "partial"
        rows = [row for _, _, row in chosen]
        return DynamicBatch(
            indices=[i for i, _, _ in chosen],
            groups=[g for _, g, _ in chosen],
            rewards=np.array(rows) if rows else np.zeros((0, self._num_samples)),
            informative=np.array([True] * len(self._kept) + [False] * (len(chosen) - len(self._kept)), dtype=bool),
            batch_tokens=sum(_tokens(g) for _, g, _ in chosen),
            rounds=tuple(self._rounds),
            status=status,
        )


def dynamic_sample(
    first: Sequence[int],
    next_prompts: Callable[[int], Sequence[int]],
    generate: Callable[[list[int], int], Sequence[Any]],
    score: Callable[[list[int], Sequence[Any]], Any],
    *,
    max_extra_rounds: int,
    round_prompts: int | None = None,
    fallback: str = "fill",
) -> DynamicBatch:
    """Run the rounds of one step with :class:`DynamicSampler` (target G = len(first)).

    Parameters
    ----------
    first : the step's G prompt indices (round 0).
    next_prompts : ``next_prompts(n)`` -> n fresh prompt indices (e.g. ``PromptOrder.take``).
    generate : ``generate(indices, round)`` -> one group per index, each a sequence of M samples with
        ``completion_ids`` (e.g. :class:`~llm.rollout.base.Rollout`); ``round`` is for the seed.
    score : ``score(indices, groups)`` -> rewards (len(indices), M).
    max_extra_rounds, round_prompts, fallback : see :class:`DynamicSampler`.
    """
    sampler = DynamicSampler(len(first), max_extra_rounds, round_prompts, fallback)
    indices, number = list(first), 0
    while True:
        groups = generate(indices, number)
        if len(groups) != len(indices):
            raise ValueError(f"generate returned {len(groups)} groups for {len(indices)} prompts in round {number}")
        request = sampler.observe(indices, groups, score(indices, groups))
        if request == 0:
            return sampler.result()
        indices, number = [int(i) for i in next_prompts(request)], number + 1
        if len(indices) != request:
            raise ValueError(f"next_prompts({request}) returned {len(indices)} prompt indices")
