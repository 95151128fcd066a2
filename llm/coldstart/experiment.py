"""``tsallis coldstart``: escape from cold start on a transformer, through the real trainer, with exact P.

Each arm of :mod:`llm.coldstart.arms` (GRPO, RLOO, GARL q ∈ {1/2, 3/4, 1}, PAFT; with ``noise`` > 0, GARL
q ∈ {0, 1/2, 3/4, 1}) trains the same base model (:mod:`llm.coldstart.base_model`, P_θ(x) ≈ p0 for every
prompt) on the synthetic reversal task with the same budget: G prompts × M samples per step, the same learning
rate, optimiser and number of steps. Every run is an ordinary ``llm.train.trainer.train`` run with its own
folder under ``DIR/runs``, logging the exact success probabilities (``exact/``) every ``exact_every`` steps.
Runs go to ``jobs`` worker processes, one torch thread each.

Outputs in ``DIR``:

* ``runs/…``: the run folders (config.yaml, metrics.jsonl, checkpoints/, plots/);
* ``coldstart.csv``: one row per arm × seed (:data:`RUN_COLUMNS`); ``p0`` is the exact mean P at step 0 (over
  the clean prompts when the task is noisy); ``escape_step`` is the first logged step
  where the exact mean P over the training prompts (the clean ones when the task is noisy) reaches 1/2, empty
  if it never does within the budget;
* ``coldstart_curves.csv``: the exact P of every run at every logged step (what the figure is drawn from);
* ``summary.csv``: per arm, the share of seeds escaped, the median escape step and its IQR, final exact P,
  and the measured ratios of median escape steps beside the :mod:`sim` predictions;
* ``coldstart.png`` / ``.pdf``: exact P vs step (median and IQR band per arm) and the share of seeds escaped.
"""

from __future__ import annotations

import math
import multiprocessing
import time
from concurrent.futures import ProcessPoolExecutor
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np

from llm.coldstart.arms import CLEAN_ARMS, NOISE_ARMS, REMEDY_ARMS, Arm, predictions
from llm.coldstart.base_model import base_model_folder
from llm.coldstart.settings import BaseModelSpec, Budget
from llm.data.synthetic import SyntheticTask, write_task_file
from llm.evaluation.exact import ESCAPE_LEVEL
from llm.runs.aggregate import quantile
from tsallis.files import check_writable_folder, write_csv

RUN_COLUMNS = ("estimator", "q", "seed", "p0", "escape_step", "escape_tokens", "final_train_p", "final_heldout_p",
               "final_heldout_accuracy", "final_clean_p", "final_corrupted_p", "generated_tokens", "steps", "run")
CURVE_COLUMNS = ("estimator", "q", "seed", "step", "train_p_mean", "heldout_p_mean", "clean_p_mean",
                 "corrupted_p_mean", "generated_tokens")


@dataclass(frozen=True)
class Experiment:
    """One ``tsallis coldstart`` invocation: the estimators (``remedies=False``) or the remedies for groups
    without a success (``remedies=True``, compared at equal generated tokens)."""

    budget: Budget
    task: SyntheticTask
    base: BaseModelSpec
    jobs: int = 2
    remedies: bool = False

    @property
    def arms(self) -> tuple[Arm, ...]:
        if self.remedies:
            return REMEDY_ARMS
        return NOISE_ARMS if self.task.noise > 0 else CLEAN_ARMS

    @property
    def token_budget(self) -> int:
        """Generated tokens of a run without dynamic sampling: steps × G × M × (k + L), the compute every arm
        is compared within when remedies are compared."""
        b = self.budget
        return b.steps * b.prompts_per_step * b.num_samples * self.task.completion_length

    def run_configs(self, out: Path, base_folder: Path) -> list[tuple[Arm, dict[str, Any]]]:
        """(arm, ``tsallis train`` config) for every arm × seed (validated by the trainer's schema)."""
        b = self.budget
        configs = []
        for seed in range(b.seeds):
            for arm in self.arms:
                values: dict[str, Any] = {
                    "recipe": arm.recipe, "seed": seed, "steps": b.steps, "prompts_per_step": b.prompts_per_step,
                    "output_dir": str(out / "runs"), "progress": False, "tensorboard": False,
                    "model": {"name": str(base_folder)},
                    "data": {"benchmark": "synthetic", "chat_template": False, "synthetic": self.task.to_dict()},
                    "rollout": {"num_samples": b.num_samples, "max_new_tokens": self.task.completion_length,
                                "batch_size": b.prompts_per_step * b.num_samples},
                    "optim": {"name": b.optimizer, "lr": b.lr, "max_grad_norm": b.max_grad_norm,
                              "micro_batch_size": b.prompts_per_step * b.num_samples},
                    "eval": {"exact_every": b.exact_every},
                    "checkpoint": {"every": 0, "keep_last": 1},
                }
                if self.remedies:  # equal compute: stop where the plain runs' generated tokens end
                    values["max_generated_tokens"] = self.token_budget
                for section, settings in arm.settings().items():
                    values[section] = {**values.get(section, {}), **settings}
                configs.append((arm, values))
        return configs


def train_one(values: dict[str, Any]) -> str:
    """Train one run from its config dict in this process (one torch thread while it trains) and plot it; return
    its folder."""
    import torch
    from transformers.utils import logging as transformers_logging

    from llm.runs.plot import plot_runs
    from llm.train.config import build_config
    from llm.train.trainer import train

    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    transformers_logging.disable_progress_bar()  # one "Loading weights" bar per run would drown the progress bar
    try:
        run_dir = train(build_config(values, f"coldstart run {values['algo']} seed {values['seed']}"))
    finally:
        torch.set_num_threads(threads)  # in this process (jobs=1), the caller's setting comes back
    plot_runs([run_dir], run_dir / "plots")
    return str(run_dir)


def run_all(configs: list[dict[str, Any]], jobs: int, progress: bool = True) -> list[Path]:
    """Train every config, ``jobs`` at a time in worker processes (in this process when ``jobs`` is 1)."""
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

    columns = (TextColumn("cold start"), BarColumn(), MofNCompleteColumn(), TextColumn("runs"), TimeElapsedColumn())
    with Progress(*columns, disable=not progress, transient=False) as bar:
        task = bar.add_task("runs", total=len(configs))
        if jobs == 1:
            done = []
            for values in configs:
                done.append(Path(train_one(values)))
                bar.advance(task)
            return done
        with ProcessPoolExecutor(max_workers=jobs, mp_context=multiprocessing.get_context("spawn")) as pool:
            futures = [pool.submit(train_one, values) for values in configs]
            for future in futures:
                future.add_done_callback(lambda _: bar.advance(task))
            return [Path(f.result()) for f in futures]


def _p0(first: dict[str, Any]) -> float:
    """The base model's success probability at step 0: over the clean prompts when the task is noisy (the
    corrupted prompts' targets are not what the base model was built to reach), else over every prompt."""
    clean = first.get("exact/clean_p_mean")
    return clean if clean is not None and math.isfinite(clean) else first["exact/train_p_mean"]


def _escape(records: list[dict[str, Any]], column: str) -> tuple[int | None, float | None]:
    """(step, generated tokens so far) of the first record whose ``column`` reaches 1/2, or (None, None)."""
    for record in records:
        value = record.get(column)
        if value is not None and value >= ESCAPE_LEVEL:
            return record["step"], record["generated_tokens"]
    return None, None


def collect(arms: list[Arm], run_dirs: list[Path], token_budget: float | None = None
            ) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """(one row per run, the exact-P curve rows) from the run folders' config.yaml and metrics.jsonl.

    With ``token_budget`` (the remedies' comparison) a run is read only up to that many generated tokens: an
    escape after it does not count and its final values are those of its last record within the budget.
    """
    import yaml

    from llm.train.metrics import read_metrics

    runs, curves = [], []
    for arm, run_dir in zip(arms, run_dirs, strict=True):
        config = yaml.safe_load((run_dir / "config.yaml").read_text())
        column = "exact/clean_p_mean" if config["data"]["synthetic"]["noise"] > 0 else "exact/train_p_mean"
        tokens, exact_records = 0.0, []
        for record in read_metrics(run_dir):
            tokens += record.get("perf/generated_tokens") or 0.0
            if record.get("exact/train_p_mean") is not None and (token_budget is None or tokens <= token_budget):
                exact_records.append({**record, "generated_tokens": tokens})
        if not exact_records:
            raise ValueError(f"{run_dir}: no exact/ metrics in metrics.jsonl (was eval.exact_every set?)")
        for record in exact_records:
            curves.append({"estimator": arm.label, "q": arm.q_value, "seed": config["seed"], "step": record["step"],
                           "train_p_mean": record["exact/train_p_mean"],
                           "heldout_p_mean": record.get("exact/heldout_p_mean"),
                           "clean_p_mean": record.get("exact/clean_p_mean"),
                           "corrupted_p_mean": record.get("exact/corrupted_p_mean"),
                           "generated_tokens": record["generated_tokens"]})
        first, last = exact_records[0], exact_records[-1]
        escape_step, escape_tokens = _escape(exact_records, column)
        runs.append({
            "estimator": arm.label, "q": arm.q_value, "seed": config["seed"], "p0": _p0(first),
            "escape_step": escape_step, "escape_tokens": escape_tokens,
            "final_train_p": last["exact/train_p_mean"], "final_heldout_p": last.get("exact/heldout_p_mean"),
            "final_heldout_accuracy": last.get("exact/heldout_greedy_acc"),
            "final_clean_p": last.get("exact/clean_p_mean"), "final_corrupted_p": last.get("exact/corrupted_p_mean"),
            "generated_tokens": last["generated_tokens"], "steps": last["step"], "run": run_dir.name,
        })
    return runs, curves


def _quartiles(values: list[float]) -> tuple[float, float, float]:
    return quantile(values, 0.25), quantile(values, 0.5), quantile(values, 0.75)


def summarise(runs: list[dict[str, Any]], arms: tuple[Arm, ...], budget: Budget) -> tuple[list[dict], list[dict]]:
    """(per-arm rows, prediction rows). A run that never escaped counts as escaping at +inf, so a median
    over seeds is finite only when more than half escaped; a ratio with an infinite numerator is reported as
    a lower bound (``≥``), one with an infinite denominator as not measured."""
    per_arm = []
    medians: dict[Arm, float] = {}
    for arm in arms:
        rows = [r for r in runs if r["estimator"] == arm.label]
        steps = [math.inf if r["escape_step"] is None else float(r["escape_step"]) for r in rows]
        tokens = [math.inf if r["escape_tokens"] is None else float(r["escape_tokens"]) for r in rows]
        p25, median, p75 = _quartiles(steps)
        t25, t50, t75 = _quartiles(tokens)
        medians[arm] = median
        entry = {
            "estimator": arm.label, "q": arm.q_value, "seeds": len(rows),
            "escaped": sum(math.isfinite(s) for s in steps), "frac_escaped": float(np.mean(np.isfinite(steps))),
            "median_escape_step": median, "escape_step_p25": p25, "escape_step_p75": p75,
            "median_escape_tokens": t50, "escape_tokens_p25": t25, "escape_tokens_p75": t75,
            "p0_median": float(np.median([r["p0"] for r in rows])),
            "final_train_p_median": float(np.median([r["final_train_p"] for r in rows])),
            "final_heldout_p_median": float(np.median([r["final_heldout_p"] for r in rows])),
            "final_heldout_accuracy_mean": float(np.mean([r["final_heldout_accuracy"] for r in rows])),
            "generated_tokens_median": float(np.median([r["generated_tokens"] for r in rows])),
            "cold_start_gain": arm.gain(budget.num_samples),
        }
        if rows and rows[0]["final_clean_p"] is not None:
            entry["final_clean_p_median"] = float(np.median([r["final_clean_p"] for r in rows]))
            entry["final_corrupted_p_median"] = float(np.median([r["final_corrupted_p"] for r in rows]))
        per_arm.append(entry)
    checks = []
    for prediction in predictions(arms):
        slow, fast = medians[prediction.slow], medians[prediction.fast]
        if not math.isfinite(fast):
            relation, measured = "not measured", math.nan
        elif not math.isfinite(slow):
            relation, measured = "≥", budget.steps / fast
        else:
            relation, measured = "=", slow / fast
        checks.append({"ratio": prediction.claim(), "relation": relation, "measured": measured,
                       "predicted": prediction.predicted(budget.num_samples)})
    return per_arm, checks


def run_experiment(experiment: Experiment, out: str | Path, progress: bool = True) -> dict[str, Any]:
    """Build the base model, train every arm × seed, write the files of the module docstring; return a summary."""
    from llm.coldstart.figure import plot_coldstart

    start = time.perf_counter()
    out = Path(out)
    check_writable_folder(out, "--out")
    out.mkdir(parents=True, exist_ok=True)
    write_task_file(experiment.task, out / "task.yaml")
    base = base_model_folder(experiment.task, experiment.base, out)
    arms, configs = zip(*experiment.run_configs(out, base))
    run_dirs = run_all(list(configs), experiment.jobs, progress)
    runs, curves = collect(list(arms), run_dirs, experiment.token_budget if experiment.remedies else None)
    per_arm, checks = summarise(runs, experiment.arms, experiment.budget)
    write_csv(out / "coldstart.csv", runs, RUN_COLUMNS)
    write_csv(out / "coldstart_curves.csv", curves, CURVE_COLUMNS)
    write_csv(out / "summary.csv", per_arm)
    write_csv(out / "predictions.csv", checks)
    axis = ("generated_tokens", experiment.token_budget) if experiment.remedies else ("step", experiment.budget.steps)
    figures = plot_coldstart(out / "coldstart_curves.csv", out / "coldstart", *axis)
    return {"runs": runs, "per_arm": per_arm, "checks": checks, "figures": figures,
            "wall_s": time.perf_counter() - start, "settings": {
                "budget": asdict(experiment.budget), "task": experiment.task.to_dict(), "base": asdict(experiment.base),
                "jobs": experiment.jobs, "remedies": experiment.remedies, "token_budget": experiment.token_budget}}

