"""The tables ``tsallis coldstart`` prints, also written as ``summary.md`` beside the CSV files."""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

from tsallis.files import atomic_write_text


def _limit(value: float, budget: float, fmt: str = "{:g}") -> str:
    return f"> {fmt.format(budget)}" if not math.isfinite(value) else fmt.format(value)


def arm_table(per_arm: list[dict[str, Any]], budget: int, token_budget: int | None = None) -> list[list[str]]:
    """Header + one row per arm: escaped seeds, median escape step (or, with ``token_budget``, generated tokens)
    [IQR], final exact P, greedy accuracy."""
    noisy = "final_clean_p_median" in per_arm[0]
    if token_budget is None:
        axis, key, limit, fmt = "median escape step [IQR]", "escape_step", budget, "{:g}"
    else:
        axis, key, limit, fmt = "median tokens to escape [IQR]", "escape_tokens", token_budget, "{:,.0f}"
    header = ["estimator", "escaped", axis, "p0 (median)"]
    header += ["final clean P", "final corrupted P"] if noisy else ["final train P"]
    header += ["final held-out P", "held-out greedy acc."]
    header += ["cold-start gain"] if token_budget is None else ["generated tokens (median)"]
    rows = [header]
    for a in per_arm:
        median = a["median_escape_step"] if token_budget is None else a["median_escape_tokens"]
        row = [a["estimator"], f"{a['escaped']}/{a['seeds']}",
               f"{_limit(median, limit, fmt)} [{_limit(a[key + '_p25'], limit, fmt)}, "
               f"{_limit(a[key + '_p75'], limit, fmt)}]", f"{a['p0_median']:.2e}"]
        row += ([f"{a['final_clean_p_median']:.3f}", f"{a['final_corrupted_p_median']:.3f}"] if noisy
                else [f"{a['final_train_p_median']:.3f}"])
        row += [f"{a['final_heldout_p_median']:.3f}", f"{a['final_heldout_accuracy_mean']:.3f}"]
        row += [f"{a['cold_start_gain']:.3g}"] if token_budget is None else [f"{a['generated_tokens_median']:,.0f}"]
        rows.append(row)
    return rows


def prediction_table(checks: list[dict[str, Any]]) -> list[list[str]]:
    """Header + one row per predicted ratio of median escape steps."""
    rows = [["ratio of median escape steps", "measured", "predicted (sim/, P ≪ 1/M)"]]
    for c in checks:
        measured = "not measured (the faster arm did not escape)" if c["relation"] == "not measured" else (
            f"{'≥ ' if c['relation'] == '≥' else ''}{c['measured']:.2f}")
        rows.append([c["ratio"], measured, f"{c['predicted']:.2f}"])
    return rows


def markdown(rows: list[list[str]]) -> str:
    """A GitHub markdown table."""
    lines = ["| " + " | ".join(rows[0]) + " |", "|" + "|".join("---" for _ in rows[0]) + "|"]
    return "\n".join(lines + ["| " + " | ".join(r) + " |" for r in rows[1:]]) + "\n"


def print_report(result: dict[str, Any], out: Path) -> Path:
    """Print both tables and the wall time; write them to ``out/summary.md``; return its path."""
    from rich.console import Console
    from rich.table import Table

    budget, settings = result["settings"]["budget"], result["settings"]
    token_budget = settings["token_budget"] if settings["remedies"] else None
    title = "Remedies at equal generated tokens" if token_budget else "Escape from cold start"
    tables = [(title, arm_table(result["per_arm"], budget["steps"], token_budget))]
    if result["checks"]:
        tables.append(("Measured vs predicted", prediction_table(result["checks"])))
    console = Console(width=150)  # the tables are wider than a default 80-column pipe
    for title, rows in tables:
        table = Table(title=title)
        for name in rows[0]:
            table.add_column(name)
        for row in rows[1:]:
            table.add_row(*row)
        console.print(table)
    line = (f"G = {budget['prompts_per_step']}, M = {budget['num_samples']}, {budget['optimizer']} lr "
            f"{budget['lr']:g}, clip {budget['max_grad_norm']:g}, {budget['steps']} steps, {budget['seeds']} seeds, "
            f"exact P every {budget['exact_every']} steps, label noise {settings['task']['noise']:g}"
            + (f", token budget {token_budget:,}" if token_budget else ""))
    wall = f"wall time {result['wall_s']:.0f} s with {settings['jobs']} parallel jobs"
    console.print(f"{line}\n{wall}\nfiles: {out}", highlight=False)
    path = out / "summary.md"
    atomic_write_text(path, "\n\n".join(markdown(rows) for _, rows in tables) + f"\n{line}; {wall}.\n")
    return path
