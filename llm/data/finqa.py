"""FinQA loader (official ``dataset/{train,dev,test}.json`` schema of czyssrs/FinQA).

A record has ``id``, ``pre_text`` and ``post_text`` (lists of sentences), ``table`` (list of rows of cell
strings) and ``qa`` with ``question``, ``program`` (e.g. ``"divide(637, const_5)"``) and ``exe_ans`` (a float,
or "yes"/"no" for ``greater``; NaN and infinities, which Python's JSON reader accepts, are refused). Other
fields (retriever scores, ``table_ori``, ``qa.steps``...) are ignored.
The model sees the text before the table, the table as pipe-separated rows, and the text after it.
"""

from __future__ import annotations

import math
from typing import Any, Mapping

from llm.data.benchmarks import Benchmark, register
from llm.data.finqa_program import ProgramError, format_number, parse_program
from llm.data.records import Example, RecordSource

BENCHMARK = "finqa"


def render_table(table: list[list[str]]) -> str:
    """One line per row, cells separated by `` | `` (the first cell names the row, as programs use it)."""
    return "\n".join(" | ".join(cell.strip() for cell in row) for row in table)


def render_context(pre_text: list[str], table: list[list[str]], post_text: list[str]) -> str:
    parts = [" ".join(s.strip() for s in pre_text).strip(), "Table:\n" + render_table(table),
             " ".join(s.strip() for s in post_text).strip()]
    return "\n\n".join(p for p in parts if p)


def _table(source: RecordSource, raw: Mapping[str, Any]) -> list[list[str]]:
    rows = source.get(raw, "table", list, nonempty=True)
    for r, row in enumerate(rows):
        if not isinstance(row, list) or not all(isinstance(cell, str) for cell in row):
            raise source.error(f"row {r} must be a list of strings", "table")
    return rows


def parse_record(source: RecordSource, raw: Mapping[str, Any], *, closed_book: bool = False) -> Example:
    """Turn one official FinQA record into an :class:`Example` (gold answer = ``exe_ans``)."""
    source = source.with_id(source.get(raw, "id", str, nonempty=True))
    question = source.get(raw, "qa.question", str, nonempty=True)
    program = source.get(raw, "qa.program", str, nonempty=True)
    exe_ans = source.get(raw, "qa.exe_ans", (int, float, str))
    if isinstance(exe_ans, str):
        if exe_ans.strip().lower() not in ("yes", "no"):
            raise source.error(f"string answers must be 'yes' or 'no', got {exe_ans!r}", "qa.exe_ans")
        answer = exe_ans.strip().lower()
    elif not math.isfinite(exe_ans):
        raise source.error(f"must be a finite number, got {exe_ans!r}", "qa.exe_ans")
    else:
        answer = format_number(exe_ans)
    table = _table(source, raw)
    pre_text = source.strings(raw, "pre_text")
    post_text = source.strings(raw, "post_text")
    human = source.get(raw, "qa.answer", str, required=False, default="").strip()
    try:
        ops = [step.op for step in parse_program(program)]
    except ProgramError as err:
        raise source.error(str(err), "qa.program") from err
    metadata = {
        "program": program,
        "exe_ans": exe_ans,
        "table": table,
        "gold_inds": source.get(raw, "qa.gold_inds", dict, required=False, default={}),
        "filename": source.get(raw, "filename", str, required=False, default=""),
        "answer_type": "yes/no" if isinstance(exe_ans, str) else "number",
        "question_type": f"{len(ops)}-step",
        "ops": ops,
        "source": (str(source.path), source.index),
    }
    return Example(
        id=source.record_id or "",
        benchmark=BENCHMARK,
        question=question.strip(),
        context="" if closed_book else render_context(pre_text, table, post_text),
        answer=answer,
        aliases=(human,) if human and human != answer else (),
        metadata=metadata,
    )


register(Benchmark(
    name=BENCHMARK,
    scoring_rule="finqa",
    instruction=(
        "Answer the question about the financial report{source}. Think step by step and show the "
        "calculation, then end with a final line of the form 'Answer: <number>' (a plain number; "
        "write percentages with a % sign, e.g. 'Answer: 14.1%'), or 'Answer: yes' / 'Answer: no' "
        "for yes/no questions."),
    context_source=" (text and table below)",
    context_heading="Report",
    parse_record=parse_record,
    shipped={("train", False): "finqa/finqa_train_100.json", ("dev", False): "finqa/finqa_dev_200.json"},
))
