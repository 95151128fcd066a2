"""Summary statistics of a loaded split: counts, answer and question types, prompt lengths in tokens."""

from __future__ import annotations

from collections import Counter
from statistics import mean, median
from typing import Any, Sequence

from llm.data.prompts import build_prompt
from llm.data.records import Example


def length_summary(lengths: Sequence[int]) -> dict[str, float]:
    """min / median / mean / 95th percentile (nearest rank) / max of a list of lengths."""
    ordered = sorted(lengths)
    p95 = ordered[min(len(ordered) - 1, max(0, -(-95 * len(ordered) // 100) - 1))]
    return {"min": ordered[0], "median": median(ordered), "mean": mean(ordered), "p95": p95, "max": ordered[-1]}


def split_stats(examples: Sequence[Example], tokenizer: Any = None) -> dict[str, Any]:
    """Counts and type breakdowns of ``examples``; prompt token lengths when a tokenizer is given.

    Prompt lengths are those of :func:`llm.data.prompts.build_prompt` (chat template applied when the tokenizer
    has one), tokenized without extra special tokens, as the rollout engines tokenize prompts.
    """
    if not examples:
        raise ValueError("split_stats needs at least one example")
    stats: dict[str, Any] = {
        "examples": len(examples),
        "closed_book": sum(e.closed_book for e in examples),
        "with_aliases": sum(bool(e.aliases) for e in examples),
        "answer_types": dict(Counter(e.metadata.get("answer_type", "unknown") for e in examples).most_common()),
        "question_types": dict(Counter(e.metadata.get("question_type", "unknown") for e in examples).most_common()),
        "context_chars": length_summary([len(e.context) for e in examples]),
    }
    if tokenizer is not None:
        lengths = [len(tokenizer(build_prompt(e, tokenizer), add_special_tokens=False)["input_ids"]) for e in examples]
        stats["prompt_tokens"] = length_summary(lengths)
    return stats
