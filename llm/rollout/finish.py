"""Where a generated sample ends: the first EOS token, the first stop string, or the length cap.

A batched generate keeps producing (padding) tokens for rows that are already done, so each row is cut here:

* ids are first cut after the first EOS token (kept, so the trainer learns to stop);
* if the decoded text of what is left contains a stop string, ids are cut after the shortest prefix whose text
  contains it (the token that completed it is kept, as vLLM does) and the text is cut before it: "stop";
* otherwise an EOS cut gives "eos", and no cut gives "length".
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Sequence

from llm.rollout.base import FinishReason


@dataclass(frozen=True)
class Finished:
    """One completion after cutting: ids and their log-probs, text, and why it ended."""

    completion_ids: list[int]
    logprobs: list[float]
    text: str
    finish_reason: FinishReason


def first_stop(text: str, stop: Sequence[str]) -> int:
    """Character index of the earliest occurrence of any stop string in ``text``, or -1."""
    hits = [i for i in (text.find(s) for s in stop) if i >= 0]
    return min(hits) if hits else -1


def finish_completion(
    ids: Sequence[int], logprobs: Sequence[float], tokenizer, eos_ids: set[int], stop: Sequence[str]
) -> Finished:
    """Cut one generated row (module docstring) and decode it without special tokens."""
    ids, logprobs = list(ids), list(logprobs)
    eos_at = next((i for i, t in enumerate(ids) if t in eos_ids), None)
    if eos_at is not None:
        ids, logprobs = ids[: eos_at + 1], logprobs[: eos_at + 1]

    def decode(k: int) -> str:
        return tokenizer.decode(ids[:k], skip_special_tokens=True)

    text = decode(len(ids))
    if stop and first_stop(text, stop) >= 0:
        # Shortest prefix whose text holds a stop string; "contains a stop" only turns on as k grows.
        lo, hi = 1, len(ids)
        while lo < hi:
            mid = (lo + hi) // 2
            if first_stop(decode(mid), stop) >= 0:
                hi = mid
            else:
                lo = mid + 1
        prefix = decode(lo)
        return Finished(ids[:lo], logprobs[:lo], prefix[: first_stop(prefix, stop)], "stop")
    return Finished(ids, logprobs, text, "eos" if eos_at is not None else "length")
