"""``load_benchmark``: the one entry point from a benchmark name (and optionally a file) to examples.

Without ``path`` the small subsets shipped in ``llm/data/shipped/`` are read (see its README for the
files and their sources). With ``path`` any file in the official format of the benchmark is read; in
closed-book mode question/answer-only lists are accepted too, and official records lose their context.

A generated task (the ``synthetic`` task of :mod:`llm.data.synthetic`) has no data file: its examples are
generated from its settings, given as ``task=`` (its settings dataclass or a mapping of its fields) or as
``path`` = a YAML/JSON file of them; with neither, the default settings. Which benchmarks exist, and how each
is read, is the registry's (:mod:`llm.data.benchmarks`).
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any, Callable, Mapping

from llm.data import qa_only
from llm.data.benchmarks import BENCHMARKS, Benchmark, benchmark_spec
from llm.data.records import SPLITS, DataFormatError, Example, RecordSource, read_raw_records

log = logging.getLogger(__name__)

SHIPPED_DIR = Path(__file__).resolve().parent / "shipped"


def shipped_path(benchmark: str, split: str, closed_book: bool = False) -> Path:
    """The shipped file for a benchmark and split; raises ValueError naming what exists."""
    shipped = _check(benchmark, split).shipped
    name = shipped.get((split, closed_book))
    if name is None and closed_book:
        name = shipped.get((split, False))
    if name is None:
        have = sorted(f"{benchmark}/{s}{' (closed book)' if c else ''}" for s, c in shipped)
        raise ValueError(
            f"no shipped {benchmark} {split} data{' with context' if not closed_book else ''}; shipped: "
            f"{', '.join(have)}. Pass closed_book=True (--closed-book) or an official file as path (--data PATH).")
    return SHIPPED_DIR / name


def _check(benchmark: str, split: str) -> Benchmark:
    """The registered ``benchmark``, after checking it and ``split`` (``ValueError`` naming the bad value)."""
    spec = benchmark_spec(benchmark)
    if split not in SPLITS:
        raise ValueError(f"unknown split {split!r}; choose one of {', '.join(SPLITS)}")
    return spec


def load_benchmark_with_report(benchmark: str, path: str | Path | None = None, split: str = "train", *,
                               closed_book: bool = False, skip_bad: bool = False, limit: int | None = None,
                               task: Any = None) -> tuple[list[Example], list[DataFormatError]]:
    """Like :func:`load_benchmark`, also returning the errors of the records skipped with ``skip_bad``."""
    spec = _check(benchmark, split)
    if limit is not None and limit < 1:
        raise ValueError(f"limit must be a positive number of records, got {limit}")
    if spec.task_settings is not None:
        return generate_task(spec, path, split, task)[:limit], []
    if task is not None:
        raise ValueError(f"task= describes a generated task's settings; benchmark {benchmark!r} reads its data "
                         f"from files")
    file = Path(path) if path is not None else shipped_path(benchmark, split, closed_book)
    examples: list[Example] = []
    skipped: list[DataFormatError] = []
    seen: dict[str, int] = {}
    for source, raw in read_raw_records(file):
        try:
            example = _parse(benchmark, source, raw, closed_book)
            if example.id in seen:
                raise source.with_id(example.id).error(f"duplicate id (first at record {seen[example.id]})", "id")
        except DataFormatError as err:
            if not skip_bad:
                raise
            skipped.append(err)
            continue
        seen[example.id] = source.index
        examples.append(_with_split(example, split))
        if limit is not None and len(examples) >= limit:
            break
    if not examples:
        raise DataFormatError(file, "no usable records" + (f" ({len(skipped)} skipped)" if skipped else ""))
    return examples, skipped


def generate_task(spec: Benchmark, path: str | Path | None, split: str, task: Any) -> list[Example]:
    """A generated task's ``split`` from a settings file (``path``), settings (``task``, the dataclass or a
    mapping of its fields) or the default settings."""
    if path is not None and task is not None:
        raise ValueError(f"the {spec.name} task takes its settings from path={str(path)!r} or task=, not both")
    if path is not None:
        settings = spec.read_settings(path)
    elif isinstance(task, Mapping):
        settings = spec.task_settings.from_mapping(task)
    else:
        settings = task or spec.task_settings()
    return spec.make_examples(settings, split)


def load_benchmark(benchmark: str, path: str | Path | None = None, split: str = "train", *,
                   closed_book: bool = False, skip_bad: bool = False, limit: int | None = None,
                   task: Any = None) -> list[Example]:
    """Load a benchmark split as a list of :class:`Example`.

    Parameters
    ----------
    benchmark : str
        A registered benchmark (:data:`llm.data.benchmarks.BENCHMARKS`: finqa, hotpotqa, musique, synthetic).
    path : str or Path, optional
        A file in the benchmark's official format (JSON array or JSON Lines). ``None`` reads the
        shipped subset of ``split``. For ``synthetic``: a YAML/JSON file of the task's settings.
    split : {"train", "dev", "test"}
        Which shipped file to read (only "train" and "dev" are shipped); recorded in ``metadata["split"]``.
    closed_book : bool
        Show no context. Also accepts question/answer-only lists (see :mod:`llm.data.qa_only`).
    skip_bad : bool
        Log and skip malformed records instead of raising :class:`DataFormatError`.
    limit : int, optional
        Keep the first ``limit`` usable records (file order).
    task : settings dataclass or mapping, optional
        A generated task's settings (``synthetic``: a :class:`~llm.data.synthetic.SyntheticTask`; "dev" is its
        held-out split).
    """
    examples, skipped = load_benchmark_with_report(benchmark, path, split, closed_book=closed_book,
                                                   skip_bad=skip_bad, limit=limit, task=task)
    for err in skipped:
        log.warning("skipped malformed record: %s", err)
    if skipped:
        log.warning("skipped %d malformed record(s), kept %d", len(skipped), len(examples))
    return examples


def _parse(benchmark: str, source: RecordSource, raw: dict | DataFormatError, closed_book: bool) -> Example:
    if isinstance(raw, DataFormatError):
        raise raw
    if closed_book and qa_only.is_qa_only(raw):
        return qa_only.parse_record(source, raw, benchmark=benchmark)
    try:
        return benchmark_spec(benchmark).parse_record(source, raw, closed_book=closed_book)
    except DataFormatError as err:
        if not closed_book and qa_only.is_qa_only(raw):
            raise DataFormatError(err.path, f"{err.problem} (this looks like a question/answer-only record; "
                                  "load it with closed_book=True / --closed-book)", index=err.index,
                                  record_id=err.record_id, field_name=err.field_name) from err
        raise


def _with_split(example: Example, split: str) -> Example:
    example.metadata["split"] = split  # type: ignore[index]  # metadata is the loader's own fresh dict
    return example
