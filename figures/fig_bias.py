"""Bias of GARL (three baselines) and PAFT on the one-logit toy: relative bias vs M and vs P (Monte
Carlo with 2-SE bars, the core's exact binomial sum as lines, its delta method dashed), and the
finite-M cap of the amplification, E[ĝ]/∇P -> M^q while P << 1/M.

Regime: one gradient estimate at fixed θ (no training); q = 0.75 in (a), (b). Delta method:
E[ĝ] - P^(-q)∇P ≈ -q(1-q)(1-P)/(2 M P^(q+1)) ∇P for GARL without baseline and PAFT (valid for MP >> 1).
"""

from __future__ import annotations

import matplotlib.pyplot as plt
import numpy as np

from figures.common import Check, Table, q_colour
from sim.estimator_study import analytic_moments, estimator_stats
from sim.policies import OneLogit
from tsallis.files import DPI

NAME = "fig_bias"
KEYS = ("garl_none", "garl_mean", "garl_loo", "paft")
COLOURS = {"garl_none": "#1f77b4", "garl_mean": "#ff7f0e", "garl_loo": "#2ca02c", "paft": "#d62728"}
Q_BIAS, P_FIXED, M_FIXED = 0.75, 0.05, 16
Z_TOL = 4.5


def _row(panel: str, key: str, q: float, p: float, m: int, samples: int, rng: np.random.Generator) -> dict:
    toy = OneLogit()
    theta = toy.theta_for(p).ravel()
    groups = max(samples // m, 2000)
    stats = estimator_stats(toy, theta, key, q, m, groups, rng)
    exact_mean, exact_var = analytic_moments(toy, theta, key, q, m, method="exact")
    delta_mean, _ = analytic_moments(toy, theta, key, q, m, method="delta")
    grad = float(toy.grad_success(theta)[0])
    target = float(stats.target[0])
    return {"panel": panel, "estimator": key, "q": q, "p": p, "m": m, "groups": groups,
            "mc_rel_bias": stats.bias[0] / target, "mc_rel_se": stats.std_error[0] / target,
            "exact_rel_bias": (exact_mean[0] - target) / target, "delta_rel_bias": (delta_mean[0] - target) / target,
            "mc_amplification": stats.mean[0] / grad, "exact_amplification": exact_mean[0] / grad,
            "target_amplification": target / grad, "cap": float(m) ** q,
            # z against the exact standard error sqrt(Var/G): the MC one is 0 when every group agrees
            "z": (stats.mean[0] - exact_mean[0]) / np.sqrt(exact_var[0] / groups)}


def compute(quick: bool, seed: int) -> tuple[list[dict], dict]:
    rng = np.random.default_rng(seed)
    samples = 100_000 if quick else 400_000
    ms = [2, 8, 32, 128, 512] if quick else [2, 4, 8, 16, 32, 64, 128, 256, 512, 1024]
    ps = np.logspace(-3, np.log10(0.5), 5 if quick else 10)
    rows = []
    keys = ("garl_none", "paft") if quick else KEYS  # each sympy delta expansion costs ~0.5-1.4 s
    for key in keys:
        rows += [_row("vs_m", key, Q_BIAS, P_FIXED, m, samples, rng) for m in ms]
        rows += [_row("vs_p", key, Q_BIAS, float(p), M_FIXED, samples, rng) for p in ps]
    for q in (0.5, 1.0):
        rows += [_row("cap", "garl_none", q, float(p), M_FIXED, samples, rng) for p in np.logspace(-4, np.log10(0.5), 5 if quick else 9)]
    config = {"q": Q_BIAS, "p_fixed": P_FIXED, "m_fixed": M_FIXED, "samples_per_point": samples, "ms": ms,
              "ps": ps.tolist(), "toy": "one logit", "paft_num_resamples": 1,
              "estimators": keys}
    return rows, config


def plot(data: Table) -> plt.Figure:
    fig, axes = plt.subplots(1, 3, figsize=(16, 4.6), dpi=DPI)
    for ax, panel, xcol, xlabel in ((axes[0], "vs_m", "m", "group size M"),
                                    (axes[1], "vs_p", "p", "success probability P")):
        for key in [k for k in KEYS if data.where(panel=panel, estimator=k).any()]:
            m = data.where(panel=panel, estimator=key)
            x = data[xcol][m]
            ax.errorbar(x, -data["mc_rel_bias"][m], yerr=2 * data["mc_rel_se"][m], fmt="o", ms=4, color=COLOURS[key],
                        label=f"{key} (MC)", capsize=2)
            if key != "paft":  # PAFT has GARL-none's expectation: same lines
                ax.plot(x, -data["exact_rel_bias"][m], "-", color=COLOURS[key], lw=1)
                ax.plot(x, -data["delta_rel_bias"][m], "--", color=COLOURS[key], lw=1)
        ax.plot([], [], "k-", label="exact binomial sum (core)")
        ax.plot([], [], "k--", label="delta method (core)")
        ax.set(xscale="log", xlabel=xlabel, ylabel="−relative bias  −(E[ĝ] − P^(−q)∇P)/(P^(−q)∇P)")
        ax.set_yscale("symlog", linthresh=1e-3)
    axes[0].set_title(f"(a) vs M at P = {P_FIXED}, q = {Q_BIAS}")
    axes[1].set_title(f"(b) vs P at M = {M_FIXED}, q = {Q_BIAS}")
    axes[0].legend(fontsize=7)
    ax = axes[2]
    for q in (0.5, 1.0):
        m = data.where(panel="cap", q=q)
        p = data["p"][m]
        ax.plot(p, data["target_amplification"][m], ":", color=q_colour(q), label=f"target P^(−q), q = {q:g}")
        ax.plot(p, data["exact_amplification"][m], "-", color=q_colour(q), label="exact E[ĝ]/∇P")
        ax.plot(p, data["mc_amplification"][m], "o", color=q_colour(q), ms=4, label="Monte Carlo")
        ax.axhline(data["cap"][m][0], color=q_colour(q), ls="--", lw=0.8, label=f"cap M^q = {data['cap'][m][0]:g}")
    ax.axvline(1 / M_FIXED, color="grey", lw=0.6)
    ax.set(xscale="log", yscale="log", xlabel="success probability P (grey: 1/M)", ylabel="effective amplification E[ĝ]/∇P",
           title=f"(c) finite-M cap, GARL (no baseline), M = {M_FIXED}")
    ax.legend(fontsize=7)
    fig.tight_layout()
    return fig


def checks(data: Table) -> list[Check]:
    out = [Check(NAME, "MC mean = core exact sum (max |z| over all points)", "fixed θ, one logit",
                 float(np.max(np.abs(data["z"]))), "≤", Z_TOL)]
    big = data.where(panel="vs_m", estimator="garl_none") & (data["m"] * data["p"] >= 25)
    ratio = data["exact_rel_bias"][big] / data["delta_rel_bias"][big]
    out.append(Check.within(NAME, "exact bias / delta bias at M·P ≥ 25 (GARL none, PAFT)", "M P >> 1",
                            float(ratio[-1]), 1.0, 0.1))
    # the measured relative bias where the delta method applies, against -q(1-q)(1-P)/(2 M P) (tolerance: 3 SE)
    mp = data.where(panel="vs_m", estimator="garl_none") & (data["m"] * data["p"] >= 12)
    first = np.flatnonzero(mp)[0]
    out.append(Check.within(NAME, f"MC relative bias at M = {data['m'][first]:g}, P = {data['p'][first]:g} vs delta",
                            "M P >> 1", float(data["mc_rel_bias"][first]), float(data["delta_rel_bias"][first]),
                            float(3 * data["mc_rel_se"][first])))
    for q in (0.5, 1.0):
        m = data.where(panel="cap", q=q)
        smallest = np.argmin(data["p"][m])
        out.append(Check.within(NAME, f"E[ĝ]/(M^q ∇P) at P = {data['p'][m][smallest]:.0e}, M = {M_FIXED}, q={q:g}",
                                "P << 1/M", float(data["exact_amplification"][m][smallest] / data["cap"][m][smallest]),
                                1.0, 0.05))
    return out
