"""Per-sample seeded token sampling inside ``transformers`` generate, recording log-probs as it goes.

``SeededSampler`` is a logits processor that makes the sampling decision itself and hands generate a one-hot
score row, so generate runs in greedy mode and simply takes the token chosen here. At step t, for each row b
with raw logits l (shape (V,)) it computes

    logprob = log_softmax(l / T)                   # recorded at the chosen token (T = 1 when greedy)
    π       = softmax(top_p(l / T))                # top_p masks tokens outside the nucleus to -inf
    y       = min{ v : C_v > u · C_V },  C_v = Σ_{w ≤ v} π_w,  u ~ Uniform[0, 1)       (T > 0)
    y       = argmax_v l_v                                                            (T = 0)

Inverse-CDF sampling makes y a draw from π, exact up to the float32 rounding of each π_v (relative 6e-8; C is
accumulated in float64, so summing adds no error that matters). A token with π_v = 0 has an empty interval and is
never chosen. It needs one uniform number per row and step. Each row owns a ``torch.Generator`` seeded from
(seed, prompt index, sample index), so a sample does not depend on the batch it was generated in. The nucleus
mask is transformers' ``TopPLogitsWarper``.

Recording the chosen token's log-prob here costs one log-softmax per step and keeps memory at O(B · V), where
``output_logits=True`` would hold all T steps' logits, O(B · T · V), until generate returns.
"""

from __future__ import annotations

import torch
from transformers import LogitsProcessor
from transformers.generation.logits_process import TopPLogitsWarper


def inverse_cdf_sample(probs: torch.Tensor, generators: list[torch.Generator]) -> torch.Tensor:
    """Draw one token per row with probability ∝ ``probs``, row b's uniform number taken from ``generators[b]``.

    probs: (B, V) non-negative weights (need not sum to 1). Returns (B,) long token ids.
    """
    batch, vocab = probs.shape
    if len(generators) != batch:
        raise ValueError(f"inverse_cdf_sample: {len(generators)} generators for {batch} rows")
    cdf = probs.double().cumsum_(dim=-1)  # (B, V)
    u = torch.cat([torch.rand(1, generator=g, dtype=torch.float64, device=probs.device) for g in generators])
    threshold = (u * cdf[:, -1]).unsqueeze(-1)  # (B, 1)
    return torch.searchsorted(cdf, threshold, right=True).squeeze(-1).clamp_max_(vocab - 1)


class SeededSampler(LogitsProcessor):
    """Samples the next token of every row (see the module docstring) and stores its log-prob.

    After generate returns, ``logprobs()`` is a (B, steps) tensor, one column per generated token.
    """

    def __init__(self, seeds: list[int], temperature: float, top_p: float, device: torch.device | str):
        self.temperature = float(temperature)
        self.top_p = TopPLogitsWarper(top_p) if top_p < 1.0 else None
        self.generators = [torch.Generator(device=device).manual_seed(s) for s in seeds]
        self._logprobs: list[torch.Tensor] = []  # one (B,) tensor per step

    def __call__(self, input_ids: torch.LongTensor, scores: torch.FloatTensor) -> torch.FloatTensor:
        scores = scores.float()  # (B, V) raw logits of this step (generate hands over its own copy)
        if self.temperature == 0:
            logp = torch.log_softmax(scores, dim=-1)
            tokens = scores.argmax(dim=-1)
        else:
            scaled = scores.div_(self.temperature)
            logp = torch.log_softmax(scaled, dim=-1)
            probs = logp.exp() if self.top_p is None else torch.softmax(self.top_p(input_ids, scaled), dim=-1)
            tokens = inverse_cdf_sample(probs, self.generators)
        self._logprobs.append(logp.gather(-1, tokens[:, None]).squeeze(-1))
        # generate runs greedily on what we return: 0 at the chosen token, -inf elsewhere.
        return scores.fill_(float("-inf")).scatter_(-1, tokens[:, None], 0.0)

    def logprobs(self) -> torch.Tensor:
        """(B, steps) log-probs of the generated tokens, in generation order."""
        return torch.stack(self._logprobs, dim=1)
