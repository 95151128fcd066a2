"""The finite-M cap on the amplification, seen in the escape time: stochastic training of the one-logit
toy from p0 = 1e-3 against the group size M, for GARL (mean baseline) at q = 0.5 and 1, and GRPO.

While M << 1/p0 the escape time follows T_flow(p0; q = 0) / (M^q (1 - 1/M)) (dashed): Θ(1/p0), shortened
by ~M^q. Only once M >~ 1/p0 does it reach the exact flow's T(p0; q) (dotted; Θ(log 1/p0) at q = 1).
Markers: median over runs, bars: interquartile range; grey line: M = 1/p0.
"""

from __future__ import annotations

import matplotlib.pyplot as plt
import numpy as np

from figures.common import Check, Table, plot_escape_medians, q_colour
from figures.fig_stochastic_escape import JUMP
from sim.escape import closed_form_escape_time
from sim.policies import OneLogit
from sim.stochastic import small_m_escape_time, train_stochastic
from tsallis.files import DPI

NAME = "fig_finite_m"
P0 = 1e-3
SERIES = (("garl_mean", 0.5), ("garl_mean", 1.0), ("grpo", 0.5))  # GRPO's row carries q = 1/2, its effective q


def compute(quick: bool, seed: int) -> tuple[list[dict], dict]:
    rng = np.random.default_rng(seed)
    ms = [4, 64, 2048] if quick else [4, 8, 16, 32, 64, 128, 256, 512, 1024, 2048, 4096]
    runs = 8 if quick else 24
    toy = OneLogit()
    rows = []
    for key, q in SERIES:
        for m in ms:
            lr = min(JUMP * m ** (1 - q), 0.25)
            runs_m = max(2, runs * 64 // max(m, 64))  # fewer runs where each estimate is already precise
            theta0 = np.repeat(toy.theta_for(np.array([P0])), runs_m, axis=0)
            budget = int(20 * small_m_escape_time(P0, q, m) / lr) + 200
            t = train_stochastic(toy, theta0, key, q, m, lr, budget, rng).escape_time
            rows.append({"estimator": key, "q": q, "m": m, "p0": P0, "runs": runs_m, "lr": lr, "median": np.median(t),
                         "p25": np.quantile(t, 0.25), "p75": np.quantile(t, 0.75),
                         "small_m_prediction": small_m_escape_time(P0, q, m), "flow_closed_form": closed_form_escape_time(P0, q)})
    return rows, {"p0": P0, "ms": ms, "runs_at_m<=64": runs, "jump": JUMP, "lr": "min(jump·M^(1-q), 0.25)",
                  "garl_baseline": "mean", "grpo": "TRL: Bessel std (ddof=1), eps=1e-4"}


def plot(data: Table) -> plt.Figure:
    fig, ax = plt.subplots(figsize=(6.8, 4.6), dpi=DPI)
    for key, q in SERIES:
        m = data.where(estimator=key, q=q)
        ms = data["m"][m]
        plot_escape_medians(ax, ms, data, m, key, q)
        if key == "grpo":
            continue
        ax.plot(ms, data["small_m_prediction"][m], "--", color=q_colour(q), lw=1)
        ax.axhline(data["flow_closed_form"][m][0], color=q_colour(q), ls=":", lw=1)
    ax.axvline(1 / P0, color="grey", lw=0.8)
    ax.plot([], [], "k--", label="M << 1/p0: T_flow(q=0)/(M^q(1−1/M))")
    ax.plot([], [], "k:", label="exact flow T(p0; q) (closed form)")
    ax.set(xscale="log", yscale="log", xlabel="group size M (grey: M = 1/p0)",
           ylabel="escape time to P = 1/2 (flow time Σ η)", title=f"finite-M cap, one logit, p0 = {P0:g}")
    ax.legend(fontsize=7)
    fig.tight_layout()
    return fig


def checks(data: Table) -> list[Check]:
    out = []
    for key, q in SERIES[:2]:
        m = data.where(estimator=key, q=q)
        ms = data["m"][m]
        small = np.argmin(ms)
        out.append(Check.within(NAME, f"T / small-M prediction at M = {ms[small]:g}, q={q:g}", "stochastic, M << 1/p0",
                                float(data["median"][m][small] / data["small_m_prediction"][m][small]), 1.0, 0.25))
        big = np.argmax(ms)
        out.append(Check.within(NAME, f"T / exact-flow T at M = {ms[big]:g}, q={q:g}", "stochastic, M >> 1/p0",
                                float(data["median"][m][big] / data["flow_closed_form"][m][big]), 1.0, 0.25))
    ratio = data["median"][data.where(estimator="grpo")] / data["median"][data.where(estimator="garl_mean", q=0.5)]
    out.append(Check(NAME, "max over M of |T_GRPO / T_GARL(q=0.5) − 1|", "stochastic, all M",
                     float(np.max(np.abs(ratio - 1))), "≤", 0.25))
    return out
