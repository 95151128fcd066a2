"""The autoregressive toy (V = 3 tokens, L = 6 positions, 729 sequences enumerated; reward: at least 4
tokens equal 0), where the estimators run on real sequence log-probs.

(a) Monte Carlo mean of each gradient coordinate (GARL mean baseline and PAFT, q = 0.75, M = 8) against
    the core's exact finite-M prediction built from the enumerated score moments; the target
    P^(-q)∇P is shown too, so the estimators' bias is visible as the gap to the diagonal.
(b) Escape time of the exact flow against p0 (cold-start family: logit -b on token 0), with the
    asymptotics T ≈ p0^(-(1-q)) / ((1-q) c), c = |∇P|²/P² from the enumeration at the smallest p0:
    the same scaling as the one-logit toy, log-log slope -(1-q), flat (log) at q = 1. At q = 1 the
    constant-c line is not drawn: c grows along the trajectory (the flow leaves the cold-start family),
    and with log scaling the whole escape time is that later phase, so only the slope ≈ 0 is checked.

Regime: (a) fixed θ; (b) exact flow, deep cold start.
"""

from __future__ import annotations

import matplotlib.pyplot as plt
import numpy as np

from figures.common import Check, Table, q_colour
from sim.autoregressive import AutoregressivePolicy
from sim.escape import loglog_slope, measure_escape_time, predicted_slope
from sim.estimator_study import analytic_moments, estimator_stats
from tsallis.files import DPI

NAME = "fig_autoregressive"
Q_EST, M_EST = 0.75, 8
QS = (0.0, 0.5, 0.75, 1.0)
Z_TOL, SLOPE_TOL = 4.5, 0.04


def _theta(toy: AutoregressivePolicy, rng: np.random.Generator) -> np.ndarray:
    """A generic (non-symmetric) θ with P ≈ 0.05: the cold-start family plus Gaussian noise."""
    return toy.theta_for(0.05) + 0.5 * rng.standard_normal(toy.dim)


def compute(quick: bool, seed: int) -> tuple[list[dict], dict]:
    rng = np.random.default_rng(seed)
    toy = AutoregressivePolicy()
    theta = _theta(toy, rng)
    groups = 4000 if quick else 20000
    rows = []
    for key in ("garl_mean", "paft"):
        stats = estimator_stats(toy, theta, key, Q_EST, M_EST, groups, rng)
        exact_mean, _ = analytic_moments(toy, theta, key, Q_EST, M_EST, method="exact")
        rows += [{"panel": "estimator", "estimator": key, "coord": j, "mc_mean": mc, "mc_se": se, "exact_mean": ex,
                  "target": tg, "p": float(toy.success_prob(theta))}
                 for j, (mc, se, ex, tg) in enumerate(zip(stats.mean, stats.std_error, exact_mean, stats.target))]
    p0s = np.array([1e-6, 1e-7, 1e-8]) if quick else np.logspace(-2, -8, 7)
    deep = toy.theta_for(float(p0s.min()))
    c_inf = float(np.sum(toy.grad_success(deep) ** 2) / toy.success_prob(deep) ** 2)
    for q in QS:
        for p0 in p0s:
            t = measure_escape_time(toy, float(p0), q)
            asym = np.nan if q == 1 else p0 ** (-(1 - q)) / ((1 - q) * c_inf)
            rows.append({"panel": "escape", "q": q, "p0": p0, "time": t, "asymptotic": asym, "c_inf": c_inf})
    config = {"vocab": toy.vocab, "length": toy.length, "answer": toy.answer, "min_count": toy.min_count,
              "q_estimators": Q_EST, "m": M_EST, "groups": groups, "p0s": p0s.tolist(), "qs": QS,
              "theta": "cold-start family at P=0.05 plus N(0, 0.5^2) noise"}
    return rows, config


def plot(data: Table) -> plt.Figure:
    fig, (ax, bx) = plt.subplots(1, 2, figsize=(11.5, 4.6), dpi=DPI)
    for key, colour in (("garl_mean", "#ff7f0e"), ("paft", "#d62728")):
        m = data.where(panel="estimator", estimator=key)
        ax.errorbar(data["exact_mean"][m], data["mc_mean"][m], yerr=2 * data["mc_se"][m], fmt="o", ms=3,
                    color=colour, label=f"{key}: MC mean (±2 SE)", capsize=1)
    m = data.where(panel="estimator", estimator="paft")
    ax.plot(data["exact_mean"][m], data["target"][m], "kx", ms=4, label="target P^(−q)∇P (PAFT's exact mean on x)")
    lim = np.nanmax(np.abs(data["exact_mean"][data.where(panel="estimator")]))
    ax.plot([-lim, lim], [-lim, lim], "k-", lw=0.6)
    ax.set(xlabel="exact E[ĝ_j] (core, enumerated score moments)", ylabel="Monte Carlo mean of ĝ_j",
           title=f"(a) {int(np.sum(m))} gradient coordinates, q = {Q_EST}, M = {M_EST}")
    ax.legend(fontsize=7)
    for q in QS:
        m = data.where(panel="escape", q=q)
        bx.plot(data["p0"][m], data["time"][m], "o", color=q_colour(q), ms=4, label=f"q = {q:g} (ODE)")
        if q < 1:
            bx.plot(data["p0"][m], data["asymptotic"][m], ":", color=q_colour(q))
    bx.plot([], [], "k:", label="p0^−(1−q)/((1−q)c), c = |∇P|²/P²")
    bx.set(xscale="log", yscale="log", xlabel="initial success probability p0", ylabel="escape time to P = 1/2 (flow time)",
           title="(b) exact flow on the autoregressive toy")
    bx.invert_xaxis()
    bx.legend(fontsize=7)
    fig.tight_layout()
    return fig


def checks(data: Table) -> list[Check]:
    est = data.where(panel="estimator") & (data["mc_se"] > 0)
    z = (data["mc_mean"][est] - data["exact_mean"][est]) / data["mc_se"][est]
    out = [Check(NAME, "MC = core exact mean on sequence log-probs (max |z|, all coords)", "fixed θ, AR toy",
                 float(np.max(np.abs(z))), "≤", Z_TOL)]
    for q in QS:
        m = data.where(panel="escape", q=q) & (data["p0"] <= 1e-6)
        slope = loglog_slope(data["p0"][m], data["time"][m])
        out.append(Check.within(NAME, f"log-log slope, AR toy, q={q:g}", "exact flow, p0≤1e-6", slope,
                                predicted_slope(q), SLOPE_TOL))
    return out
