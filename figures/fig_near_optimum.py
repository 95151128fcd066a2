"""Near the optimum every q converges alike (Proposition C.1): the flow time from P = 1 - ε0 to 1 - ε1
(ε1 = ε0/10) for each q, and its ratio to q = 1, against ε0.

Regime: exact flow. One logit (‖s‖² = (1-P)², a function of P as the proposition assumes): ODE (markers)
against the quadrature of T_q = ∫ dε / ((1-ε)^(2-q) ε²) (lines); the proof's bound
1 ≤ T_q/T_1 ≤ (1-ε0)^(-(1-q)) (dashed) and its O(ε0) (log-log slope 1). 5-armed softmax with unequal
wrong arms (squares): ‖s‖² then depends on more than P, outside the proposition's assumption; reported.
"""

from __future__ import annotations

import matplotlib.pyplot as plt
import numpy as np

from figures.common import Check, Table, q_colour
from figures.fig_escape_time import unequal_start
from sim.escape import loglog_slope
from sim.near_optimum import measure_near_optimum_time, one_logit_time, ratio_bound
from sim.policies import KArmedSoftmax, OneLogit
from tsallis.files import DPI

NAME = "fig_near_optimum"
QS = (0.0, 0.25, 0.5, 0.75, 1.0)
SHRINK = 10.0  # ε1 = ε0 / SHRINK
NUM_ARMS = 5


def compute(quick: bool, seed: int) -> tuple[list[dict], dict]:
    eps0s = np.logspace(-1, -4, 3 if quick else 10)
    qs = (0.0, 1.0) if quick else QS
    one, karm = OneLogit(), KArmedSoftmax(num_arms=NUM_ARMS)
    rows = []
    for eps0 in eps0s:
        eps1 = eps0 / SHRINK
        for q in qs:
            rows.append({"toy": "one_logit", "q": q, "eps0": eps0, "eps1": eps1,
                         "time": measure_near_optimum_time(one, one.theta_for(1.0 - eps0), q, eps1),
                         "exact": one_logit_time(eps0, eps1, q)})
            rows.append({"toy": f"k_armed_{NUM_ARMS}_unequal", "q": q, "eps0": eps0, "eps1": eps1,
                         "time": measure_near_optimum_time(karm, unequal_start(karm, 1.0 - eps0), q, eps1)})
    config = {"qs": qs, "eps0s": eps0s.tolist(), "eps1": "eps0 / 10", "num_arms": NUM_ARMS,
              "solver": "LSODA rtol=1e-11 atol=1e-13, terminal event P = 1 - eps1",
              "exact": "scipy.integrate.quad in u = ln ε, epsrel 1e-13"}
    return rows, config


def ratio_to_q1(data: Table, toy: str, q: float, column: str = "time") -> tuple[np.ndarray, np.ndarray]:
    """(ε0, T_q/T_1 - 1) of one toy, rows matched by ε0."""
    m, m1 = data.where(toy=toy, q=q), data.where(toy=toy, q=1.0)
    return data["eps0"][m], data[column][m] / data[column][m1] - 1.0


def plot(data: Table) -> plt.Figure:
    fig, (ax, bx) = plt.subplots(1, 2, figsize=(11.5, 4.4), dpi=DPI)
    karm = f"k_armed_{NUM_ARMS}_unequal"
    for q in np.unique(data["q"]):
        m = data.where(toy="one_logit", q=q)
        ax.plot(data["eps0"][m], data["exact"][m], "-", color=q_colour(q), lw=1)
        ax.plot(data["eps0"][m], data["time"][m], "o", color=q_colour(q), ms=4, mfc="none", label=f"q = {q:g}")
        mk = data.where(toy=karm, q=q)
        ax.plot(data["eps0"][mk], data["time"][mk], "s", color=q_colour(q), ms=5, mfc="none")
        if q < 1.0:
            eps0, excess = ratio_to_q1(data, "one_logit", q)
            bx.plot(eps0, excess, "o", color=q_colour(q), ms=5, label=f"q = {q:g}, one logit")
            bx.plot(eps0, ratio_bound(eps0, q, 1.0) - 1.0, "--", color=q_colour(q), lw=1)
            eps0k, excess_k = ratio_to_q1(data, karm, q)
            bx.plot(eps0k, excess_k, "s", color=q_colour(q), ms=5, mfc="none")
    ax.plot([], [], "ks", mfc="none", label=f"{NUM_ARMS} arms, unequal wrong arms")
    ax.set(xscale="log", yscale="log", xlabel="ε0 (start at P = 1 − ε0, stop at 1 − ε0/10)", ylabel="flow time T_q",
           title="(a) near-optimum convergence time")
    ax.legend(fontsize=8)
    bx.plot([], [], "k--", lw=1, label="bound (1−ε0)^(−(1−q)) − 1")
    bx.set(xscale="log", yscale="log", xlabel="ε0", ylabel="T_q / T_1 − 1", title="(b) the q-dependence is O(ε0)")
    bx.legend(fontsize=7)
    fig.tight_layout()
    return fig


def checks(data: Table) -> list[Check]:
    one = data.where(toy="one_logit")
    regime = "exact flow, one logit, ε1 = ε0/10"
    excess = {q: ratio_to_q1(data, "one_logit", q) for q in np.unique(data["q"]) if q < 1.0}
    relative_to_bound = [e / (ratio_bound(eps0, q, 1.0) - 1.0) for q, (eps0, e) in excess.items()]
    eps0, excess0 = excess[0.0]
    karm_eps0, karm_excess = ratio_to_q1(data, f"k_armed_{NUM_ARMS}_unequal", 0.0)
    return [
        Check(NAME, "ODE time = quadrature of ∫dε/((1−ε)^(2−q)ε²), max rel. error", regime,
              float(np.max(np.abs(data["time"][one] / data["exact"][one] - 1.0))), "≤", 1e-8),
        Check(NAME, "Proposition C.1: T_q/T_1 ≥ 1, min (T_q/T_1 − 1)", regime,
              float(np.min(np.concatenate([e for _, e in excess.values()]))), "≥", 0.0),
        Check(NAME, "Proposition C.1: T_q/T_1 − 1 ≤ (1−ε0)^(−(1−q)) − 1, max ratio to the bound", regime,
              float(np.max(np.concatenate(relative_to_bound))), "≤", 1.0),
        Check(NAME, "Proposition C.1: T_0/T_1 − 1 = O(ε0), log-log slope against ε0", regime,
              loglog_slope(eps0, excess0), "≈", 1.0, 0.05),
        Check(NAME, f"Proposition C.1, {NUM_ARMS} arms unequal (outside its assumption): max (T_0/T_1 − 1)/ε0 (observed)",
              "exact flow, K-armed softmax", float(np.max(karm_excess / karm_eps0)), "info"),
    ]
