"""This project's trainer against TRL's GRPOTrainer, side by side on identical settings.

Both train GRPO for a few steps on the same G shipped HotPotQA prompts (closed-book, rendered with the model's
chat template, token for token the same on both sides), M samples per prompt, at most N new tokens, temperature
1, top-p 1, no top-k, learning rate 1e-5, fp32, no reference model (β = 0), no gradient checkpointing, the same
micro-batch (TRL: ``per_device_train_batch_size`` with gradient accumulation up to the G·M sequences of a step),
all G·M rollouts of a step in one generation batch, TRL's default loss ``dapo`` (= our GRPO's ``token-sum`` with
the clipped ratio, ε = 0.2), and a reward of 1 for completions of even character length (about half succeed, so
every group has signal). Each side keeps its own optimizer defaults (TRL: fused AdamW; ours: ``optim.*``).

Each run is a fresh process (so its peak resident memory belongs to that trainer alone), pinned to
``--threads`` torch threads; the runs alternate TRL, ours, ours, TRL, ... over ``--rounds`` rounds so that a
drift in the machine's speed hits both. The first step of every run is a warm-up and is not counted. Per step:

* step: one optimizer step (TRL: ``on_step_begin`` to ``on_step_end``; ours: ``perf/step_s``);
* rollout: generation of the G·M completions (TRL: ``_generate_single_turn``; ours: ``perf/rollout_s``);
* train: step - rollout (scoring, advantages, forward/backward, clipping, optimizer);
* tokens: completion tokens generated in the step;
* CPU s: the same parts in process CPU time (all threads), a steadier figure than wall time when other work
  shares the machine;
* peak memory: the run's maximum resident set size (``ru_maxrss``), model loading included.

The tables give per-part medians over all counted steps of all rounds, and ours/TRL ratios, with the load
average before and after the measurements; a second table gives the per-part minima, the figure least
disturbed by other work on a shared machine (each run also records the load average at its end). Needs TRL (``pip install -e ".[bench]"``)::

    OMP_NUM_THREADS=2 python benchmarks/bench_vs_trl.py                               # both models, G=1 x M=8 x 32
    python benchmarks/bench_vs_trl.py --models default --prompts 4 --samples 8 --max-new-tokens 128 --steps 3
    python benchmarks/bench_vs_trl.py --models tiny-random --json /tmp/vs_trl.json
"""

from __future__ import annotations

import argparse
import json
import multiprocessing
import os
import resource
import statistics
import tempfile
import time
from concurrent.futures import ProcessPoolExecutor
from dataclasses import asdict, dataclass
from pathlib import Path

from rich.console import Console
from rich.table import Table

TRL_VERSION = "1.16.0"
"""The TRL release this benchmark was written against (the ``bench`` extra pins it)."""

COLUMNS = {"step_s": "step s", "rollout_s": "rollout s", "train_s": "train s", "step_cpu_s": "step CPU s",
           "rollout_cpu_s": "rollout CPU s", "train_cpu_s": "train CPU s", "peak_gib": "peak GiB",
           "tokens": "tokens/step"}
"""Summary figures (medians per step; peak memory the largest of the runs) and their table headers."""


@dataclass(frozen=True)
class Settings:
    """What both trainers are given."""

    model: str
    """``default`` (SmolLM2-135M-Instruct) or ``tiny-random``."""
    prompts: int
    """G, prompts per step (the first G shipped HotPotQA training questions, the same every step)."""
    samples: int
    """M, completions per prompt."""
    max_new_tokens: int
    """N, completion length limit."""
    micro_batch: int
    """Sequences per forward/backward pass."""
    steps: int
    """Optimizer steps per run; the first is a warm-up."""
    threads: int
    """torch threads of each run."""
    lr: float = 1e-5
    """Learning rate of both."""


def even_length(text: str) -> float:
    """1 for a completion of even character length: about half the samples succeed."""
    return float(len(text) % 2 == 0)


def our_config(settings: Settings, output_dir: str):
    """This project's :class:`~llm.train.config.TrainConfig` for ``settings``."""
    from llm.train.config import build_config

    s = settings
    return build_config({
        "seed": 0, "steps": s.steps, "prompts_per_step": s.prompts, "output_dir": output_dir, "progress": False,
        "tensorboard": False,
        "model": {"name": None if s.model == "default" else s.model},
        "data": {"benchmark": "hotpotqa", "closed_book": True, "train_limit": s.prompts},
        "rollout": {"num_samples": s.samples, "max_new_tokens": s.max_new_tokens, "temperature": 1.0, "top_p": 1.0,
                    "batch_size": s.prompts * s.samples},
        "algo": {"name": "grpo"},
        "optim": {"lr": s.lr, "micro_batch_size": s.micro_batch, "max_grad_norm": 1.0},
        "eval": {"every": 0},
        "checkpoint": {"every": 0},
    }, "bench_vs_trl")


def load_model(settings: Settings):
    """(model, tokenizer) exactly as this project's trainer loads them."""
    from llm.models import load_policy, tiny_random_policy

    return tiny_random_policy(seed=0) if settings.model == "tiny-random" else load_policy(None)


def shared_prompts(settings: Settings) -> list[str]:
    """The G prompt strings this project's trainer renders (TRL gets the same strings)."""
    from transformers import AutoTokenizer

    from llm.models import asset_tokenizer, prepare_tokenizer, resolve_model
    from llm.train import build

    tokenizer = (asset_tokenizer() if settings.model == "tiny-random"
                 else prepare_tokenizer(AutoTokenizer.from_pretrained(resolve_model(None))))
    with tempfile.TemporaryDirectory() as out:
        return build.load_data(our_config(settings, out), tokenizer).train_prompts


def peak_rss_gib() -> float:
    """This process's maximum resident set size so far (Linux ``ru_maxrss`` is in KiB)."""
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**20


def run_ours(settings: Settings) -> dict:
    """Train with ``llm.train.trainer.train`` in this (fresh) process; per-step records after the warm-up.

    The trainer logs wall-clock times itself (``perf/``); the process CPU time of each step is read where the
    trainer writes the step's metrics, and that of each rollout around ``engine.generate``.
    """
    import torch

    torch.set_num_threads(settings.threads)
    from llm.rollout import HFRolloutEngine
    from llm.train.metrics import MetricsWriter, read_metrics
    from llm.train.trainer import train

    cpu_at_write, rollout_cpu = [], []
    write, generate = MetricsWriter.write, HFRolloutEngine.generate

    def timed_write(self, record):
        cpu_at_write.append(time.process_time())
        return write(self, record)

    def timed_generate(self, *args, **kwargs):
        start = time.process_time()
        try:
            return generate(self, *args, **kwargs)
        finally:
            rollout_cpu.append(time.process_time() - start)

    MetricsWriter.write, HFRolloutEngine.generate = timed_write, timed_generate
    with tempfile.TemporaryDirectory() as out:
        records = read_metrics(train(our_config(settings, out), reward_fn=lambda example, text: even_length(text)))
    n = settings.prompts * settings.samples
    steps = [{"step": r["perf/step_s"], "rollout": r["perf/rollout_s"], "tokens": r["completion/length_mean"] * n,
              "step_cpu": cpu_at_write[k] - cpu_at_write[k - 1], "rollout_cpu": rollout_cpu[k]}
             for k, r in enumerate(records) if k > 0]
    return {"steps": steps, "peak_gib": peak_rss_gib()}


def run_trl(settings: Settings, prompts: list[str]) -> dict:
    """Train with TRL's GRPOTrainer in this (fresh) process; per-step records after the warm-up."""
    import torch

    torch.set_num_threads(settings.threads)
    from datasets import Dataset
    from transformers import PrinterCallback, TrainerCallback
    from trl import GRPOConfig, GRPOTrainer

    model, tokenizer = load_model(settings)
    current = {"rollout": 0.0, "rollout_cpu": 0.0, "tokens": 0}
    steps: list[dict] = []

    class TimedGRPOTrainer(GRPOTrainer):
        """GRPOTrainer that times its generation calls."""

        def _generate_single_turn(self, *args, **kwargs):
            start, start_cpu = time.perf_counter(), time.process_time()
            try:
                return super()._generate_single_turn(*args, **kwargs)
            finally:
                current["rollout"] += time.perf_counter() - start
                current["rollout_cpu"] += time.process_time() - start_cpu

    class StepTimer(TrainerCallback):
        """Times each optimizer step and collects the rollout time and tokens measured inside it."""

        def on_step_begin(self, args, state, control, **kwargs):
            current.update(rollout=0.0, rollout_cpu=0.0, tokens=0, start=time.perf_counter(),
                           start_cpu=time.process_time())

        def on_step_end(self, args, state, control, **kwargs):
            steps.append({"step": time.perf_counter() - current["start"], "rollout": current["rollout"],
                          "tokens": current["tokens"], "step_cpu": time.process_time() - current["start_cpu"],
                          "rollout_cpu": current["rollout_cpu"]})

    def reward(completions, completion_ids, **kwargs):
        current["tokens"] += sum(len(ids) for ids in completion_ids)
        return [even_length(text) for text in completions]

    s = settings
    rows = s.prompts * s.samples
    with tempfile.TemporaryDirectory() as out:
        args = GRPOConfig(
            output_dir=out, report_to=[], save_strategy="no", logging_steps=1, disable_tqdm=True, use_cpu=True,
            bf16=False, activation_checkpointing=False, seed=0, max_steps=s.steps, learning_rate=s.lr,
            max_grad_norm=1.0, per_device_train_batch_size=s.micro_batch,
            gradient_accumulation_steps=rows // s.micro_batch, num_generations=s.samples,
            max_completion_length=s.max_new_tokens, temperature=1.0, top_p=1.0, top_k=0, beta=0.0,
            loss_type="dapo", epsilon=0.2,
        )
        trainer = TimedGRPOTrainer(model=model, reward_funcs=reward, args=args, processing_class=tokenizer,
                                   train_dataset=Dataset.from_dict({"prompt": prompts}), callbacks=[StepTimer()])
        trainer.remove_callback(PrinterCallback)  # its per-step log lines would flood the table
        trainer.train()
    return {"steps": steps[1:], "peak_gib": peak_rss_gib()}


def in_fresh_process(fn, *args):
    """Run ``fn(*args)`` in a new spawned process and return its result."""
    with ProcessPoolExecutor(max_workers=1, mp_context=multiprocessing.get_context("spawn")) as pool:
        return pool.submit(fn, *args).result()


def summarise(runs: list[dict], reduce=statistics.median) -> dict[str, float]:
    """Per-part ``reduce`` (median, or min) over every counted step of every run, and the largest peak memory."""
    steps = [s for run in runs for s in run["steps"]]
    return {
        "step_s": reduce(s["step"] for s in steps),
        "rollout_s": reduce(s["rollout"] for s in steps),
        "train_s": reduce(s["step"] - s["rollout"] for s in steps),
        "step_cpu_s": reduce(s["step_cpu"] for s in steps),
        "rollout_cpu_s": reduce(s["rollout_cpu"] for s in steps),
        "train_cpu_s": reduce(s["step_cpu"] - s["rollout_cpu"] for s in steps),
        "tokens": reduce(s["tokens"] for s in steps),
        "peak_gib": max(run["peak_gib"] for run in runs),
        "counted_steps": len(steps),
    }


def compare(settings: Settings, rounds: int, console: Console) -> dict:
    """Alternate TRL and our trainer for ``rounds`` rounds; print and return both summaries and the ratios."""
    if (settings.prompts * settings.samples) % settings.micro_batch:
        raise SystemExit(f"G·M = {settings.prompts * settings.samples} must be a multiple of --micro-batch")
    prompts = shared_prompts(settings)
    runs: dict[str, list[dict]] = {"trl": [], "ours": []}
    load_before = os.getloadavg()
    for number in range(rounds):
        order = ("trl", "ours") if number % 2 == 0 else ("ours", "trl")
        for side in order:
            result = in_fresh_process(run_trl, settings, prompts) if side == "trl" else in_fresh_process(run_ours, settings)
            result["loadavg"] = os.getloadavg()
            runs[side].append(result)
            console.print(f"  round {number + 1} {side}: step medians "
                          f"{statistics.median(s['step'] for s in result['steps']):.2f} s, load {result['loadavg'][0]:.2f}")
    load_after = os.getloadavg()
    result = {"settings": asdict(settings), "rounds": rounds, "loadavg_before": load_before, "loadavg_after": load_after,
              "runs": runs}
    for label, reduce in (("median", statistics.median), ("min", min)):
        summary = {side: summarise(results, reduce) for side, results in runs.items()}
        ratios = {key: summary["ours"][key] / summary["trl"][key] for key in COLUMNS}
        table = Table(title=f"{settings.model}: G={settings.prompts} x M={settings.samples} x "
                            f"{settings.max_new_tokens} new tokens, micro-batch {settings.micro_batch}, "
                            f"{settings.threads} threads, {rounds} rounds x {settings.steps - 1} counted steps, "
                            f"{label} per part; load average {load_before[0]:.2f} before, {load_after[0]:.2f} after")
        table.add_column("trainer")
        for header in COLUMNS.values():
            table.add_column(header, justify="right")
        for side, name in (("trl", f"TRL {TRL_VERSION} GRPOTrainer"), ("ours", "this project")):
            table.add_row(name, *[f"{summary[side][key]:.2f}" for key in COLUMNS])
        table.add_row("ours / TRL", *[f"{ratios[key]:.2f}" for key in COLUMNS])
        console.print(table)
        result[label] = {"summary": summary, "ratios": ratios}
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--models", default="default,tiny-random",
                        help="comma-separated: 'default' (SmolLM2-135M-Instruct) and/or 'tiny-random'")
    parser.add_argument("--prompts", type=int, default=1, help="G, prompts per step")
    parser.add_argument("--samples", type=int, default=8, help="M, samples per prompt")
    parser.add_argument("--max-new-tokens", type=int, default=32)
    parser.add_argument("--micro-batch", type=int, default=8)
    parser.add_argument("--steps", type=int, default=4, help="steps per run; the first is a warm-up")
    parser.add_argument("--rounds", type=int, default=2, help="alternating rounds (>= 2)")
    parser.add_argument("--threads", type=int, default=int(os.environ.get("OMP_NUM_THREADS", "2")))
    parser.add_argument("--json", type=Path, default=None, help="also write every figure to this JSON file")
    args = parser.parse_args()
    if args.rounds < 2 or args.steps < 2:
        raise SystemExit("need --rounds >= 2 and --steps >= 2 (the first step of a run is not counted)")
    os.environ["OMP_NUM_THREADS"] = str(args.threads)  # inherited by the spawned runs
    console = Console(width=200)
    results = []
    for model in args.models.split(","):
        settings = Settings(model, args.prompts, args.samples, args.max_new_tokens, args.micro_batch, args.steps,
                            args.threads)
        results.append(compare(settings, args.rounds, console))
    if args.json:
        args.json.write_text(json.dumps(results, indent=2) + "\n")
        console.print(f"wrote {args.json}")


if __name__ == "__main__":
    main()
