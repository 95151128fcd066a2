"""``tsallis data stats``: counts, answer-type breakdown and prompt token lengths of a benchmark split."""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from rich.console import Console
from rich.table import Table

from llm.data import BENCHMARKS, SPLITS, load_benchmark_with_report
from llm.data.stats import split_stats

ASSET_TOKENIZER = "smollm2"


def add_data_arguments(parser: argparse.ArgumentParser, *, several: bool) -> None:
    """Options that choose the examples (shared with ``tsallis eval``)."""
    parser.add_argument("--benchmark", nargs="+" if several else None, choices=BENCHMARKS,
                        default=list(BENCHMARKS) if several else "finqa",
                        help="benchmark(s) to read (default: %(default)s)")
    parser.add_argument("--split", choices=SPLITS, default="dev", help="split of the shipped data (default: dev)")
    parser.add_argument("--data", type=Path, default=None, metavar="PATH",
                        help="a file in the benchmark's official format instead of the shipped subset "
                             "(one benchmark only)")
    parser.add_argument("--closed-book", action="store_true",
                        help="show no context; also reads question/answer-only lists")
    parser.add_argument("--skip-bad", action="store_true", help="report and skip malformed records instead of failing")
    parser.add_argument("--limit", type=int, default=None, help="use the first N records")


def load_examples(args: argparse.Namespace, benchmark: str):
    """The examples the options select; a data or option error exits with its message (no traceback)."""
    try:
        examples, skipped = load_benchmark_with_report(benchmark, args.data, args.split, closed_book=args.closed_book,
                                                       skip_bad=args.skip_bad, limit=args.limit)
    except ValueError as err:  # DataFormatError included
        raise SystemExit(f"tsallis: {err}") from err
    if skipped:
        console = Console(stderr=True)
        for err in skipped:
            console.print(f"[yellow]skipped[/] {err}", highlight=False)
        console.print(f"[yellow]skipped {len(skipped)} malformed record(s), kept {len(examples)}[/]")
    return examples


def check_data_option(args: argparse.Namespace, benchmarks: list[str]) -> None:
    if args.data is not None and len(benchmarks) != 1:
        raise SystemExit(f"--data {args.data} needs exactly one --benchmark, got {' '.join(benchmarks)}")


def register(subparsers: argparse._SubParsersAction) -> None:
    data = subparsers.add_parser("data", help="benchmark data tools")
    commands = data.add_subparsers(dest="data_command", metavar="DATA_COMMAND", required=True)
    stats = commands.add_parser("stats", help="counts, answer types and prompt token lengths of a split")
    add_data_arguments(stats, several=True)
    stats.add_argument("--tokenizer", default=ASSET_TOKENIZER,
                       help="tokenizer for prompt lengths: 'smollm2' (shipped), a model folder, or 'none'")
    stats.add_argument("--json", type=Path, default=None, metavar="PATH", help="also write the figures as JSON")
    stats.set_defaults(func=run_stats)


def _tokenizer(name: str):
    if name == "none":
        return None
    if name == ASSET_TOKENIZER:
        from llm.models import asset_tokenizer
        return asset_tokenizer()
    from transformers import AutoTokenizer
    return AutoTokenizer.from_pretrained(name)


def _fmt(summary: dict[str, float]) -> str:
    return f"{summary['min']:.0f} / {summary['median']:.0f} / {summary['mean']:.0f} / {summary['p95']:.0f} / {summary['max']:.0f}"


def run_stats(args: argparse.Namespace) -> int:
    check_data_option(args, args.benchmark)
    tokenizer = _tokenizer(args.tokenizer)
    figures = {b: split_stats(load_examples(args, b), tokenizer) for b in args.benchmark}
    console = Console()
    for benchmark, s in figures.items():
        table = Table(title=f"{benchmark} {args.split}{' (closed book)' if args.closed_book else ''}")
        table.add_column("statistic")
        table.add_column("value")
        table.add_row("examples", str(s["examples"]))
        table.add_row("answer types", ", ".join(f"{k} {v}" for k, v in s["answer_types"].items()))
        table.add_row("question types", ", ".join(f"{k} {v}" for k, v in s["question_types"].items()))
        table.add_row("with aliases", str(s["with_aliases"]))
        table.add_row("context chars (min/median/mean/p95/max)", _fmt(s["context_chars"]))
        if "prompt_tokens" in s:
            table.add_row(f"prompt tokens, {args.tokenizer} (min/median/mean/p95/max)", _fmt(s["prompt_tokens"]))
        console.print(table)
    if args.json is not None:
        from tsallis.files import atomic_write_text
        atomic_write_text(args.json, json.dumps(figures, indent=2) + "\n")
    return 0
