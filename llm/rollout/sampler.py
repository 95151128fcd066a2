"""Per-sample seeded token sampling for the HF engine's decode loop, recording log-probs as it goes.

At step t, for each row b with raw logits l (shape (V,)), :class:`SeededSampler` computes

    logprob = log_softmax(l / T)                   # recorded at the chosen token (T = 1 when greedy)
    π       = softmax(top_p(l / T))                # top_p masks tokens outside the nucleus to -inf
    y       = min{ v : C_v > u_bt · C_V },  C_v = Σ_{w ≤ v} π_w,  u_bt ~ Uniform[0, 1)     (T > 0)
    y       = argmax_v l_v                                                             (T = 0)

Inverse-CDF sampling makes y a draw from π, exact up to the float32 rounding of each π_v (relative 6e-8; C is
accumulated in float64, so summing adds no error that matters). A token with π_v = 0 has an empty interval and is
never chosen. It needs one uniform number per row and step: row b's numbers u_b1, u_b2, ... are the float64
stream of a ``torch.Generator`` seeded from (seed, prompt index, sample index), drawn all at once when the
sampler is built (a CPU generator's ``rand(n)`` is the same stream as n calls of ``rand(1)``), so a sample does
not depend on the batch it was generated in. The nucleus mask is transformers' ``TopPLogitsWarper``.

Recording the chosen token's log-prob here costs one log-softmax per step and keeps memory at O(B · V), where
keeping every step's logits would hold O(B · T · V).
"""

from __future__ import annotations

import torch
from transformers.generation.logits_process import TopPLogitsWarper


def row_uniforms(seeds: list[int], steps: int) -> torch.Tensor:
    """(B, steps) float64: row b holds the first ``steps`` Uniform[0, 1) numbers of a CPU generator seeded
    with ``seeds[b]``."""
    return torch.stack([
        torch.rand(steps, generator=torch.Generator().manual_seed(s), dtype=torch.float64) for s in seeds
    ])


def inverse_cdf_sample(probs: torch.Tensor, uniforms: torch.Tensor) -> torch.Tensor:
    """Draw one token per row with probability ∝ ``probs``: y_b = min{v : C_bv > u_b C_bV}, C = cumsum in float64.

    probs: (B, V) non-negative weights (need not sum to 1); uniforms: (B,) float64 in [0, 1).
    Returns (B,) long token ids.
    """
    batch, vocab = probs.shape
    if uniforms.shape != (batch,):
        raise ValueError(f"inverse_cdf_sample: {tuple(uniforms.shape)} uniform numbers for {batch} rows")
    cdf = probs.double().cumsum_(dim=-1)  # (B, V)
    threshold = (uniforms.to(cdf.device) * cdf[:, -1]).unsqueeze(-1)  # (B, 1)
    return torch.searchsorted(cdf, threshold, right=True).squeeze(-1).clamp_max_(vocab - 1)


class SeededSampler:
    """Chooses the next token of every row (see the module docstring) and returns its log-prob.

    ``seeds`` gives one seed per row; ``steps`` is the most tokens a row will draw (``max_new_tokens``).
    """

    def __init__(self, seeds: list[int], temperature: float, top_p: float, steps: int):
        self.temperature = float(temperature)
        self.top_p = TopPLogitsWarper(top_p) if top_p < 1.0 else None
        self.uniforms = None if self.temperature == 0 else row_uniforms(seeds, steps)  # (B, steps)

    def __call__(self, logits: torch.Tensor, step: int, rows: torch.Tensor | None = None) -> tuple[torch.Tensor, torch.Tensor]:
        """Token (R,) long and its log-prob (R,) float32 at generation step ``step`` (0-based), from the raw
        logits (R, V) of that step, a float32 tensor the sampler may overwrite; ``rows`` (R,) names the rows
        (all B when None)."""
        if self.temperature == 0:
            logp = torch.log_softmax(logits, dim=-1)
            tokens = logits.argmax(dim=-1)
        else:
            scaled = logits.div_(self.temperature)
            logp = torch.log_softmax(scaled, dim=-1)
            probs = logp.exp() if self.top_p is None else torch.softmax(self.top_p(None, scaled), dim=-1)
            uniforms = self.uniforms[:, step] if rows is None else self.uniforms[rows.cpu(), step]
            tokens = inverse_cdf_sample(probs, uniforms)
        return tokens, logp.gather(-1, tokens[:, None]).squeeze(-1)
