"""Periodic held-out evaluation during training, through the project's eval loop (``llm.evaluation``).

Each rank evaluates its share of the held-out questions with ``llm.evaluation.loop.evaluate`` (k samples
per question, scored by ``llm.scoring``); the per-question figures are summed over ranks, so every rank
returns the same means::

    eval/maj@k      = mean_x maj@k(x)        (majority vote over the k answers)
    eval/pass@k     = mean_x pass@k(x)
    eval/pass@1     = mean_x c_x / k         (mean@k: the expected accuracy of one sample)
    eval/f1         = mean_x mean_m F1(x, z_m)
    eval/format_ok  = share of samples with a parsable answer line
"""

from __future__ import annotations

from dataclasses import replace

from llm.evaluation.loop import EvalConfig, evaluate as evaluate_questions
from llm.train import build
from llm.train.metrics import UpdateMeans

FIELDS = {"maj_at_k": "maj@{k}", "pass_at_k": "pass@{k}", "mean_at_k": "pass@1", "f1": "f1", "format_ok": "format_ok"}


def evaluate(engine, tokenizer, data, config, seed: int, accelerator=None) -> dict[str, float]:
    """maj@k and friends on this rank's share of ``data.eval`` (``config.eval`` settings), averaged over ranks."""
    rank = accelerator.process_index if accelerator is not None else 0
    world = accelerator.num_processes if accelerator is not None else 1
    e = config.eval
    # the rollout settings, with the evaluation's own temperature and (when set) completion limit
    sampling = replace(build.sampling_config(config), temperature=e.temperature,
                       max_new_tokens=e.max_new_tokens or config.rollout.max_new_tokens)
    shard = data.eval[rank::world]
    means = UpdateMeans()
    if shard:
        result = evaluate_questions(shard, engine, build.prompt_tokenizer(config, tokenizer), sampling,
                                    EvalConfig(k=e.k, seed=seed + rank, prompts_per_call=8), show_progress=False)
        for record in result.records:
            for field, name in FIELDS.items():
                means.add(f"eval/{name.format(k=e.k)}", float(record[field]), 1)
    return means.means(accelerator)
