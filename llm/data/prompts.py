"""Prompts: one instruction per benchmark asking for reasoning, then a final line ``Answer: ...``.

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

if TYPE_CHECKING:
    from llm.data import Example

ANSWER_PREFIX = "Answer:"

INSTRUCTIONS = {
    "finqa": (
        "Answer the question about the financial report{source}. Think step by step and show the "
        "calculation, then end with a final line of the form 'Answer: <number>' (a plain number; "
        "write percentages with a % sign, e.g. 'Answer: 14.1%'), or 'Answer: yes' / 'Answer: no' "
        "for yes/no questions."),
    "hotpotqa": (
        "Answer the question{source}. Think step by step, then end with a final line of the form "
        "'Answer: <short answer>', where the short answer is a few words, or yes/no."),
    "musique": (
        "Answer the multi-step question{source}. Think step by step, answering one sub-question at a "
        "time, then end with a final line of the form 'Answer: <short answer>' (a few words)."),
}
SOURCES = {
    ("finqa", False): " (text and table below)",
    ("hotpotqa", False): " using the paragraphs below",
    ("musique", False): " using the paragraphs below",
}
CONTEXT_HEADINGS = {"finqa": "Report", "hotpotqa": "Paragraphs", "musique": "Paragraphs"}


def user_message(example: "Example") -> str:
    """The single user turn: instruction, context (unless closed-book) and question."""
    source = SOURCES.get((example.benchmark, example.closed_book), " from your own knowledge")
    parts = [INSTRUCTIONS[example.benchmark].format(source=source)]
    if not example.closed_book:
        parts.append(f"{CONTEXT_HEADINGS[example.benchmark]}:\n{example.context}")
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
    line and ``Reasoning:``, so a base model continues with its reasoning. The synthetic task has no
    instruction: its prompt is the symbols and ``>`` (:func:`llm.data.synthetic.prompt_text`).
    """
    if example.benchmark == "synthetic":
        from llm.data.synthetic import prompt_text

        return prompt_text(example)
    if has_chat_template(tokenizer):
        return tokenizer.apply_chat_template(build_messages(example), tokenize=False, add_generation_prompt=True)
    return f"{user_message(example)}\n\nReasoning:"
