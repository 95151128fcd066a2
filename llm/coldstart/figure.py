"""The cold-start figure, drawn only from ``coldstart_curves.csv`` (so replotting never retrains).

(a) exact mean P_θ over the training prompts (the clean ones, and the corrupted ones dashed, when the task is
noisy) against the step: the median over seeds and its interquartile band, per arm, on a log scale so that
the cold phase P ≈ p0 is visible; (b) the share of seeds whose P has reached 1/2 by each step.
"""

from __future__ import annotations

import csv
from collections import defaultdict
from pathlib import Path

import numpy as np

from llm.evaluation.exact import ESCAPE_LEVEL
from tsallis.files import DPI, save_figure

COLOURS = {"GRPO": "#7f7f7f", "RLOO": "#1f77b4", "GARL q=0": "#1f77b4", "GARL q=0.5": "#ff7f0e",
           "GARL q=0.75": "#d62728", "GARL q=1": "#9467bd", "PAFT q=0.75": "#2ca02c",
           "GRPO + dynamic sampling": "#17becf", "GARL adaptive q": "#8c564b", "PAFT q=0.75 + replay": "#bcbd22"}
STYLES = {"GRPO": dict(ls="--", lw=3.0), "PAFT q=0.75": dict(ls=":", lw=2.5)}
"""Arms whose curves the theory puts on top of another's (GRPO on GARL q=1/2, PAFT near GARL q=3/4) are drawn
wide and dashed underneath, so that both stay visible where they coincide."""
DEFAULT_STYLE = dict(ls="-", lw=1.4)


def read_curves(path: Path) -> dict[str, dict[int, dict[int, dict[str, float]]]]:
    """curves[estimator][seed][step] = {column: value} from the CSV (empty cells dropped; the insertion order
    of the estimators is the CSV's)."""
    curves: dict[str, dict[int, dict[int, dict[str, float]]]] = defaultdict(lambda: defaultdict(dict))
    with Path(path).open() as handle:
        for row in csv.DictReader(handle):
            values = {k: float(v) for k, v in row.items() if k not in ("estimator", "q", "seed", "step") and v != ""}
            curves[row["estimator"]][int(row["seed"])][int(row["step"])] = values
    return curves


def _band(per_seed: dict[int, dict[int, dict[str, float]]], column: str, x: str):
    """(x, p25, median, p75) over seeds at each logged step; x is the step, or the median over seeds of the
    generated tokens at that step (dynamic sampling makes tokens per step differ between seeds)."""
    steps = sorted(set().union(*per_seed.values()))
    values = np.array([[per_seed[s].get(t, {}).get(column, np.nan) for s in per_seed] for t in steps])  # (T, seeds)
    if x == "step":
        axis = np.array(steps, dtype=float)
    else:
        axis = np.array([np.nanmedian([per_seed[s].get(t, {}).get(x, np.nan) for s in per_seed]) for t in steps])
    return axis, *np.nanquantile(values, [0.25, 0.5, 0.75], axis=1)


def plot_coldstart(curves_csv: Path, stem: Path, x: str = "step", limit: float | None = None) -> list[Path]:
    """Write ``stem``.png and ``stem``.pdf against ``x`` (``step`` or ``generated_tokens``, up to ``limit``);
    return their paths."""
    import matplotlib.pyplot as plt

    curves = read_curves(curves_csv)
    noisy = any("clean_p_mean" in v for arm in curves.values() for run in arm.values() for v in run.values())
    fig, (ax_p, ax_esc) = plt.subplots(1, 2, figsize=(10, 3.8), dpi=DPI)
    for label, per_seed in curves.items():
        colour = COLOURS.get(label)
        column = "clean_p_mean" if noisy else "train_p_mean"
        xs, low, mid, high = _band(per_seed, column, x)
        style = STYLES.get(label, DEFAULT_STYLE)
        (line,) = ax_p.plot(xs, mid, color=colour, label=f"{label} ({len(per_seed)} seeds)", **style)
        ax_p.fill_between(xs, low, high, color=line.get_color(), alpha=0.18, lw=0)
        if noisy:
            _, low, mid, high = _band(per_seed, "corrupted_p_mean", x)
            ax_p.plot(xs, mid, color=line.get_color(), ls="--", lw=1)
        steps = sorted(set().union(*per_seed.values()))
        escaped = np.array([[per_seed[s].get(t, {}).get(column, np.nan) >= ESCAPE_LEVEL for s in per_seed]
                            for t in steps])
        ax_esc.step(xs, np.maximum.accumulate(escaped, axis=0).mean(axis=1), where="post", color=line.get_color(),
                    label=label, **style)
    ax_p.axhline(ESCAPE_LEVEL, color="k", lw=0.6, ls=":")
    xlabel = "step" if x == "step" else "generated tokens"
    ax_p.set_yscale("log")
    ax_p.set_xlabel(xlabel)
    ax_p.set_ylabel("exact P (clean solid, corrupted dashed)" if noisy else "exact mean P over training prompts")
    ax_p.set_title("(a) success probability: median and IQR over seeds")
    ax_esc.set_xlabel(xlabel)
    ax_esc.set_ylabel("share of seeds with P ≥ 1/2")
    if limit is not None:
        for ax in (ax_p, ax_esc):
            ax.set_xlim(0, limit)
    ax_esc.set_ylim(-0.03, 1.03)
    ax_esc.set_title("(b) escaped from cold start")
    for ax in (ax_p, ax_esc):
        ax.grid(alpha=0.3)
    ax_p.legend(fontsize=7, loc="lower right")
    fig.tight_layout()
    return save_figure(fig, stem)
