"""Question/answer lists without context, for closed-book mode.

Two line formats are accepted (in a JSON array or JSON Lines):

* plain: ``{"question": ..., "answer": ..., "id" or "_id": ... (optional), "answer_aliases": [...] (optional)}``;
* verl RL-data style, as in the shipped dev lists: ``{"prompt": [{"role": "user", "content": question}],
  "reward_model": {"ground_truth": answer or [answer, alias, ...]}, "extra_info": {"question", "answer",
  "index"}}`` (``extra_info`` wins when present).

Records without an id get ``"<file stem>-<index>"`` (``index`` from ``extra_info`` when given).
"""

from __future__ import annotations

from typing import Any, Mapping

from llm.data.finqa_program import parse_number
from llm.data.records import Example, RecordSource

CONTEXT_FIELDS = ("context", "paragraphs", "table", "pre_text")


def is_qa_only(raw: Mapping[str, Any]) -> bool:
    """A record with a question and an answer (in either format) and no context field."""
    if any(name in raw for name in CONTEXT_FIELDS):
        return False
    return ("question" in raw and "answer" in raw) or "reward_model" in raw or "extra_info" in raw


def _question_answers(source: RecordSource, raw: Mapping[str, Any]) -> tuple[str, list[str]]:
    if "extra_info" in raw or "reward_model" in raw:
        question = source.get(raw, "extra_info.question", str, required=False)
        if question is None:
            last = source.get(raw, "prompt", list, nonempty=True)[-1]
            if not isinstance(last, dict) or not isinstance(last.get("content"), str):
                raise source.error("the last message needs a string 'content'", "prompt")
            question = last["content"]
        answer = source.get(raw, "extra_info.answer", str, required=False)
        truth = source.get(raw, "reward_model.ground_truth", (str, list), required=answer is None)
        golds = [answer] if answer is not None else ([truth] if isinstance(truth, str) else list(truth))
        if isinstance(truth, list):
            golds += [t for t in truth if isinstance(t, str) and t not in golds]
    else:
        question = source.get(raw, "question", str)
        golds = [source.get(raw, "answer", str)]
        golds += source.strings(raw, "answer_aliases", required=False)
    if not question.strip():
        raise source.error("empty value", "question")
    if not golds or not isinstance(golds[0], str) or not golds[0].strip():
        raise source.error("empty answer", "answer")
    return question.strip(), [g.strip() for g in golds if isinstance(g, str) and g.strip()]


def answer_type(answer: str) -> str:
    """ "yes/no", "number" (e.g. "12.5%", "$1,200") or "span"."""
    if answer.lower() in ("yes", "no"):
        return "yes/no"
    return "number" if parse_number(answer.replace("$", "")) is not None else "span"


def parse_record(source: RecordSource, raw: Mapping[str, Any], *, benchmark: str) -> Example:
    """Turn one question/answer record into a closed-book :class:`Example` of ``benchmark``."""
    record_id = raw.get("id", raw.get("_id"))
    if not isinstance(record_id, str) or not record_id:
        index = source.get(raw, "extra_info.index", int, required=False, default=source.index)
        record_id = f"{source.path.stem}-{index}"
    source = source.with_id(record_id)
    question, golds = _question_answers(source, raw)
    answer = golds[0]
    metadata = {
        "answer_type": answer_type(answer),
        "question_type": "closed-book",
        "source": (str(source.path), source.index),
    }
    return Example(id=record_id, benchmark=benchmark, question=question, context="", answer=answer,
                   aliases=tuple(g for g in golds[1:] if g != answer), metadata=metadata)
