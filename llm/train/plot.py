"""``tsallis plot``: compare training runs, per algorithm, from their ``metrics.jsonl``.

Runs are grouped by label ``{algo}`` or ``{algo} q={q}`` (from each run's ``config.yaml``); runs that
share a label are seeds of one setting, drawn as their mean with a min-max band. Panels: training
reward (mean over the step's G·M samples), the share of groups with no success (the cold-start
stall), and every held-out ``eval/maj@k`` found. The data behind the figure is written first as
``comparison.csv`` (label, run, step, metric, value) and the figure is drawn from it, in PNG and PDF.
"""

from __future__ import annotations

import csv
from collections import defaultdict
from pathlib import Path

import yaml

from llm.train.config import Q_ALGORITHMS, q_label
from llm.train.metrics import read_metrics

PANELS = ("reward/mean", "groups/frac_no_success")
TITLES = {"reward/mean": "training reward", "groups/frac_no_success": "groups with no success"}


def run_label(run_dir: Path) -> str:
    """``algo`` or ``algo q=Q`` from the run's config (q only for the q-dependent estimators)."""
    path = Path(run_dir) / "config.yaml"
    if not path.is_file():
        raise FileNotFoundError(f"{run_dir} is not a run folder: {path} is missing")
    config = yaml.safe_load(path.read_text())
    algo = config["algo"]["name"]
    q = config["algo"]["q"]
    return f"{algo} q={q_label(q)}" if algo in Q_ALGORITHMS else algo


def write_plot_data(runs: list[Path], path: Path) -> list[dict[str, str]]:
    """Write the long-format table of every plotted metric of every run; return its rows."""
    rows = []
    for run in runs:
        label = run_label(run)
        for record in read_metrics(run):
            for key, value in record.items():
                if (key in PANELS or key.startswith("eval/maj@")) and value is not None:
                    rows.append({"label": label, "run": run.name, "step": record["step"], "metric": key, "value": value})
    if not rows:
        raise ValueError(f"no plottable metrics in {[str(r) for r in runs]} (is metrics.jsonl empty?)")
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("w", newline="") as handle:
        writer = csv.DictWriter(handle, fieldnames=["label", "run", "step", "metric", "value"])
        writer.writeheader()
        writer.writerows(rows)
    return rows


def plot_from_csv(csv_path: Path, out_dir: Path) -> list[Path]:
    """Draw ``comparison.png`` and ``comparison.pdf`` from the CSV written by :func:`write_plot_data`."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    # series[metric][label][run] = {step: value}
    series: dict[str, dict[str, dict[str, dict[int, float]]]] = defaultdict(lambda: defaultdict(dict))
    with csv_path.open() as handle:
        for row in csv.DictReader(handle):
            series[row["metric"]][row["label"]].setdefault(row["run"], {})[int(row["step"])] = float(row["value"])
    metrics = [m for m in PANELS if m in series] + sorted(m for m in series if m.startswith("eval/"))
    fig, axes = plt.subplots(1, len(metrics), figsize=(4.2 * len(metrics), 3.4), squeeze=False)
    for ax, metric in zip(axes[0], metrics):
        for label in sorted(series[metric]):
            runs = series[metric][label]
            steps = sorted(set().union(*runs.values()))
            values = [[r[s] for r in runs.values() if s in r] for s in steps]
            mean = [sum(v) / len(v) for v in values]
            (line,) = ax.plot(steps, mean, marker="o" if len(steps) < 30 else None, ms=3,
                              label=f"{label} ({len(runs)} seed{'s' if len(runs) > 1 else ''})")
            if len(runs) > 1:
                ax.fill_between(steps, [min(v) for v in values], [max(v) for v in values], alpha=0.2,
                                color=line.get_color())
        ax.set_xlabel("step")
        ax.set_title(TITLES.get(metric, metric.removeprefix("eval/") + " (held out)"))
        ax.grid(alpha=0.3)
    axes[0][0].legend(fontsize=7)
    fig.tight_layout()
    out_dir.mkdir(parents=True, exist_ok=True)
    paths = [out_dir / "comparison.png", out_dir / "comparison.pdf"]
    for path in paths:
        fig.savefig(path, dpi=150)
    plt.close(fig)
    return paths


def plot_runs(runs: list[Path], out_dir: Path) -> list[Path]:
    """Write ``comparison.csv`` then the PNG and PDF drawn from it; return the three paths."""
    csv_path = Path(out_dir) / "comparison.csv"
    write_plot_data([Path(r) for r in runs], csv_path)
    return [csv_path, *plot_from_csv(csv_path, Path(out_dir))]
