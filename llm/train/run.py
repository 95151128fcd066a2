"""The fixed parts of a training run, built once: :class:`Run` and :func:`start_run`.

Everything a step reads but does not change in kind (the accelerator, policy and optimizer, the rollout engine,
the data, the reward, where q comes from, the replay source, the evaluations, the metrics writer, the run
folder) is built here, from the config or from a checkpoint when resuming, so the loop in
:mod:`llm.train.trainer` only trains.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Sequence

import yaml
from accelerate.utils import broadcast_object_list, set_seed

from llm.train import build
from llm.train.checkpoint import latest_checkpoint, load_checkpoint, register_adapter_hooks
from llm.train.config import ConfigError, TrainConfig, build_config
from llm.train.distributed import check_fsdp, full_parameters
from llm.train.evaluate import PeriodicEvaluation, default_evaluations
from llm.train.loss import LossSpec
from llm.train.metrics import MetricsWriter
from llm.train.order import PromptOrder
from llm.train.progress import StepProgress
from llm.train.replay import BufferedReplay, FreshSamples, replay_source
from tsallis.files import atomic_write_text, check_writable_folder

RESUMABLE_CHANGES = {"steps", "max_generated_tokens", "progress", "tensorboard", "eval", "checkpoint"}
"""Settings a resumed run may change; any other difference from the saved config is an error."""


@dataclass
class Run:
    """One training run's fixed parts (module docstring); ``start`` is the last step already trained."""

    config: TrainConfig
    accelerator: Any
    model: Any
    """The prepared (DDP/FSDP-wrapped) policy that trains."""
    policy: Any
    """The same policy unwrapped (what the engine syncs from and evaluations read)."""
    tokenizer: Any
    reference: Any
    """The frozen reference policy of the KL term, or None."""
    optimizer: Any
    scheduler: Any
    engine: Any
    data: build.Data
    reward: build.RewardFn
    q_source: Any
    replay: FreshSamples | BufferedReplay
    evaluations: list[PeriodicEvaluation]
    sampling: Any
    """The rollout sampling settings (:class:`~llm.rollout.base.SamplingConfig`)."""
    loss_spec: LossSpec
    order: PromptOrder
    run_dir: Path
    writer: MetricsWriter
    progress: StepProgress
    config_yaml: str
    start: int

    def generate(self, prompts: list[str], seed: int) -> list:
        """M samples per prompt from the current policy (FSDP: from the gathered parameters)."""
        with full_parameters(self.model, self.accelerator):
            return self.engine.generate(prompts, n=self.config.rollout.num_samples, sampling=self.sampling, seed=seed)

    def state_dict(self, step: int) -> dict[str, Any]:
        """What a checkpoint after ``step`` holds besides the weights and the optimizer."""
        return {"step": step, "data_order": self.order.state_dict(), "run_dir": str(self.run_dir),
                "q_source": self.q_source.state_dict(), "replay": self.replay.state_dict()}


def start_run(config: TrainConfig, accelerator, resume: str | Path | None, reward_fn,
              evaluations: Sequence[PeriodicEvaluation]) -> Run:
    """Build a run (or restore one from ``resume``'s newest checkpoint), write its config, and measure what the
    evaluations measure before the first step."""
    fsdp = check_fsdp(accelerator, config)
    check_launch(config, accelerator.num_processes)
    checkpoint = None
    if resume is not None:  # before loading anything: the run folder, its config and a complete checkpoint
        check_resumable(config, Path(resume))
        checkpoint = latest_checkpoint(Path(resume))
    else:
        check_output_dir(config)
    set_seed(config.seed)
    model, tokenizer, reference, optimizer, scheduler = build.policy_and_optimizer(config, accelerator)
    if config.model.lora_rank > 0:
        register_adapter_hooks(accelerator)
    policy = accelerator.unwrap_model(model)
    data = build.load_data(config, tokenizer)
    if fsdp and len(data.eval) % accelerator.num_processes:  # ranks generate in step under FSDP
        world = accelerator.num_processes
        raise ConfigError(f"under FSDP the {len(data.eval)} held-out questions must split evenly over the {world} "
                          f"processes: set eval.limit to a multiple of {world}")
    run = Run(config, accelerator, model, policy, tokenizer, reference, optimizer, scheduler,
              engine=build.rollout_engine(config, policy, tokenizer), data=data,
              reward=reward_fn or build.reward_function(config), q_source=build.q_source(config, len(data.train)),
              replay=replay_source(config, tokenizer.pad_token_id),
              evaluations=[*default_evaluations(config), *evaluations], sampling=build.training_sampling(config),
              loss_spec=LossSpec.from_config(config),
              order=PromptOrder(len(data.train), config.seed), run_dir=Path(resume or "."), writer=None,
              progress=None, config_yaml=yaml.safe_dump(config.to_dict(), sort_keys=False), start=0)
    if checkpoint is not None:
        restore(run, checkpoint)
    else:
        run.run_dir = new_run_dir(config, accelerator)
    open_logs(run)
    return run


def check_launch(config: TrainConfig, world: int) -> None:
    """The launch's process count must divide G, and the one-process features must run in one process."""
    if config.prompts_per_step % world:
        raise ConfigError(f"prompts_per_step={config.prompts_per_step} must be divisible by the {world} processes")
    if world > 1 and (config.algo.replay_capacity or config.rollout.dynamic_sampling_rounds):
        raise ConfigError("algo.replay_capacity and rollout.dynamic_sampling_rounds run in one process only "
                          f"(the ranks would need one shared buffer and equal rounds); this launch has {world}")


def restore(run: Run, checkpoint) -> None:
    """Load the weights, optimizer and the state of :meth:`Run.state_dict` from ``checkpoint``."""
    state = load_checkpoint(run.accelerator, checkpoint, run.model, run.config.model.lora_rank > 0)
    run.start = state["step"]
    run.order.load_state_dict(state["data_order"])
    run.q_source.load_state_dict(state.get("q_source", {}))
    if state.get("replay") is not None:
        run.replay.load_state_dict(state["replay"])
    run.engine.sync_weights(run.policy)


def open_logs(run: Run) -> None:
    """Write ``config.yaml``, open the metrics (dropping records after a resumed step) and the progress bar, and
    log the evaluations due at step 0 (a new run only)."""
    main = run.accelerator.is_main_process
    run.writer = MetricsWriter(run.run_dir, enabled=main, tensorboard=run.config.tensorboard)
    if main:
        atomic_write_text(run.run_dir / "config.yaml", run.config_yaml)
        run.writer.truncate_after(run.start)
    if run.start == 0:
        record = {}
        for evaluation in (e for e in run.evaluations if e.due(0, last=False)):
            with full_parameters(run.model, run.accelerator):
                record.update(evaluation.measure(run, 0))
        if record:
            run.writer.write({"step": 0, **record})
    run.progress = StepProgress(run.config.steps, run.start, enabled=run.config.progress and main)


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
