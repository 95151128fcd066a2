"""Rollouts as padded tensors for a training forward pass, and the log-probs of their completion tokens.

Layout of B rollouts with longest prompt P and longest completion T (pads carry attention 0)::

    input_ids      (B, P + T)   [pad … pad prompt | completion pad … pad]   prompt left-padded, completion right-padded
    attention_mask (B, P + T)
    position_ids   (B, P + T)   cumsum(attention_mask) - 1, clamped at 0: a left-padded row gets the positions it
                                had in generate (a forward pass without them would shift RoPE positions)
    completion_mask(B, T)       1 on completion tokens
    logprobs       (B, T)       the engine's log-probs (0 on padding)

Completion token t of row b is predicted by the logits at position P - 1 + t, so

    completion_logprobs(model, batch, T)[b, t] = log_softmax(logits[b, P - 1 + t] / T)[input_ids[b, P + t]]

which is the quantity the engines return (:mod:`llm.rollout.base`), now differentiable in the model.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Sequence

import torch

from llm.rollout.base import Rollout


@dataclass
class RolloutBatch:
    """Padded tensors for B rollouts (layout in the module docstring)."""

    input_ids: torch.Tensor
    attention_mask: torch.Tensor
    position_ids: torch.Tensor
    completion_mask: torch.Tensor
    logprobs: torch.Tensor
    prompt_width: int

    def to(self, device: torch.device | str) -> "RolloutBatch":
        """The same batch on ``device``."""
        return RolloutBatch(
            *(t.to(device) for t in (self.input_ids, self.attention_mask, self.position_ids,
                                     self.completion_mask, self.logprobs)),
            self.prompt_width,
        )


def collate_rollouts(rollouts: Sequence[Rollout], pad_token_id: int, device: torch.device | str = "cpu") -> RolloutBatch:
    """Pad ``rollouts`` into one :class:`RolloutBatch` (rows in the given order)."""
    if len(rollouts) == 0:
        raise ValueError("collate_rollouts needs at least one rollout")
    width_p = max(len(r.prompt_ids) for r in rollouts)
    width_c = max(max(len(r.completion_ids) for r in rollouts), 1)
    batch = len(rollouts)
    input_ids = torch.full((batch, width_p + width_c), pad_token_id, dtype=torch.long)
    attention_mask = torch.zeros((batch, width_p + width_c), dtype=torch.long)
    logprobs = torch.zeros((batch, width_c), dtype=torch.float32)
    for b, r in enumerate(rollouts):
        p, c = len(r.prompt_ids), len(r.completion_ids)
        input_ids[b, width_p - p : width_p] = torch.tensor(r.prompt_ids, dtype=torch.long)
        input_ids[b, width_p : width_p + c] = torch.tensor(r.completion_ids, dtype=torch.long)
        attention_mask[b, width_p - p : width_p + c] = 1
        logprobs[b, :c] = torch.tensor(r.logprobs, dtype=torch.float32)
    position_ids = (attention_mask.cumsum(-1) - 1).clamp_min(0)
    completion_mask = attention_mask[:, width_p:].clone()
    return RolloutBatch(input_ids, attention_mask, position_ids, completion_mask, logprobs, width_p).to(device)


def completion_logprobs(model, batch: RolloutBatch, temperature: float = 1.0) -> torch.Tensor:
    """(B, T) log_softmax(logits / temperature) at the completion tokens; 0 where completion_mask is 0.

    temperature 0 (greedy rollouts) uses the unscaled logits, as the engines do. Only the last T + 1 positions go
    through the LM head (``logits_to_keep``).
    """
    width_c = batch.completion_mask.shape[1]
    logits = model(
        input_ids=batch.input_ids,
        attention_mask=batch.attention_mask,
        position_ids=batch.position_ids,
        logits_to_keep=width_c + 1,
    ).logits[:, :-1].float()  # (B, T, V): position P - 1 + t predicts completion token t
    if temperature > 0:
        logits = logits / temperature
    targets = batch.input_ids[:, batch.prompt_width :]  # (B, T)
    logp = torch.log_softmax(logits, dim=-1).gather(-1, targets.unsqueeze(-1)).squeeze(-1)
    return logp * batch.completion_mask
