"""One update of the policy: estimator weights → per-sequence coefficients → micro-batched loss → optimizer step.

For a step's G groups of M sequences with rewards r (G, M) the registered estimator gives weights w (G, M)
(``tsallis.estimators.compute_weights``), and sequence i gets the coefficient A_i = M · w_i. The loss of the
update is Σ over micro-batches of :func:`llm.train.loss.policy_loss` with one normaliser N for the whole update;
with the ``seq-sum`` aggregation (N = G·M sequences) it is exactly −(1/G) Σ_g Σ_m w_gm log p_θ(z_gm).
Sequences with A = 0 have zero gradient when there is no KL term (A ℓ and the clipped surrogate both vanish), so
they are not forwarded at all: PAFT trains only on its K resampled successes, and groups without a success (the
cold-start stall) cost nothing. They still count in N.
"""

from __future__ import annotations

import contextlib
import math

import torch
from accelerate import Accelerator

from llm.models import nonfinite_parameters
from llm.rollout.base import Rollout
from llm.train import build
from llm.train.batch import collate, token_logprobs
from llm.train.config import TrainConfig
from llm.train.loss import LossSpec, normalizer_count, policy_loss
from llm.train.metrics import UpdateMeans


def sequence_coefficients(config: TrainConfig, rewards: torch.Tensor, q, generator, extra: dict | None = None,
                          valid: torch.Tensor | None = None) -> torch.Tensor:
    """A = (N / G) · w over the sequences trained, with w = ``tsallis.estimators.compute_weights`` for
    ``config.algo`` on ``rewards`` (G, W) and N the number of sequences: the W slots of every group, or the ones
    ``valid`` (G, W) marks (a replay union's filled slots). Flattened row-major, (N,).

    The loss's ``seq-sum`` mode divides by N sequences, so Σ A ℓ / N = (1/G) Σ_g Σ_m w_gm ℓ_gm; with W = M
    samples per group A = M · w. ``q`` is a number or a (G, 1) array; ``extra`` holds per-batch estimator inputs
    (a replay buffer's ``proposal_logw`` and ``p_hat``).
    """
    weights = build.weights_from_config(config, rewards, q, generator, extra)  # (G, W)
    if valid is None:
        return (weights.shape[1] * weights).reshape(-1).float()
    kept = weights[valid.to(weights.device)]  # (N,) row-major
    return (kept.numel() / weights.shape[0] * kept).float()


def target_rollouts(tokenizer, prompts: list[str], examples: list) -> list[list[Rollout]]:
    """Each example's gold target (``build.sft_target``, ending with EOS) as a one-sample group, for the
    estimators that train on targets; its log-probs are not used."""
    groups = []
    for index, (prompt, example) in enumerate(zip(prompts, examples)):
        prompt_ids = tokenizer(prompt, add_special_tokens=False)["input_ids"]
        text = build.sft_target(example)
        completion = tokenizer(text, add_special_tokens=False)["input_ids"] + [tokenizer.eos_token_id]
        groups.append([Rollout(index, 0, list(prompt_ids), completion, text, [0.0] * len(completion), "eos")])
    return groups


def accumulate_gradients(model, rollouts: list[Rollout], coefficients: torch.Tensor, spec: LossSpec, *,
                         accelerator: Accelerator, pad_id: int, reference=None) -> tuple[int, UpdateMeans]:
    """Add ∇L of one update to the parameters' ``.grad``, one micro-batch at a time.

    L = Σ_microbatches ``policy_loss`` with N counted over the whole update (all sequences of all ranks,
    trained or not). ``coefficients`` are (N,) per sequence or (N, C_max) per token (row i's first
    len(completion_i) entries; :mod:`llm.train.likelihood`). Sequences with A = 0 are skipped when ``spec.kl_beta`` is 0 (their gradient is zero).
    Returns the number of tokens forwarded (prompt + completion, padding excluded) and the update's loss
    metrics (``loss/``, and ``train/entropy`` when ``spec.with_entropy``).
    """
    normalizer = update_normalizer(rollouts, spec, accelerator)
    chunks = micro_batches(rollouts, coefficients, spec, accelerator)
    means, loss_total, forwarded = UpdateMeans(), 0.0, 0
    for number, chunk in enumerate(chunks):
        rows = chunk or [0]  # an empty chunk is a padding pass: zero coefficient, zero gradient
        batch = collate([rollouts[i].prompt_ids for i in rows], [rollouts[i].completion_ids for i in rows], pad_id,
                        [rollouts[i].logprobs for i in rows]).to(accelerator.device)
        coeff = coefficients[rows] if chunk else torch.zeros_like(coefficients[:1])
        if coeff.dim() == 2:  # per-token coefficients (N, C_max) -> this micro-batch's width
            coeff = coeff[:, : batch.completion_ids.shape[1]]
        sync = contextlib.nullcontext() if number == len(chunks) - 1 else accelerator.no_sync(model)
        with sync:
            logprobs, entropy = token_logprobs(model, batch, spec.temperature, spec.with_entropy)
            ref = None
            if spec.kl_beta > 0:
                with torch.no_grad():
                    ref = _reference_logprobs(reference, model, accelerator, batch, spec.temperature)
            loss, metrics = policy_loss(logprobs, batch.completion_mask, coeff.to(accelerator.device), spec, normalizer,
                                        old_logprobs=batch.old_logprobs, ref_logprobs=ref)
            if not chunk:
                loss = loss * 0.0  # a padding pass only keeps the ranks' collectives in step
            accelerator.backward(loss)
        loss_total += float(loss.detach())
        if not chunk:
            continue
        forwarded += int(batch.attention_mask.sum())
        for name, (total, n) in metrics.items():
            means.add(name, total, n)
        if entropy is not None:
            means.add("train/entropy", (entropy * batch.completion_mask).sum(), batch.completion_mask.sum())
    means.add("loss/policy", loss_total, 1)
    return forwarded, means


def update_normalizer(rollouts: list[Rollout], spec: LossSpec, accelerator: Accelerator) -> float:
    """This rank's share of the update's normaliser N (counted over every rank's sequences): N / ranks, since DDP
    averages gradients over the ranks."""
    lengths = torch.tensor([len(r.completion_ids) for r in rollouts])
    full_mask = (torch.arange(int(lengths.max()))[None, :] < lengths[:, None]).float()  # (B_local, C)
    count = torch.tensor([normalizer_count(spec.agg, full_mask, spec.max_new_tokens)], dtype=torch.float64)
    if accelerator.num_processes > 1:
        count = accelerator.reduce(count.to(accelerator.device), reduction="sum").cpu()
    return float(count) / accelerator.num_processes


def micro_batches(rollouts: list[Rollout], coefficients: torch.Tensor, spec: LossSpec,
                  accelerator: Accelerator) -> list[list[int]]:
    """The rollout indices of each forward/backward pass: the sequences with a gradient (A ≠ 0, or all under a KL
    term) in chunks of ``spec.micro_batch_size``, padded with empty passes to the busiest rank's count (DDP/FSDP
    need every rank in every collective)."""
    active = [i for i in range(len(rollouts)) if spec.kl_beta > 0 or bool(coefficients[i].any())]
    chunks = [active[i : i + spec.micro_batch_size] for i in range(0, len(active), spec.micro_batch_size)]
    if accelerator.num_processes > 1:
        most = accelerator.reduce(torch.tensor([len(chunks)], device=accelerator.device), reduction="max")
        chunks += [[]] * (int(most) - len(chunks))
    return chunks


def _reference_logprobs(reference, model, accelerator, batch, temperature):
    """ℓ^ref: the frozen copy, or (LoRA) the same model with its adapter disabled."""
    if reference is not None:
        return token_logprobs(reference, batch, temperature)[0]
    with accelerator.unwrap_model(model).disable_adapter():
        return token_logprobs(model, batch, temperature)[0]


class NonFiniteUpdate(ArithmeticError):
    """An update whose loss, gradient or resulting parameters are NaN or inf; the message says which."""


def optimizer_step(model, optimizer, scheduler, accelerator: Accelerator, optim, means: UpdateMeans) -> None:
    """Clip the global gradient norm (logged as ``train/grad_norm`` before clipping), step, zero the gradients.

    A non-finite gradient norm (a NaN or inf loss gives one) raises :class:`NonFiniteUpdate`
    (``optim.on_nonfinite = "stop"``) or drops the update (``"skip_step"``: gradients zeroed, no step,
    ``train/skipped`` = 1); parameters that are not finite after the step always raise. The gradient norm is global,
    so every rank decides alike.
    """
    grad_norm = float(accelerator.clip_grad_norm_(model.parameters(), optim.max_grad_norm or float("inf")))
    finite = math.isfinite(grad_norm)
    means.add("train/grad_norm", grad_norm, 1)
    means.add("train/skipped", 0.0 if finite else 1.0, 1)
    if finite:
        optimizer.step()
        scheduler.step()
    optimizer.zero_grad(set_to_none=True)
    if not finite and optim.on_nonfinite == "stop":
        raise NonFiniteUpdate(f"the gradient norm is {grad_norm} (a NaN or inf loss or gradient)")
    bad = nonfinite_parameters(model)
    if bad:
        raise NonFiniteUpdate(f"parameter {bad[0]} holds NaN or inf after the optimizer step")
