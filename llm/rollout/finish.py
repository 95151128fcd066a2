"""Where a generated sample ends: the first EOS token, the first stop string, or the length cap.

During generation :class:`StopStringWatch` ends a row as soon as its completion text contains a stop string.
(transformers' own ``stop_strings`` also match text that straddles the prompt: a prompt ending in "\n" would stop
at the first generated "\n" for the stop string "\n\n"; vLLM, like this class, looks at the completion only.)
A batched decode keeps producing (padding) tokens for rows that are already done, so each row is then cut by
:func:`finish_completion`:

* ids are first cut after the first EOS token (kept, so the trainer learns to stop);
* if the decoded text of what is left contains a stop string, ids are cut after the shortest prefix whose text
  contains it (the token that completed it is kept, as vLLM does) and the text is cut before it: "stop";
* otherwise an EOS cut gives "eos", and no cut gives "length".
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Sequence

import torch

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


class StopStringWatch:
    """Marks the rows of a batched decode whose completion text (not the prompt) contains a stop string.

    Called after every step on the rows still running; it decodes only their last ``window`` completion tokens,
    enough to hold the longest stop string (a byte-level token carries at least one byte, a character at most
    four), so the cost per step does not grow with the completion length.
    """

    def __init__(self, tokenizer, stop: Sequence[str]):
        self.tokenizer = tokenizer
        self.stop = tuple(stop)
        self.window = 4 * max(len(s) for s in self.stop) + 2

    def __call__(self, completions: torch.Tensor, running: torch.Tensor) -> torch.Tensor:
        """completions: (B, t) tokens generated so far; running: (B,) bool. Returns (B,) bool: running rows
        whose completion now holds a stop string."""
        rows = running.nonzero().squeeze(1)
        texts = self.tokenizer.batch_decode(completions[rows, -self.window :], skip_special_tokens=True)
        hit = torch.zeros_like(running)
        hit[rows] = torch.tensor([first_stop(t, self.stop) >= 0 for t in texts], dtype=torch.bool, device=hit.device)
        return hit
