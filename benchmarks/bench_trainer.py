"""Trainer throughput: rollout and training tokens/s, the step time split, and peak memory.

For each model (the tiny random Llama and the default SmolLM2-135M-Instruct unless told otherwise) it
runs ``llm.train.trainer.train`` for a few GARL steps on shipped closed-book HotPotQA prompts, with a
reward that is 1 for completions of even character length (about half succeed, so every step trains),
and prints the per-step means of the ``perf/`` metrics the trainer logs, skipping the first (warm-up)
step. Time shares:

* rollout: ``engine.generate`` of G·M completions (HF generate; log-probs recorded while sampling);
* scoring: the reward function on every completion;
* train: micro-batched forward + backward + clip + AdamW step (log-probs recomputed once, with grad).

    OMP_NUM_THREADS=2 python benchmarks/bench_trainer.py                       # both models, CPU
    python benchmarks/bench_trainer.py --models tiny-random --steps 5 --samples 8
    python benchmarks/bench_trainer.py --models Qwen/Qwen2.5-0.5B-Instruct --device cuda --max-new-tokens 256
"""

from __future__ import annotations

import argparse
import multiprocessing
import tempfile
from concurrent.futures import ProcessPoolExecutor

import torch
from rich.console import Console
from rich.table import Table

from llm.train.metrics import read_metrics
from llm.train.recipe import load_config
from llm.train.trainer import train

COLUMNS = [
    ("rollout tok/s", "perf/rollout_tokens_per_s", "{:.1f}"),
    ("train tok/s", "perf/train_tokens_per_s", "{:.0f}"),
    ("step s", "perf/step_s", "{:.2f}"),
    ("rollout s", "perf/rollout_s", "{:.2f}"),
    ("scoring s", "perf/score_s", "{:.4f}"),
    ("train s", "perf/train_s", "{:.2f}"),
    ("peak mem GiB", "perf/peak_mem_gb", "{:.2f}"),
    ("completion len", "completion/length_mean", "{:.1f}"),
]


def even_length(example, text: str) -> float:
    """About half the completions succeed, so the loss always has sequences to train on."""
    return float(len(text) % 2 == 0)


def measure(model: str | None, args: argparse.Namespace) -> dict[str, float]:
    """Run the trainer and average the perf metrics over the steps after the first."""
    with tempfile.TemporaryDirectory() as out:
        config = load_config(None, [
            f"model.name={model if model else 'null'}", "data.benchmark=hotpotqa", "data.closed_book=true",
            "algo.name=garl", "algo.q=0.75", f"steps={args.steps}", f"prompts_per_step={args.prompts}",
            f"rollout.num_samples={args.samples}", f"rollout.max_new_tokens={args.max_new_tokens}",
            f"optim.micro_batch_size={args.micro_batch}", "optim.lr=1e-6", f"device={args.device}",
            "progress=false", "tensorboard=false", f"output_dir={out}", "checkpoint.every=0",
        ])
        records = read_metrics(train(config, reward_fn=even_length))
    timed = records[1:] or records
    return {key: sum(r[key] for r in timed) / len(timed) for _, key, _ in COLUMNS}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--models", default="tiny-random,default",
                        help="comma-separated model names; 'default' = SmolLM2-135M-Instruct")
    parser.add_argument("--steps", type=int, default=3, help="training steps per model (the first is not timed)")
    parser.add_argument("--prompts", type=int, default=2, help="G, prompts per step")
    parser.add_argument("--samples", type=int, default=4, help="M, samples per prompt")
    parser.add_argument("--max-new-tokens", type=int, default=32)
    parser.add_argument("--micro-batch", type=int, default=8)
    parser.add_argument("--device", default="auto", choices=["auto", "cpu", "cuda"])
    args = parser.parse_args()
    table = Table(title=f"trainer: G={args.prompts} x M={args.samples}, {args.max_new_tokens} new tokens, "
                        f"mean over steps 2..{args.steps}, torch threads {torch.get_num_threads()}")
    table.add_column("model")
    for name, _, _ in COLUMNS:
        table.add_column(name, justify="right")
    for model in args.models.split(","):
        # a fresh process per model, so peak memory (max RSS on CPU) belongs to that model alone
        with ProcessPoolExecutor(max_workers=1, mp_context=multiprocessing.get_context("spawn")) as pool:
            result = pool.submit(measure, None if model == "default" else model, args).result()
        table.add_row(model, *[fmt.format(result[key]) for _, key, fmt in COLUMNS])
    Console(width=200).print(table)


if __name__ == "__main__":
    main()
