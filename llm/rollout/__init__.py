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

from llm.rollout.base import Rollout, RolloutEngine, SamplingConfig, sample_seed
from llm.rollout.hf_engine import HFRolloutEngine
from llm.rollout.vllm_engine import VLLMRolloutEngine

ENGINES = ("hf", "vllm")


def make_engine(name: str, *, model=None, tokenizer=None, model_name_or_path=None, **kwargs) -> RolloutEngine:
    """Build a rollout engine by name.

    * ``"hf"``: needs ``model`` and ``tokenizer`` (it samples from that very model); kwargs: ``batch_size``, ``share_prompts``.
    * ``"vllm"``: starts vLLM on ``model_name_or_path`` (a folder or hub name; see
      :func:`llm.models.resolve_model`), or, when that is None, on ``model``/``tokenizer`` saved to a temporary
      folder; kwargs go to :class:`VLLMRolloutEngine`.
    """
    if name == "hf":
        if model is None or tokenizer is None:
            raise ValueError("make_engine('hf') needs model= and tokenizer=")
        return HFRolloutEngine(model, tokenizer, **kwargs)
    if name == "vllm":
        if model_name_or_path is not None:
            return VLLMRolloutEngine(model_name_or_path, **kwargs)
        if model is None or tokenizer is None:
            raise ValueError("make_engine('vllm') needs model_name_or_path=, or model= and tokenizer=")
        return VLLMRolloutEngine.from_model(model, tokenizer, **kwargs)
    raise ValueError(f"unknown rollout engine {name!r}; choose one of {ENGINES}")


__all__ = [
    "ENGINES",
    "HFRolloutEngine",
    "Rollout",
    "RolloutEngine",
    "SamplingConfig",
    "VLLMRolloutEngine",
    "make_engine",
    "sample_seed",
]
