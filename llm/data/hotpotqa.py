"""HotPotQA loader (official distractor-setting JSON of hotpotqa/hotpot).

A record has ``_id``, ``question``, ``answer`` ("yes"/"no" for some comparison questions), ``type``
("bridge"/"comparison"), ``level``, ``supporting_facts`` (``[title, sentence index]`` pairs) and ``context``
(``[title, [sentence, ...]]`` pairs: 2 gold paragraphs and 8 distractors). Sentences after the first
usually start with a space, so joining them with ``""`` restores the paragraph. The model sees every
paragraph as ``Title: <title>`` followed by its text.
"""

from __future__ import annotations

from typing import Any, Mapping

from llm.data.benchmarks import Benchmark, register
from llm.data.records import Example, RecordSource

BENCHMARK = "hotpotqa"


def _paragraphs(source: RecordSource, raw: Mapping[str, Any]) -> list[tuple[str, str]]:
    paragraphs = []
    for p, item in enumerate(source.get(raw, "context", list)):
        if (not isinstance(item, list) or len(item) != 2 or not isinstance(item[0], str)
                or not isinstance(item[1], list) or not all(isinstance(s, str) for s in item[1])):
            raise source.error(f"paragraph {p} must be [title, [sentence, ...]]", "context")
        paragraphs.append((item[0], "".join(item[1]).strip()))
    return paragraphs


def render_context(paragraphs: list[tuple[str, str]]) -> str:
    return "\n\n".join(f"Title: {title}\n{text}" for title, text in paragraphs)


def parse_record(source: RecordSource, raw: Mapping[str, Any], *, closed_book: bool = False) -> Example:
    """Turn one official HotPotQA record into an :class:`Example`."""
    source = source.with_id(source.get(raw, "_id", str, nonempty=True))
    question = source.get(raw, "question", str, nonempty=True)
    answer = source.get(raw, "answer", str, nonempty=True).strip()
    paragraphs = _paragraphs(source, raw)
    facts = source.get(raw, "supporting_facts", list, required=False, default=[])
    for f, fact in enumerate(facts):
        if not (isinstance(fact, list) and len(fact) == 2 and isinstance(fact[0], str)
                and isinstance(fact[1], int)):
            raise source.error(f"fact {f} must be [title, sentence index]", "supporting_facts")
    kind = source.get(raw, "type", str, required=False, default="")
    metadata = {
        "type": kind,
        "level": source.get(raw, "level", str, required=False, default=""),
        "supporting_facts": [tuple(fact) for fact in facts],
        "titles": [title for title, _ in paragraphs],
        "answer_type": "yes/no" if answer.lower() in ("yes", "no") else "span",
        "question_type": kind or "unknown",
        "source": (str(source.path), source.index),
    }
    return Example(
        id=source.record_id or "",
        benchmark=BENCHMARK,
        question=question.strip(),
        context="" if closed_book else render_context(paragraphs),
        answer=answer,
        metadata=metadata,
    )


register(Benchmark(
    name=BENCHMARK,
    scoring_rule="qa",
    scoring_options={"use_aliases": False, "yes_no_rule": True},
    instruction=(
        "Answer the question{source}. Think step by step, then end with a final line of the form "
        "'Answer: <short answer>', where the short answer is a few words, or yes/no."),
    context_source=" using the paragraphs below",
    context_heading="Paragraphs",
    parse_record=parse_record,
    shipped={("train", False): "hotpotqa/hotpot_train_100_hipporag.json",
             ("dev", False): "hotpotqa/hotpot_dev_distractor_v1_first103.json",
             ("dev", True): "hotpotqa/hotpot_dev_qa_only_first300.jsonl"},
))
