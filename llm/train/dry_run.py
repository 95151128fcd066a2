"""``tsallis train --dry-run``: build everything a run needs except the model weights, and report it.

Built and checked: the validated config, the tokenizer (from disk only; this machine may have no hub
access), the training and held-out prompts, the verifier, the q schedule over the run, the estimator
weights on a synthetic reward batch of the run's shape (G, M), the sampling settings, the loss
aggregation, the learning-rate schedule and the run folder name; an output folder the run could not write to
is refused, as the run would refuse it. Nothing is downloaded or written.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import torch

from llm.train import build
from llm.train.config import TrainConfig
from llm.train.loss import get_aggregation


@dataclass
class DryRunReport:
    """What a dry run built, as (item, description) rows, plus warnings."""

    rows: list[tuple[str, str]] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)


def dry_run(config: TrainConfig, data_cache: dict | None = None) -> DryRunReport:
    """Build every part of a run except the model weights (see the module docstring).

    ``data_cache``: a dict the caller owns, in which the loaded prompts are kept by the fields they depend on,
    so that checking many recipes in one process loads each benchmark once (the grid test passes one).
    """
    from llm.train.distributed import check_device
    from llm.train.run import check_output_dir

    check_device(config)  # what the real run would refuse before loading the model
    check_output_dir(config)
    report = DryRunReport()
    add = report.rows.append
    add(("run name", config.run_name("{time}")))
    tokenizer = build.local_tokenizer(config.model.name)
    if tokenizer is None:
        report.warnings.append(
            f"tokenizer of model.name={config.model.name!r} is not on this machine (it is fetched from the hub "
            "when training starts); prompts below were rendered with the shipped SmolLM2 tokenizer"
        )
        tokenizer = build.local_tokenizer(None)  # the shipped SmolLM2 tokenizer (cached)
    add(("tokenizer", f"{type(tokenizer).__name__}, vocab {len(tokenizer)}"))
    data, lengths = _load_data(config, tokenizer, data_cache)
    add(("train prompts", f"{len(data.train)} {config.data.benchmark} examples; first {len(lengths)} prompts "
                          f"{min(lengths)}-{max(lengths)} tokens"))
    add(("eval prompts", f"{len(data.eval)} (maj@{config.eval.k} every {config.eval.every} steps)"
         if config.eval.every else "none (eval.every = 0)"))
    reward = build.reward_function(config)
    add(("verifier", f"{type(getattr(reward, '__self__', reward)).__name__}; reward of the gold target on "
                     f"example 0 = {reward(data.train[0], build.sft_target(data.train[0])):g}"))
    G, M = config.prompts_per_step, config.rollout.num_samples
    rewards = (torch.arange(G * M).reshape(G, M) % (G + 1) == 0).double()  # (G, M), a few successes
    source = build.q_source(config, len(data.train))
    first_q = source.q(1, list(range(G)), rewards)
    if not config.algo.uses_q:
        add(("q schedule", f"not used by {config.algo.name}"))
    elif source.kind is not None:
        add(("q schedule", f"{source.kind} (from the observed success rates), {config.algo.q}"))
    else:
        marks = sorted({1, config.steps // 2 + 1, config.steps})
        add(("q schedule", ", ".join(f"q(step {s})={source.q(s, [], None):g}" for s in marks)))
    generator = torch.Generator().manual_seed(config.seed)
    weights = build.weights_from_config(config, rewards, first_q, generator)
    spec = config.algo.spec
    options = ", ".join(f"{o}={getattr(config.algo, o)!r}" for o in spec.options if hasattr(config.algo, o)) or "none"
    add(("estimator", f"{config.algo.name}: w = {spec.formula}; options read: {options}; on a ({G}, {M}) reward "
                      f"batch with a few successes Σ|w| = {float(weights.abs().sum()):.4g}"))
    add(("paper's form", _likelihood_summary(config)))
    get_aggregation(config.algo.resolved_loss_agg)
    clip = config.algo.resolved_clip
    add(("loss", f"{config.algo.resolved_loss_agg}, clip {clip if clip else 'none'}, kl_beta {config.algo.kl_beta}"))
    add(("sampling", repr(build.training_sampling(config))))
    add(("optimizer", _schedule_summary(config)))
    model = config.model
    add(("model", f"{model.name or 'SmolLM2-135M-Instruct (default)'}, dtype {model.dtype}, "
                  + (f"LoRA r={model.lora_rank}" if model.lora_rank else "full fine-tuning")
                  + (", gradient checkpointing" if model.gradient_checkpointing else "")))
    add(("engine", config.rollout.engine + ("" if config.rollout.engine == "hf" else _vllm_status(report))))
    return report


def _likelihood_summary(config: TrainConfig) -> str:
    """The estimator's form with likelihood weights log p(y*|x, z_m) (the paper's), from the registry."""
    form = config.algo.spec.likelihood
    if form is None:
        return f"{config.algo.name} has none (it reads sampled-answer rewards only); algo.weights='reward'"
    read = ", ".join(form.options) or "none"
    use = (f"in use (algo.weights='likelihood'), rationale {config.rationale_format()}"
           if config.algo.weights == "likelihood" else "not in use (algo.weights='reward')")
    return f"{use}; score ; answer = {form.formula}; options read: {read}"


def _load_data(config: TrainConfig, tokenizer, cache: dict | None) -> tuple[build.Data, list[int]]:
    """``build.load_data`` and the token lengths of the first 16 training prompts, kept in ``cache`` (when given)
    under the fields they read."""
    key = (repr(config.data), config.eval.every > 0, config.eval.exact_every > 0, config.eval.limit,
           tokenizer.name_or_path, len(tokenizer))
    if cache is None or key not in cache:
        data = build.load_data(config, tokenizer)
        lengths = [len(ids) for ids in tokenizer(data.train_prompts[:16], add_special_tokens=False)["input_ids"]]
        if cache is None:
            return data, lengths
        cache[key] = data, lengths
    return cache[key]


def _schedule_summary(config: TrainConfig) -> str:
    """Build the optimizer and the LR scheduler on a one-parameter stand-in and read the LR at a few steps."""
    o = config.optim
    stand_in = torch.nn.Linear(1, 1)
    optimizer, scheduler = build.optimizer_and_scheduler(config, stand_in)
    total = config.steps * config.algo.ppo_epochs
    lrs = []
    for step in range(total):
        if step in (0, min(o.warmup_steps, total - 1), total - 1):
            lrs.append(f"lr({step})={scheduler.get_last_lr()[0]:.3g}")
        optimizer.step()
        scheduler.step()
    return f"{type(optimizer).__name__} {o.lr_schedule} after {o.warmup_steps} warm-up steps: " + ", ".join(dict.fromkeys(lrs))


def _vllm_status(report: DryRunReport) -> str:
    try:
        import vllm  # noqa: F401
    except ImportError:
        from llm.rollout.vllm_engine import VLLM_INSTALL_HINT

        report.warnings.append(f"rollout.engine='vllm' but vllm is not installed here ({VLLM_INSTALL_HINT})")
        return " (not installed here)"
    return ""


def format_report(report: DryRunReport) -> Any:
    """A rich table of the report."""
    from rich.table import Table

    table = Table(title="dry run: built everything but the model weights", show_lines=False)
    table.add_column("part", style="bold")
    table.add_column("built")
    for name, text in report.rows:
        table.add_row(name, text)
    return table
