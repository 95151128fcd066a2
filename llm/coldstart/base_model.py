"""The cold-start base model: a small Llama that can solve the synthetic task but rarely chooses to.

A pre-trained LLM in cold start can reason but seldom writes its answer in the verified form. The analogue
here is a transformer with two strategies, announced by its first free token:

* ``r`` (reverse): the answer slot holds the reversed prompt, the verified answer;
* ``c`` (copy): the answer slot holds the prompt itself, a wrong answer (the prompts are never palindromes).

Pre-training makes it fluent in both and sets the chance of the right one to p0. For a prompt x drawn
uniformly from all non-palindromic prompts, a strategy s ∈ {r, c} with probability 1/2 each, and free symbols
v_2..v_k uniform over the alphabet, it minimises::

    L(θ) = - [ p0 log p_θ(r | x) + (1 - p0) log p_θ(c | x) ]          (soft label on the strategy token)
           - Σ_{j=2..k} log p_θ(v_j | x, s, v_<j)  - log p_θ(a_s(x) | x, s, v)

with a_r(x) = reverse(x) and a_c(x) = x. The minimiser has p_θ(r | x) = p0 and a near-deterministic answer
after each strategy, so every prompt starts with P_θ(x) ≈ p0: the knob of the cold-start experiment. (Answers
are trained on both strategies equally often, so the rare one is learned as well as the common one.) The
measured P_θ is logged at step 0 of every run (``exact/train_p_mean``).

RL then has to find and amplify the rare strategy: the transformer version of the one-logit toy of
:mod:`sim.policies`, whose escape times :mod:`sim` predicts.

``build_base_model`` trains with AdamW on CPU in about 10-20 s (600 steps of 128 sequences, one thread) and
saves an ordinary Hugging Face folder (config, safetensors weights, the task's tokenizer, ``base_model.json``
with the settings and the measured p0) that ``from_pretrained``, ``tsallis eval --model`` and vLLM load.
"""

from __future__ import annotations

import json
import math
import warnings
from dataclasses import asdict
from pathlib import Path

import numpy as np
import torch
from transformers import GenerationConfig, LlamaConfig, LlamaForCausalLM

from llm.coldstart.settings import BaseModelSpec
from llm.data.synthetic import STRATEGY_TOKENS, SyntheticTask, make_examples, synthetic_tokenizer

MANIFEST = "base_model.json"
P0_TOLERANCE = 2.0
"""A measured p0 more than this factor away from the requested one is reported (``UserWarning``)."""


def model_config(tokenizer, spec: BaseModelSpec, max_positions: int) -> LlamaConfig:
    """The Llama configuration: untied embeddings, head_dim 32, the task's small vocabulary, no BOS."""
    return LlamaConfig(
        vocab_size=len(tokenizer),
        hidden_size=spec.hidden_size,
        intermediate_size=2 * spec.hidden_size,
        num_hidden_layers=spec.num_layers,
        num_attention_heads=spec.hidden_size // 32,
        num_key_value_heads=spec.hidden_size // 32,
        head_dim=32,
        max_position_embeddings=max_positions,
        tie_word_embeddings=False,
        bos_token_id=None,
        eos_token_id=tokenizer.eos_token_id,
        pad_token_id=tokenizer.pad_token_id,
    )


def _pretraining_batch(task: SyntheticTask, tokenizer, rng: np.random.Generator, size: int) -> tuple[torch.Tensor, torch.Tensor]:
    """(ids (B, n + 1 + k + L), use_reverse (B,)): prompt, '>', strategy token, free symbols, answer."""
    n, k, s = task.prompt_length, task.free_tokens, task.symbols
    digits = rng.integers(0, s, size=(4 * size, n))
    digits = digits[(digits != digits[:, ::-1]).any(axis=1)][:size]  # non-palindromic prompts
    reverse = rng.random(len(digits)) < 0.5
    free = rng.integers(0, s, size=(len(digits), k - 1))
    ids = tokenizer.convert_tokens_to_ids
    alphabet = np.array(ids(list(task.alphabet)))
    r_id, c_id = ids(list(STRATEGY_TOKENS))
    rows = np.concatenate([
        alphabet[digits],
        np.full((len(digits), 1), ids(">")),
        np.where(reverse, r_id, c_id)[:, None],
        alphabet[free],
        alphabet[np.where(reverse[:, None], digits[:, ::-1], digits)],
    ], axis=1)
    return torch.as_tensor(rows), torch.as_tensor(reverse)


def pretrain(task: SyntheticTask, spec: BaseModelSpec) -> tuple[LlamaForCausalLM, object]:
    """Build and pre-train the base model (module docstring); returns (model in eval mode, tokenizer)."""
    if task.free_tokens < 1:
        raise ValueError("the cold-start base model announces its strategy in the first free token: "
                         f"the task needs free_tokens >= 1, got {task.free_tokens}")
    tokenizer = synthetic_tokenizer(task)
    config = model_config(tokenizer, spec, max_positions=4 * (task.prompt_length + 1 + task.completion_length))
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(spec.seed)
        model = LlamaForCausalLM(config)
    model.generation_config = GenerationConfig(eos_token_id=config.eos_token_id, pad_token_id=config.pad_token_id)
    optimizer = torch.optim.AdamW(model.parameters(), lr=spec.lr, weight_decay=0.0)
    rng = np.random.default_rng([spec.seed, 0xBA5E])
    decision = task.prompt_length  # logits at the '>' position predict the strategy token
    r_id, c_id = tokenizer.convert_tokens_to_ids(list(STRATEGY_TOKENS))
    model.train()
    for _ in range(spec.steps):
        ids, _ = _pretraining_batch(task, tokenizer, rng, spec.batch_size)
        logp = torch.log_softmax(model(input_ids=ids, use_cache=False).logits[:, :-1].float(), dim=-1)  # (B, T-1, V)
        strategy = -(spec.p0 * logp[:, decision, r_id] + (1 - spec.p0) * logp[:, decision, c_id]).mean()
        rest = -logp[:, decision + 1 :].gather(-1, ids[:, decision + 2 :, None]).squeeze(-1).sum(dim=1).mean()
        optimizer.zero_grad(set_to_none=True)
        (strategy + rest).backward()
        optimizer.step()
    return model.eval(), tokenizer


def base_model_folder(task: SyntheticTask, spec: BaseModelSpec, root: str | Path) -> Path:
    """``root/base_model``, pre-trained and saved on the first call; later calls with the same settings reuse it.

    The folder's ``base_model.json`` records the task's vocabulary settings, ``spec`` and the torch and
    transformers versions; a folder built with other settings is an error (delete it or pick another root).
    """
    import transformers

    from llm.evaluation.exact import success_probabilities
    from llm.models import save_model_folder

    folder = Path(root) / "base_model"
    identity = {
        "task": {k: task.to_dict()[k] for k in ("symbols", "prompt_length", "free_tokens")},
        "spec": asdict(spec),
        "torch": torch.__version__,
        "transformers": transformers.__version__,
    }
    manifest = folder / MANIFEST
    if manifest.is_file():
        saved = json.loads(manifest.read_text())
        if saved.get("identity") != identity:
            raise ValueError(f"{folder} holds a base model built with other settings ({saved.get('identity')}); "
                             f"wanted {identity}: delete it or choose another output folder")
        return folder
    model, tokenizer = pretrain(task, spec)
    examples = make_examples(task, "train")
    measured = float(success_probabilities(model, tokenizer, examples).mean())
    if not 1 / P0_TOLERANCE <= measured / spec.p0 <= P0_TOLERANCE:
        warnings.warn(f"base model: the measured p0 is {measured:.3g}, the requested p0 {spec.p0:.3g} (pre-training "
                      f"for {spec.steps} steps does not get within a factor {P0_TOLERANCE:g} of it)", stacklevel=2)
    save_model_folder(model, tokenizer, folder)
    from tsallis.files import atomic_write_text

    atomic_write_text(manifest, json.dumps({
        "identity": identity,
        "measured_p0": measured,
        "log10_measured_p0": math.log10(measured),
    }, indent=2) + "\n")
    return folder
