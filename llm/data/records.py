"""The typed example record shared by every benchmark, and strict readers for the raw files.

Every loader turns one raw record into an :class:`Example`. Reading is strict: a file that is not JSON
(or JSON Lines), a record that is not an object, a missing field, a field of the wrong type or an empty
answer raises :class:`DataFormatError`, whose message names the file, the record (index and, when known,
id) and the field.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Mapping

SPLITS = ("train", "dev", "test")


@dataclass(frozen=True)
class Example:
    """One benchmark question, ready for prompting and scoring.

    Attributes
    ----------
    id : str
        The official record id (FinQA ``id``, HotPotQA ``_id``, MuSiQue ``id``), or ``"<file stem>-<index>"``
        for question/answer lists that carry none.
    benchmark : str
        A registered benchmark (:data:`llm.data.benchmarks.BENCHMARKS`).
    question : str
        The question as written in the data.
    context : str
        The rendered evidence shown to the model (FinQA text and table, HotPotQA's 10 paragraphs, MuSiQue's
        20 paragraphs); ``""`` in closed-book mode.
    answer : str
        The gold answer. FinQA: ``exe_ans`` written as a string ("127.4", "0.34719", "yes").
    aliases : tuple of str
        Other accepted answers (MuSiQue ``answer_aliases``; FinQA's human-written ``qa.answer`` such as "34.7%").
    metadata : dict
        Benchmark-specific fields (FinQA ``program``, ``exe_ans``, ``table``; HotPotQA ``type``, ``level``,
        ``supporting_facts``; MuSiQue ``hops``, ``supporting_idx``, ...), plus ``answer_type`` and
        ``question_type`` for statistics and ``source`` (file, index). Excluded from hashing and equality.
    """

    id: str
    benchmark: str
    question: str
    context: str
    answer: str
    aliases: tuple[str, ...] = ()
    metadata: Mapping[str, Any] = field(default_factory=dict, hash=False, compare=False)

    @property
    def gold_answers(self) -> tuple[str, ...]:
        """The answer followed by its aliases (what alias-aware EM/F1 maximise over)."""
        return (self.answer, *self.aliases)

    @property
    def closed_book(self) -> bool:
        """True when no context is shown to the model."""
        return self.context == ""


class DataFormatError(ValueError):
    """A malformed data file or record; the message names the file, the record and the field."""

    def __init__(self, path: str | Path, problem: str, *, index: int | None = None,
                 record_id: str | None = None, field_name: str | None = None):
        self.path = str(path)
        self.index = index
        self.record_id = record_id
        self.field_name = field_name
        self.problem = problem
        where = [f"{self.path}"]
        if index is not None:
            where.append(f"record {index}")
        if record_id is not None:
            where.append(f"id {record_id!r}")
        if field_name is not None:
            where.append(f"field {field_name!r}")
        super().__init__(f"{', '.join(where)}: {problem}")


@dataclass(frozen=True)
class RecordSource:
    """Where a raw record came from; builds errors and reads fields with type checks."""

    path: Path
    index: int
    record_id: str | None = None

    def with_id(self, record_id: str) -> "RecordSource":
        return RecordSource(self.path, self.index, record_id)

    def error(self, problem: str, field_name: str | None = None) -> DataFormatError:
        return DataFormatError(self.path, problem, index=self.index, record_id=self.record_id,
                               field_name=field_name)

    def get(self, raw: Mapping[str, Any], dotted: str, kind: type | tuple[type, ...], *,
            required: bool = True, default: Any = None, nonempty: bool = False) -> Any:
        """Return ``raw[a][b]...`` for ``dotted = "a.b"``, checking its type (and non-emptiness).

        ``bool`` is never accepted where a number is asked for (JSON ``true`` is not a number).
        """
        value: Any = raw
        for part in dotted.split("."):
            if not isinstance(value, Mapping) or part not in value:
                if required:
                    raise self.error("missing field", dotted)
                return default
            value = value[part]
        kinds = kind if isinstance(kind, tuple) else (kind,)
        if not isinstance(value, kinds) or (isinstance(value, bool) and bool not in kinds):
            names = " or ".join(k.__name__ for k in kinds)
            raise self.error(f"expected {names}, got {type(value).__name__} {_short(value)}", dotted)
        if nonempty and (value == "" or (isinstance(value, str) and not value.strip())
                         or (hasattr(value, "__len__") and len(value) == 0)):
            raise self.error("empty value", dotted)
        return value

    def strings(self, raw: Mapping[str, Any], dotted: str, *, required: bool = True) -> list[str]:
        """A list of strings (e.g. FinQA ``pre_text``), checked element by element."""
        items = self.get(raw, dotted, list, required=required, default=[])
        for i, item in enumerate(items):
            if not isinstance(item, str):
                raise self.error(f"item {i} is {type(item).__name__}, expected str", dotted)
        return items


def _short(value: Any, width: int = 60) -> str:
    text = repr(value)
    return text if len(text) <= width else text[: width - 1] + "…"


TOO_DEEP = "JSON nested too deeply to read (Python's recursion limit)"


def read_raw_records(path: str | Path) -> list[tuple[RecordSource, dict[str, Any] | DataFormatError]]:
    """Read every record of a JSON array file or a JSON Lines file.

    The format is chosen by the first non-blank character: ``[`` means one JSON array (the official
    FinQA and HotPotQA form, and HippoRAG's MuSiQue copy), anything else means one object per line
    (the official MuSiQue form). Blank lines in JSON Lines are skipped but still counted, so a record's
    index is its 0-based line number.

    Returns ``(source, record)`` pairs where ``record`` is a :class:`DataFormatError` for a line that is
    not valid JSON (or nested too deeply for Python's JSON reader) or a record that is not an object, so
    that a caller may skip it; a file that cannot be read at all (missing, not UTF-8, empty, a broken or
    too deeply nested JSON array) raises at once.
    """
    path = Path(path)
    if not path.is_file():
        raise DataFormatError(path, "no such file")
    try:
        text = path.read_text(encoding="utf-8")
    except UnicodeDecodeError as err:
        raise DataFormatError(path, f"not UTF-8 text ({err})") from err
    stripped = text.lstrip()
    if not stripped:
        raise DataFormatError(path, "empty file")
    if stripped.startswith("["):
        try:
            parsed = json.loads(text)
        except json.JSONDecodeError as err:
            raise DataFormatError(path, f"invalid JSON at line {err.lineno} column {err.colno}: {err.msg}") from err
        except RecursionError as err:
            raise DataFormatError(path, TOO_DEEP) from err
        rows: list[tuple[int, Any]] = list(enumerate(parsed))
    else:
        rows = _json_lines(path, text)
    out: list[tuple[RecordSource, dict[str, Any] | DataFormatError]] = []
    for index, record in rows:
        source = RecordSource(path, index)
        if not isinstance(record, (dict, DataFormatError)):
            record = source.error(f"expected a JSON object, got {type(record).__name__}")
        out.append((source, record))
    return out


def _json_lines(path: Path, text: str) -> list[tuple[int, Any]]:
    rows: list[tuple[int, Any]] = []
    for index, line in enumerate(text.splitlines()):
        if not line.strip():
            continue
        try:
            rows.append((index, json.loads(line)))
        except json.JSONDecodeError as err:
            rows.append((index, DataFormatError(
                path, f"invalid JSON (line {index + 1}, column {err.colno}): {err.msg}", index=index)))
        except RecursionError:
            rows.append((index, DataFormatError(path, f"{TOO_DEEP} (line {index + 1})", index=index)))
    return rows
