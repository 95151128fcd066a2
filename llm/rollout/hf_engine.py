"""Rollouts with a batched key/value-cached decode loop on a ``transformers`` model: the default engine, on
CPU or GPU.

Usage::

    from llm.models import load_policy
    from llm.rollout import HFRolloutEngine, SamplingConfig

    model, tokenizer = load_policy()                      # SmolLM2-135M-Instruct
    engine = HFRolloutEngine(model, tokenizer, batch_size=16)
    groups = engine.generate(prompts, n=8, sampling=SamplingConfig(temperature=1.0, max_new_tokens=256,
                                                                  stop=("\\n\\n",)), seed=0)
    groups[g][m].completion_ids, groups[g][m].logprobs    # sample m of prompt g

The engine samples from the very model object the trainer updates, so ``sync_weights`` has nothing to do.
Give it the unwrapped model (``accelerator.unwrap_model``; a ``peft`` model is fine); under FSDP, generation
needs the full parameters gathered, which is the caller's job. Generation runs in eval mode and restores the
model's training flag afterwards.

Rows (prompt g, sample m) are laid out prompt-major, cut into batches of ``batch_size`` rows and left-padded.
Each batch runs :func:`llm.rollout.decode.decode`: the forward passes ``model.generate`` would make, without
generate's per-token machinery, with sampling and log-probs from :class:`llm.rollout.sampler.SeededSampler`
(inverse-CDF draws, one seeded stream per row, so a sample does not depend on batch size or padding; log-probs
recorded while sampling, so no second forward pass). Stop strings end a row early through
:class:`llm.rollout.finish.StopStringWatch` and are cut exactly by :func:`llm.rollout.finish.finish_completion`.
On GPUs the vLLM engine (:mod:`llm.rollout.vllm_engine`) is the fast path: paged attention and continuous
batching, where this loop pads every batch to its longest sample.
"""

from __future__ import annotations

import torch

from llm.rollout.base import (
    Rollout,
    SamplingConfig,
    check_generate_args,
    eos_token_ids,
    left_pad,
    sample_seed,
    tokenize_prompts,
)
from llm.rollout.decode import decode
from llm.rollout.finish import StopStringWatch, finish_completion
from llm.rollout.rationale import LikelihoodSample
from llm.rollout.sampler import SeededSampler


class HFRolloutEngine:
    """Batched decode-loop rollouts (see the module docstring)."""

    def __init__(self, model, tokenizer, batch_size: int = 16, share_prompts: bool = False):
        if isinstance(batch_size, bool) or not isinstance(batch_size, int) or batch_size < 1:
            raise ValueError(f"HFRolloutEngine batch_size must be an integer >= 1, got {batch_size!r}")
        if tokenizer.pad_token_id is None:
            raise ValueError("HFRolloutEngine: the tokenizer has no pad token; load it with llm.models.load_policy")
        self.model = model
        self.tokenizer = tokenizer
        self.batch_size = batch_size
        self.share_prompts = share_prompts
        self.eos_ids = eos_token_ids(model, tokenizer)

    def sync_weights(self, model) -> None:
        """Generate from ``model`` from now on (normally the same object, so nothing changes)."""
        self.model = model

    def generate(self, prompts: list[str], n: int, sampling: SamplingConfig, seed: int) -> list[list[Rollout]]:
        """Sample ``n`` completions for each prompt; ``out[g][m]`` is sample m of prompt g."""
        check_generate_args(prompts, n)
        prompt_ids = tokenize_prompts(self.tokenizer, prompts)
        rows = [(g, m) for g in range(len(prompts)) for m in range(n)]
        out: list[list[Rollout]] = [[] for _ in prompts]
        was_training = self.model.training
        self.model.eval()
        try:
            for start in range(0, len(rows), self.batch_size):
                for rollout in self._generate_rows(rows[start : start + self.batch_size], prompt_ids, sampling, seed):
                    out[rollout.prompt_index].append(rollout)
        finally:
            self.model.train(was_training)
        return out

    def _generate_rows(
        self, rows: list[tuple[int, int]], prompt_ids: list[list[int]], sampling: SamplingConfig, seed: int
    ) -> list[Rollout]:
        device = self.model.device
        if self.share_prompts:
            distinct = list(dict.fromkeys(g for g, _ in rows))  # this batch's prompts, in order
            prompt_rows = torch.tensor([distinct.index(g) for g, _ in rows], device=device)  # (B,)
        else:
            distinct, prompt_rows = [g for g, _ in rows], None
        input_ids, attention_mask = left_pad([prompt_ids[g] for g in distinct], self.tokenizer.pad_token_id)  # (U, P)
        sampler = SeededSampler([sample_seed(seed, g, m) for g, m in rows], sampling.temperature, sampling.top_p,
                                sampling.max_new_tokens)
        tokens, logprobs = decode(
            self.model, input_ids.to(device), attention_mask.to(device), sampler,
            max_new_tokens=sampling.max_new_tokens, eos_ids=self.eos_ids, pad_id=self.tokenizer.pad_token_id,
            stop=StopStringWatch(self.tokenizer, sampling.stop) if sampling.stop else None, rows=prompt_rows,
        )
        rollouts = []
        for (g, m), ids, lps in zip(rows, tokens.tolist(), logprobs.tolist(), strict=True):  # (B, steps) each
            done = finish_completion(ids, lps, self.tokenizer, self.eos_ids, sampling.stop)
            rollouts.append(
                Rollout(g, m, list(prompt_ids[g]), done.completion_ids, done.text, done.logprobs, done.finish_reason)
            )
        return rollouts

    @torch.no_grad()
    def answer_log_likelihood(self, samples: list[LikelihoodSample]) -> list[float]:
        """log w = log p_θ(y* | x, z) of each sample: its gold-answer tokens teacher-forced after prompt and rationale.

        One forward per batch of ``batch_size`` left-padded rows [x, z, y*] (position ids count real tokens only),
        log-softmax of the logits in float32 at temperature 1, summed over the answer tokens.
        """
        was_training = self.model.training
        self.model.eval()
        try:
            out: list[float] = []
            for start in range(0, len(samples), self.batch_size):
                out += self._answer_rows(samples[start : start + self.batch_size])
            return out
        finally:
            self.model.train(was_training)

    def _answer_rows(self, samples: list[LikelihoodSample]) -> list[float]:
        rows = [s.prompt_ids + s.completion_ids for s in samples]
        ids, mask = left_pad(rows, self.tokenizer.pad_token_id)  # (B, W)
        device = self.model.device
        positions = (mask.cumsum(dim=1) - 1).clamp(min=0)
        logits = self.model(input_ids=ids.to(device), attention_mask=mask.to(device),
                            position_ids=positions.to(device)).logits  # (B, W, V)
        logprobs = torch.log_softmax(logits[:, :-1].float(), dim=-1)  # position t predicts token t + 1
        token = logprobs.gather(-1, ids[:, 1:, None].to(device))[..., 0]  # (B, W - 1)
        width = ids.shape[1]
        return [float(token[i, width - 1 - len(s.answer_ids) :].double().sum()) for i, s in enumerate(samples)]

