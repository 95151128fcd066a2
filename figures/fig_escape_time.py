"""Escape time T(p0) from P = p0 to 1/2 under the exact flow, one logit and 5-armed softmax, against
the sympy closed form (lines) and its small-p0 asymptotics (dotted).

Regime: exact flow (no sampling). Verifies T = ∫ P^(q-2)(1-P)^(-2) dP and T_K = (K-1)/K · T. With
unequal wrong arms (logits 0.8, 0.3, -0.3, -0.8 on top of the cold start) it checks the K-armed rate
dP/dt = P^(2-q)((1-P)^2 + Σ_{j≠c} π_j^2) against finite differences of the ODE solution, and that
the escape time stays between T/2 and (K-1)/K · T (Σ_{j≠c} π_j^2 lies between (1-P)^2/(K-1) and
(1-P)^2), i.e. has the same scaling (open squares).
"""

from __future__ import annotations

import matplotlib.pyplot as plt
import numpy as np

from figures.common import Check, Table, q_colour
from tsallis.files import DPI
from sim.escape import (
    asymptotic_escape_time,
    closed_form_escape_time,
    karmed_escape_time,
    measure_escape_time,
)
from sim.flow import integrate_flow
from sim.policies import KArmedSoftmax, OneLogit

NAME = "fig_escape_time"
QS = (0.0, 0.25, 0.5, 0.75, 1.0)
NUM_ARMS = 5
TARGET = 0.5
UNEQUAL = np.array([0.0, 0.8, 0.3, -0.3, -0.8])  # added to the wrong arms' logits (arm 0 is correct)


def unequal_start(toy: KArmedSoftmax, p0: float) -> np.ndarray:
    """Cold-start logits with P = p0 and unequal wrong arms."""
    theta = toy.theta_for(p0) + UNEQUAL
    theta[0] = np.log(p0 / (1 - p0) * np.exp(theta[1:]).sum())  # restore P = p0
    return theta


def compute(quick: bool, seed: int) -> tuple[list[dict], dict]:
    p0s = np.logspace(-1, -6, 4 if quick else 11)
    fine = np.logspace(-1, -6, 60)
    toys = {"one_logit": (OneLogit(), closed_form_escape_time), f"k_armed_{NUM_ARMS}":
            (KArmedSoftmax(num_arms=NUM_ARMS), lambda p, q: karmed_escape_time(p, q, NUM_ARMS, TARGET))}
    rows = []
    qs = (0.0, 0.5, 1.0) if quick else QS  # the sympy integrals at q = 1/4, 3/4 take ~1 s each
    for toy_name, (toy, closed) in toys.items():
        for q in qs:
            predicted = closed(p0s, q)
            for p0, pred in zip(p0s, predicted):
                measured = measure_escape_time(toy, float(p0), q, TARGET)
                rows.append({"kind": "measured", "toy": toy_name, "q": q, "p0": p0, "time": measured,
                             "closed_form": pred, "rel_error": measured / pred - 1.0})
            for p0, value, asym in zip(fine, closed(fine, q), asymptotic_escape_time(fine, q, TARGET)):
                rows.append({"kind": "theory", "toy": toy_name, "q": q, "p0": p0, "closed_form": value,
                             "asymptotic": asym * (1.0 if toy_name == "one_logit" else (NUM_ARMS - 1) / NUM_ARMS)})
    toy = KArmedSoftmax(num_arms=NUM_ARMS)
    for q in qs:
        escapes = [measure_escape_time(toy, float(p0), q, TARGET, theta0=unequal_start(toy, float(p0)))
                    for p0 in p0s[1::2]]
        rows += [{"kind": "unequal", "toy": f"k_armed_{NUM_ARMS}", "q": q, "p0": p0, "time": t,
                  "closed_form": closed_form_escape_time(p0, q)} for p0, t in zip(p0s[1::2], escapes)]
        # dP/dt along the first unequal trajectory (p0s[1], escaping at escapes[0]): central differences
        # of the ODE solution vs the formula
        start = unequal_start(toy, float(p0s[1]))
        ts = np.linspace(0.0, escapes[0], 2001)  # second-order differences: error ~ (Δt)², 5e-4 at worst here
        res = integrate_flow(toy, start, q, t_max=ts[-1], target=None, t_eval=ts, rtol=1e-11, atol=1e-13)
        numeric = np.gradient(res.p, res.t)[1:-1]
        formula = toy.success_rate(res.theta, q)[1:-1]
        rows.append({"kind": "rate", "toy": f"k_armed_{NUM_ARMS}", "q": q, "p0": p0s[1],
                     "rate_rel_error": float(np.max(np.abs(numeric / formula - 1.0)))})
    config = {"qs": qs, "p0s": p0s.tolist(), "unequal_wrong_logits": UNEQUAL.tolist(), "target": TARGET, "num_arms": NUM_ARMS,
              "solver": "LSODA rtol=1e-10 atol=1e-12, terminal event P = target"}
    return rows, config


def plot(data: Table) -> plt.Figure:
    fig, axes = plt.subplots(1, 2, figsize=(11, 4.4), dpi=DPI, sharey=True)
    for ax, toy, title in zip(axes, ("one_logit", f"k_armed_{NUM_ARMS}"), ("one logit, P = σ(θ)",
                                                                          f"{NUM_ARMS}-armed softmax, one correct arm")):
        for q in np.unique(data["q"][data.where(toy=toy)]):
            meas, theo = data.where(kind="measured", toy=toy, q=q), data.where(kind="theory", toy=toy, q=q)
            ax.plot(data["p0"][theo], data["closed_form"][theo], "-", color=q_colour(q), lw=1.2)
            ax.plot(data["p0"][theo], data["asymptotic"][theo], ":", color=q_colour(q), lw=1.0)
            ax.plot(data["p0"][meas], data["time"][meas], "o", color=q_colour(q), ms=4, label=f"q = {q:g}")
            uneq = data.where(kind="unequal", toy=toy, q=q)
            ax.plot(data["p0"][uneq], data["time"][uneq], "s", color=q_colour(q), ms=6, mfc="none")
        ax.plot([], [], "k-", label="sympy closed form")
        ax.plot([], [], "k:", label="small-p0 asymptotics")
        ax.plot([], [], "ko", ms=4, label="ODE (solve_ivp)")
        if toy != "one_logit":
            ax.plot([], [], "ks", ms=6, mfc="none", label="ODE, unequal wrong arms")
        ax.set(xscale="log", yscale="log", xlabel="initial success probability p0", title=title)
        ax.invert_xaxis()
    axes[0].set_ylabel("escape time to P = 1/2 (flow time)")
    axes[0].legend(fontsize=8)
    fig.tight_layout()
    return fig


def checks(data: Table) -> list[Check]:
    out = []
    for toy in ("one_logit", f"k_armed_{NUM_ARMS}"):
        meas = data.where(kind="measured", toy=toy)
        worst = float(np.max(np.abs(data["rel_error"][meas])))
        out.append(Check(NAME, f"ODE escape time = closed form (max rel. error), {toy}", "exact flow",
                         worst, "≤", 1e-6))
    rate = data.where(kind="rate")
    out.append(Check(NAME, "K arms: dP/dt = P^(2-q)((1-P)²+Σπ_j²) (max rel. error, finite diff.)",
                     "exact flow, unequal arms", float(np.max(data["rate_rel_error"][rate])), "≤", 1e-3))
    uneq = data.where(kind="unequal")
    ratio = data["time"][uneq] / data["closed_form"][uneq]  # must lie in [1/2, (K-1)/K]
    out.append(Check(NAME, "K arms, unequal: T / T_one_logit ≤ (K-1)/K (max over runs)", "exact flow, unequal arms",
                     float(ratio.max()), "≤", (NUM_ARMS - 1) / NUM_ARMS))
    out.append(Check(NAME, "K arms, unequal: T / T_one_logit ≥ 1/2 (min over runs)", "exact flow, unequal arms",
                     float(ratio.min()), "≥", 0.5))
    return out
