"""Evaluation output: per-question JSON Lines, a summary JSON, and a rich table.

Files are written atomically (a temporary file in the same folder, then ``os.replace``), so an
interrupted run never leaves a half-written result that looks complete.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any, Iterable

from rich.console import Console
from rich.table import Table

from llm.evaluation.loop import EvalResult
from tsallis.files import atomic_write_text

# (summary key, row label, format); the format_rules breakdown follows the "format_ok" row
TABLE_ROWS = (("questions", "questions", "{:.0f}"), ("maj_at_k", "maj@{k}", "{:.3f}"),
              ("pass_at_k", "pass@{k}", "{:.3f}"), ("mean_at_k", "mean@{k}", "{:.3f}"),
              ("em", "EM", "{:.3f}"), ("f1", "F1", "{:.3f}"), ("format_ok", "has an answer", "{:.2f}"),
              ("mean_completion_tokens", "completion tokens", "{:.1f}"),
              ("truncated", "cut at max tokens", "{:.2f}"))


def jsonl_text(rows: Iterable[dict[str, Any]]) -> str:
    return "".join(json.dumps(row, ensure_ascii=False) + "\n" for row in rows)


def write_results(result: EvalResult, out_dir: str | Path, name: str, run_info: dict[str, Any]) -> tuple[Path, Path]:
    """Write ``<name>.jsonl`` (one record per question) and ``<name>.summary.json``; return both paths."""
    out_dir = Path(out_dir)
    records_path, summary_path = out_dir / f"{name}.jsonl", out_dir / f"{name}.summary.json"
    atomic_write_text(records_path, jsonl_text(result.records))
    summary = {"run": run_info, "benchmarks": result.summary, "records": records_path.name}
    atomic_write_text(summary_path, json.dumps(summary, indent=2, ensure_ascii=False) + "\n")
    return records_path, summary_path


def summary_table(summary: dict[str, dict[str, Any]], k: int, title: str = "evaluation") -> Table:
    """One column per benchmark, one row per figure: questions, maj@k, pass@k, mean@k, EM, F1, the fraction
    of samples with an answer, then, for each extraction rule that found an answer in some benchmark, the
    fraction it found ("  via answer_line", ...), mean completion tokens and the fraction cut at
    max_new_tokens."""
    table = Table(title=title)
    table.add_column("metric")
    for benchmark in summary:
        table.add_column(benchmark, justify="right")
    for key, header, fmt in TABLE_ROWS:
        table.add_row(header.format(k=k), *(fmt.format(figures[key]) for figures in summary.values()))
        if key == "format_ok":
            for rule in dict.fromkeys(rule for figures in summary.values() for rule in figures["format_rules"]):
                shares = [figures["format_rules"].get(rule, 0.0) for figures in summary.values()]
                if any(shares):
                    table.add_row(f"  via {rule}", *(f"{share:.2f}" for share in shares))
    return table


def print_summary(summary: dict[str, dict[str, Any]], k: int, title: str = "evaluation",
                  console: Console | None = None) -> None:
    (console or Console()).print(summary_table(summary, k, title))
