"""The evaluation loop: k sampled completions per question, scored, voted and summarised.

For each question x the engine draws k completions z_1..z_k ~ p_θ(· | prompt(x)); each is scored by
the benchmark's scorer (:func:`llm.scoring.get_scorer`), and the question gets maj@k, pass@k and
mean@k (:mod:`llm.evaluation.metrics`) plus the mean EM and F1 of its samples. A benchmark's figures
are the means over its questions, with ``format_ok`` broken down by the extraction rule that found each
answer (``format_rules``, :func:`format_breakdown`).

Seeding: prompts go to the engine in calls of ``prompts_per_call``; the call starting at example i gets
the seed ``SeedSequence([seed, i])``, and the engine seeds each (prompt, sample) from that, so a run is
reproduced exactly by the same (seed, prompts_per_call, sampling, model).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from statistics import mean
from typing import TYPE_CHECKING, Any, Sequence

from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

from llm.data.prompts import build_prompt
from llm.evaluation.metrics import maj_at_k, majority_vote, mean_at_k, pass_at_k
from llm.scoring import RULES, get_scorer
from llm.seeding import derive_seed

if TYPE_CHECKING:
    from llm.data import Example
    from llm.rollout import Rollout, RolloutEngine, SamplingConfig


@dataclass(frozen=True)
class EvalConfig:
    """Settings of one evaluation run."""

    k: int = 4
    """Samples per question; maj@k, pass@k and mean@k use all k (the paper reports maj@16)."""
    seed: int = 0
    """Base seed of the sampling streams (module docstring)."""
    prompts_per_call: int = 8
    """Questions per engine call: the progress granularity, and part of what the seeds depend on."""
    finqa_strict: bool = False
    """Judge FinQA by the official round-to-5 equality instead of the tolerant numeric match."""

    def __post_init__(self) -> None:
        for name in ("k", "prompts_per_call"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                raise ValueError(f"EvalConfig.{name} must be an integer >= 1, got {value!r}")


@dataclass
class EvalResult:
    """Per-question records (JSON-ready dicts) and the per-benchmark summary."""

    records: list[dict[str, Any]]
    summary: dict[str, dict[str, Any]] = field(default_factory=dict)


def call_seed(seed: int, start: int) -> int:
    """The seed handed to the engine for the call whose first question has index ``start``."""
    return derive_seed(seed, start)


def question_record(example: "Example", rollouts: Sequence["Rollout"], k: int, strict: bool = False) -> dict[str, Any]:
    """Score the k completions of one question and compute its maj@k, pass@k and mean@k."""
    scorer = get_scorer(example.benchmark, strict=strict)
    samples = []
    for rollout in rollouts:
        result = scorer.score(example, rollout.text)
        samples.append({**result, "text": rollout.text, "finish_reason": rollout.finish_reason,
                        "completion_tokens": len(rollout.completion_ids)})
    keys = [s["vote_key"] for s in samples]
    correct = [bool(s["correct"]) for s in samples]
    winner = majority_vote(keys)
    return {
        "id": example.id,
        "benchmark": example.benchmark,
        "question": example.question,
        "answer": example.answer,
        "aliases": list(example.aliases),
        "closed_book": example.closed_book,
        "maj_prediction": None if winner is None else samples[winner]["prediction"],
        "maj_at_k": maj_at_k(keys, correct, k),
        "pass_at_k": pass_at_k(len(correct), sum(correct), k),
        "mean_at_k": mean_at_k(correct),
        "em": mean(s["em"] for s in samples),
        "f1": mean(s["f1"] for s in samples),
        "format_ok": mean(float(s["format_ok"]) for s in samples),
        "samples": samples,
    }


def summarize(records: Sequence[dict[str, Any]]) -> dict[str, dict[str, Any]]:
    """Per-benchmark means of the per-question figures, plus counts, completion lengths and the
    ``format_rules`` breakdown of ``format_ok`` (:func:`format_breakdown`)."""
    summary: dict[str, dict[str, Any]] = {}
    for benchmark in sorted({r["benchmark"] for r in records}):
        rows = [r for r in records if r["benchmark"] == benchmark]
        samples = [s for r in rows for s in r["samples"]]
        summary[benchmark] = {
            "questions": len(rows),
            **{name: mean(r[name] for r in rows)
               for name in ("maj_at_k", "pass_at_k", "mean_at_k", "em", "f1", "format_ok")},
            "format_rules": format_breakdown(samples),
            "mean_completion_tokens": mean(s["completion_tokens"] for s in samples),
            "truncated": mean(float(s["finish_reason"] == "length") for s in samples),
        }
    return summary


def format_breakdown(samples: Sequence[dict[str, Any]]) -> dict[str, float]:
    """For each extraction rule, the share of samples whose answer it found and that have ``format_ok``:
    the rules of :data:`llm.scoring.RULES` in precedence order, then any other rule a scorer reports
    (in the order first seen).

    Every question has k samples, so the shares add up to the summary's ``format_ok``.
    """
    rules = dict.fromkeys([*RULES, *(s["format_rule"] for s in samples if s["format_ok"])])
    return {rule: mean(float(bool(s["format_ok"]) and s["format_rule"] == rule) for s in samples)
            for rule in rules}


def evaluate(examples: Sequence["Example"], engine: "RolloutEngine", tokenizer: Any, sampling: "SamplingConfig",
             config: EvalConfig = EvalConfig(), *, show_progress: bool = True) -> EvalResult:
    """Sample ``config.k`` completions per example with ``engine``, score them and summarise.

    ``tokenizer`` is used only to build prompts (its chat template when it has one).
    """
    if not examples:
        raise ValueError("evaluate needs at least one example")
    prompts = [build_prompt(example, tokenizer) for example in examples]
    records: list[dict[str, Any]] = []
    columns = (TextColumn("[bold]eval[/] k={task.fields[k]}"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn())
    with Progress(*columns, disable=not show_progress, transient=False) as progress:
        task = progress.add_task("eval", total=len(examples), k=config.k)
        for start in range(0, len(examples), config.prompts_per_call):
            stop = min(start + config.prompts_per_call, len(examples))
            groups = engine.generate(prompts[start:stop], n=config.k, sampling=sampling,
                                     seed=call_seed(config.seed, start))
            if len(groups) != stop - start or any(len(g) != config.k for g in groups):
                raise RuntimeError(f"engine returned {[len(g) for g in groups]} samples for {stop - start} "
                                   f"prompts, expected {config.k} each")
            for example, group in zip(examples[start:stop], groups):
                records.append(question_record(example, group, config.k, config.finqa_strict))
            progress.update(task, advance=stop - start)
    return EvalResult(records=records, summary=summarize(records))


def run_config(config: EvalConfig, sampling: "SamplingConfig") -> dict[str, Any]:
    """The settings recorded beside the results."""
    return {**asdict(config), "sampling": asdict(sampling)}
