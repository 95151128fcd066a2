"""Padded training batches of (prompt, completion) pairs and their token log-probs under the policy.

Layout (as TRL's): prompts left-padded to width P, completions right-padded to width C, so that every
completion starts at column P::

    input_ids      (B, P + C)  [pad pad p p p | c c c pad]
    position_ids   (B, P + C)  cumsum(attention_mask) - 1: positions of real tokens match an unpadded pass

The M samples of a prompt share it, so a batch keeps each distinct prompt once: ``prompt_ids`` (U, P) with
U ≤ B, and ``prompt_index`` (B,) naming each row's prompt. :func:`token_logprobs` then runs two forward passes
instead of one over (B, P + C)::

    prompt pass      (U, P)       keys/values of every prompt once, and the logits at its last position
                                  (they predict completion token 0)
    completion pass  (B, C - 1)   completion tokens 0..C-2 attending to their prompt's keys/values
                                  (selected per row), whose logits predict completion tokens 1..C-1

Gradients flow through the selected keys/values into the prompt pass, summed over the rows that share a
prompt. The result is the same function as one pass over the full rows; only the floating-point order
differs (a few float32 ulps, measured in ``docs/performance.md``). The work drops from B (P + C) positions to
U P + B (C - 1), which for M samples of one prompt is nearly M times less on the prompt. With gradient
(activation) checkpointing, which drops the key/value cache, it falls back to the single pass, and
so does training on more than one process (:func:`_distributed`).

Token log-probs use temperature-scaled logits, ℓ_t = log softmax(logits_t / T)[y_t], the quantity the
rollout engines record, so PPO ratios compare like with like.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import torch
from torch import Tensor

from llm.rollout.base import left_pad
from llm.rollout.decode import cache_keyword, output_cache

ENTROPY_CHUNK_ROWS = 1024
"""Positions per chunk of the entropy pass, which runs without gradient: it bounds the memory the pass adds on
top of the logits to O(chunk · V)."""


@dataclass
class Batch:
    """One micro-batch of B sequences over U ≤ B distinct prompts."""

    prompt_ids: Tensor  # (U, P) long, distinct prompts, left-padded
    prompt_mask: Tensor  # (U, P) long, 1 on prompt tokens
    prompt_index: Tensor  # (B,) long, row i's prompt is prompt_ids[prompt_index[i]]
    completion_ids: Tensor  # (B, C) long, right-padded
    completion_mask: Tensor  # (B, C) float, 1 on completion tokens
    old_logprobs: Tensor | None  # (B, C) float, rollout log-probs (0 on padding), None when absent

    @property
    def attention_mask(self) -> Tensor:
        """(B, P + C) long: 1 on the prompt and completion tokens of each row."""
        return torch.cat([self.prompt_mask[self.prompt_index], self.completion_mask.long()], dim=1)

    @property
    def input_ids(self) -> Tensor:
        """(B, P + C) long: each row's padded prompt followed by its padded completion."""
        return torch.cat([self.prompt_ids[self.prompt_index], self.completion_ids], dim=1)

    @property
    def position_ids(self) -> Tensor:
        """(B, P + C) long: cumsum(attention_mask) - 1, clamped at 0 on the left padding."""
        return (self.attention_mask.cumsum(dim=1) - 1).clamp(min=0)

    def to(self, device: torch.device | str) -> Batch:
        """Move every tensor to ``device``."""
        old = None if self.old_logprobs is None else self.old_logprobs.to(device)
        return Batch(
            self.prompt_ids.to(device),
            self.prompt_mask.to(device),
            self.prompt_index.to(device),
            self.completion_ids.to(device),
            self.completion_mask.to(device),
            old,
        )


def collate(
    prompt_ids: Sequence[Sequence[int]],
    completion_ids: Sequence[Sequence[int]],
    pad_id: int,
    old_logprobs: Sequence[Sequence[float]] | None = None,
) -> Batch:
    """Pad B (prompt, completion) token lists into a :class:`Batch` (layout in the module docstring); equal
    prompts are kept once, in order of first appearance."""
    if len(prompt_ids) != len(completion_ids) or len(prompt_ids) == 0:
        raise ValueError(f"need as many prompts as completions (>0), got {len(prompt_ids)} and {len(completion_ids)}")
    for i, c in enumerate(completion_ids):
        if len(c) == 0:
            raise ValueError(f"sequence {i} has an empty completion; it has no tokens to train on")
    distinct: dict[tuple[int, ...], int] = {}
    index = [distinct.setdefault(tuple(p), len(distinct)) for p in prompt_ids]
    prompts, prompt_mask = left_pad(list(distinct), pad_id)  # (U, P)
    completions = [torch.as_tensor(list(c), dtype=torch.long) for c in completion_ids]
    completion_block = torch.nn.utils.rnn.pad_sequence(completions, batch_first=True, padding_value=pad_id)  # (B, C)
    completion_mask = torch.nn.utils.rnn.pad_sequence([torch.ones_like(c) for c in completions], batch_first=True)
    old = None
    if old_logprobs is not None:
        old = torch.nn.utils.rnn.pad_sequence(
            [torch.as_tensor(list(lp), dtype=torch.float32) for lp in old_logprobs], batch_first=True
        )  # (B, C)
    return Batch(
        prompt_ids=prompts,
        prompt_mask=prompt_mask,
        prompt_index=torch.tensor(index, dtype=torch.long),
        completion_ids=completion_block,
        completion_mask=completion_mask.float(),
        old_logprobs=old,
    )


def token_logprobs(model, batch: Batch, temperature: float = 1.0, with_entropy: bool = False) -> tuple[Tensor, Tensor | None]:
    """ℓ (B, C) of each completion token under ``model`` (with grad) and, optionally, the entropy (B, C)
    of the temperature-scaled next-token distribution (no grad). Padding positions hold garbage; mask them.

    ℓ_t = z_t[y_t] - logsumexp(z_t),  H_t = logsumexp(z_t) - Σ_v softmax(z_t)_v z_tv,  z_t = logits_t / T,
    from the two passes of the module docstring (one pass under activation checkpointing
    or on more than one process).
    """
    single = _checkpointing(model) or _distributed()
    parts = _single_pass_logits(model, batch) if single else _shared_prompt_logits(model, batch)
    logprobs, entropies, start = [], [], 0
    for logits in parts:  # (B, C_k, V) for consecutive completion columns
        logits = logits.float()
        if temperature != 1.0:
            logits = logits / temperature
        targets = batch.completion_ids[:, start : start + logits.shape[1]]  # (B, C_k)
        normaliser = torch.logsumexp(logits, dim=-1)  # (B, C_k)
        logprobs.append(logits.gather(-1, targets.unsqueeze(-1)).squeeze(-1) - normaliser)
        if with_entropy:
            entropies.append(_entropy(logits.detach(), normaliser.detach()))
        start += logits.shape[1]
    return torch.cat(logprobs, dim=1), torch.cat(entropies, dim=1) if with_entropy else None


def _checkpointing(model) -> bool:
    """Whether a forward with gradient recomputes layers in backward (activation checkpointing), which drops
    the key/value cache the two-pass forward hands from the prompt pass to the completion pass."""
    return model.training and torch.is_grad_enabled() and any(
        getattr(m, "gradient_checkpointing", False) for m in model.modules()
    )


def _distributed() -> bool:
    """Whether more than one process trains (DDP or FSDP). Their gradient hooks expect one forward per
    backward; with the two passes, 2 CPU processes trained equal first steps and then diverged (second-step
    loss 0.206 under DDP, 0.156 under FSDP2, where the single pass gives -0.030 under both, and one process
    gives the same values with either path), so distributed training keeps the single pass."""
    return torch.distributed.is_available() and torch.distributed.is_initialized() and torch.distributed.get_world_size() > 1


def _single_pass_logits(model, batch: Batch) -> list[Tensor]:
    """[(B, C, V)]: one forward over the full rows (B, P + C), logits of the positions that predict completions."""
    width = batch.completion_ids.shape[1]
    out = model(input_ids=batch.input_ids, attention_mask=batch.attention_mask, position_ids=batch.position_ids,
                logits_to_keep=width + 1, use_cache=False)
    return [out.logits[:, :-1]]


def _shared_prompt_logits(model, batch: Batch) -> list[Tensor]:
    """[(B, 1, V), (B, C - 1, V)]: the logits of the prompt pass (selected per row) and of the completion pass
    (module docstring); the second is left out when C = 1."""
    width = batch.completion_ids.shape[1]
    prompt_positions = (batch.prompt_mask.cumsum(dim=1) - 1).clamp(min=0)  # (U, P)
    prompt = model(input_ids=batch.prompt_ids, attention_mask=batch.prompt_mask, position_ids=prompt_positions,
                   logits_to_keep=1, use_cache=True)
    first = prompt.logits[batch.prompt_index]  # (B, 1, V): predicts completion token 0
    if width == 1:
        return [first]
    cache = output_cache(prompt)
    cache.batch_select_indices(batch.prompt_index)  # (U, ...) -> (B, ...): each row's prompt keys/values
    lengths = batch.prompt_mask.sum(dim=1)[batch.prompt_index]  # (B,) real prompt tokens per row
    positions = lengths[:, None] + torch.arange(width - 1, device=lengths.device)  # (B, C - 1)
    mask = torch.cat([batch.prompt_mask[batch.prompt_index], batch.completion_mask[:, :-1].long()], dim=1)
    rest = model(input_ids=batch.completion_ids[:, :-1], attention_mask=mask, position_ids=positions,
                 **{cache_keyword(model): cache}, use_cache=True)
    return [first, rest.logits]


def _entropy(logits: Tensor, normaliser: Tensor) -> Tensor:
    """H (B, C) = lse - Σ_v exp(z_v - lse) z_v, computed ``ENTROPY_CHUNK_ROWS`` positions at a time."""
    flat, lse = logits.reshape(-1, logits.shape[-1]), normaliser.reshape(-1)  # (B C, V), (B C,)
    parts = [
        lse_c - (torch.exp(z - lse_c[:, None]) * z).sum(dim=-1)
        for z, lse_c in zip(flat.split(ENTROPY_CHUNK_ROWS), lse.split(ENTROPY_CHUNK_ROWS))
    ]
    return torch.cat(parts).reshape(normaliser.shape)
