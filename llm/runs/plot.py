"""``tsallis plot``: compare training runs, per setting, from their ``metrics.jsonl``.

Runs are grouped as ``tsallis report`` groups them (:func:`llm.runs.report.group_runs`): runs whose configs
differ only in the seed are seeds of one setting, labelled ``recipe · algo q=Q``, so runs of different recipes
are never merged. Each setting is drawn as the mean over its seeds with the 95 % percentile-bootstrap interval
of that mean as a band (:func:`llm.runs.aggregate.bootstrap_interval`, at every step logged by ≥ 2 seeds).
Panels: training reward (mean over the step's G·M samples), the share of groups with no success (the
cold-start stall), and every held-out ``eval/maj@k`` found. The data behind the figure is written first as
``comparison.csv`` (label, recipe, run, step, metric, value) and the figure is drawn from it, in PNG and PDF.
"""

from __future__ import annotations

import csv
from collections import defaultdict
from pathlib import Path

from llm.runs.aggregate import bootstrap_interval
from llm.runs.report import group_runs, read_runs
from tsallis.files import DPI, save_figure, write_csv

PANELS = ("reward/mean", "groups/frac_no_success")
TITLES = {"reward/mean": "training reward", "groups/frac_no_success": "groups with no success"}
COLUMNS = ("label", "recipe", "run", "step", "metric", "value")


def write_plot_data(runs: list[Path], path: Path) -> list[dict[str, object]]:
    """Write the long-format table of every plotted metric of every run; return its rows."""
    rows = []
    for group in group_runs(read_runs(runs)):
        for run in group.runs:
            for record in run.records:
                for key, value in record.items():
                    if (key in PANELS or key.startswith("eval/maj@")) and value is not None:
                        rows.append({"label": group.label, "recipe": group.recipe, "run": run.path.name,
                                     "step": record["step"], "metric": key, "value": value})
    if not rows:
        raise ValueError(f"no plottable metrics in {[str(r) for r in runs]} (is metrics.jsonl empty?)")
    write_csv(path, rows, COLUMNS)
    return rows


def plot_from_csv(csv_path: Path, out_dir: Path) -> list[Path]:
    """Draw ``comparison.png`` and ``comparison.pdf`` from the CSV written by :func:`write_plot_data`."""
    import matplotlib.pyplot as plt
    from matplotlib.ticker import MaxNLocator

    # series[metric][label][run] = {step: value}
    series: dict[str, dict[str, dict[str, dict[int, float]]]] = defaultdict(lambda: defaultdict(dict))
    with csv_path.open() as handle:
        for row in csv.DictReader(handle):
            series[row["metric"]][row["label"]].setdefault(row["run"], {})[int(row["step"])] = float(row["value"])
    metrics = [m for m in PANELS if m in series] + sorted(m for m in series if m.startswith("eval/"))
    labels = sorted({label for metric in series.values() for label in metric})
    colors = {label: f"C{i % 10}" for i, label in enumerate(labels)}  # one colour per setting in every panel
    fig, axes = plt.subplots(1, len(metrics), figsize=(4.2 * len(metrics), 3.4 + 0.2 * len(labels)), dpi=DPI,
                             squeeze=False)
    for ax, metric in zip(axes[0], metrics):
        for label in sorted(series[metric]):
            runs = series[metric][label]
            steps = sorted(set().union(*runs.values()))
            values = [[r[s] for r in runs.values() if s in r] for s in steps]  # per step: (seeds that logged it,)
            mean = [sum(v) / len(v) for v in values]
            ax.plot(steps, mean, marker="o" if len(steps) < 30 else None, ms=3, color=colors[label],
                    label=f"{label} ({len(runs)} seed{'s' if len(runs) > 1 else ''})")
            banded = [(s, *bootstrap_interval(v)) for s, v in zip(steps, values) if len(v) > 1]
            if banded:
                at, lo, hi = zip(*banded)
                ax.fill_between(at, lo, hi, alpha=0.2, color=colors[label], linewidth=0)
        ax.set_xlabel("step")
        ax.xaxis.set_major_locator(MaxNLocator(integer=True))
        ax.set_title(TITLES.get(metric, metric.removeprefix("eval/") + " (held out)"))
        ax.grid(alpha=0.3)
    lines = {line.get_label(): line for ax in axes[0] for line in ax.get_lines()}  # every setting, once
    rows = -(-len(lines) // 2)  # two settings per legend row, below the panels
    fig.legend(list(lines.values()), list(lines), loc="lower center", ncol=2, fontsize=7, frameon=False)
    fig.tight_layout(rect=(0, 0.06 * rows + 0.02, 1, 1))
    return save_figure(fig, out_dir / "comparison")


def plot_runs(runs: list[Path], out_dir: Path) -> list[Path]:
    """Write ``comparison.csv`` then the PNG and PDF drawn from it; return the three paths."""
    csv_path = Path(out_dir) / "comparison.csv"
    write_plot_data([Path(r) for r in runs], csv_path)
    return [csv_path, *plot_from_csv(csv_path, Path(out_dir))]
