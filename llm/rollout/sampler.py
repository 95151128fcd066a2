"""Per-sample seeded token sampling inside ``transformers`` generate, recording log-probs as it goes.

``SeededSampler`` is a logits processor that makes the sampling decision itself and hands generate a one-hot
score row, so generate runs in greedy mode and simply takes the token chosen here. At step t, for each row b
with raw logits l (shape (V,)) it computes

    logprob = log_softmax(l / T)                     # recorded at the chosen token (T = 1 when greedy)
    y       = argmax_v( top_p(l / T)_v + G_v ),  G_v = -log(-log U_v),  U_v ~ Uniform(0, 1)   (T > 0)
    y       = argmax_v l_v                                                                      (T = 0)

The Gumbel-max trick makes y an exact draw from softmax(top_p(l / T)), the temperature-scaled nucleus
distribution (top_p masks tokens outside the nucleus to -inf, via transformers' ``TopPLogitsWarper``). Each row
owns a ``torch.Generator`` seeded from (seed, prompt index, sample index), so a sample does not depend on the
batch it was generated in. U is drawn in float64 (an exact 0 or a U near 1 in float32 would occur about
V · 2^-24 ≈ 0.3% of steps at V = 49152 and bias the tail of G).

Recording the chosen token's log-prob here costs one log-softmax per step and keeps memory at O(B · V), where
``output_logits=True`` would hold all T steps' logits, O(B · T · V), until generate returns.
"""

from __future__ import annotations

import torch
from transformers import LogitsProcessor
from transformers.generation.logits_process import TopPLogitsWarper


def gumbel_argmax(scores: torch.Tensor, generators: list[torch.Generator]) -> torch.Tensor:
    """Draw one token per row from softmax(scores) with row b's noise taken from ``generators[b]``.

    scores: (B, V) log-weights (-inf allowed). Returns (B,) long token ids.
    """
    batch, vocab = scores.shape
    if len(generators) != batch:
        raise ValueError(f"gumbel_argmax: {len(generators)} generators for {batch} rows")
    tiny = torch.finfo(torch.float64).tiny
    uniform = torch.stack(
        [torch.rand(vocab, generator=g, dtype=torch.float64, device=scores.device) for g in generators]
    )  # (B, V)
    gumbel = -torch.log(-torch.log(uniform.clamp_min(tiny)))
    return (scores.double() + gumbel).argmax(dim=-1)


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
        scores = scores.float()  # (B, V) raw logits of this step
        if self.temperature == 0:
            logp = torch.log_softmax(scores, dim=-1)
            tokens = scores.argmax(dim=-1)
        else:
            scaled = scores / self.temperature
            logp = torch.log_softmax(scaled, dim=-1)
            warped = self.top_p(input_ids, scaled) if self.top_p is not None else scaled
            tokens = gumbel_argmax(warped, self.generators)
        self._logprobs.append(logp.gather(-1, tokens[:, None]).squeeze(-1))
        # generate runs greedily on what we return: 0 at the chosen token, -inf elsewhere.
        chosen = torch.full_like(scores, float("-inf"))
        chosen.scatter_(-1, tokens[:, None], 0.0)
        return chosen

    def logprobs(self) -> torch.Tensor:
        """(B, steps) log-probs of the generated tokens, in generation order."""
        return torch.stack(self._logprobs, dim=1)
