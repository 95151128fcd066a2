"""Periodic held-out evaluation during training: maj@k, pass@1 and mean F1 over k samples per question.

Uses the project's scorers (``llm.scoring``) and vote metrics (``llm.evaluation.metrics``); questions
are sharded across ranks and the sums reduced, so every rank returns the same figures::

    eval/maj@k   = mean_x maj@k(x)           (majority vote over the k samples' answer keys)
    eval/pass@1  = mean_x c_x / k            (expected accuracy of one sample, = mean@k)
    eval/f1      = mean_x mean_m F1(x, z_m)
"""

from __future__ import annotations

from typing import Any

from llm.evaluation.metrics import maj_at_k, mean_at_k
from llm.rollout import SamplingConfig
from llm.scoring import get_scorer
from llm.train.metrics import UpdateMeans


def evaluate(engine, data, config, seed: int, accelerator=None) -> dict[str, float]:
    """Sample ``config.eval.k`` completions for this rank's share of the held-out questions and score them."""
    rank = accelerator.process_index if accelerator is not None else 0
    world = accelerator.num_processes if accelerator is not None else 1
    e = config.eval
    sampling = SamplingConfig(
        temperature=e.temperature,
        top_p=config.rollout.top_p,
        max_new_tokens=e.max_new_tokens or config.rollout.max_new_tokens,
        stop=tuple(config.rollout.stop),
    )
    scorer = get_scorer(config.data.benchmark)
    means = UpdateMeans()
    shard = list(range(rank, len(data.eval), world))
    if shard:
        groups = engine.generate([data.eval_prompts[i] for i in shard], n=e.k, sampling=sampling, seed=seed)
        for i, group in zip(shard, groups):
            scores: list[dict[str, Any]] = [scorer.score(data.eval[i], r.text) for r in group]
            correct = [bool(s["correct"]) for s in scores]
            means.add(f"eval/maj@{e.k}", maj_at_k([s["vote_key"] for s in scores], correct), 1)
            means.add("eval/pass@1", mean_at_k(correct), 1)
            means.add("eval/f1", sum(float(s["f1"]) for s in scores) / len(scores), 1)
    return means.means(accelerator)
