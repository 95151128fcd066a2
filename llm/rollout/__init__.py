"""Rollout engines: G prompts × M samples → token ids, text and per-token log-probs.

Usage::

    from llm.models import load_policy
    from llm.rollout import SamplingConfig, make_engine

    model, tokenizer = load_policy()
    engine = make_engine("hf", model=model, tokenizer=tokenizer, batch_size=16)   # or "vllm"
    groups = engine.generate(prompts, n=8, sampling=SamplingConfig(temperature=1.0, max_new_tokens=256), seed=0)
    groups[g][m].completion_ids, groups[g][m].logprobs    # sample m of prompt g

Engines: ``"hf"`` (:class:`HFRolloutEngine`, a batched key/value-cached decode loop on a transformers model, CPU
or GPU, the default) and ``"vllm"`` (:class:`VLLMRolloutEngine`, optional; the fast path on GPUs). Log-probs are log_softmax(logits / T) at the sampled tokens
over the full vocabulary (see :mod:`llm.rollout.base`).
"""

from __future__ import annotations

import importlib

from llm.rollout.engines import ENGINES, EngineEntry, make_engine

_LAZY = {"Rollout": "base", "RolloutEngine": "base", "SamplingConfig": "base", "sample_seed": "base",
         "HFRolloutEngine": "hf_engine", "VLLMRolloutEngine": "vllm_engine"}
"""Names imported on first use, so that importing the engine table (command-line parsers) loads no torch."""


def __getattr__(name: str):
    if name in _LAZY:
        return getattr(importlib.import_module(f"llm.rollout.{_LAZY[name]}"), name)
    raise AttributeError(f"module 'llm.rollout' has no attribute {name!r}")


__all__ = [
    "ENGINES",
    "EngineEntry",
    "HFRolloutEngine",
    "Rollout",
    "RolloutEngine",
    "SamplingConfig",
    "VLLMRolloutEngine",
    "make_engine",
    "sample_seed",
]
