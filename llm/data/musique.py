"""MuSiQue loader (official ``musique_ans_v1.0_*.jsonl`` schema of StonyBrookNLP/musique).

A record has ``id`` (its prefix gives the hop count and graph shape: 2hop, 3hop1, 3hop2, 4hop1, 4hop2,
4hop3), ``question``, ``answer``, ``answer_aliases``, ``answerable``, ``paragraphs`` (20 items with
``idx``, ``title``, ``paragraph_text``, ``is_supporting``) and ``question_decomposition`` (single-hop
sub-questions with their answers and ``paragraph_support_idx``). The official files are JSON Lines; a
JSON array of the same records is accepted too. The model sees all paragraphs as ``Title: <title>``
followed by the text, in file order.
"""

from __future__ import annotations

from typing import Any, Mapping

from llm.data.benchmarks import Benchmark, register
from llm.data.records import Example, RecordSource

BENCHMARK = "musique"


def _paragraphs(source: RecordSource, raw: Mapping[str, Any]) -> list[dict[str, Any]]:
    paragraphs = source.get(raw, "paragraphs", list, nonempty=True)  # the official records carry 20
    for p, item in enumerate(paragraphs):
        if not isinstance(item, dict):
            raise source.error(f"paragraph {p} must be an object", "paragraphs")
        for name, kind in (("title", str), ("paragraph_text", str)):
            if not isinstance(item.get(name), kind):
                raise source.error(f"paragraph {p} needs a string {name!r}", "paragraphs")
    return paragraphs


def render_context(paragraphs: list[dict[str, Any]]) -> str:
    return "\n\n".join(f"Title: {p['title']}\n{p['paragraph_text'].strip()}" for p in paragraphs)


def parse_record(source: RecordSource, raw: Mapping[str, Any], *, closed_book: bool = False) -> Example:
    """Turn one official MuSiQue record into an :class:`Example` (aliases from ``answer_aliases``)."""
    record_id = source.get(raw, "id", str, nonempty=True)
    source = source.with_id(record_id)
    question = source.get(raw, "question", str, nonempty=True)
    answer = source.get(raw, "answer", str, nonempty=True).strip()
    aliases = source.strings(raw, "answer_aliases", required=False)
    paragraphs = _paragraphs(source, raw)
    hops = record_id.split("__", 1)[0] if "__" in record_id else "unknown"
    metadata = {
        "hops": hops,
        "answerable": source.get(raw, "answerable", bool, required=False, default=True),
        "supporting_idx": [p.get("idx", i) for i, p in enumerate(paragraphs) if p.get("is_supporting")],
        "question_decomposition": source.get(raw, "question_decomposition", list, required=False, default=[]),
        "answer_type": "span",
        "question_type": hops,
        "source": (str(source.path), source.index),
    }
    return Example(
        id=record_id,
        benchmark=BENCHMARK,
        question=question.strip(),
        context="" if closed_book else render_context(paragraphs),
        answer=answer,
        aliases=tuple(a.strip() for a in aliases if a.strip() and a.strip() != answer),
        metadata=metadata,
    )


register(Benchmark(
    name=BENCHMARK,
    scoring_rule="qa",
    scoring_options={"use_aliases": True, "empty_rule": True},
    instruction=(
        "Answer the multi-step question{source}. Think step by step, answering one sub-question at a "
        "time, then end with a final line of the form 'Answer: <short answer>' (a few words)."),
    context_source=" using the paragraphs below",
    context_heading="Paragraphs",
    parse_record=parse_record,
    shipped={("train", False): "musique/musique_ans_train_100_hipporag.json",
             ("dev", True): "musique/musique_ans_dev_qa_only_first300.jsonl"},
))
