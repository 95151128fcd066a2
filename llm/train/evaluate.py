"""Evaluations during training: :class:`PeriodicEvaluation`, and the held-out maj@k through the project's eval loop.

The trainer runs every :class:`PeriodicEvaluation` in its list when it is due and logs its metrics with the step
(its wall-clock time as ``perf/{name}_s``). The config gives the default list (:func:`default_evaluations`: exact
success probabilities every ``eval.exact_every`` steps, held-out maj@k every ``eval.every``); an experiment adds
its own through ``train(..., evaluations=[...])``.

Held-out maj@k: each rank evaluates its share of the held-out questions with ``llm.evaluation.loop.evaluate`` (k samples
per question, scored by ``llm.scoring``); the per-question figures are summed over ranks, so every rank
returns the same means::

    eval/maj@k      = mean_x maj@k(x)        (majority vote over the k answers)
    eval/pass@k     = mean_x pass@k(x)
    eval/pass@1     = mean_x c_x / k         (mean@k: the expected accuracy of one sample)
    eval/f1         = mean_x mean_m F1(x, z_m)
    eval/format_ok  = share of samples with a parsable answer line
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Any, Callable

from llm.evaluation.loop import EvalConfig, evaluate as evaluate_questions
from llm.seeding import EVAL_STREAM, step_seed
from llm.train import build
from llm.train.metrics import UpdateMeans

FIELDS = {"maj_at_k": "maj@{k}", "pass_at_k": "pass@{k}", "mean_at_k": "pass@1", "f1": "f1", "format_ok": "format_ok"}


def evaluate_held_out(engine, tokenizer, data, config, seed: int, accelerator=None) -> dict[str, float]:
    """maj@k and friends on this rank's share of ``data.eval`` (``config.eval`` settings), averaged over ranks;
    answers are scored by the same rule as the training reward (``data.strict_scoring``)."""
    rank = accelerator.process_index if accelerator is not None else 0
    world = accelerator.num_processes if accelerator is not None else 1
    e = config.eval
    # the rollout settings, with the evaluation's own temperature and (when set) completion limit
    sampling = replace(build.sampling_config(config), temperature=e.temperature,
                       max_new_tokens=e.max_new_tokens or config.rollout.max_new_tokens)
    shard = data.eval[rank::world]
    means = UpdateMeans()
    if shard:
        settings = EvalConfig(k=e.k, seed=seed + rank, prompts_per_call=8, finqa_strict=config.data.strict_scoring)
        result = evaluate_questions(shard, engine, build.prompt_tokenizer(config, tokenizer), sampling, settings,
                                    show_progress=False)
        for record in result.records:
            for field, name in FIELDS.items():
                means.add(f"eval/{name.format(k=e.k)}", float(record[field]), 1)
    return means.means(accelerator)


@dataclass(frozen=True)
class PeriodicEvaluation:
    """A measurement taken every ``every`` steps and after the last step (and before the first when ``at_start``).

    ``measure(run, step)`` gets the trainer's :class:`~llm.train.run.Run` (the policy with its full parameters
    gathered) and returns metrics to log with the step.
    """

    name: str
    """Its wall-clock time is logged as ``perf/{name}_s``."""
    every: int
    measure: Callable[[Any, int], dict[str, float]]
    at_start: bool = False

    def due(self, step: int, last: bool) -> bool:
        """Whether to measure after ``step``; step 0 (before training) only when ``at_start``."""
        if step == 0:
            return self.at_start
        return self.every > 0 and (step % self.every == 0 or last)


def exact_success(run: Any, step: int) -> dict[str, float]:
    """The exact success probabilities P_θ(x) of every training and held-out prompt (:mod:`llm.evaluation.exact`)."""
    from llm.evaluation.exact import exact_metrics

    return exact_metrics(run.policy, run.tokenizer, run.data.train, run.data.eval)


def held_out(run: Any, step: int) -> dict[str, float]:
    """:func:`evaluate_held_out` with the step's evaluation seed."""
    seed = step_seed(run.config.seed, step, 0, EVAL_STREAM)
    return evaluate_held_out(run.engine, run.tokenizer, run.data, run.config, seed, run.accelerator)


def default_evaluations(config) -> list[PeriodicEvaluation]:
    """The evaluations ``config.eval`` asks for: exact P (``exact_every``, also at step 0), then held-out maj@k."""
    evaluations = []
    if config.eval.exact_every:
        evaluations.append(PeriodicEvaluation("exact", config.eval.exact_every, exact_success, at_start=True))
    if config.eval.every:
        evaluations.append(PeriodicEvaluation("eval", config.eval.every, held_out))
    return evaluations
