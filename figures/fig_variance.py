"""Variance of GARL vs PAFT and their cosine to the true gradient (GRPO for reference), on a 6-armed
softmax with two correct arms at P = 0.1, q = 0.75, against group size M. Monte Carlo points; lines
are the core's exact finite-M variance (binomial sum) from the toy's exact score moments.

Regime: one gradient estimate at fixed θ (no training). Claim checked: GARL has lower variance than
PAFT. Exactly so without a baseline: E[PAFT | samples] = GARL-none (PAFT adds resampling noise, SFT
on K = 1 resampled success instead of the mean over all of them). With a mean or LOO baseline GARL
also carries the failures' scores, and its variance is not always below PAFT's (see panel (a)).
GRPO estimates a different quantity, so it appears only in the cosine panel.
"""

from __future__ import annotations

import matplotlib.pyplot as plt
import numpy as np

from figures.common import Check, Table
from sim.estimator_study import analytic_moments, estimator_stats
from sim.policies import KArmedSoftmax
from tsallis.files import DPI

NAME = "fig_variance"
Q = 0.75
ARM_PROBS = (0.04, 0.06, 0.35, 0.25, 0.18, 0.12)  # arms 0 and 1 are correct: P = 0.1
CORRECT = (0, 1)
KEYS = ("garl_none", "garl_mean", "garl_loo", "paft", "grpo")
COLOURS = {"garl_none": "#1f77b4", "garl_mean": "#ff7f0e", "garl_loo": "#2ca02c", "paft": "#d62728", "grpo": "#7f7f7f"}
Z_TOL = 4.5


def compute(quick: bool, seed: int) -> tuple[list[dict], dict]:
    rng = np.random.default_rng(seed)
    toy = KArmedSoftmax(num_arms=len(ARM_PROBS), correct=CORRECT)
    theta = np.log(np.array(ARM_PROBS))
    ms = [4, 16, 64] if quick else [2, 4, 8, 16, 32, 64, 128]
    samples = 60_000 if quick else 200_000
    rows = []
    for key in KEYS:
        for m in ms:
            groups = max(samples // m, 1000)
            stats = estimator_stats(toy, theta, key, Q, m, groups, rng)
            norm2 = float(stats.target @ stats.target)
            row = {"estimator": key, "m": m, "groups": groups, "p": float(toy.success_prob(theta)),
                   "mc_rel_variance": stats.variance.sum() / norm2, "cosine": stats.cosine, "frac_zero": stats.frac_zero,
                   "mc_rel_variance_se": stats.total_variance_se / norm2}
            if key != "grpo":
                _, exact_var = analytic_moments(toy, theta, key, Q, m, method="exact")
                row["exact_rel_variance"] = exact_var.sum() / norm2
            rows.append(row)
    config = {"q": Q, "arm_probs": ARM_PROBS, "correct_arms": CORRECT, "ms": ms, "samples_per_point": samples,
              "paft_num_resamples": 1, "grpo": "TRL convention: Bessel std (ddof=1), eps=1e-4"}
    return rows, config


def plot(data: Table) -> plt.Figure:
    fig, (ax, bx) = plt.subplots(1, 2, figsize=(11, 4.4), dpi=DPI)
    for key in KEYS:
        m = data.where(estimator=key)
        if key != "grpo":
            ax.plot(data["m"][m], data["mc_rel_variance"][m], "o", color=COLOURS[key], ms=4, label=f"{key} (MC)")
            ax.plot(data["m"][m], data["exact_rel_variance"][m], "-", color=COLOURS[key], lw=1)
        bx.plot(data["m"][m], data["cosine"][m], "o-", color=COLOURS[key], ms=4, label=key)
    ax.plot([], [], "k-", label="exact (core binomial sum)")
    ax.set(xscale="log", yscale="log", xlabel="group size M",
           ylabel="relative variance  tr Cov[ĝ] / |P^(−q)∇P|²", title=f"(a) variance, 6 arms (2 correct), P = 0.1, q = {Q}")
    ax.legend(fontsize=7)
    bx.set(xscale="log", xlabel="group size M", ylabel="E[cos(ĝ, ∇P)] over groups with ĝ ≠ 0",
           title="(b) alignment with the true gradient")
    bx.legend(fontsize=7)
    fig.tight_layout()
    return fig


def checks(data: Table) -> list[Check]:
    out = []
    has_exact = ~np.isnan(data["exact_rel_variance"])
    z = (data["mc_rel_variance"] - data["exact_rel_variance"]) / data["mc_rel_variance_se"]
    out.append(Check(NAME, "MC variance = core exact variance (max |z| over M, estimators)", "fixed θ, 6 arms",
                     float(np.max(np.abs(z[has_exact]))), "≤", Z_TOL))
    # PAFT is GARL-none plus resampling noise (E[PAFT | samples] = GARL none), so its variance is never lower.
    ratio = data["exact_rel_variance"][data.where(estimator="garl_none")] / data["exact_rel_variance"][data.where(estimator="paft")]
    out.append(Check(NAME, "max over M of Var[GARL none] / Var[PAFT]", "fixed θ, 6 arms", float(ratio.max()), "≤", 1.0))
    return out
