"""A replay buffer of past successful completions per prompt, and the union PAFT resamples from.

The maths is in :mod:`tsallis.replay`: the step's M fresh samples and a prompt's B_g stored successes are
treated as one balance-heuristic sample of q = (M p_θ + n)/N, which needs, per union element, its reward,
its current log p_θ and which elements are the same token sequence. This module holds the buffer and builds
those arrays. One step, in the trainer (G prompts ``indices``, fresh ``groups`` of M rollouts, ``rewards``
(G, M))::

    union = replay_union(buffer, indices, groups, rewards)         # before the update: the buffer is fixed
    stored_logp = [[Σ_t log p_θ(token) of s for s in row] for row in union.stored]   # recomputed this step
    logp = union.log_probs(fresh_logp, stored_logp)                # (G, M + B)
    proposal = tsallis.replay.replay_proposal(union.rewards, logp, union.sequence_ids, M, union.valid)
    weights = compute_weights("paft", union.rewards, EstimatorOptions(q=q, num_resamples=K, generator=g,
                              proposal_logw=proposal.proposal_logw, p_hat=proposal.p_hat))   # (G, M + B)
    ... train on the fresh and the stored sequences (StoredCompletion.as_rollout) with these weights ...
    for index, group, row in zip(indices, groups, rewards):        # after: this step's successes join
        buffer.add(index, group, row)

Buffer semantics
----------------
* Per prompt index, at most ``capacity`` completions whose reward is >= ``threshold``, stored with their
  prompt and completion token ids, text, reward and finish reason.
* No duplicates: a completion whose token ids equal one the prompt stores when the call starts, or an earlier
  one of the same call, is skipped. A completion evicted by an earlier call and seen again counts as new.
* ``fifo`` evicts the oldest. ``reservoir`` keeps a uniform sample of the stream of offers (Vitter's
  Algorithm R): the t-th new success of a prompt replaces slot j, drawn uniformly from [0, t), when
  j < capacity. j comes from ``numpy.random.default_rng(derive_seed(seed, prompt_index, t))``, so the buffer
  carries no random state and a resumed run, or a prompt seen in another order, draws the same slots.
* ``state_dict`` is JSON-safe; ``load_state_dict`` restores the buffer exactly (a resumed run is bitwise
  identical).

In a multi-process run every rank must ``add`` every group (the gathered ones), or the buffers diverge.
"""

from __future__ import annotations

import math
import numbers
from dataclasses import dataclass
from typing import Any, Sequence

import numpy as np
import torch

from llm.rollout.base import Rollout
from llm.seeding import SEED_LIMIT, derive_seed
from tsallis._arrays import check_integer

POLICIES = ("fifo", "reservoir")


@dataclass(frozen=True)
class StoredCompletion:
    """One stored success of a prompt."""

    completion_ids: tuple[int, ...]
    text: str
    reward: float
    finish_reason: str

    def as_rollout(self, prompt_index: int, sample_index: int, prompt_ids: Sequence[int],
                   logprobs: Sequence[float]) -> Rollout:
        """A :class:`~llm.rollout.base.Rollout` of this completion (``logprobs``: one per token, e.g. recomputed)."""
        return Rollout(prompt_index, sample_index, list(prompt_ids), list(self.completion_ids), self.text,
                       list(logprobs), self.finish_reason)


def _check_index(prompt_index: Any) -> int:
    check_integer("prompt_index", prompt_index, 0)
    return int(prompt_index)


class ReplayBuffer:
    """Past successful completions per prompt index (semantics in the module docstring).

    Parameters
    ----------
    capacity : int >= 1
        Completions kept per prompt.
    policy : "fifo" or "reservoir"
        Which completion a full prompt evicts.
    seed : int
        Seed of the reservoir's slot draws (unused by fifo).
    threshold : float in (0, 1]
        A completion is a success, and stored, when its reward is >= threshold (1: binary rewards).
    """

    def __init__(self, capacity: int, policy: str = "fifo", seed: int = 0, threshold: float = 1.0) -> None:
        check_integer("capacity", capacity, 1)
        if policy not in POLICIES:
            raise ValueError(f"policy must be one of {POLICIES}, got policy={policy!r}")
        if isinstance(seed, bool) or not isinstance(seed, numbers.Integral) or not 0 <= seed < SEED_LIMIT:
            raise ValueError(f"seed must be an integer in [0, 2^32 - 1], got seed={seed!r}")
        ok = isinstance(threshold, numbers.Real) and not isinstance(threshold, bool) and 0.0 < threshold <= 1.0
        if not ok:
            raise ValueError(f"threshold must be a number in (0, 1], got threshold={threshold!r}")
        self.capacity, self.policy, self.seed, self.threshold = int(capacity), policy, int(seed), float(threshold)
        self._entries: dict[int, list[StoredCompletion]] = {}
        self._prompt_ids: dict[int, tuple[int, ...]] = {}
        self._offers: dict[int, int] = {}  # new successes offered per prompt (the reservoir's t)

    def stored(self, prompt_index: int) -> tuple[StoredCompletion, ...]:
        """The prompt's stored completions, in slot order (fifo: oldest first)."""
        return tuple(self._entries.get(_check_index(prompt_index), ()))

    def prompt_ids(self, prompt_index: int) -> tuple[int, ...] | None:
        """The prompt's token ids, recorded with its first success (None before)."""
        return self._prompt_ids.get(_check_index(prompt_index))

    def __len__(self) -> int:
        """Stored completions over all prompts."""
        return sum(len(v) for v in self._entries.values())

    def add(self, prompt_index: int, rollouts: Sequence[Any], rewards: Sequence[float] | torch.Tensor) -> int:
        """Offer a group's completions (objects with ``prompt_ids``, ``completion_ids``, ``text``,
        ``finish_reason``, e.g. :class:`~llm.rollout.base.Rollout`) with their rewards; returns how many were stored."""
        index = _check_index(prompt_index)
        values = [float(r) for r in (rewards.tolist() if hasattr(rewards, "tolist") else rewards)]
        if len(values) != len(rollouts):
            raise ValueError(f"need one reward per rollout, got {len(values)} rewards for {len(rollouts)} rollouts")
        for i, r in enumerate(values):
            if not (math.isfinite(r) and 0.0 <= r <= 1.0):
                raise ValueError(f"rewards must lie in [0, 1], got rewards[{i}]={r!r}")
        entries = self._entries.setdefault(index, [])
        seen = {e.completion_ids for e in entries}  # stored when the call starts, or offered earlier in it
        added = 0
        for rollout, reward in zip(rollouts, values):
            if reward < self.threshold:
                continue
            self._check_prompt(index, rollout.prompt_ids)
            completion = tuple(int(t) for t in rollout.completion_ids)
            if completion in seen:
                continue
            seen.add(completion)
            entry = StoredCompletion(completion, rollout.text, reward, rollout.finish_reason)
            offers = self._offers.get(index, 0) + 1
            self._offers[index] = offers
            if len(entries) < self.capacity:
                entries.append(entry)
            elif self.policy == "fifo":
                entries.pop(0)
                entries.append(entry)
            else:
                slot = int(np.random.default_rng(derive_seed(self.seed, index, offers)).integers(offers))
                if slot >= self.capacity:
                    continue
                entries[slot] = entry
            added += 1
        if not entries:
            del self._entries[index]
        return added

    def _check_prompt(self, index: int, prompt_ids: Sequence[int]) -> None:
        ids = tuple(int(t) for t in prompt_ids)
        known = self._prompt_ids.setdefault(index, ids)
        if known != ids:
            raise ValueError(f"prompt {index} was stored with other prompt token ids ({len(known)} tokens, now "
                             f"{len(ids)}): a prompt index must always name the same prompt")

    def state_dict(self) -> dict[str, Any]:
        """Settings and contents, JSON-safe (ints, floats, strings, lists)."""
        prompts = [
            [index, list(self._prompt_ids[index]), self._offers.get(index, 0),
             [[list(e.completion_ids), e.text, e.reward, e.finish_reason] for e in self._entries.get(index, [])]]
            for index in sorted(self._prompt_ids)
        ]
        return {"capacity": self.capacity, "policy": self.policy, "seed": self.seed, "threshold": self.threshold,
                "prompts": prompts}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        """Restore a buffer saved by :meth:`state_dict`; its settings must equal this buffer's."""
        mine = {"capacity": self.capacity, "policy": self.policy, "seed": self.seed, "threshold": self.threshold}
        differ = {k: state.get(k) for k, v in mine.items() if state.get(k) != v}
        if differ:
            raise ValueError(f"replay buffer state has other settings {differ}, this buffer has {mine}")
        entries, prompt_ids, offers = {}, {}, {}
        for index, ids, count, stored in state["prompts"]:
            if len(stored) > self.capacity:
                raise ValueError(f"prompt {index} holds {len(stored)} completions, more than capacity {self.capacity}")
            prompt_ids[int(index)] = tuple(int(t) for t in ids)
            offers[int(index)] = int(count)
            if stored:
                entries[int(index)] = [StoredCompletion(tuple(int(t) for t in c), str(text), float(r), str(reason))
                                       for c, text, r, reason in stored]
        self._entries, self._prompt_ids, self._offers = entries, prompt_ids, offers


@dataclass(frozen=True)
class ReplayUnion:
    """The step's fresh groups followed by each prompt's stored completions, padded to B = max_g B_g slots."""

    rewards: torch.Tensor
    """(G, M + B) float64: fresh rewards, then the stored rewards, 0 in empty slots."""
    sequence_ids: torch.Tensor
    """(G, M + B) int64: equal within a row exactly when the completion token ids are equal."""
    valid: torch.Tensor
    """(G, M + B) bool: False in the empty slots of prompts with fewer than B stored completions."""
    stored: list[tuple[StoredCompletion, ...]]
    """Per group, the stored completions in columns M, M+1, ..."""
    num_fresh: int
    """M, the fresh columns."""

    def log_probs(self, fresh: torch.Tensor, stored: Sequence[Sequence[float]]) -> torch.Tensor:
        """log p_θ of every element, (G, M + B) float64, 0 in empty slots.

        ``fresh`` (G, M) are the fresh samples' log-probabilities, ``stored[g][b]`` the recomputed ones of
        ``self.stored[g][b]``. A fresh sample equal to a stored completion takes the stored (recomputed) value,
        so equal sequences get equal probabilities, as the mixture proposal requires.
        """
        m = self.num_fresh
        if tuple(fresh.shape) != (len(self.stored), m):
            raise ValueError(f"fresh must have shape {(len(self.stored), m)}, got {tuple(fresh.shape)}")
        logp = torch.zeros(self.rewards.shape, dtype=torch.float64)
        logp[:, :m] = fresh.detach().to(device="cpu", dtype=torch.float64)
        for g, (entries, values) in enumerate(zip(self.stored, stored)):
            if len(values) != len(entries):
                raise ValueError(f"stored[{g}] has {len(values)} log-probabilities for {len(entries)} completions")
            for b, value in enumerate(values):
                logp[g, m + b] = float(value)
                logp[g, :m][self.sequence_ids[g, :m] == self.sequence_ids[g, m + b]] = float(value)
        return logp


def replay_union(buffer: ReplayBuffer, indices: Sequence[int], groups: Sequence[Sequence[Any]],
                 rewards: torch.Tensor) -> ReplayUnion:
    """The arrays of :func:`tsallis.replay.replay_proposal` for the step's groups and the buffer's contents.

    ``groups[g]`` are prompt ``indices[g]``'s M fresh completions (objects with ``completion_ids``) and
    ``rewards`` (G, M) their rewards. Sequence ids number a row's distinct completion token sequences in order of
    first appearance, fresh first. With every buffer empty the union is the fresh groups (B = 0).
    """
    rewards = torch.as_tensor(rewards, dtype=torch.float64).cpu()
    if rewards.ndim != 2 or rewards.shape[0] != len(indices) or len(groups) != len(indices):
        raise ValueError(f"need G groups, G indices and (G, M) rewards, got {len(groups)} groups, {len(indices)} "
                         f"indices and rewards of shape {tuple(rewards.shape)}")
    m = rewards.shape[1]
    stored = [buffer.stored(i) for i in indices]
    width = m + max((len(s) for s in stored), default=0)
    union_rewards = torch.zeros((len(indices), width), dtype=torch.float64)
    ids = torch.zeros((len(indices), width), dtype=torch.int64)
    valid = torch.zeros((len(indices), width), dtype=torch.bool)
    for g, (group, entries) in enumerate(zip(groups, stored)):
        if len(group) != m:
            raise ValueError(f"groups[{g}] has {len(group)} completions, rewards have M = {m}")
        numbering: dict[tuple[int, ...], int] = {}
        sequences = [tuple(int(t) for t in r.completion_ids) for r in group] + [e.completion_ids for e in entries]
        row = [numbering.setdefault(s, len(numbering)) for s in sequences]
        ids[g, : len(row)] = torch.tensor(row, dtype=torch.int64)
        valid[g, : len(row)] = True
        union_rewards[g, :m] = rewards[g]
        union_rewards[g, m : len(row)] = torch.tensor([e.reward for e in entries], dtype=torch.float64)
    return ReplayUnion(union_rewards, ids, valid, stored, m)


@dataclass
class ReplayBatch:
    """A step's training sequences with a replay buffer: the fresh rollouts then each prompt's stored ones."""

    rewards: torch.Tensor
    """(G, M + B) float64: the union's rewards (0 in empty slots)."""
    valid: torch.Tensor
    """(G, M + B) bool: the slots that hold a sequence."""
    rollouts: list[Rollout]
    """The valid slots' sequences in row-major order (a row's fresh rollouts, then its stored ones, with their
    token log-probs recomputed under the current policy)."""
    options: dict[str, Any]
    """``proposal_logw`` (G, M + B) and ``p_hat`` (G, 1) for PAFT (:func:`tsallis.replay.replay_proposal`)."""
    stored_count: int
    """Stored sequences in the batch."""


@torch.no_grad()
def replay_batch(buffer: ReplayBuffer, batch, model, pad_id: int, temperature: float,
                 micro_batch_size: int) -> ReplayBatch:
    """The union of the step's fresh groups (``batch``, a :class:`~llm.train.sampling.StepBatch`: its prompt
    indices, groups and rewards) and the buffer (module docstring), ready for the estimator.

    The stored completions' token log-probs are recomputed with ``model`` at ``temperature`` (the policy that
    samples now, as the proposal needs), in micro-batches; the fresh ones are the engine's recorded log-probs.
    """
    from llm.train.batch import collate, token_logprobs
    from tsallis.replay import replay_proposal

    groups = batch.groups
    union = replay_union(buffer, batch.indices, groups, batch.rewards)
    entries = [(g, b, e) for g, row in enumerate(union.stored) for b, e in enumerate(row)]
    token_lps: list[list[float]] = []
    for start in range(0, len(entries), micro_batch_size):
        chunk = entries[start : start + micro_batch_size]
        padded = collate([groups[g][0].prompt_ids for g, _, _ in chunk], [e.completion_ids for _, _, e in chunk],
                         pad_id).to(model.device)
        logprobs = token_logprobs(model, padded, temperature)[0].float().cpu()  # (B, C)
        token_lps += [logprobs[i, : len(e.completion_ids)].tolist() for i, (_, _, e) in enumerate(chunk)]
    stored = [[] for _ in union.stored]
    for (g, b, e), lps in zip(entries, token_lps):
        stored[g].append(e.as_rollout(g, union.num_fresh + b, groups[g][0].prompt_ids, lps))
    fresh_logp = torch.tensor([[math.fsum(r.logprobs) for r in group] for group in groups], dtype=torch.float64)
    logp = union.log_probs(fresh_logp, [[math.fsum(r.logprobs) for r in row] for row in stored])
    proposal = replay_proposal(union.rewards, logp, union.sequence_ids, union.num_fresh, union.valid)
    rollouts = [r for group, row in zip(groups, stored) for r in (*group, *row)]
    return ReplayBatch(union.rewards, union.valid, rollouts,
                       {"proposal_logw": proposal.proposal_logw, "p_hat": proposal.p_hat}, len(entries))


@dataclass
class TrainingSet:
    """The sequences one step trains on, with their rewards and the estimator's per-batch inputs."""

    rollouts: list[Rollout]
    """Row-major: each group's sequences."""
    rewards: torch.Tensor
    """(G, W) rewards of the W slots of each group."""
    options: dict[str, Any] | None = None
    """Per-batch estimator inputs (a replay union's ``proposal_logw`` and ``p_hat``), or None."""
    valid: torch.Tensor | None = None
    """(G, W) bool: the slots that hold a sequence, or None when all do."""


class FreshSamples:
    """No replay (the default): a step trains on its fresh samples only, and nothing is kept between steps."""

    def training_set(self, batch, policy) -> TrainingSet:
        return TrainingSet([r for group in batch.groups for r in group], batch.rewards)

    def add(self, batch) -> None:
        """Nothing is stored."""

    def metrics(self) -> dict[str, float]:
        return {}

    def state_dict(self) -> None:
        return None

    def load_state_dict(self, state: Any) -> None:
        """Nothing to restore."""


class BufferedReplay:
    """PAFT with a replay buffer (``algo.replay_capacity``): a step trains on the union of its fresh samples and
    each prompt's stored successes (:func:`replay_batch`); after the update its successes join the buffer."""

    def __init__(self, buffer: ReplayBuffer, pad_id: int, temperature: float, micro_batch_size: int) -> None:
        self.buffer, self.pad_id = buffer, pad_id
        self.temperature, self.micro_batch_size = temperature, micro_batch_size
        self.stored_trained = 0

    def training_set(self, batch, policy) -> TrainingSet:
        union = replay_batch(self.buffer, batch, policy, self.pad_id, self.temperature, self.micro_batch_size)
        self.stored_trained = union.stored_count
        return TrainingSet(union.rollouts, union.rewards, union.options, union.valid)

    def add(self, batch) -> None:
        for index, group, row in zip(batch.indices, batch.groups, batch.rewards):
            self.buffer.add(index, group, row)

    def metrics(self) -> dict[str, float]:
        return {"replay/stored_trained": self.stored_trained, "replay/buffer_size": len(self.buffer)}

    def state_dict(self) -> dict[str, Any]:
        return self.buffer.state_dict()

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self.buffer.load_state_dict(state)


def replay_source(config, pad_id: int) -> FreshSamples | BufferedReplay:
    """:class:`BufferedReplay` when ``algo.replay_capacity`` is set, else :class:`FreshSamples`."""
    if not config.algo.replay_capacity:
        return FreshSamples()
    buffer = ReplayBuffer(config.algo.replay_capacity, config.algo.replay_policy, config.seed)
    return BufferedReplay(buffer, pad_id, config.rollout.temperature, config.optim.micro_batch_size)
