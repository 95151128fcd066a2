"""Metrics over k sampled answers to one question: maj@k, pass@k, mean@k.

For one question with n samples of which c are correct:

* ``mean@k`` = c / n, the expected accuracy of one sample (equals the unbiased pass@1).
* ``pass@k`` (Chen et al. 2021, "Evaluating Large Language Models Trained on Code", eq. 1) is the
  probability that at least one of k samples drawn without replacement from the n is correct::

      pass@k = 1 - C(n - c, k) / C(n, k) = 1 - prod_{i = n-c+1}^{n} (1 - k / i)     (k <= n)

  computed with the product form, which needs no large binomials.
* ``maj@k`` (majority vote / self-consistency) takes the first k samples, groups them by answer key
  (the scorer's ``vote_key``: the normalised answer; FinQA: the parsed value), and is 1 when the largest
  group is correct. Samples without an answer (key None) do not vote; if none votes, maj@k = 0. A tie
  between groups of equal size goes to the group whose first member came first (a deterministic rule
  that does not depend on the answer strings). The group's correctness is that of its first member.

Benchmark-level figures are means of these per-question values.
"""

from __future__ import annotations

from typing import Sequence


def pass_at_k(n: int, c: int, k: int) -> float:
    """Unbiased pass@k from n samples with c correct (formula in the module docstring)."""
    if not 0 <= c <= n or not 1 <= k <= n:
        raise ValueError(f"pass@k needs 0 <= c <= n and 1 <= k <= n, got n={n}, c={c}, k={k}")
    if n - c < k:
        return 1.0
    prob_all_wrong = 1.0
    for i in range(n - c + 1, n + 1):
        prob_all_wrong *= 1.0 - k / i
    return 1.0 - prob_all_wrong


def mean_at_k(correct: Sequence[bool]) -> float:
    """Fraction of correct samples, c / n."""
    if not correct:
        raise ValueError("mean@k needs at least one sample")
    return sum(bool(x) for x in correct) / len(correct)


def majority_vote(keys: Sequence[str | None]) -> int | None:
    """Index of the first member of the winning answer group, or None when no sample has an answer.

    Winner: the largest group of equal non-None keys; among equally large groups, the one whose first
    member has the smallest index.
    """
    counts: dict[str, int] = {}
    first: dict[str, int] = {}
    for i, key in enumerate(keys):
        if key is None:
            continue
        counts[key] = counts.get(key, 0) + 1
        first.setdefault(key, i)
    if not counts:
        return None
    winner = min(counts, key=lambda key: (-counts[key], first[key]))
    return first[winner]


def maj_at_k(keys: Sequence[str | None], correct: Sequence[bool], k: int | None = None) -> float:
    """1.0 if the majority answer among the first k samples is correct, else 0.0 (module docstring)."""
    if len(keys) != len(correct):
        raise ValueError(f"maj@k needs one key per sample, got {len(keys)} keys and {len(correct)} flags")
    k = len(keys) if k is None else k
    if not 1 <= k <= len(keys):
        raise ValueError(f"maj@k needs 1 <= k <= {len(keys)} samples, got k={k}")
    winner = majority_vote(keys[:k])
    return 0.0 if winner is None else float(bool(correct[winner]))
