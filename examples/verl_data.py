"""This project's benchmarks as verl training data, and this project's verifier as verl's reward function.

Write parquet files in verl's RL format (``prompt`` as chat messages, ``data_source``,
``reward_model.ground_truth``, ``extra_info``)::

    python examples/verl_data.py --benchmark hotpotqa --closed-book --out ~/data/hotpotqa_cb
    # -> ~/data/hotpotqa_cb/train.parquet, ~/data/hotpotqa_cb/dev.parquet

and point verl's custom reward at this file (``reward.custom_reward_function.path=examples/verl_data.py``,
``name=compute_score``): verl calls :func:`compute_score` once per response, and it scores the answer
line with the benchmark's scorer from ``llm.scoring`` (FinQA's program executor, HotPotQA's and
MuSiQue's official EM), r ∈ {0, 1}. ``extra_info`` carries what it needs to find the question again.
"""

from __future__ import annotations

import argparse
import functools
from pathlib import Path

from llm.data import load_benchmark
from llm.data.prompts import build_messages
from llm.scoring import get_scorer


@functools.lru_cache(maxsize=8)
def _examples(benchmark: str, path: str | None, split: str, closed_book: bool):
    return load_benchmark(benchmark, path, split, closed_book=closed_book)


def compute_score(data_source, solution_str, ground_truth, extra_info=None, **kwargs) -> float:
    """verl's reward-function signature: the {0, 1} reward of ``solution_str`` for the question in ``extra_info``."""
    if not extra_info or "index" not in extra_info:
        raise ValueError(f"extra_info must carry benchmark, path, split, closed_book and index; got {extra_info!r}")
    examples = _examples(extra_info["benchmark"], extra_info.get("path") or None, extra_info["split"],
                         bool(extra_info["closed_book"]))
    example = examples[int(extra_info["index"])]
    if example.answer != ground_truth:
        raise ValueError(f"record {extra_info['index']} has answer {example.answer!r}, the parquet says {ground_truth!r}")
    return float(get_scorer(extra_info["benchmark"]).reward(example, solution_str))


def rows(benchmark: str, path: str | None, split: str, closed_book: bool, limit: int | None) -> list[dict]:
    """One verl record per question."""
    examples = _examples(benchmark, path, split, closed_book)[:limit]
    return [{
        "data_source": f"tsallis/{benchmark}",
        "prompt": build_messages(x),
        "ability": "qa",
        "reward_model": {"style": "rule", "ground_truth": x.answer},
        "extra_info": {"benchmark": benchmark, "path": path or "", "split": split, "closed_book": closed_book,
                       "index": i, "id": x.id},
    } for i, x in enumerate(examples)]


def main(argv=None) -> None:
    import pandas as pd

    p = argparse.ArgumentParser(description="write verl parquet files for a benchmark of this project")
    p.add_argument("--benchmark", default="hotpotqa", choices=("finqa", "hotpotqa", "musique"))
    p.add_argument("--train-data", default=None, help="official training file (default: the shipped subset)")
    p.add_argument("--dev-data", default=None, help="official dev file (default: the shipped subset)")
    p.add_argument("--closed-book", action="store_true")
    p.add_argument("--limit", type=int, default=None)
    p.add_argument("--out", required=True, help="output folder")
    a = p.parse_args(argv)
    out = Path(a.out).expanduser()
    out.mkdir(parents=True, exist_ok=True)
    for split, path in (("train", a.train_data), ("dev", a.dev_data)):
        records = rows(a.benchmark, path, split, a.closed_book, a.limit)
        pd.DataFrame(records).to_parquet(out / f"{split}.parquet")
        print(f"{out / f'{split}.parquet'}: {len(records)} questions")


if __name__ == "__main__":
    main()
