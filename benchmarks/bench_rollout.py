"""Rollout throughput: completion tokens per second and peak memory, for the tiny random model and the default model.

Run (CPU, one thread, as the figures below the table are meant to be compared)::

    OMP_NUM_THREADS=1 python benchmarks/bench_rollout.py                       # tiny + SmolLM2-135M, HF engine
    OMP_NUM_THREADS=1 python benchmarks/bench_rollout.py --models tiny --engine vllm   # where vLLM is installed
    python benchmarks/bench_rollout.py --json rollout.json                      # also write the figures to a file

"tokens/s" counts completion tokens kept in the rollouts (after EOS/stop cuts) per second of ``generate``
(rows of a batch that finished early still occupy the batch until its longest sample ends, so fewer long
samples make this figure drop).
Peak memory is the peak resident set size during generation (sampled every 5 ms from /proc/self/statm) on CPU,
or ``torch.cuda.max_memory_allocated`` on GPU, and its growth over the level before generation.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import threading
import time
from dataclasses import asdict, dataclass
from pathlib import Path

import torch
from rich.console import Console
from rich.table import Table

from llm.atomic import atomic_write_text
from llm.models import load_policy, tiny_random_policy
from llm.rollout import SamplingConfig, make_engine

QUESTIONS = [
    "What is 17 times 23?",
    "Name the capital of Australia and one fact about it.",
    "Which is larger, 2^10 or 10^3? Explain briefly.",
    "Who wrote 'Pride and Prejudice'?",
    "A shop sells pens at $3 each. How much do 7 pens cost?",
    "What gas do plants absorb from the air?",
    "If a train travels 120 km in 1.5 hours, what is its average speed?",
    "Give a synonym for 'rapid'.",
]


class PeakMemory:
    """Context manager measuring peak memory in MiB: CUDA allocator peak on GPU, sampled RSS on CPU.

    After the block: ``peak_mib`` (the peak) and ``growth_mib`` (peak minus the level on entry).
    """

    def __init__(self, device: torch.device | str = "cpu", interval_s: float = 0.005):
        self.device = torch.device(device)
        self.interval_s = interval_s
        self.peak_mib = self.growth_mib = 0.0

    @staticmethod
    def rss_mib() -> float:
        """Resident set size of this process (Linux /proc/self/statm)."""
        with open("/proc/self/statm") as f:
            return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE") / 2**20

    def _sample(self) -> None:
        while not self._done.wait(self.interval_s):
            self.peak_mib = max(self.peak_mib, self.rss_mib())

    def __enter__(self) -> "PeakMemory":
        if self.device.type == "cuda":
            torch.cuda.synchronize(self.device)
            torch.cuda.reset_peak_memory_stats(self.device)
            self._start = torch.cuda.memory_allocated(self.device) / 2**20
        else:
            self._start = self.peak_mib = self.rss_mib()
            self._done = threading.Event()
            self._thread = threading.Thread(target=self._sample, daemon=True)
            self._thread.start()
        return self

    def __exit__(self, *exc) -> None:
        if self.device.type == "cuda":
            torch.cuda.synchronize(self.device)
            self.peak_mib = torch.cuda.max_memory_allocated(self.device) / 2**20
        else:
            self._done.set()
            self._thread.join()
            self.peak_mib = max(self.peak_mib, self.rss_mib())
        self.growth_mib = self.peak_mib - self._start


@dataclass
class RolloutStats:
    """Figures of one timed ``engine.generate`` call."""

    model: str
    engine: str
    prompts: int
    samples_per_prompt: int
    max_new_tokens: int
    completion_tokens: int
    seconds: float
    tokens_per_s: float
    peak_memory_mib: float
    memory_growth_mib: float


def measure_rollout(engine, prompts, n, sampling, seed=0, *, model_name="", engine_name="", device="cpu"):
    """Time one ``engine.generate`` call; returns (rollouts, RolloutStats)."""
    with PeakMemory(device) as memory:
        start = time.perf_counter()
        groups = engine.generate(prompts, n, sampling, seed)
        if torch.device(device).type == "cuda":
            torch.cuda.synchronize(device)
        seconds = time.perf_counter() - start
    tokens = sum(len(r.completion_ids) for group in groups for r in group)
    stats = RolloutStats(
        model_name, engine_name, len(prompts), n, sampling.max_new_tokens, tokens, seconds, tokens / seconds,
        memory.peak_mib, memory.growth_mib,
    )
    return groups, stats


def chat_prompts(tokenizer, count: int) -> list[str]:
    """``count`` chat-formatted prompts (cycling through QUESTIONS)."""
    return [
        tokenizer.apply_chat_template(
            [{"role": "user", "content": QUESTIONS[i % len(QUESTIONS)]}], tokenize=False, add_generation_prompt=True
        )
        for i in range(count)
    ]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--models", nargs="+", default=["tiny", "smollm2-135m-instruct"],
                        help="'tiny' (random 2-layer Llama) and/or any load_policy name")
    parser.add_argument("--engine", choices=["hf", "vllm"], default="hf")
    parser.add_argument("--prompts", type=int, default=8, help="G, prompts per call")
    parser.add_argument("--samples", type=int, default=4, help="M, samples per prompt")
    parser.add_argument("--max-new-tokens", type=int, default=64)
    parser.add_argument("--batch-size", type=int, default=32, help="rows per generate batch (hf engine)")
    parser.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    parser.add_argument("--threads", type=int, default=None, help="torch CPU threads (default: torch's choice)")
    parser.add_argument("--json", type=Path, default=None, help="also write the figures to this JSON file")
    args = parser.parse_args(argv)
    if args.threads:
        torch.set_num_threads(args.threads)

    console = Console()
    results = []
    for name in args.models:
        model, tokenizer = tiny_random_policy(seed=0) if name == "tiny" else load_policy(name, device=args.device)
        model.to(args.device)
        kwargs = {"batch_size": args.batch_size} if args.engine == "hf" else {}
        engine = make_engine(args.engine, model=model, tokenizer=tokenizer, **kwargs)
        prompts = chat_prompts(tokenizer, args.prompts)
        sampling = SamplingConfig(temperature=1.0, max_new_tokens=args.max_new_tokens)
        engine.generate(prompts[:1], 1, SamplingConfig(max_new_tokens=4), seed=123)  # warm-up
        _, stats = measure_rollout(
            engine, prompts, args.samples, sampling, seed=0, model_name=name, engine_name=args.engine,
            device=args.device,
        )
        results.append(stats)

    table = Table(title=f"Rollout throughput ({args.device}, torch threads {torch.get_num_threads()})")
    for column in ("model", "engine", "G×M", "tokens", "seconds", "tokens/s", "peak MiB", "+MiB"):
        table.add_column(column, justify="left" if column in ("model", "engine") else "right")
    for s in results:
        table.add_row(
            s.model, s.engine, f"{s.prompts}×{s.samples_per_prompt}", str(s.completion_tokens), f"{s.seconds:.2f}",
            f"{s.tokens_per_s:.1f}", f"{s.peak_memory_mib:.0f}", f"{s.memory_growth_mib:.0f}",
        )
    console.print(table)
    if args.json:
        atomic_write_text(args.json, json.dumps([asdict(s) for s in results], indent=2))
        console.print(f"wrote {args.json}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
