"""The training loop: rollout → reward → estimator weights (``tsallis``) → micro-batched loss → optimizer step.

One step, on every rank (``accelerate`` launches one process per GPU; each takes G/ranks prompts)::

    prompts      = the next G prompt indices (same on every rank), this rank's share indices[rank::ranks]
    rollouts     = engine.generate(prompts, n=M)                     # z_gm ~ p_θ(· | x_g), with log-probs
                   (or the gold targets, for an estimator that trains on targets;
                    or rationales then the gold answer, in the likelihood form: llm.train.likelihood)
    rewards      = r(x_g, z_gm)                                      # (G_local, M) in {0, 1}
                   (likelihood form: w_gm = p_θ(y*_g | x_g, z_gm) in [0, 1])
    coefficients = M · tsallis.estimators.compute_weights(name, rewards, options(q = schedule(step)))
                   (likelihood form: per token, M · (score, answer) of tsallis.compute_likelihood_weights)
    loss         = Σ_microbatches policy_loss(ℓ, mask, A, spec)      # = -(1/G) Σ w log p(z) for seq-sum
    backward per micro-batch (gradients accumulate, DDP syncs on the last), clip, optimizer, LR scheduler
    log metrics (averaged over the update and the ranks), evaluate, checkpoint

The run's fixed parts are built once into a :class:`~llm.train.run.Run` (:mod:`llm.train.run`, from the builders
of :mod:`llm.train.build`); replay (:mod:`llm.train.replay`) and the evaluations (:mod:`llm.train.evaluate`) sit
behind small interfaces whose defaults do nothing; :mod:`llm.train.update` holds the coefficients, the loss and the
optimizer step, :mod:`llm.train.metrics` the step record, :mod:`llm.train.distributed` accelerate and FSDP2, and
:mod:`llm.train.checkpoint` the checkpoints.
"""

from __future__ import annotations

import contextlib
import signal
import sys
import threading
import time
from dataclasses import replace
from pathlib import Path
from typing import Any, Callable, Sequence

import torch
from accelerate.utils import gather_object

from llm.seeding import RESAMPLING_STREAM, ROLLOUT_STREAM, step_seed
from llm.train.checkpoint import list_checkpoints, save_checkpoint
from llm.train.config import TrainConfig
from llm.train.distributed import full_parameters, make_accelerator, replica_metrics
from llm.train.evaluate import PeriodicEvaluation
from llm.train.export import FINAL_DIR, export_run
from llm.train.likelihood import likelihood_coefficients, sample_likelihood
from llm.train.metrics import StepUpdate, UpdateMeans, read_metrics, step_record
from llm.train.run import Run, start_run
from llm.train.sampling import sample_batch
from llm.train.update import NonFiniteUpdate, accumulate_gradients, optimizer_step, sequence_coefficients


class TrainingDiverged(ValueError):
    """An update went non-finite (``optim.on_nonfinite = "stop"``): the run stopped before saving that step."""

    def __init__(self, run_dir: Path, step: int, what: str):
        good = list_checkpoints(run_dir)
        last = f"the last good checkpoint is {good[-1][1]}" if good else "there is no checkpoint"
        super().__init__(f"{run_dir}: training diverged at step {step}: {what}; nothing of it was saved, {last}")
        self.run_dir, self.step = run_dir, step


class TrainingInterrupted(Exception):
    """Ctrl-C stopped the run at the end of a step, after a checkpoint; ``run_dir`` and ``step`` say where."""

    def __init__(self, run_dir: Path, step: int):
        super().__init__(f"interrupted after step {step}; a checkpoint of it is in {run_dir}")
        self.run_dir, self.step = run_dir, step


def train(config: TrainConfig, *, resume: str | Path | None = None, reward_fn: Callable[[Any, str], float] | None = None,
          stop_after: int | None = None, evaluations: Sequence[PeriodicEvaluation] = ()) -> Path:
    """Run (or resume) training; return the run folder. ``resume``: a run folder to continue from its newest
    checkpoint. ``reward_fn``: replaces the benchmark verifier (tests use trivially learnable rewards).
    ``stop_after``: leave the loop after this step as if killed (tests of kill-and-resume). ``evaluations``:
    measurements added to the config's (:mod:`llm.train.evaluate`). Ctrl-C finishes the current step,
    checkpoints it and raises :class:`TrainingInterrupted`."""
    run = start_run(config, make_accelerator(config), resume, reward_fn, evaluations)
    rank, world, G = run.accelerator.process_index, run.accelerator.num_processes, config.prompts_per_step
    generated = sum(r.get("perf/generated_tokens") or 0 for r in read_metrics(run.run_dir)) if run.start else 0.0
    step, last = run.start, run.start == config.steps
    with stop_at_step_end() as interrupt, deterministic_on_cpu(run.accelerator.device):
        for step in range(run.start + 1, config.steps + 1):
            started = time.perf_counter()

            # 1. sample: M completions per prompt, the gold targets, or M rationales + the gold answer (likelihood)
            seed = step_seed(config.seed, step, rank, ROLLOUT_STREAM)
            sample = sample_likelihood if config.algo.weights == "likelihood" else sample_batch
            batch = sample(run, run.order.take(G)[rank::world], seed)
            sampled, scored = time.perf_counter() - batch.score_seconds, time.perf_counter()
            rewards, indices = gather_groups(run, batch)  # (G, M) and G prompt indices of every rank, rank-major

            # 2. weights: q (a schedule, or the success rates so far), coefficients A = (N/G)·w of the N sequences
            q, q_all = step_q(run, step, batch.indices, indices, rewards)
            generator = torch.Generator().manual_seed(step_seed(config.seed, step, rank, RESAMPLING_STREAM))
            training = run.replay.training_set(batch, run.policy)
            coefficients, weight_metrics = step_coefficients(run, batch, training, q, generator)

            # 3. loss and optimizer step (ppo_epochs updates on the same rollouts)
            lr = run.scheduler.get_last_lr()[0]  # the learning rate this step trains with
            try:
                train_tokens, means = update_policy(run, training.rollouts, coefficients)
            except NonFiniteUpdate as err:
                close_logs(run)
                raise TrainingDiverged(run.run_dir, step, str(err)) from None
            durations = {"rollout": sampled - started, "score": scored - sampled, "train": time.perf_counter() - scored}
            run.q_source.update(indices, rewards)
            run.replay.add(batch)  # after the update: this step's successes join the buffer

            # 4. log: the step's metrics and the evaluations due
            update = StepUpdate(config.algo.name, lr, train_tokens, durations, means)
            record = {**step_record(step, q_all, rewards, batch, coefficients, update, run.accelerator),
                      **run.replay.metrics(), **weight_metrics}
            generated += record["perf/generated_tokens"]
            last = step == config.steps or generated >= (config.max_generated_tokens or float("inf"))
            record.update(replica_metrics(run.model, run.policy, run.accelerator))
            record.update(evaluate_due(run, step, last))
            run.writer.write(record)
            run.progress.update(step, record)

            # 5. checkpoint (also when Ctrl-C asked to stop: every rank stops after the same step)
            stop = _any_rank(interrupt["stop"], run.accelerator)
            if (config.checkpoint.every and step % config.checkpoint.every == 0) or last or stop:
                save_checkpoint(run.accelerator, run.run_dir, step, run.state_dict(step), run.config_yaml,
                                config.checkpoint.keep_last)
            if stop:
                close_logs(run)
                raise TrainingInterrupted(run.run_dir, step)
            if last or (stop_after is not None and step >= stop_after):
                break
    close_logs(run)
    finish(run, last)
    return run.run_dir


def gather_groups(run: Run, batch) -> tuple[torch.Tensor, list[int]]:
    """Every rank's rewards (G, M) and prompt indices (G,), rank-major."""
    rewards = run.accelerator.gather(batch.rewards.to(run.accelerator.device)).cpu()
    indices = gather_object(batch.indices) if run.accelerator.num_processes > 1 else batch.indices
    return rewards, indices


def step_coefficients(run: Run, batch, training, q, generator) -> tuple[torch.Tensor, dict[str, float]]:
    """The coefficients of the sequences trained and the weights' metrics: per token in the likelihood form
    (:func:`llm.train.likelihood.likelihood_coefficients`), else per sequence (``sequence_coefficients``)."""
    if batch.log_w is not None:
        return likelihood_coefficients(run.config, batch, q, generator)
    return sequence_coefficients(run.config, training.rewards, q, generator, training.options, training.valid), {}


def step_q(run: Run, step: int, local_indices: list[int], indices: list[int], rewards: torch.Tensor):
    """q of this rank's groups (a number, or (G_local, 1) per prompt; 0 for an estimator without q) and q of every
    rank's groups, which the metrics report."""
    q = run.q_source.q(step, local_indices, rewards) if run.config.algo.spec.uses_q else 0.0
    q_all = run.q_source.q(step, indices, rewards) if run.q_source.kind == "prompt_success" else q
    return q, q_all


def update_policy(run: Run, rollouts: list, coefficients: torch.Tensor) -> tuple[int, UpdateMeans]:
    """``algo.ppo_epochs`` optimizer updates on the step's sequences (entropy logged on the first), then the
    engine's weights synced; returns the tokens forwarded and the update's averaged metrics."""
    means, train_tokens = UpdateMeans(), 0
    for epoch in range(run.config.algo.ppo_epochs):
        spec = replace(run.loss_spec, with_entropy=epoch == 0)
        forwarded, epoch_means = accumulate_gradients(run.model, rollouts, coefficients, spec,
                                                      accelerator=run.accelerator, pad_id=run.tokenizer.pad_token_id,
                                                      reference=run.reference)
        train_tokens += forwarded
        means.merge(epoch_means)
        optimizer_step(run.model, run.optimizer, run.scheduler, run.accelerator, run.config.optim, means)
    run.engine.sync_weights(run.policy)
    return train_tokens, means


def evaluate_due(run: Run, step: int, last: bool) -> dict[str, float]:
    """The metrics of the evaluations due after ``step``, each with its wall-clock time ``perf/{name}_s``."""
    record: dict[str, float] = {}
    for evaluation in (e for e in run.evaluations if e.due(step, last)):
        started = time.perf_counter()
        with full_parameters(run.model, run.accelerator):
            record.update(evaluation.measure(run, step))
        record[f"perf/{evaluation.name}_s"] = time.perf_counter() - started
    return record


def close_logs(run: Run) -> None:
    run.progress.close()
    run.writer.close()


def finish(run: Run, last: bool) -> None:
    """When the run reached its end, export its last checkpoint as a Hugging Face folder (``checkpoint.export_final``)."""
    run.accelerator.wait_for_everyone()
    if run.config.checkpoint.export_final and run.accelerator.is_main_process and last:
        export_run(run.run_dir, out=run.run_dir / FINAL_DIR)
    run.accelerator.wait_for_everyone()


@contextlib.contextmanager
def deterministic_on_cpu(device: torch.device):
    """On CPU, run the block with torch's deterministic kernels, so that a run and its resumed copy are equal bit
    for bit whatever the thread timing (with two or more threads, a kernel such as the embedding's backward
    ``index_add`` may otherwise sum in a different order from one run to the next); the setting found on entry is
    put back on exit. On GPU the block changes nothing (bitwise reproducibility is not promised there)."""
    if device.type != "cpu":
        yield
        return
    enabled, warn_only = torch.are_deterministic_algorithms_enabled(), torch.is_deterministic_algorithms_warn_only_enabled()
    torch.use_deterministic_algorithms(True, warn_only=True)
    try:
        yield
    finally:
        torch.use_deterministic_algorithms(enabled, warn_only=warn_only)


@contextlib.contextmanager
def stop_at_step_end():
    """Within the block the first Ctrl-C (SIGINT) only sets ``flag["stop"]``, so the loop can finish the step and
    checkpoint; a second Ctrl-C interrupts at once (a checkpoint save interrupted this way leaves only an ignored
    ``.tmp`` folder). The handler found on entry, whatever it is, is put back on exit. Outside the main thread,
    where signals cannot be caught, the block changes nothing."""
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
