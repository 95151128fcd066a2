"""The HF engine's decode loop: a key/value-cached forward per token, the sampler's choice, its log-prob.

For a left-padded batch of prompts x (B, P) with attention mask a (B, P) it runs::

    positions  = cumsum(a) - 1, 0 on padding          # real tokens get the positions of an unpadded pass
    logits_1   = model(x, a, positions)[:, -1]         # prefill: the cache now holds the prompts
    for t = 1 .. max_new_tokens:
        y_t, ℓ_t = sampler(logits_t, t - 1)             # token and log softmax(logits_t / T)[y_t]
        y_t      = pad on rows already finished          # their later tokens are never used
        finished |= y_t ∈ EOS  or  completion text holds a stop string
        stop when every row is finished; else logits_{t+1} = model(y_t, cache)[:, -1]

These are the forward calls ``transformers``' ``generate`` makes for the same batch (positions from the mask,
``logits_to_keep=1``, a ``DynamicCache``), so the logits, and hence tokens and log-probs, are the ones a
``generate`` with :class:`llm.rollout.sampler.SeededSampler` as its only logits processor produced; what is left
out is generate's per-token machinery (input preparation, logits processors, stopping criteria), which dominates
a step of a small model.
"""

from __future__ import annotations

import inspect
from collections.abc import Callable, Collection

import torch

from llm.rollout.sampler import SeededSampler


def cache_keyword(model) -> str:
    """The forward argument that takes a key/value cache: ``cache`` (transformers >= 5.2x) or ``past_key_values``.

    Read from the class of the innermost ``transformers`` model, below a DDP wrapper (``.module``) and a ``peft``
    wrapper (``get_base_model()``), whose own forwards (like a forward patched on the instance) take ``**kwargs``.
    """
    while True:
        if isinstance(getattr(model, "module", None), torch.nn.Module):
            model = model.module
        elif hasattr(model, "get_base_model"):
            model = model.get_base_model()
        else:
            break
    return "cache" if "cache" in inspect.signature(type(model).forward).parameters else "past_key_values"


def output_cache(outputs):
    """The key/value cache a forward with ``use_cache=True`` returned (named ``cache`` or ``past_key_values``)."""
    return outputs["cache"] if "cache" in outputs else outputs["past_key_values"]


@torch.inference_mode()
def decode(
    model,
    input_ids: torch.Tensor,
    attention_mask: torch.Tensor,
    sampler: SeededSampler,
    *,
    max_new_tokens: int,
    eos_ids: Collection[int],
    pad_id: int,
    stop: Callable[[torch.Tensor, torch.Tensor], torch.Tensor] | None = None,
    rows: torch.Tensor | None = None,
) -> tuple[torch.Tensor, torch.Tensor]:
    """Generate up to ``max_new_tokens`` tokens for each row of a left-padded batch (module docstring).

    input_ids, attention_mask: (B, P) on the model's device, one prompt per row. With ``rows`` (B,) long they
    are instead the U distinct prompts (U, P), row b continuing prompt ``rows[b]``: each prompt is prefilled
    once and its keys/values copied to its rows, and rows that have finished leave the batch once they are a
    quarter of it (less work for M samples of a prompt and for samples of unequal length; the floating-point
    order differs from the one-row-per-prompt batch, so log-probs move by float32 round-off).
    ``stop(completions (B, t), running (B,) bool)`` returns the running rows whose completion holds a stop
    string. Returns (tokens (B, S) long, log-probs (B, S) float32), S ≤ max_new_tokens the number of steps
    run; entries after a row's end are padding.
    """
    device = input_ids.device
    cache_arg = cache_keyword(model)
    positions = (attention_mask.long().cumsum(-1) - 1).masked_fill_(attention_mask == 0, 0)  # (U, P)
    out = model(input_ids=input_ids, attention_mask=attention_mask, position_ids=positions, use_cache=True,
                logits_to_keep=1, return_dict=True)
    logits, cache = out.logits[:, -1], output_cache(out)  # (U, V)
    compact = rows is not None
    if compact:
        cache.batch_select_indices(rows)
        logits, attention_mask, positions = logits[rows], attention_mask[rows], positions[rows]  # (B, ...)
    batch = logits.shape[0]
    tokens = torch.full((batch, max_new_tokens), pad_id, dtype=torch.long, device=device)
    logprobs = torch.zeros((batch, max_new_tokens), dtype=torch.float32, device=device)
    running = torch.ones(batch, dtype=torch.bool, device=device)
    live = torch.arange(batch, device=device)  # the rows still in the forward batch
    eos = torch.tensor(sorted(eos_ids), dtype=torch.long, device=device)
    position = positions[:, -1:]  # (B', 1)
    for step in range(max_new_tokens):
        chosen, logprobs[live, step] = sampler(logits.to(copy=True, dtype=torch.float32), step, live)
        chosen = torch.where(running[live], chosen, pad_id)
        tokens[live, step] = chosen
        running[live] &= ~torch.isin(chosen, eos)
        if stop is not None and running.any():
            running &= ~stop(tokens[:, : step + 1], running)
        if step + 1 == max_new_tokens or not running.any():
            break
        keep = running[live]  # (B',)
        if compact and 4 * int((~keep).sum()) >= len(live):
            cache.batch_select_indices(keep.nonzero().squeeze(1))
            live, chosen, attention_mask, position = live[keep], chosen[keep], attention_mask[keep], position[keep]
        position = position + 1
        attention_mask = torch.cat([attention_mask, attention_mask.new_ones((len(live), 1))], dim=-1)  # (B', P + step + 1)
        out = model(input_ids=chosen[:, None], attention_mask=attention_mask, position_ids=position,
                    **{cache_arg: cache}, use_cache=True, logits_to_keep=1, return_dict=True)
        logits, cache = out.logits[:, -1], output_cache(out)
    return tokens[:, : step + 1], logprobs[:, : step + 1]
