"""Pull the final answer out of a completion.

The prompts (:mod:`llm.prompts`) ask the model to reason and then finish with a line
``Answer: <answer>``. :func:`extract_answer` returns the text after the **last** ``Answer:`` marker
(also ``Final answer:``, ``answer is:``; any case), up to the end of that line, cleaned of markdown
emphasis, surrounding quotes, a ``\\boxed{...}`` wrapper and a trailing full stop. Without a marker it
falls back to the last ``\\boxed{...}``; otherwise the completion has no parseable answer (``None``),
which scores 0: the format is part of what the reward teaches.
"""

from __future__ import annotations

import re

_MARKER = re.compile(r"(?:final\s+answer|answer)(?:\s+is)?\s*[:：]", re.IGNORECASE)
_BOXED = re.compile(r"\\boxed\{([^{}]*)\}")


def _clean(text: str) -> str:
    boxed = _BOXED.search(text)
    if boxed:
        text = boxed.group(1)
    previous = None
    while text != previous:  # peel "**42**.", "'Paris'." and the like from the outside in
        previous = text
        text = text.strip().strip("*_`").strip()
        if text.endswith(".") and not text.endswith(".."):
            text = text[:-1]
        if len(text) >= 2 and text[0] == text[-1] and text[0] in "\"'":
            text = text[1:-1]
    return text


def extract_answer(completion: str) -> str | None:
    """The final answer written in ``completion``, or None when it has none (see module docstring)."""
    markers = list(_MARKER.finditer(completion))
    if markers:
        rest = completion[markers[-1].end():]
        # the rest of the marker's line, or the next non-empty line for "Answer:\nParis"
        line = next((part for part in rest.split("\n") if part.strip(" \t*")), "")
        answer = _clean(line)
        return answer or None
    boxed = _BOXED.findall(completion)
    if boxed:
        return _clean(boxed[-1]) or None
    return None
