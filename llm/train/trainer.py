"""The training loop: rollout → reward → estimator weights (``tsallis``) → micro-batched loss → optimizer step.

One step, on every rank (``accelerate`` launches one process per GPU; each takes G/ranks prompts)::

    prompts      = the next G prompt indices (same on every rank), this rank's share indices[rank::ranks]
    rollouts     = engine.generate(prompts, n=M)                     # z_gm ~ p_θ(· | x_g), with log-probs
                   (or the gold targets, for an estimator that trains on targets)
    rewards      = r(x_g, z_gm)                                      # (G_local, M) in {0, 1}
    coefficients = M · tsallis.estimators.compute_weights(name, rewards, options(q = schedule(step)))
    loss         = Σ_microbatches policy_loss(ℓ, mask, A, spec)      # = -(1/G) Σ w log p(z) for seq-sum
    backward per micro-batch (gradients accumulate, DDP syncs on the last), clip, optimizer, LR scheduler
    log metrics (averaged over the update and the ranks), evaluate, checkpoint

The pieces live in their own modules: :mod:`llm.train.build` (what a run needs), :mod:`llm.train.update`
(coefficients, loss, optimizer step), :mod:`llm.train.metrics` (the step record), :mod:`llm.train.distributed`
(accelerate, FSDP2), :mod:`llm.train.checkpoint`.
"""

from __future__ import annotations

import contextlib
import signal
import sys
import threading
import time
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Callable

import torch
import yaml
from accelerate.utils import broadcast_object_list, gather_object, set_seed

from llm.seeding import derive_seed
from llm.train import build
from llm.train.checkpoint import latest_checkpoint, load_checkpoint, register_adapter_hooks, save_checkpoint
from llm.train.config import ConfigError, TrainConfig, build_config
from llm.train.distributed import check_fsdp, full_parameters, make_accelerator, replica_metrics
from llm.train.evaluate import evaluate
from llm.train.export import FINAL_DIR, export_run
from llm.train.metrics import MetricsWriter, UpdateMeans, read_metrics, step_record
from llm.train.order import PromptOrder
from llm.train.progress import StepProgress
from llm.train.replay import ReplayBuffer, replay_batch
from llm.train.sampling import sample_batch
from llm.train.update import LossSpec, accumulate_gradients, optimizer_step, sequence_coefficients
from tsallis.files import atomic_write_text, check_writable_folder

# settings a resumed run may change; any other difference from the saved config is an error
RESUMABLE_CHANGES = {"steps", "max_generated_tokens", "progress", "tensorboard", "eval", "checkpoint"}

ROLLOUT_STREAM, RESAMPLING_STREAM, EVAL_STREAM = 0, 1, 2
"""The random streams of a step: rollouts, PAFT's resampling and evaluation draw from their own seeds."""


def step_seed(seed: int, step: int, rank: int, stream: int) -> int:
    """A 32-bit seed for one (run seed, step, rank, stream), so a resumed run draws exactly what the
    uninterrupted run drew."""
    return derive_seed(seed, step, rank, stream)


def new_run_dir(config: TrainConfig, accelerator) -> Path:
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
    """The resumed config must equal the saved one except for ``RESUMABLE_CHANGES``; a longer or shorter run
    is refused when its learning rate decays (linear, cosine): the schedule was laid out for the saved length,
    and a new length would bend it (e.g. a cosine run resumed from 5 to 8 steps would train step 6 at lr 0)."""
    path = run_dir / "config.yaml"
    if not path.is_file():
        raise FileNotFoundError(f"cannot resume {run_dir}: {path} does not exist")
    saved_config = build_config(yaml.safe_load(path.read_text()), str(path))
    saved, current = saved_config.to_dict(), config.to_dict()
    differ = sorted(k for k in current if k not in RESUMABLE_CHANGES and current[k] != saved.get(k))
    if differ:
        detail = "; ".join(f"{k}: saved {saved.get(k)!r}, now {current[k]!r}" for k in differ)
        raise ConfigError(f"cannot resume {run_dir}: the config differs from the saved one in {detail}")
    if config.steps != saved_config.steps and config.optim.lr_schedule != "constant":
        raise ConfigError(
            f"cannot resume {run_dir} with steps={config.steps}: its optim.lr_schedule={config.optim.lr_schedule!r} "
            f"decays over the saved steps={saved_config.steps}; resume with steps={saved_config.steps}")


def check_output_dir(config: TrainConfig) -> None:
    """Fail before any expensive work when ``output_dir`` cannot hold a new run folder."""
    check_writable_folder(config.output_dir, "output_dir")


class TrainingInterrupted(Exception):
    """Ctrl-C stopped the run at the end of a step, after a checkpoint; ``run_dir`` and ``step`` say where."""

    def __init__(self, run_dir: Path, step: int):
        super().__init__(f"interrupted after step {step}; a checkpoint of it is in {run_dir}")
        self.run_dir, self.step = run_dir, step


@contextlib.contextmanager
def stop_at_step_end():
    """Within the block the first Ctrl-C (SIGINT) only sets ``flag["stop"]``, so the loop can finish the step and
    checkpoint; a second Ctrl-C interrupts at once (a checkpoint save interrupted this way leaves only an ignored
    ``.tmp`` folder). Outside the main thread, where signals cannot be caught, the block changes nothing."""
    flag = {"stop": False}
    if threading.current_thread() is not threading.main_thread():
        yield flag
        return

    def on_sigint(signum, frame):
        if flag["stop"]:
            raise KeyboardInterrupt
        flag["stop"] = True
        print("\nCtrl-C: stopping after this step (press again to stop now)", file=sys.stderr)

    previous = signal.signal(signal.SIGINT, on_sigint)
    try:
        yield flag
    finally:
        signal.signal(signal.SIGINT, previous)


def _any_rank(flag: bool, accelerator) -> bool:
    """Whether ``flag`` is set on any rank (one small all-reduce when there are several)."""
    if accelerator.num_processes == 1:
        return flag
    return bool(accelerator.reduce(torch.tensor([int(flag)], device=accelerator.device), reduction="max").item())


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
    step as if killed (tests of kill-and-resume). Ctrl-C finishes the current step, checkpoints it and raises
    :class:`TrainingInterrupted`.
    """
    # ---------------- setup ----------------
    accelerator = make_accelerator(config)
    fsdp = check_fsdp(accelerator, config)
    rank, world = accelerator.process_index, accelerator.num_processes
    if config.prompts_per_step % world:
        raise ConfigError(f"prompts_per_step={config.prompts_per_step} must be divisible by the {world} processes")
    if world > 1 and (config.algo.replay_capacity or config.rollout.dynamic_sampling_rounds):
        raise ConfigError("algo.replay_capacity and rollout.dynamic_sampling_rounds run in one process only "
                          f"(the ranks would need one shared buffer and equal rounds); this launch has {world}")
    if resume is not None:  # before loading anything: the run folder, its config and a complete checkpoint
        check_resumable(config, Path(resume))
        checkpoint = latest_checkpoint(Path(resume))
    else:
        check_output_dir(config)
    set_seed(config.seed)
    model, tokenizer = build.load_model(config, accelerator.device)
    reference = build.reference_model(config, model)
    model = build.enable_gradient_checkpointing(config, model)
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
    q_source = build.q_source(config, len(data.train))  # a schedule, or q from the observed success rates
    replay = ReplayBuffer(config.algo.replay_capacity, config.algo.replay_policy, config.seed) \
        if config.algo.replay_capacity else None
    sampling = build.sampling_config(config)
    loss_spec = LossSpec.from_config(config)
    estimator = config.algo.spec
    order = PromptOrder(len(data.train), config.seed)
    M, G = config.rollout.num_samples, config.prompts_per_step
    config_yaml = yaml.safe_dump(config.to_dict(), sort_keys=False)

    start = 0
    if resume is not None:
        run_dir = Path(resume)
        state = load_checkpoint(accelerator, checkpoint, model, adapter_only)
        start = state["step"]
        order.load_state_dict(state["data_order"])
        q_source.load_state_dict(state.get("q_source", {}))
        if replay is not None:
            replay.load_state_dict(state["replay"])
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

    def generate(prompts: list[str], seed: int) -> list:
        """M samples per prompt from the current policy (FSDP: from the gathered parameters)."""
        with full_parameters(model, accelerator):
            return engine.generate(prompts, n=M, sampling=sampling, seed=seed)

    # ---------------- loop ----------------
    step, last = start, start == config.steps
    generated = sum(r.get("perf/generated_tokens") or 0 for r in read_metrics(run_dir)) if start else 0.0
    with stop_at_step_end() as interrupt:
        for step in range(start + 1, config.steps + 1):
            timings = {"start": time.perf_counter()}

            # 1. the groups: M samples per prompt, or the gold targets (dynamic sampling may swap prompts)
            batch = sample_batch(config, data, tokenizer, reward, order.take(G)[rank::world], generate,
                                 step_seed(config.seed, step, rank, ROLLOUT_STREAM), order.take)
            timings["rollout"] = time.perf_counter() - batch.score_seconds
            timings["score"] = time.perf_counter()
            all_rewards = accelerator.gather(batch.rewards.to(accelerator.device)).cpu()  # (G, M), every rank's
            all_indices = gather_object(batch.indices) if world > 1 else batch.indices  # rank-major, as all_rewards

            # 2. q (a schedule, or the success rates so far) and the coefficients A = (N/G)·w of the N sequences
            q = q_source.q(step, batch.indices, all_rewards) if estimator.uses_q else 0.0
            q_all = q_source.q(step, all_indices, all_rewards) if q_source.kind == "prompt_success" else q
            generator = torch.Generator().manual_seed(step_seed(config.seed, step, rank, RESAMPLING_STREAM))
            if replay is None:
                rollouts = [r for group in batch.groups for r in group]
                coefficients = sequence_coefficients(config, batch.rewards, q, generator)
            else:  # PAFT resamples from the fresh samples and the prompts' stored successes
                union = replay_batch(replay, batch.indices, batch.groups, batch.rewards, policy,
                                     tokenizer.pad_token_id, config.rollout.temperature, config.optim.micro_batch_size)
                rollouts = union.rollouts
                coefficients = sequence_coefficients(config, union.rewards, q, generator, union.options, union.valid)

            # 3. micro-batched loss and backward, optimizer step (ppo_epochs updates on the same rollouts)
            means = UpdateMeans()
            train_tokens, lr = 0, scheduler.get_last_lr()[0]  # the learning rate this step trains with
            for epoch in range(config.algo.ppo_epochs):
                train_tokens += accumulate_gradients(model, rollouts, coefficients, loss_spec, accelerator=accelerator,
                                                     pad_id=tokenizer.pad_token_id, reference=reference, means=means,
                                                     with_entropy=epoch == 0)
                optimizer_step(model, optimizer, scheduler, accelerator, config.optim.max_grad_norm, means)
            engine.sync_weights(policy)
            timings["train"] = time.perf_counter()
            q_source.update(all_indices, all_rewards)
            if replay is not None:  # after the update: this step's successes join the buffer
                for index, group, row in zip(batch.indices, batch.groups, batch.rewards):
                    replay.add(index, group, row)

            # 4. metrics, evaluation, exact P
            record = step_record(step, q_all, lr, config.algo.name, all_rewards, batch, coefficients, train_tokens,
                                 timings, means, accelerator)
            if replay is not None:
                record.update({"replay/stored_trained": union.stored_count, "replay/buffer_size": len(replay)})
            generated += record["perf/generated_tokens"]
            last = step == config.steps or (config.max_generated_tokens is not None
                                            and generated >= config.max_generated_tokens)
            record.update(replica_metrics(model, policy, accelerator))
            if exact is not None and (step % config.eval.exact_every == 0 or last):
                t_exact = time.perf_counter()
                with full_parameters(model, accelerator):
                    record.update(exact(policy, tokenizer))
                record["perf/exact_s"] = time.perf_counter() - t_exact
            if config.eval.every and (step % config.eval.every == 0 or last):
                t_eval = time.perf_counter()
                with full_parameters(model, accelerator):
                    record.update(evaluate(engine, tokenizer, data, config,
                                           step_seed(config.seed, step, 0, EVAL_STREAM), accelerator))
                record["perf/eval_s"] = time.perf_counter() - t_eval
            writer.write(record)
            progress.update(step, record)

            # 5. checkpoint (also when Ctrl-C asked to stop: every rank stops after the same step)
            stop = _any_rank(interrupt["stop"], accelerator)
            every = config.checkpoint.every
            if (every and step % every == 0) or last or stop:
                state = {"step": step, "data_order": order.state_dict(), "run_dir": str(run_dir),
                         "q_source": q_source.state_dict(), "replay": replay.state_dict() if replay else None}
                save_checkpoint(accelerator, run_dir, step, state, config_yaml, config.checkpoint.keep_last)
            if stop:
                progress.close()
                writer.close()
                raise TrainingInterrupted(run_dir, step)
            if last or (stop_after is not None and step >= stop_after):
                break
    progress.close()
    writer.close()
    accelerator.wait_for_everyone()
    if config.checkpoint.export_final and accelerator.is_main_process and last:
        export_run(run_dir, out=run_dir / FINAL_DIR)  # the last checkpoint (steps or max_generated_tokens)
    accelerator.wait_for_everyone()
    return run_dir
