"""Rollouts with batched ``transformers`` generate: the default engine, on CPU or GPU.

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
Sampling and log-probs come from :class:`llm.rollout.sampler.SeededSampler` (inverse-CDF draws, one seeded
stream per row, so a sample does not depend on batch size or padding; log-probs recorded during generation, so
no second forward pass); stop strings end a row early through
:class:`llm.rollout.finish.CompletionStopCriteria` and are cut exactly by
:func:`llm.rollout.finish.finish_completion`.
"""

from __future__ import annotations

import torch
from transformers import GenerationConfig, LogitsProcessorList, StoppingCriteriaList

from llm.rollout.base import (
    Rollout,
    SamplingConfig,
    check_generate_args,
    eos_token_ids,
    sample_seed,
    tokenize_prompts,
)
from llm.rollout.finish import CompletionStopCriteria, finish_completion
from llm.rollout.sampler import SeededSampler


class HFRolloutEngine:
    """Batched ``model.generate`` rollouts (see the module docstring)."""

    def __init__(self, model, tokenizer, batch_size: int = 16):
        if isinstance(batch_size, bool) or not isinstance(batch_size, int) or batch_size < 1:
            raise ValueError(f"HFRolloutEngine batch_size must be an integer >= 1, got {batch_size!r}")
        if tokenizer.pad_token_id is None:
            raise ValueError("HFRolloutEngine: the tokenizer has no pad token; load it with llm.models.load_policy")
        self.model = model
        self.tokenizer = tokenizer
        self.batch_size = batch_size
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

    def _generation_config(self, sampling: SamplingConfig) -> GenerationConfig:
        """Greedy generate on the sampler's one-hot scores; every other score processor explicitly off."""
        return GenerationConfig(
            max_new_tokens=sampling.max_new_tokens,
            do_sample=False,
            num_beams=1,
            temperature=1.0,
            top_p=1.0,
            top_k=None,
            repetition_penalty=1.0,
            no_repeat_ngram_size=0,
            min_new_tokens=0,
            pad_token_id=self.tokenizer.pad_token_id,
            eos_token_id=sorted(self.eos_ids),
            use_cache=True,
        )

    @torch.no_grad()
    def _generate_rows(
        self, rows: list[tuple[int, int]], prompt_ids: list[list[int]], sampling: SamplingConfig, seed: int
    ) -> list[Rollout]:
        device = self.model.device
        batch = self.tokenizer.pad(
            {"input_ids": [prompt_ids[g] for g, _ in rows]}, padding=True, padding_side="left", return_tensors="pt"
        )
        input_ids = batch["input_ids"].to(device)  # (B, P) left-padded
        sampler = SeededSampler(
            [sample_seed(seed, g, m) for g, m in rows], sampling.temperature, sampling.top_p, device
        )
        sequences = self.model.generate(
            input_ids=input_ids,
            attention_mask=batch["attention_mask"].to(device),
            generation_config=self._generation_config(sampling),
            logits_processor=LogitsProcessorList([sampler]),
            stopping_criteria=StoppingCriteriaList(
                [CompletionStopCriteria(self.tokenizer, sampling.stop, input_ids.shape[1])] if sampling.stop else []
            ),
        )
        completions = sequences[:, input_ids.shape[1] :].tolist()  # (B, steps)
        logprobs = sampler.logprobs().tolist()  # (B, steps)
        rollouts = []
        for (g, m), ids, lps in zip(rows, completions, logprobs, strict=True):
            done = finish_completion(ids, lps, self.tokenizer, self.eos_ids, sampling.stop)
            rollouts.append(
                Rollout(g, m, list(prompt_ids[g]), done.completion_ids, done.text, done.logprobs, done.finish_reason)
            )
        return rollouts
