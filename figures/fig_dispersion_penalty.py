"""The dispersion penalty (Proposition B.1, Section 3.1): J_Q ≥ -ln_q(P̄), its second-order excess
(q/2) P̄^(-q-1) Var_D(P), and what it does along training: higher q equalises success across prompts.

Sign convention: J_Q here is the paper's loss E_D[-ln_q P] (Eq. 2), so the excess Δ = J_Q - (-ln_q P̄) ≥ 0.
Regime: (a) exact excess Δ against Δ_2 = (q/2) P̄^(-q-1) Var_D(P) for the two-point spread P = P̄(1 ± c),
P̄ = 0.3 (markers), with the fourth-order prediction Δ/Δ_2 = 1 + (q+1)(q+2)c²/12 (lines): the expansion
holds while the coefficient of variation c is small and is off by 10 % at c ≈ 0.4 (q = 1) to 0.6 (q = 1/4). Random P vectors
(uniform on (0, 1], 3 to 30 examples, seeded) test Δ ≥ 0. (b) Exact flow of J_Q on N = 24 prompts sharing a
linear softmax (K = 4 answers, d = 6 features, no label noise, random W0 so that p0 differs across prompts;
its range is in the JSON sidecar): Var_D(P) at the moment the mean P̄ reaches each level, per q.
"""

from __future__ import annotations

import matplotlib.pyplot as plt
import numpy as np
from scipy.optimize import brentq

from figures.common import Check, Table, q_colour
from sim.dispersion import (
    dispersion_along_flow,
    dispersion_excess,
    second_order_excess,
    two_point_relative_error,
    variance_at_mean,
)
from sim.policies import LinearSoftmaxPrompts
from tsallis.files import DPI

NAME = "fig_dispersion_penalty"
QS = (0.0, 0.25, 0.5, 0.75, 1.0)
P_BAR = 0.3
TOY = {"num_prompts": 24, "num_answers": 4, "num_features": 6, "noise_rate": 0.0, "cold_logit": 3.0}
LEVELS = np.linspace(0.1, 0.9, 17)  # mean-P levels at which the flows' dispersions are compared
BREAK = 0.1  # relative error of the second-order excess taken as "the expansion stops holding"


def _relative_error(q: float, cv: float) -> float:
    p = P_BAR * np.array([1.0 - cv, 1.0 + cv])
    return dispersion_excess(p, q) / second_order_excess(p, q) - 1.0


def compute(quick: bool, seed: int) -> tuple[list[dict], dict]:
    rng = np.random.default_rng(seed)
    rows = []
    cvs = np.logspace(-2, np.log10(0.95), 12 if quick else 30)
    for q in QS[1:]:
        rows += [{"kind": "two_point", "q": q, "cv": c, "ratio": 1.0 + _relative_error(q, c),
                  "predicted_ratio": 1.0 + two_point_relative_error(q, c)} for c in cvs]
        rows.append({"kind": "breakdown", "q": q, "cv": brentq(lambda c: _relative_error(q, c) - BREAK, 0.01, 0.99)})
    for _ in range(200 if quick else 2000):
        q, size = rng.uniform(0.01, 1.0), rng.integers(3, 31)
        p = 1.0 - rng.random(size)  # uniform on (0, 1]
        rows.append({"kind": "random", "q": q, "excess": dispersion_excess(p, q), "spread": p.std() / p.mean()})
        rows.append({"kind": "constant", "q": q, "excess": dispersion_excess(np.full(size, p[0]), q)})
    toy = LinearSoftmaxPrompts.make(seed=seed, **TOY)
    theta0 = np.random.default_rng(seed + 1).standard_normal(toy.dim)
    times = np.logspace(-1, 4, 60)
    for q in (0.0, 0.5, 1.0) if quick else QS:
        mean_p, var_p = dispersion_along_flow(toy, theta0, q, times)
        rows += [{"kind": "flow", "q": q, "p_bar": m, "var": v} for m, v in zip(mean_p, var_p)]
        rows += [{"kind": "matched", "q": q, "p_bar": level, "var": v}
                 for level, v in zip(LEVELS, variance_at_mean(mean_p, var_p, LEVELS))]
    p0 = toy.success_prob(theta0)
    config = TOY | {"qs": QS, "p_bar_two_point": P_BAR, "levels": LEVELS.tolist(), "toy_seed": seed,
                    "w0_seed": seed + 1, "p0_range": [float(p0.min()), float(p0.max())], "breakdown_error": BREAK,
                    "solver": "LSODA rtol=1e-8 atol=1e-10"}
    return rows, config


def plot(data: Table) -> plt.Figure:
    fig, (ax, bx) = plt.subplots(1, 2, figsize=(11.5, 4.4), dpi=DPI)
    for q in QS[1:]:
        m = data.where(kind="two_point", q=q)
        ax.plot(data["cv"][m], data["ratio"][m], "o", color=q_colour(q), ms=4, label=f"q = {q:g}")
        ax.plot(data["cv"][m], data["predicted_ratio"][m], "-", color=q_colour(q), lw=1)
    ax.axhline(1.0 + BREAK, color="grey", ls=":", lw=0.8)
    ax.set(xscale="log", xlabel="coefficient of variation c (P = P̄(1 ± c), P̄ = 0.3)",
           ylabel="exact excess / (q/2) P̄^(-q-1) Var(P)", title="(a) second-order dispersion penalty")
    ax.plot([], [], "k-", label="1 + (q+1)(q+2)c²/12")
    ax.legend(fontsize=8)
    for q in np.unique(data["q"][data.where(kind="flow")]):
        m, mm = data.where(kind="flow", q=q), data.where(kind="matched", q=q)
        bx.plot(data["p_bar"][m], data["var"][m], "-", color=q_colour(q), lw=1.2, label=f"q = {q:g}")
        bx.plot(data["p_bar"][mm], data["var"][mm], "o", color=q_colour(q), ms=3)
    bx.set(xlabel="mean success P̄ over the 24 prompts", ylabel="Var_D(P) across prompts",
           title="(b) along the exact flow: dispersion at matched P̄")
    bx.legend(fontsize=8)
    fig.tight_layout()
    return fig


def checks(data: Table) -> list[Check]:
    random, constant = data.where(kind="random"), data.where(kind="constant")
    small = data.where(kind="two_point") & (data["cv"] <= 0.011)
    coefficient = (data["ratio"][small] - 1.0) / (data["predicted_ratio"][small] - 1.0)
    out = [
        Check(NAME, "Proposition B.1: J_Q − (−ln_q P̄) ≥ 0, min over random P vectors", "exact, q ∈ (0, 1)",
              float(np.min(data["excess"][random])), "≥", 0.0),
        Check(NAME, "Proposition B.1: equality for constant P, max |J_Q − (−ln_q P̄)|", "exact, q ∈ (0, 1)",
              float(np.max(np.abs(data["excess"][constant]))), "≤", 1e-14),
        Check(NAME, "Proposition B.1 (Sec. 3.1): excess/second-order − 1 vs (q+1)(q+2)c²/12 at c = 0.01, worst ratio",
              "two-point spread, c = 0.01", float(np.max(np.abs(coefficient - 1.0))), "≤", 0.01),
    ]
    for q in (0.25, 1.0):
        claim = f"Proposition B.1 (Sec. 3.1): spread c at which the second order is {BREAK:.0%} off, q = {q:g} (observed)"
        out.append(Check(NAME, claim, "two-point spread, P̄ = 0.3", float(data["cv"][data.where(kind="breakdown", q=q)][0]),
                         "info"))
    qs = np.unique(data["q"][data.where(kind="matched")])
    var = np.array([data["var"][data.where(kind="matched", q=q)] for q in qs])  # (q, level)
    out.append(Check(NAME, "Proposition B.1 (flow): Var_D(P) at matched P̄ falls as q rises, max step over levels",
                     "exact flow, 24 prompts, P̄ ∈ [0.1, 0.9]", float(np.nanmax(np.diff(var, axis=0))), "<", 0.0))
    at_half = np.argmin(np.abs(LEVELS - 0.5))
    out.append(Check(NAME, "Proposition B.1 (flow): Var_D(P) at P̄ = 0.5, q = 0 over q = 1 (observed)",
                     "exact flow, 24 prompts", float(var[0, at_half] / var[-1, at_half]), "info"))
    return out
