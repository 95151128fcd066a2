"""``tsallis figures``: regenerate every theory figure (PNG, PDF, CSV, JSON) and print what it verifies.

Usage::

    tsallis figures [--only NAME ...] [--out DIR] [--quick] [--seed N] [--jobs N] [--formats png pdf]

Writes ``DIR/NAME.{png,pdf,csv,json}`` per figure (``--quick``: PNG only, unless ``--formats`` says otherwise)
and ``DIR/summary.csv`` with every check
(measured value, its relation to the prediction: ≈ within a tolerance, a bound ≤ ≥ < >, or info; the
prediction or bound, the tolerance for ≈, pass/fail); exits 1 if any check fails.
"""

from __future__ import annotations

import argparse
import math
import os
import time
from concurrent.futures import ProcessPoolExecutor, as_completed
from pathlib import Path

from rich.console import Console
from rich.markup import escape
from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table as RichTable
from threadpoolctl import threadpool_limits

from figures.common import Check, run_figure, summary_rows
from figures.registry import FIGURE_NAMES, load_figure
from tsallis.files import FORMATS, write_csv


def register(subparsers: argparse._SubParsersAction) -> None:
    p = subparsers.add_parser("figures", help="regenerate the theory figures from the simulator (sim/)")
    p.add_argument("--only", nargs="+", metavar="NAME", choices=FIGURE_NAMES, help="regenerate only these figures")
    p.add_argument("--out", type=Path, default=Path("docs/figures"), help="output folder (default docs/figures)")
    p.add_argument("--quick", action="store_true",
                   help="smaller grids and fewer Monte Carlo samples, PNG only (for tests and a first look)")
    p.add_argument("--seed", type=int, default=0, help="seed of every random draw (default 0)")
    p.add_argument("--jobs", type=int, default=min(2, os.cpu_count() or 1),
                   help="figures computed in parallel, one process each (default: min(2, CPUs)); 1 = in-process")
    p.add_argument("--formats", nargs="+", choices=FORMATS, default=None,
                   help="image files per figure (default: png pdf; with --quick: png)")
    p.set_defaults(func=run)


def default_formats(quick: bool) -> tuple[str, ...]:
    """PNG and PDF for the full run; PNG alone for --quick (a PDF costs as much again to draw as its PNG)."""
    return ("png",) if quick else FORMATS


SUMMARY_COLUMNS = ("figure", "claim", "regime", "measured", "rel", "predicted", "tol", "ok")
"""The printed summary: measured <rel> predicted (≈ within tol, a bound ≤ ≥ < >, or info)."""


def _number(value: float, digits: int) -> str:
    """A table cell: ``value`` to ``digits`` significant digits, empty where it does not apply (NaN)."""
    return "" if math.isnan(value) else f"{value + 0.0:.{digits}g}"  # + 0.0: -0.0 prints as 0


def summary_table(checks: list[Check], title: str) -> RichTable:
    table = RichTable(title=title, show_lines=False)
    for col in SUMMARY_COLUMNS:
        table.add_column(col, justify="right" if col in ("measured", "predicted", "tol") else "left")
    for c in checks:
        table.add_row(c.figure.removeprefix("fig_"), escape(c.claim), escape(c.regime), _number(c.measured, 4), c.relation,
                      _number(c.predicted, 4), _number(c.tolerance, 2),
                      {True: "[green]yes[/]", False: "[red]NO[/]", None: "info"}[c.passed])
    return table


def _run_one(name: str, out: Path, quick: bool, seed: int, formats: tuple[str, ...]) -> tuple[str, list[Check], float]:
    """Regenerate one figure with single-threaded BLAS (the toys' matrices are small; threads only contend). The
    module is imported first, so that the limit also reaches BLAS libraries its imports load (a library loaded
    inside the limit is not limited, and its thread count changes the rounding of, e.g., SLSQP's results)."""
    start = time.perf_counter()
    module = load_figure(name)
    with threadpool_limits(limits=1):
        checks = run_figure(module, out, quick, seed, formats)
    return name, checks, time.perf_counter() - start


def regenerate(names: list[str], out: Path, quick: bool, seed: int, console: Console,
               jobs: int = 1, formats: tuple[str, ...] | None = None) -> tuple[list[Check], dict[str, float]]:
    """Run the named figures (``jobs`` processes) with a progress bar, saving each in ``formats`` (None: the
    default for ``quick``); returns the checks in registry order and the seconds each figure took. Each figure
    seeds its own generator, so the output does not depend on ``jobs`` or on the order in which figures finish."""
    if jobs < 1:
        raise ValueError(f"--jobs must be >= 1, got jobs={jobs!r}")
    formats = default_formats(quick) if formats is None else tuple(dict.fromkeys(formats))
    results: dict[str, tuple[list[Check], float]] = {}
    columns = (TextColumn("{task.description}"), BarColumn(), TextColumn("{task.completed}/{task.total}"),
               TimeElapsedColumn())
    with Progress(*columns, console=console, transient=False) as progress:
        task = progress.add_task("figures", total=len(names))
        if jobs == 1:
            for name in names:
                progress.update(task, description=f"{name:<28}")
                _, checks, seconds = _run_one(name, out, quick, seed, formats)
                results[name] = (checks, seconds)
                progress.advance(task)
        else:
            with ProcessPoolExecutor(max_workers=jobs) as pool:
                futures = [pool.submit(_run_one, name, out, quick, seed, formats) for name in names]
                for future in as_completed(futures):
                    name, checks, seconds = future.result()
                    results[name] = (checks, seconds)
                    progress.update(task, description=f"{name:<28}")
                    progress.advance(task)
    checks = [c for name in names for c in results[name][0]]
    return checks, {name: results[name][1] for name in names}


def run(args: argparse.Namespace) -> int:
    if args.seed < 0:
        raise ValueError(f"--seed must be an integer >= 0, got --seed={args.seed}")
    if args.jobs < 1:
        raise ValueError(f"--jobs must be an integer >= 1, got --jobs={args.jobs}")
    console = Console(width=160)
    names = list(args.only) if args.only else list(FIGURE_NAMES)
    start = time.perf_counter()
    checks, seconds = regenerate(names, args.out, args.quick, args.seed, console, args.jobs, args.formats)
    total = time.perf_counter() - start
    write_csv(args.out / "summary.csv", summary_rows(checks))
    console.print(summary_table(checks, f"verified claims ({'quick' if args.quick else 'full'} run, seed {args.seed})"))
    timing = ", ".join(f"{name.removeprefix('fig_')} {sec:.1f}" for name, sec in seconds.items())
    console.print(f"{len(names)} figures in {total:.1f} s wall with {args.jobs} job(s) -> {args.out}/  (s per figure: {timing})")
    failed = [c for c in checks if c.passed is False]
    if failed:
        console.print(f"[red]{len(failed)} check(s) failed[/]")
    return 1 if failed else 0
