"""Stochastic training from a cold start on the autoregressive toy (p0 = 1e-3, M = 8, η = 0.5, one group
per step): GARL (mean baseline) and PAFT at q = 0.75 against GRPO (TRL's Bessel std, ε = 1e-4) and RLOO
(GARL at q = 0 with the leave-one-out baseline), same η, same steps.

Regime: stochastic estimators, finite-M cap (p0 << 1/M). Prediction (sim.stochastic): near cold start
the expected update is ~M^q (1 - 1/M) ∇P for GARL and ~√M (1 - 1/M) ∇P for GRPO, so GRPO needs about
M^(q - 1/2) = 8^0.25 ≈ 1.7 times as many steps as GARL at q = 0.75, and RLOO about M^0.75 ≈ 4.8 times.
Lines: median P over runs; bands: interquartile range; dashed vertical line: the common budget.
"""

from __future__ import annotations

import matplotlib.pyplot as plt
import numpy as np

from figures.common import Check, Table
from sim.autoregressive import AutoregressivePolicy
from sim.stochastic import train_stochastic
from tsallis.files import DPI

NAME = "fig_stochastic_training"
P0, M, LR, Q = 1e-3, 8, 0.5, 0.75
SERIES = {  # label -> (study estimator key, q)
    "GARL q=0.75": ("garl_mean", Q),
    "PAFT q=0.75": ("paft", Q),
    "GRPO": ("grpo", 0.0),
    "RLOO (GARL q=0, LOO)": ("garl_loo", 0.0),
}
COLOURS = {"GARL q=0.75": "#d62728", "PAFT q=0.75": "#ff7f0e", "GRPO": "#000000", "RLOO (GARL q=0, LOO)": "#1f77b4"}


def compute(quick: bool, seed: int) -> tuple[list[dict], dict]:
    rng = np.random.default_rng(seed)
    toy = AutoregressivePolicy()
    # quick: p0 = 3e-3 (still << 1/M) so that GRPO's median escape falls inside a short run
    p0, runs, steps, budget = (3e-3, 8, 400, 250) if quick else (P0, 24, 1000, 600)
    theta0 = np.repeat(toy.theta_for(p0)[None], runs, axis=0)  # (R, D)
    rows = []
    for label, (key, q) in SERIES.items():
        res = train_stochastic(toy, theta0, key, q, M, LR, steps, rng, stop_at_target=False, record_every=10)
        escaped_at = np.nan_to_num(res.escape_step, nan=np.inf)  # (R,), inf for runs that never escaped
        for step, p in zip(res.steps, res.p):
            rows.append({"kind": "curve", "series": label, "step": step, "median": np.median(p),
                         "p25": np.quantile(p, 0.25), "p75": np.quantile(p, 0.75),
                         "frac_escaped": float(np.mean(escaped_at <= step))})
        rows.append({"kind": "escape", "series": label, "median_escape_step": np.median(escaped_at),
                     "frac_escaped_at_budget": float(np.mean(escaped_at <= budget)),
                     "budget": budget, "p0": p0})
    config = {"toy": "autoregressive V=3 L=6, reward: >=4 tokens equal 0", "p0": p0, "m": M, "lr": LR, "runs": runs,
              "steps": steps, "budget": budget, "series": {k: list(v) for k, v in SERIES.items()},
              "grpo": "TRL: Bessel std (ddof=1), eps=1e-4", "garl_baseline": "mean", "paft_num_resamples": 1}
    return rows, config


def plot(data: Table) -> plt.Figure:
    fig, (ax, bx) = plt.subplots(1, 2, figsize=(11.5, 4.4), dpi=DPI)
    budget = data["budget"][data.where(kind="escape")][0]
    p0 = data["p0"][data.where(kind="escape")][0]
    for label in SERIES:
        m = data.where(kind="curve", series=label)
        ax.plot(data["step"][m], data["median"][m], color=COLOURS[label], label=label)
        ax.fill_between(data["step"][m], data["p25"][m], data["p75"][m], color=COLOURS[label], alpha=0.15)
        bx.plot(data["step"][m], data["frac_escaped"][m], color=COLOURS[label], label=label)
    for axis in (ax, bx):
        axis.axvline(budget, color="grey", ls="--", lw=0.8)
        axis.set_xlabel("training step (one group of M = 8 sequences per step, η = 0.5)")
    ax.set(yscale="log", ylabel="exact success probability P (median, IQR)", title=f"(a) cold start p0 = {p0:g}")
    bx.set(ylabel="fraction of runs with P ≥ 1/2", title="(b) runs escaped")
    ax.legend(fontsize=8)
    fig.tight_layout()
    return fig


def checks(data: Table) -> list[Check]:
    esc = data.where(kind="escape")
    frac = dict(zip(data["series"][esc], data["frac_escaped_at_budget"][esc]))
    step = dict(zip(data["series"][esc], data["median_escape_step"][esc]))
    budget = data["budget"][esc][0]
    out = [Check(NAME, f"escaped by step {budget:g}: GARL q=0.75 minus GRPO", "stochastic, p0 << 1/M",
                 frac["GARL q=0.75"] - frac["GRPO"], ">", 0.0)]
    out.append(Check.within(NAME, "median escape steps GRPO / GARL q=0.75 (pred. M^(q-1/2))", "stochastic, p0 << 1/M",
                            float(step["GRPO"] / step["GARL q=0.75"]), M ** (Q - 0.5), 0.4))
    return out
