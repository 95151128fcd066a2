"""Exact success probabilities on the synthetic task, by enumerating the completion space.

For a prompt x with gold answer y* (L tokens) and k free tokens, the verifier accepts exactly the completions
z = (u, y*) with u ∈ A^k, A = the vocabulary without EOS (:mod:`llm.data.synthetic`), so::

    P_θ(x) = Σ_{u ∈ A^k} p_θ(u y* | x) = Σ_u exp( Σ_{t=1}^{k+L} log softmax(logits_t)[z_t] )

computed by teacher forcing all |A|^k sequences (x, u, y*) in batches, no sampling, so the figure is exact up to
float32 rounding (the sum over u is done in float64). The distribution
is the untempered policy p_θ (temperature 1, the rollout temperature of the cold-start runs).

:func:`exact_metrics` returns what the trainer logs every ``eval.exact_every`` steps:

=========================  =====================================================================
``exact/train_p_mean``     mean over training prompts of P_θ(x) (against their targets, corrupted or not)
``exact/train_p_median``   median of the same
``exact/heldout_p_mean``   mean over held-out prompts (clean targets)
``exact/frac_escaped``     share of training prompts with P_θ(x) ≥ 1/2
``exact/clean_p_mean``     mean over clean training prompts (noisy tasks only)
``exact/corrupted_p_mean`` mean over corrupted training prompts, against the corrupted target (noisy only)
``exact/heldout_greedy_acc`` share of held-out prompts whose greedy completion is correct
=========================  =====================================================================
"""

from __future__ import annotations

import inspect
import itertools
from collections.abc import Sequence

import numpy as np
import torch

from llm.data import Example
from llm.data.synthetic import prompt_text

ESCAPE_LEVEL = 0.5
"""A prompt has escaped cold start once P_θ(x) ≥ 1/2 (the sim/ escape target)."""


def latent_prefixes(tokenizer, free_tokens: int) -> torch.Tensor:
    """All u ∈ A^k as token ids, shape (|A|^k, k); A = every token id but EOS."""
    alphabet = [i for i in range(len(tokenizer)) if i != tokenizer.eos_token_id]
    return torch.tensor(list(itertools.product(alphabet, repeat=free_tokens)), dtype=torch.long).reshape(-1, free_tokens)


def _cache_argument(model) -> str:
    """The forward argument that takes a key/value cache: ``cache`` (transformers >= 5.2x) or ``past_key_values``."""
    return "cache" if "cache" in inspect.signature(model.forward).parameters else "past_key_values"


def success_probability_tensor(model, tokenizer, examples: Sequence[Example], batch_rows: int = 8192) -> torch.Tensor:
    """P_θ(x) for each example (module docstring) as a float64 tensor of shape (len(examples),), differentiable
    in the model's parameters (call it under ``torch.no_grad()`` when no gradient is needed).

    The prompt is forwarded once per example and its key/value cache repeated for the |A|^k rows (u, y*), which
    are then teacher-forced together: log p(u_1 | x) comes from the prompt's last logits, the other k + L - 1
    token log-probs from the continuation. Every example must share the prompt length, answer length and k
    (true of one synthetic task); ``batch_rows`` caps the rows per forward pass. Dropout is not applied (the
    model runs in eval mode; its training flag is restored).
    """
    if not examples:
        return torch.zeros(0, dtype=torch.float64)
    free = int(examples[0].metadata["free_tokens"])
    prefixes = latent_prefixes(tokenizer, free).to(model.device)  # (F, k)
    prompts = tokenizer([prompt_text(x) for x in examples], add_special_tokens=False)["input_ids"]
    answers = tokenizer([x.answer for x in examples], add_special_tokens=False)["input_ids"]
    if len({len(p) for p in prompts}) != 1 or len({len(a) for a in answers}) != 1:
        raise ValueError("success_probabilities: examples must share the prompt and answer lengths (one task)")
    prompts_t = torch.tensor(prompts, device=model.device)  # (B, n + 1)
    answers_t = torch.tensor(answers, device=model.device)  # (B, L)
    n_prefix = prefixes.shape[0]
    was_training = model.training
    model.eval()
    try:
        per_example = max(1, batch_rows // n_prefix)
        out = []
        for start in range(0, len(examples), per_example):
            p, a = prompts_t[start : start + per_example], answers_t[start : start + per_example]
            b = p.shape[0]
            completion = torch.cat([prefixes[None].expand(b, -1, -1), a[:, None].expand(b, n_prefix, -1)],
                                   dim=2).reshape(b * n_prefix, -1)  # (b F, k + L): rows (u, y*)
            prompt_out = model(input_ids=p, use_cache=True)
            first = torch.log_softmax(prompt_out.logits[:, -1].float(), dim=-1)  # (b, V): log p(z_1 | x)
            first = first.repeat_interleave(n_prefix, dim=0).gather(-1, completion[:, :1]).squeeze(-1)  # (b F,)
            cache = prompt_out["cache"] if "cache" in prompt_out else prompt_out["past_key_values"]
            cache.batch_repeat_interleave(n_prefix)
            logits = model(input_ids=completion[:, :-1], **{_cache_argument(model): cache}, use_cache=True).logits
            rest = torch.log_softmax(logits.float(), dim=-1).gather(-1, completion[:, 1:, None]).squeeze(-1)
            sequence_lp = (first + rest.sum(dim=1)).double().reshape(b, n_prefix)  # log p(u y* | x)
            out.append(torch.logsumexp(sequence_lp, dim=1).exp())
        return torch.cat(out).cpu()
    finally:
        model.train(was_training)


def success_probabilities(model, tokenizer, examples: Sequence[Example], batch_rows: int = 8192) -> np.ndarray:
    """:func:`success_probability_tensor` without gradients, as a float64 numpy array."""
    with torch.no_grad():
        return success_probability_tensor(model, tokenizer, examples, batch_rows).numpy()


@torch.no_grad()
def greedy_accuracy(model, tokenizer, examples: Sequence[Example]) -> float:
    """Share of ``examples`` whose greedy (argmax) completion of k + L tokens is correct."""
    from llm.rollout import SamplingConfig, make_engine
    from llm.scoring import get_scorer

    if not examples:
        return float("nan")
    task_length = int(examples[0].metadata["free_tokens"]) + len(examples[0].answer)
    engine = make_engine("hf", model=model, tokenizer=tokenizer, batch_size=len(examples))
    groups = engine.generate([prompt_text(x) for x in examples], n=1,
                             sampling=SamplingConfig(temperature=0.0, max_new_tokens=task_length), seed=0)
    scorer = get_scorer(examples[0].benchmark)
    return float(np.mean([scorer.reward(x, g[0].text) for x, g in zip(examples, groups)]))


def exact_metrics(model, tokenizer, train: Sequence[Example], heldout: Sequence[Example]) -> dict[str, float]:
    """The ``exact/`` metrics of the module docstring for the current policy."""
    p_train = success_probabilities(model, tokenizer, train)
    record = {
        "exact/train_p_mean": float(p_train.mean()),
        "exact/train_p_median": float(np.median(p_train)),
        "exact/frac_escaped": float((p_train >= ESCAPE_LEVEL).mean()),
    }
    corrupted = np.array([bool(x.metadata.get("corrupted")) for x in train])
    if corrupted.any():
        record["exact/clean_p_mean"] = float(p_train[~corrupted].mean()) if (~corrupted).any() else float("nan")
        record["exact/corrupted_p_mean"] = float(p_train[corrupted].mean())
    if heldout:
        record["exact/heldout_p_mean"] = float(success_probabilities(model, tokenizer, heldout).mean())
        record["exact/heldout_greedy_acc"] = greedy_accuracy(model, tokenizer, heldout)
    return record
