"""What every rollout engine takes and returns: sampling settings, one sampled completion, the engine protocol.

A rollout engine turns G prompts into G groups of M sampled completions, z_1..z_M ~ p_θ(· | x), each with the
per-token log-probabilities the trainer needs for importance ratios. The log-probability of completion token t is

    logprob_t = log softmax(logits_t / T)[y_t]            (T = temperature > 0)
    logprob_t = log softmax(logits_t)[y_t]                (T = 0: greedy decoding, logits unscaled)

over the **full vocabulary**: temperature is applied, top-p truncation is not. This is the quantity a trainer
recomputes with a forward pass (log-softmax of temperature-scaled logits, as TRL does), so new/old ratios compare
like with like. When top_p = 1 it is also exactly the log-probability of the distribution the token was drawn from.

Prompts are complete strings (any chat template already applied) and are tokenized with
``add_special_tokens=False``, so a template's own BOS is not doubled.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Literal, Protocol, Sequence, runtime_checkable

import torch

from llm.seeding import derive_seed

FinishReason = Literal["stop", "length", "eos"]


@dataclass(frozen=True)
class SamplingConfig:
    """Sampling settings shared by all rollout engines."""

    temperature: float = 1.0
    """Softmax temperature T > 0; 0 means greedy decoding. RL rollouts normally keep 1.0."""
    top_p: float = 1.0
    """Nucleus mass in (0, 1]: sample only from the smallest token set holding this much probability."""
    max_new_tokens: int = 256
    """Completion length cap; a completion that reaches it ends with finish_reason "length"."""
    stop: tuple[str, ...] = ()
    """Stop strings: generation of a sample ends at the first one; its text is cut before it."""

    def __post_init__(self) -> None:
        t = self.temperature
        if not (isinstance(t, (int, float)) and math.isfinite(t) and t >= 0):
            raise ValueError(f"SamplingConfig.temperature must be a finite number >= 0, got {self.temperature!r}")
        if not (isinstance(self.top_p, (int, float)) and 0.0 < self.top_p <= 1.0):
            raise ValueError(f"SamplingConfig.top_p must be in (0, 1], got {self.top_p!r}")
        if isinstance(self.max_new_tokens, bool) or not isinstance(self.max_new_tokens, int) or self.max_new_tokens < 1:
            raise ValueError(f"SamplingConfig.max_new_tokens must be an integer >= 1, got {self.max_new_tokens!r}")
        if isinstance(self.stop, str):
            raise ValueError(f"SamplingConfig.stop must be a sequence of strings, not one string: {self.stop!r}")
        stop = tuple(self.stop)
        for s in stop:
            if not isinstance(s, str) or not s:
                raise ValueError(f"SamplingConfig.stop entries must be non-empty strings, got {s!r} in {stop!r}")
        object.__setattr__(self, "stop", stop)

    @property
    def greedy(self) -> bool:
        """True when temperature is 0 (argmax decoding)."""
        return self.temperature == 0


@dataclass(frozen=True)
class Rollout:
    """One sampled completion of one prompt.

    ``completion_ids`` holds every generated token up to and including the one that ended the sample (the EOS
    token, or the token that completed the first stop string); ``logprobs`` has one entry per completion token
    (definition in the module docstring). ``text`` is the decoded completion without special tokens, cut
    before the first stop string.
    """

    prompt_index: int
    sample_index: int
    prompt_ids: list[int]
    completion_ids: list[int]
    text: str
    logprobs: list[float]
    finish_reason: FinishReason

    def __post_init__(self) -> None:
        if len(self.logprobs) != len(self.completion_ids):
            raise ValueError(
                f"Rollout (prompt {self.prompt_index}, sample {self.sample_index}): "
                f"{len(self.logprobs)} logprobs for {len(self.completion_ids)} completion tokens"
            )


@runtime_checkable
class RolloutEngine(Protocol):
    """Samples n completions per prompt; the trainer calls ``sync_weights`` after every optimiser step."""

    def generate(self, prompts: list[str], n: int, sampling: SamplingConfig, seed: int) -> list[list[Rollout]]:
        """Return ``out[g][m]``: sample m of prompt g (outer length len(prompts), inner length n)."""
        ...

    def sync_weights(self, model) -> None:
        """Make the engine sample from ``model``'s current weights."""
        ...


def sample_seed(seed: int, prompt_index: int, sample_index: int) -> int:
    """A 32-bit seed for one (prompt, sample) pair, mixed by numpy's SeedSequence.

    Each sample draws its randomness from its own stream, so a rollout depends on (seed, prompt index,
    sample index) only, not on batch size, padding or the other prompts in the call.
    """
    return derive_seed(seed, prompt_index, sample_index)


def check_generate_args(prompts: Sequence[str], n: int) -> None:
    """Reject an empty prompt list, non-string or empty prompts, and n < 1, naming the culprit."""
    if isinstance(prompts, str) or len(prompts) == 0:
        raise ValueError(f"prompts must be a non-empty list of strings, got {prompts!r:.80}")
    for i, p in enumerate(prompts):
        if not isinstance(p, str) or not p:
            raise ValueError(f"prompts[{i}] must be a non-empty string, got {p!r:.80}")
    if isinstance(n, bool) or not isinstance(n, int) or n < 1:
        raise ValueError(f"n (samples per prompt) must be an integer >= 1, got {n!r}")


def tokenize_prompts(tokenizer, prompts: Sequence[str]) -> list[list[int]]:
    """Token ids of each prompt, without added special tokens (the prompt string carries its template)."""
    ids = tokenizer(list(prompts), add_special_tokens=False)["input_ids"]
    for i, row in enumerate(ids):
        if len(row) == 0:
            raise ValueError(f"prompts[{i}] tokenizes to no tokens: {prompts[i]!r:.80}")
    return [list(row) for row in ids]


def eos_token_ids(model, tokenizer) -> set[int]:
    """EOS ids a sample may end with: the tokenizer's EOS and the model's generation-config EOS id(s)."""
    ids: set[int] = set()
    if tokenizer.eos_token_id is not None:
        ids.add(int(tokenizer.eos_token_id))
    gen_eos = getattr(getattr(model, "generation_config", None), "eos_token_id", None)
    if gen_eos is not None:
        ids.update(int(i) for i in ([gen_eos] if isinstance(gen_eos, int) else gen_eos))
    return ids


def left_pad(rows: Sequence[Sequence[int]], pad_id: int) -> tuple[torch.Tensor, torch.Tensor]:
    """Left-pad token lists to the longest: (ids (N, W) long, mask (N, W) long, 1 on tokens)."""
    width = max(len(r) for r in rows)
    ids = torch.full((len(rows), width), pad_id, dtype=torch.long)
    mask = torch.zeros((len(rows), width), dtype=torch.long)
    for i, r in enumerate(rows):
        if r:
            ids[i, width - len(r) :] = torch.as_tensor(list(r), dtype=torch.long)
            mask[i, width - len(r) :] = 1
    return ids, mask
