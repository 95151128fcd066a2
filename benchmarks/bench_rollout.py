"""Rollout throughput: completion tokens per second and peak memory, for the tiny random model and the default model.

Run (CPU, one thread, as the figures below the table are meant to be compared)::

    OMP_NUM_THREADS=1 python benchmarks/bench_rollout.py                       # tiny + SmolLM2-135M, HF engine
    OMP_NUM_THREADS=1 python benchmarks/bench_rollout.py --models tiny --engine vllm   # where vLLM is installed
    OMP_NUM_THREADS=2 python benchmarks/bench_rollout.py --engine hf generate --rounds 3  # against model.generate
    python benchmarks/bench_rollout.py --json rollout.json                      # also write the figures to a file

"tokens/s" counts completion tokens kept in the rollouts (after EOS/stop cuts) per second of ``generate``
(rows of a batch that finished early still occupy the batch until its longest sample ends, so fewer long
samples make this figure drop).

``--engine generate`` is the baseline the HF engine must beat: ``transformers``' ``model.generate`` on the same
left-padded batches of the same chat prompts, with the same sampling (temperature, top-p, no top-k, the same
EOS tokens and length cap) and no log-probs recorded; the HF engine records every token's log-prob. With
several engines and ``--rounds R`` the engines alternate R times per model and the table ends with each
engine's median tokens/s against the first engine's.
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
from statistics import median
from types import SimpleNamespace

import torch
from rich.console import Console
from rich.table import Table
from transformers import GenerationConfig

from llm.models import load_policy, tiny_random_policy
from llm.rollout import SamplingConfig, make_engine
from llm.rollout.base import eos_token_ids, left_pad, tokenize_prompts
from tsallis.files import atomic_write_text

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


class GenerateBaseline:
    """``model.generate`` with the HF engine's sampling, as a rollout engine (completion ids only, no log-probs)."""

    def __init__(self, model, tokenizer, batch_size: int):
        self.model, self.tokenizer, self.batch_size = model, tokenizer, batch_size
        self.eos_ids = eos_token_ids(model, tokenizer)

    def generate(self, prompts: list[str], n: int, sampling: SamplingConfig, seed: int) -> list[list[SimpleNamespace]]:
        config = GenerationConfig(do_sample=True, temperature=sampling.temperature, top_p=sampling.top_p, top_k=0,
                                  max_new_tokens=sampling.max_new_tokens, eos_token_id=sorted(self.eos_ids),
                                  pad_token_id=self.tokenizer.pad_token_id)
        torch.manual_seed(seed)
        prompt_ids = tokenize_prompts(self.tokenizer, prompts)
        rows = [g for g in range(len(prompts)) for _ in range(n)]
        out: list[list[SimpleNamespace]] = [[] for _ in prompts]
        self.model.eval()
        for start in range(0, len(rows), self.batch_size):
            batch = rows[start : start + self.batch_size]
            input_ids, attention_mask = left_pad([prompt_ids[g] for g in batch], self.tokenizer.pad_token_id)
            with torch.no_grad():
                generated = self.model.generate(input_ids=input_ids.to(self.model.device),
                                                attention_mask=attention_mask.to(self.model.device),
                                                generation_config=config)
            for g, ids in zip(batch, generated[:, input_ids.shape[1]:].tolist(), strict=True):
                end = next((i + 1 for i, t in enumerate(ids) if t in self.eos_ids), len(ids))  # up to and with EOS
                out[g].append(SimpleNamespace(completion_ids=ids[:end]))
        return out


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
    parser.add_argument("--engine", nargs="+", choices=["hf", "vllm", "generate"], default=["hf"],
                        help="rollout engines to time; 'generate' is transformers' model.generate (the baseline)")
    parser.add_argument("--rounds", type=int, default=1, help="timed calls per engine and model, alternating engines")
    parser.add_argument("--prompts", type=int, default=8, help="G, prompts per call")
    parser.add_argument("--samples", type=int, default=4, help="M, samples per prompt")
    parser.add_argument("--max-new-tokens", type=int, default=64)
    parser.add_argument("--batch-size", type=int, default=32, help="rows per generate batch (hf engine, generate)")
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
        engines = {}
        for engine_name in args.engine:
            if engine_name == "generate":
                engines[engine_name] = GenerateBaseline(model, tokenizer, args.batch_size)
            else:
                kwargs = {"batch_size": args.batch_size} if engine_name == "hf" else {}
                engines[engine_name] = make_engine(engine_name, model=model, tokenizer=tokenizer, **kwargs)
        prompts = chat_prompts(tokenizer, args.prompts)
        sampling = SamplingConfig(temperature=1.0, max_new_tokens=args.max_new_tokens)
        for engine in engines.values():
            engine.generate(prompts[:1], 1, SamplingConfig(max_new_tokens=4), seed=123)  # warm-up
        for round_index in range(args.rounds):
            for engine_name, engine in engines.items():
                _, stats = measure_rollout(
                    engine, prompts, args.samples, sampling, seed=round_index, model_name=name,
                    engine_name=engine_name, device=args.device,
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
    if len(args.engine) > 1:
        for name in args.models:
            rate = {e: median(s.tokens_per_s for s in results if s.model == name and s.engine == e) for e in args.engine}
            first = args.engine[0]
            console.print(f"{name}: median tokens/s " + ", ".join(f"{e} {r:.1f}" for e, r in rate.items()) + "; "
                          + ", ".join(f"{e}/{first} {rate[e] / rate[first]:.2f}" for e in args.engine[1:]))
    if args.json:
        atomic_write_text(args.json, json.dumps([asdict(s) for s in results], indent=2))
        console.print(f"wrote {args.json}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
