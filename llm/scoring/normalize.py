"""SQuAD-style answer normalisation, exact match and token F1 (HotPotQA and MuSiQue official rules).

Normalisation (``hotpot_evaluate_v1.py`` and MuSiQue's ``evaluate_v1.0.py`` use the same one)::

    normalise(s) = collapse_spaces(drop_articles(drop_ascii_punctuation(lower(s))))

where ``drop_articles`` replaces the whole words a / an / the by a space. Only ASCII punctuation
(``string.punctuation``) is removed, so unicode dashes, curly quotes and accents are kept, as officially.

Exact match: ``EM = [normalise(prediction) == normalise(gold)]``.

Token F1 on the multisets P (prediction tokens) and G (gold tokens) after normalisation::

    common = |P ∩ G| (multiset intersection),  precision = common / |P|,  recall = common / |G|,
    F1 = 2 · precision · recall / (precision + recall),  and F1 = 0 when common = 0.

Rule differences: HotPotQA sets F1 = 0 when either normalised side is "yes", "no" or "noanswer" and the
two differ; MuSiQue sets F1 = [P == G] when either token list is empty, and takes the maximum of EM and
of F1 over the answer and its aliases.
"""

from __future__ import annotations

import re
import string
from collections import Counter
from typing import Iterable

_PUNCTUATION = set(string.punctuation)
_ARTICLES = re.compile(r"\b(a|an|the)\b")
YES_NO = ("yes", "no", "noanswer")


def normalize_answer(text: str) -> str:
    """Lower case, drop ASCII punctuation, replace articles by spaces, collapse whitespace."""
    text = "".join(ch for ch in text.lower() if ch not in _PUNCTUATION)
    return " ".join(_ARTICLES.sub(" ", text).split())


def exact_match(prediction: str, gold: str) -> float:
    """1.0 when the normalised strings are equal, else 0.0."""
    return float(normalize_answer(prediction) == normalize_answer(gold))


def token_f1(prediction: str, gold: str, *, yes_no_rule: bool = False, empty_rule: bool = False) -> float:
    """Token-multiset F1 of the normalised strings (see the module docstring for the two rules).

    ``yes_no_rule`` (HotPotQA): F1 = 0 when either side normalises to yes/no/noanswer and they differ.
    ``empty_rule`` (MuSiQue): when either token list is empty, F1 = 1 if both are, else 0.
    """
    pred_norm, gold_norm = normalize_answer(prediction), normalize_answer(gold)
    if yes_no_rule and (pred_norm in YES_NO or gold_norm in YES_NO) and pred_norm != gold_norm:
        return 0.0
    pred_tokens, gold_tokens = pred_norm.split(), gold_norm.split()
    if empty_rule and (not pred_tokens or not gold_tokens):
        return float(pred_tokens == gold_tokens)
    common = sum((Counter(pred_tokens) & Counter(gold_tokens)).values())
    if common == 0:
        return 0.0
    precision, recall = common / len(pred_tokens), common / len(gold_tokens)
    return 2 * precision * recall / (precision + recall)


def max_over_golds(prediction: str, golds: Iterable[str], **rules: bool) -> tuple[float, float]:
    """(max EM, max F1) over several gold answers (MuSiQue: the answer and its aliases)."""
    golds = list(golds)
    return (max(exact_match(prediction, g) for g in golds),
            max(token_f1(prediction, g, **rules) for g in golds))
