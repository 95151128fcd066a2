"""Padded training batches of (prompt, completion) pairs and their token log-probs under the policy.

Layout (as TRL's): prompts left-padded to width P, completions right-padded to width C, so that every
completion starts at column P and one forward pass with ``logits_to_keep = C + 1`` returns exactly the
logits that predict completion tokens::

    input_ids      (B, P + C)  [pad pad p p p | c c c pad]
    position_ids   (B, P + C)  cumsum(attention_mask) - 1: positions of real tokens match an unpadded pass
    logits kept    (B, C + 1, V) -> drop the last -> (B, C, V): row t predicts completion token t

Token log-probs use temperature-scaled logits, ℓ_t = log softmax(logits_t / T)[y_t], the quantity the
rollout engines record, so PPO ratios compare like with like.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import torch
from torch import Tensor


@dataclass
class Batch:
    """One micro-batch of B sequences."""

    input_ids: Tensor  # (B, P + C) long
    attention_mask: Tensor  # (B, P + C) long
    position_ids: Tensor  # (B, P + C) long
    completion_ids: Tensor  # (B, C) long
    completion_mask: Tensor  # (B, C) float, 1 on completion tokens
    old_logprobs: Tensor | None  # (B, C) float, rollout log-probs (0 on padding), None when absent

    def to(self, device: torch.device | str) -> Batch:
        """Move every tensor to ``device``."""
        old = None if self.old_logprobs is None else self.old_logprobs.to(device)
        return Batch(
            self.input_ids.to(device),
            self.attention_mask.to(device),
            self.position_ids.to(device),
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
    """Pad B (prompt, completion) token lists into a :class:`Batch` (layout in the module docstring)."""
    if len(prompt_ids) != len(completion_ids) or len(prompt_ids) == 0:
        raise ValueError(f"need as many prompts as completions (>0), got {len(prompt_ids)} and {len(completion_ids)}")
    prompts = [torch.as_tensor(list(p), dtype=torch.long) for p in prompt_ids]
    completions = [torch.as_tensor(list(c), dtype=torch.long) for c in completion_ids]
    for i, c in enumerate(completions):
        if c.numel() == 0:
            raise ValueError(f"sequence {i} has an empty completion; it has no tokens to train on")
    # left-pad prompts: flip, right-pad, flip back
    left = torch.nn.utils.rnn.pad_sequence([p.flip(0) for p in prompts], batch_first=True, padding_value=pad_id)
    prompt_block = left.flip(1)  # (B, P)
    prompt_mask = torch.nn.utils.rnn.pad_sequence(
        [torch.ones_like(p) for p in prompts], batch_first=True
    ).flip(1)  # (B, P)
    completion_block = torch.nn.utils.rnn.pad_sequence(completions, batch_first=True, padding_value=pad_id)  # (B, C)
    completion_mask = torch.nn.utils.rnn.pad_sequence([torch.ones_like(c) for c in completions], batch_first=True)
    attention_mask = torch.cat([prompt_mask, completion_mask], dim=1)  # (B, P + C)
    position_ids = (attention_mask.cumsum(dim=1) - 1).clamp(min=0)
    old = None
    if old_logprobs is not None:
        old = torch.nn.utils.rnn.pad_sequence(
            [torch.as_tensor(list(lp), dtype=torch.float32) for lp in old_logprobs], batch_first=True
        )  # (B, C)
    return Batch(
        input_ids=torch.cat([prompt_block, completion_block], dim=1),
        attention_mask=attention_mask,
        position_ids=position_ids,
        completion_ids=completion_block,
        completion_mask=completion_mask.float(),
        old_logprobs=old,
    )


def token_logprobs(model, batch: Batch, temperature: float = 1.0, with_entropy: bool = False) -> tuple[Tensor, Tensor | None]:
    """ℓ (B, C) of each completion token under ``model`` (with grad) and, optionally, the entropy (B, C)
    of the temperature-scaled next-token distribution (no grad). Padding positions hold garbage; mask them.

    ℓ_t = z_t[y_t] - logsumexp(z_t),  H_t = logsumexp(z_t) - Σ_v softmax(z_t)_v z_tv,  z_t = logits_t / T.
    """
    width = batch.completion_ids.shape[1]
    out = model(
        input_ids=batch.input_ids,
        attention_mask=batch.attention_mask,
        position_ids=batch.position_ids,
        logits_to_keep=width + 1,
        use_cache=False,
    )
    logits = out.logits[:, :-1].float() / temperature  # (B, C, V)
    normaliser = torch.logsumexp(logits, dim=-1)  # (B, C)
    chosen = logits.gather(-1, batch.completion_ids.unsqueeze(-1)).squeeze(-1)  # (B, C)
    entropy = None
    if with_entropy:
        with torch.no_grad():
            entropy = normaliser - (torch.softmax(logits, dim=-1) * logits).sum(dim=-1)  # (B, C)
    return chosen - normaliser, entropy
