"""Prompts: the benchmark's instruction (its registration in :mod:`llm.data.benchmarks`) asking for reasoning,
then a final line ``Answer: ...``.

The answer line is what :func:`llm.scoring.extract.extract_answer` reads. :func:`build_prompt` applies
the tokenizer's chat template (one user turn, generation prompt appended) when the tokenizer has one,
and falls back to plain text otherwise (or when ``tokenizer`` is None)::

    from llm.data.prompts import build_prompt
    text = build_prompt(example, tokenizer)   # str, ready for the rollout engine

The context (FinQA report text and table, HotPotQA/MuSiQue paragraphs) comes first, then the question,
so prompts that share a context share a prefix.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from llm.data.benchmarks import benchmark_spec

if TYPE_CHECKING:
    from llm.data import Example

ANSWER_PREFIX = "Answer:"


def user_message(example: "Example") -> str:
    """The single user turn: instruction, context (unless closed-book) and question."""
    spec = benchmark_spec(example.benchmark)
    source = " from your own knowledge" if example.closed_book else spec.context_source
    parts = [spec.instruction.format(source=source)]
    if not example.closed_book:
        parts.append(f"{spec.context_heading}:\n{example.context}")
    parts.append(f"Question: {example.question}")
    return "\n\n".join(parts)


def build_messages(example: "Example") -> list[dict[str, str]]:
    """Chat messages for the example (one user turn; the template adds its own system turn if any)."""
    return [{"role": "user", "content": user_message(example)}]


def has_chat_template(tokenizer: Any) -> bool:
    return bool(getattr(tokenizer, "chat_template", None))


def build_prompt(example: "Example", tokenizer: Any = None) -> str:
    """The prompt string: the chat template applied with a generation prompt, or plain text.

    Plain text (no tokenizer, or one without a chat template) is the user message followed by a blank
    line and ``Reasoning:``, so a base model continues with its reasoning. A benchmark with a fixed prompt
    (the synthetic task: the symbols and ``>``) returns it as it is.
    """
    fixed = benchmark_spec(example.benchmark).prompt
    if fixed is not None:
        return fixed(example)
    if has_chat_template(tokenizer):
        return tokenizer.apply_chat_template(build_messages(example), tokenize=False, add_generation_prompt=True)
    return f"{user_message(example)}\n\nReasoning:"
