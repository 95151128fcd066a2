"""The training loop: rollout → reward → estimator weights (``tsallis``) → micro-batched loss → AdamW step.

One step, on every rank (``accelerate`` launches one process per GPU; each takes G/ranks prompts)::

    prompts   = the next G prompt indices (same on every rank), this rank's share indices[rank::ranks]
    rollouts  = engine.generate(prompts, n=M)                        # z_gm ~ p_θ(· | x_g), with log-probs
    rewards   = r(x_g, z_gm)                                        # (G_local, M) in {0, 1}
    weights   = tsallis.estimators.compute_weights(algo, rewards, options(q = schedule(step)))
    A_gm      = M · w_gm                                            # per-sequence coefficient
    loss      = Σ_microbatches policy_loss(ℓ, mask, A, agg, N)      # = -(1/G) Σ w log p(z) for seq-sum
    backward per micro-batch (gradients accumulate, DDP syncs on the last), clip, AdamW, LR scheduler
    log metrics (averaged over the update and the ranks), evaluate, checkpoint

Under FSDP (``accelerate launch --use_fsdp --fsdp_version 2``) each rank holds a shard of every parameter;
generation and evaluation run inside :func:`full_parameters`, which gathers them once per rollout.

Sequences whose coefficient is 0 have zero gradient when there is no KL term (A ℓ and the clipped
surrogate both vanish), so they are not forwarded at all: PAFT trains only on its K resampled
successes, and groups without a success (the cold-start stall) cost nothing. They still count in N.
"""

from __future__ import annotations

import contextlib
import time
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Callable

import torch
import yaml
from accelerate import Accelerator
from accelerate.utils import DistributedType, broadcast_object_list, parse_flag_from_env, set_seed

from llm.rollout.base import Rollout
from llm.seeding import derive_seed
from llm.train import build
from llm.train.batch import collate, token_logprobs
from llm.atomic import atomic_write_text
from llm.train.checkpoint import (
    latest_checkpoint,
    load_checkpoint,
    register_adapter_hooks,
    save_checkpoint,
)
from llm.train.config import ConfigError, TrainConfig, build_config
from llm.train.evaluate import evaluate
from llm.train.loss import normalizer_count, policy_loss
from llm.train.metrics import MetricsWriter, UpdateMeans, peak_memory_gb
from llm.train.order import PromptOrder
from llm.train.progress import StepProgress
from tsallis.diagnostics import group_diagnostics

# settings a resumed run may change; any other difference from the saved config is an error
RESUMABLE_CHANGES = {"steps", "progress", "tensorboard", "eval", "checkpoint"}


def step_seed(seed: int, step: int, rank: int, stream: int) -> int:
    """A 32-bit seed for one (run seed, step, rank, stream): rollouts and PAFT resampling draw from their
    own streams, so a resumed run draws exactly what the uninterrupted run drew."""
    return derive_seed(seed, step, rank, stream)


def make_accelerator(config: TrainConfig) -> Accelerator:
    """``accelerate`` for DDP/FSDP launches; bf16 autocast only on CUDA (CPU stays fp32, reproducible)."""
    cuda = torch.cuda.is_available() and config.device != "cpu"
    return Accelerator(
        cpu=not cuda,
        mixed_precision="bf16" if (cuda and config.bf16) else "no",
        step_scheduler_with_optimizer=False,  # one scheduler step per optimizer step, on every rank
    )


def check_fsdp(accelerator: Accelerator, config: TrainConfig) -> bool:
    """Whether the model will be FSDP-sharded; FSDP asked for but not in effect is an error.

    ``accelerate launch --use_fsdp`` sets ``ACCELERATE_USE_FSDP=true``. accelerate 1.15 honours it only on
    GPUs (and other accelerators): with CPU processes it silently wraps the model in DDP instead. Only FSDP2
    is supported (:func:`full_parameters` gathers parameters through its ``unshard`` API), without LoRA:
    peft's ``generate`` enters the model below the FSDP root, which torch refuses ("FSDP requires a single
    root module").
    """
    if accelerator.distributed_type == DistributedType.FSDP:
        if not accelerator.is_fsdp2:
            raise ConfigError("FSDP1 is not supported by the trainer: launch with --fsdp_version 2")
        if config.model.lora_rank > 0:
            raise ConfigError(f"model.lora_rank={config.model.lora_rank} is not supported under FSDP; use DDP with LoRA")
        return True
    if parse_flag_from_env("ACCELERATE_USE_FSDP") and accelerator.num_processes > 1:
        raise ConfigError(
            f"ACCELERATE_USE_FSDP is set but accelerate runs {accelerator.distributed_type.value} on "
            f"{accelerator.device.type}: it enables FSDP only on GPUs; launch without --use_fsdp for DDP"
        )
    return False


@contextlib.contextmanager
def full_parameters(model, accelerator: Accelerator):
    """Inside this block every rank holds the full parameters of an FSDP2 model (a no-op otherwise).

    Generation calls the model once per token. Left sharded, every such forward would all-gather each
    layer again; here each FSDP module is all-gathered once, kept unsharded across the forwards, and
    resharded on exit. The parameters are read-only inside: changes are not written back to the shards.
    (``transformers`` runs ``generate`` with ``synced_gpus`` under FSDP, one small all-reduce per token
    that keeps the ranks in step, so every rank must call ``generate`` equally often.)
    """
    if accelerator.distributed_type != DistributedType.FSDP:
        yield
        return
    from torch.distributed.fsdp import FSDPModule

    modules = [m for m in model.modules() if isinstance(m, FSDPModule)]
    for module in modules:
        module.unshard()
        module.set_reshard_after_forward(False, recurse=False)
    try:
        yield
    finally:
        for module in modules:
            module.set_reshard_after_forward(accelerator.state.fsdp_plugin.reshard_after_forward, recurse=False)
            module.reshard()


def new_run_dir(config: TrainConfig, accelerator: Accelerator) -> Path:
    """``output_dir/{recipe}__{algo}_q{q}__seed{seed}__{UTC time}``, the same name on every rank."""
    stamp = [datetime.now(timezone.utc).strftime("%Y%m%d-%H%M%S")]
    if accelerator.num_processes > 1:
        broadcast_object_list(stamp)
    run_dir = Path(config.output_dir) / config.run_name(stamp[0])
    if accelerator.is_main_process:
        run_dir.mkdir(parents=True, exist_ok=False)
    accelerator.wait_for_everyone()
    return run_dir


def check_resumable(config: TrainConfig, run_dir: Path) -> None:
    """The resumed config must equal the saved one except for ``RESUMABLE_CHANGES``."""
    path = run_dir / "config.yaml"
    if not path.is_file():
        raise FileNotFoundError(f"cannot resume: {path} does not exist")
    saved = build_config(yaml.safe_load(path.read_text()), str(path)).to_dict()
    current = config.to_dict()
    differ = sorted(k for k in current if k not in RESUMABLE_CHANGES and current[k] != saved.get(k))
    if differ:
        detail = "; ".join(f"{k}: saved {saved.get(k)!r}, now {current[k]!r}" for k in differ)
        raise ConfigError(f"cannot resume {run_dir}: the config differs from the saved one in {detail}")


def train(
    config: TrainConfig,
    *,
    resume: str | Path | None = None,
    reward_fn: Callable[[Any, str], float] | None = None,
    stop_after: int | None = None,
) -> Path:
    """Run (or resume) training; return the run folder.

    ``resume``: a run folder to continue from its newest checkpoint. ``reward_fn``: replaces the
    benchmark verifier (tests use trivially learnable rewards). ``stop_after``: leave the loop after this
    step as if killed (tests of kill-and-resume).
    """
    # ---------------- setup ----------------
    accelerator = make_accelerator(config)
    fsdp = check_fsdp(accelerator, config)
    rank, world = accelerator.process_index, accelerator.num_processes
    if config.prompts_per_step % world:
        raise ConfigError(f"prompts_per_step={config.prompts_per_step} must be divisible by the {world} processes")
    set_seed(config.seed)
    model, tokenizer = build.load_model(config, accelerator.device)
    reference = build.reference_model(config, model)
    model = build.apply_lora(config, model)
    model.train()
    optimizer, scheduler = build.optimizer_and_scheduler(config, model)
    model, optimizer, scheduler = accelerator.prepare(model, optimizer, scheduler)
    adapter_only = config.model.lora_rank > 0
    if adapter_only:
        register_adapter_hooks(accelerator)
    policy = accelerator.unwrap_model(model)
    engine = build.rollout_engine(config, policy, tokenizer)
    data = build.load_data(config, tokenizer)
    if fsdp and len(data.eval) % world:  # ranks generate in step under FSDP (see full_parameters)
        raise ConfigError(f"under FSDP the {len(data.eval)} held-out questions must split evenly over the {world} "
                          f"processes: set eval.limit to a multiple of {world}")
    reward = reward_fn or build.reward_function(config)
    exact = build.exact_evaluation(config, data)  # exact P_θ(x) on the synthetic task, else None
    schedule = build.q_schedule(config)
    sampling = build.sampling_config(config)
    order = PromptOrder(len(data.train), config.seed)
    algo, M, G = config.algo.name, config.rollout.num_samples, config.prompts_per_step
    config_yaml = yaml.safe_dump(config.to_dict(), sort_keys=False)

    start = 0
    if resume is not None:
        run_dir = Path(resume)
        check_resumable(config, run_dir)
        state = load_checkpoint(accelerator, latest_checkpoint(run_dir), model, adapter_only)
        start = state["step"]
        order.load_state_dict(state["data_order"])
        engine.sync_weights(policy)
    else:
        run_dir = new_run_dir(config, accelerator)
    writer = MetricsWriter(run_dir, enabled=accelerator.is_main_process, tensorboard=config.tensorboard)
    if accelerator.is_main_process:
        atomic_write_text(run_dir / "config.yaml", config_yaml)
        writer.truncate_after(start)
    if exact is not None and start == 0:  # the measured p0, before any update
        with full_parameters(model, accelerator):
            writer.write({"step": 0, **exact(policy, tokenizer)})
    progress = StepProgress(config.steps, start, enabled=config.progress and accelerator.is_main_process)

    # ---------------- loop ----------------
    for step in range(start + 1, config.steps + 1):
        t_start = time.perf_counter()
        q = float(schedule(step - 1)) if config.algo.uses_q else 0.0
        indices = order.take(G)[rank::world]
        examples = [data.train[i] for i in indices]

        # 1. rollouts: M samples per prompt (SFT: the gold target as the single "sample")
        if algo == "sft":
            groups = [[_target_rollout(g, tokenizer, data.train_prompts[i], data.train[i])] for g, i in enumerate(indices)]
        else:
            prompts = [data.train_prompts[i] for i in indices]
            with full_parameters(model, accelerator):
                groups = engine.generate(prompts, n=M, sampling=sampling, seed=step_seed(config.seed, step, rank, 0))
        t_rollout = time.perf_counter()

        # 2. rewards (G_local, M)
        rewards = torch.tensor([[reward(x, r.text) for r in group] for x, group in zip(examples, groups)], dtype=torch.float64)
        t_score = time.perf_counter()

        # 3. estimator weights from the core, as per-sequence coefficients A = M·w, flattened (G_local·M,)
        generator = torch.Generator().manual_seed(step_seed(config.seed, step, rank, 1))
        advantages = sequence_coefficients(config, rewards, q, generator)
        rollouts = [r for group in groups for r in group]

        # 4. micro-batched loss and backward, AdamW step (ppo_epochs updates on the same rollouts)
        means = UpdateMeans()
        train_tokens, lr = 0, scheduler.get_last_lr()[0]  # the learning rate this step trains with
        for epoch in range(config.algo.ppo_epochs):
            train_tokens += _update(config, accelerator, model, reference, optimizer, scheduler, rollouts,
                                    advantages, means, tokenizer.pad_token_id, with_entropy=epoch == 0)
        engine.sync_weights(policy)
        t_train = time.perf_counter()

        # 5. metrics: reward diagnostics from the core on all G groups, the rest averaged over the update
        all_rewards = accelerator.gather(rewards.to(accelerator.device)).cpu()  # (G, M)
        record: dict[str, Any] = {"step": step, "algo/q": q, "train/lr": lr}
        record["reward/mean"] = float(all_rewards.mean())
        record.update(group_diagnostics(all_rewards, q))  # P̂ summary, no-success share, P̂^-q, PAFT ESS
        quartiles = torch.quantile(all_rewards.mean(dim=1), torch.tensor([0.25, 0.5, 0.75], dtype=torch.float64))
        record.update({f"p_hat/q{int(100 * f)}": float(v) for f, v in zip((0.25, 0.5, 0.75), quartiles)})
        lengths = torch.tensor([len(r.completion_ids) for r in rollouts], dtype=torch.float64)
        means.add("completion/length_mean", lengths.sum(), len(rollouts))
        means.add("completion/truncated_frac", sum(r.finish_reason == "length" for r in rollouts), len(rollouts))
        means.add("weights/nonzero_frac", (advantages != 0).sum(), advantages.numel())
        means.add("perf/rollout_s", t_rollout - t_start, 1)
        means.add("perf/score_s", t_score - t_rollout, 1)
        means.add("perf/train_s", t_train - t_score, 1)
        means.add("perf/rollout_tokens_per_s", world * lengths.sum() / max(t_rollout - t_start, 1e-9), 1)
        means.add("perf/train_tokens_per_s", world * train_tokens / max(t_train - t_score, 1e-9), 1)
        means.add("perf/peak_mem_gb", peak_memory_gb(accelerator.device), 1)
        record.update(means.means(accelerator))
        if world > 1:  # DDP keeps replicas identical (FSDP: the gathered ones); a non-zero spread means divergence
            with full_parameters(model, accelerator):
                checksum = torch.stack([p.detach().double().sum() for p in policy.parameters()]).sum()
            sums = accelerator.gather(checksum.reshape(1).to(accelerator.device))
            record["dist/world_size"] = world
            record["dist/param_checksum_spread"] = float(sums.max() - sums.min())
        record["perf/step_s"] = time.perf_counter() - t_start
        if exact is not None and (step % config.eval.exact_every == 0 or step == config.steps):
            t_exact = time.perf_counter()
            with full_parameters(model, accelerator):
                record.update(exact(policy, tokenizer))
            record["perf/exact_s"] = time.perf_counter() - t_exact
        if config.eval.every and (step % config.eval.every == 0 or step == config.steps):
            t_eval = time.perf_counter()
            with full_parameters(model, accelerator):
                record.update(evaluate(engine, tokenizer, data, config, step_seed(config.seed, step, 0, 2), accelerator))
            record["perf/eval_s"] = time.perf_counter() - t_eval
        writer.write(record)
        progress.update(step, record)

        # 6. checkpoint
        every = config.checkpoint.every
        if (every and step % every == 0) or step == config.steps:
            state = {"step": step, "data_order": order.state_dict(), "run_dir": str(run_dir)}
            save_checkpoint(accelerator, run_dir, step, state, config_yaml, config.checkpoint.keep_last)
        if stop_after is not None and step >= stop_after:
            break
    progress.close()
    writer.close()
    accelerator.wait_for_everyone()
    return run_dir


def _target_rollout(index: int, tokenizer, prompt: str, example) -> Rollout:
    """The SFT target of ``example`` as a one-sample group (ends with EOS; its log-probs are not used)."""
    prompt_ids = tokenizer(prompt, add_special_tokens=False)["input_ids"]
    text = build.sft_target(example)
    completion = tokenizer(text, add_special_tokens=False)["input_ids"] + [tokenizer.eos_token_id]
    return Rollout(index, 0, list(prompt_ids), completion, text, [0.0] * len(completion), "eos")


def sequence_coefficients(config: TrainConfig, rewards: torch.Tensor, q: float, generator) -> torch.Tensor:
    """A = M · w, flattened (G·M,), with w = ``tsallis.estimators.compute_weights`` for ``config.algo``.

    The loss's ``seq-sum`` mode divides by N = G·M sequences, so Σ A ℓ / N = (1/G) Σ_g Σ_m w_gm ℓ_gm.
    SFT groups are one gold target each (every sample is a target).
    """
    weights = build.estimator_weights(config, rewards, q, generator)  # (G, M)
    return (weights.shape[1] * weights).reshape(-1).float()


def _update(config, accelerator, model, reference, optimizer, scheduler, rollouts, advantages, means,
            pad_id, with_entropy) -> int:
    """One optimizer step on ``rollouts``: accumulate gradients, clip, AdamW, LR scheduler.
    Returns the number of tokens forwarded."""
    a = config.algo
    forwarded = accumulate_gradients(
        model, rollouts, advantages, accelerator=accelerator, agg=a.resolved_loss_agg, clip=a.resolved_clip,
        kl_beta=a.kl_beta, temperature=config.rollout.temperature, max_new_tokens=config.rollout.max_new_tokens,
        micro_batch_size=config.optim.micro_batch_size, pad_id=pad_id, reference=reference, means=means,
        with_entropy=with_entropy,
    )
    max_norm = config.optim.max_grad_norm or float("inf")
    grad_norm = accelerator.clip_grad_norm_(model.parameters(), max_norm)
    means.add("train/grad_norm", float(grad_norm), 1)
    optimizer.step()
    scheduler.step()
    optimizer.zero_grad(set_to_none=True)
    return forwarded


def accumulate_gradients(
    model,
    rollouts: list[Rollout],
    advantages: torch.Tensor,
    *,
    accelerator: Accelerator,
    agg: str,
    clip: tuple[float, float] | None,
    kl_beta: float,
    temperature: float,
    max_new_tokens: int,
    micro_batch_size: int,
    pad_id: int,
    reference=None,
    means: UpdateMeans | None = None,
    with_entropy: bool = False,
) -> int:
    """Add ∇L of one update to the parameters' ``.grad``, one micro-batch at a time.

    L = Σ_microbatches ``policy_loss`` with N counted over the whole update (all sequences of all ranks,
    trained or not). Sequences with A = 0 are skipped when ``kl_beta`` is 0 (their gradient is zero).
    Returns the number of tokens forwarded (prompt + completion, padding excluded).
    """
    world = accelerator.num_processes
    means = means if means is not None else UpdateMeans()
    lengths = torch.tensor([len(r.completion_ids) for r in rollouts])
    full_mask = (torch.arange(int(lengths.max()))[None, :] < lengths[:, None]).float()  # (B_local, C)
    count = torch.tensor([normalizer_count(agg, full_mask, max_new_tokens)], dtype=torch.float64)
    if world > 1:
        count = accelerator.reduce(count.to(accelerator.device), reduction="sum").cpu()
    normalizer = float(count) / world  # DDP averages gradients over ranks: each rank's share is N / ranks

    active = [i for i in range(len(rollouts)) if kl_beta > 0 or advantages[i] != 0]
    chunks = [active[i : i + micro_batch_size] for i in range(0, len(active), micro_batch_size)]
    if world > 1:  # every rank must run as many forward/backward passes as the busiest one (DDP/FSDP)
        most = accelerator.reduce(torch.tensor([len(chunks)], device=accelerator.device), reduction="max")
        chunks += [[]] * (int(most) - len(chunks))

    loss_total, forwarded = 0.0, 0
    for number, chunk in enumerate(chunks):
        rows = chunk or [0]  # an empty chunk is a padding pass: zero coefficient, zero gradient
        batch = collate(
            [rollouts[i].prompt_ids for i in rows],
            [rollouts[i].completion_ids for i in rows],
            pad_id,
            [rollouts[i].logprobs for i in rows],
        ).to(accelerator.device)
        coeff = advantages[rows] if chunk else torch.zeros(1)
        sync = contextlib.nullcontext() if number == len(chunks) - 1 else accelerator.no_sync(model)
        with sync:
            logprobs, entropy = token_logprobs(model, batch, temperature, with_entropy)
            ref = None
            if kl_beta > 0:
                with torch.no_grad():
                    ref = _reference_logprobs(reference, model, accelerator, batch, temperature)
            loss, metrics = policy_loss(
                logprobs, batch.completion_mask, coeff.to(accelerator.device), agg=agg, normalizer=normalizer,
                old_logprobs=batch.old_logprobs, ref_logprobs=ref, clip=clip, kl_beta=kl_beta,
            )
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
    return forwarded


def _reference_logprobs(reference, model, accelerator, batch, temperature):
    """ℓ^ref: the frozen copy, or (LoRA) the same model with its adapter disabled."""
    if reference is not None:
        return token_logprobs(reference, batch, temperature)[0]
    with accelerator.unwrap_model(model).disable_adapter():
        return token_logprobs(model, batch, temperature)[0]
