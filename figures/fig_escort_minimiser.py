"""The minimiser of J_Q in the categorical model is the escort distribution α^(1/q)/Σ α^(1/q) (Theorem 3.1),
found twice without Eq. 4: by the gradient flow of a softmax parameterisation (sim.escort.CategoricalScore,
from the uniform distribution to t = 1e7) and by SLSQP on the simplex.

Regime: one input, N = 4 outputs, data frequencies α = (0.5, 0.3, 0.15, 0.05); the loss is the paper's
L_q(θ) = Σ α_j (-ln_q θ_j), the figure plots the score S_q = -L_q. (a) θ*_j(q): lines from Eq. 4, markers
from the two optimisers. (b) θ*_1/θ*_2 against 1/q (Corollary B.2: sharpening as q falls; the line is
(α_1/α_2)^(1/q)). (c) S_q(θ*) - S_q(α), how much better the minimiser scores than the truth α: zero only
at q = 1 (Corollary B.3: propriety only at q = 1).
"""

from __future__ import annotations

import matplotlib.pyplot as plt
import numpy as np

from figures.common import Check, Table
from sim.escort import constrained_minimiser, escort, expected_score, flow_minimiser
from tsallis.files import DPI

NAME = "fig_escort_minimiser"
ALPHA = np.array([0.5, 0.3, 0.15, 0.05])
FLOW_QS = (0.25, 0.5, 0.75, 1.0)  # below q = 1/4 the flow needs t >> 1e7 to settle its smallest coordinate
T_FLOW = 1e7
REGIME = "categorical, N=4, exact minimisers"


def compute(quick: bool, seed: int) -> tuple[list[dict], dict]:
    qs_slsqp = np.linspace(0.05, 1.0, 8 if quick else 20)
    rows = []
    flow_qs = (0.25, 0.5, 1.0) if quick else FLOW_QS
    for method, qs in (("flow", flow_qs), ("slsqp", qs_slsqp)):
        for q in qs:
            theta = flow_minimiser(ALPHA, q, T_FLOW) if method == "flow" else constrained_minimiser(ALPHA, q)
            closed = escort(ALPHA, q)
            rows += [{"kind": method, "q": q, "j": j, "alpha": a, "theta": t, "escort": e,
                      "score_gap": expected_score(theta, ALPHA, q) - expected_score(ALPHA, ALPHA, q)}
                     for j, (a, t, e) in enumerate(zip(ALPHA, theta, closed))]
    for q in np.linspace(0.04, 1.0, 49 if quick else 97):
        closed = escort(ALPHA, q)
        rows += [{"kind": "theory", "q": q, "j": j, "alpha": a, "escort": e,
                  "score_gap": expected_score(closed, ALPHA, q) - expected_score(ALPHA, ALPHA, q)}
                 for j, (a, e) in enumerate(zip(ALPHA, closed))]
    config = {"alpha": ALPHA.tolist(), "flow_qs": flow_qs, "flow_t": T_FLOW, "slsqp_qs": qs_slsqp.tolist(),
              "flow_solver": "softmax parameterisation from w = 0, LSODA rtol=1e-10 atol=1e-12",
              "slsqp": "bounds θ_j >= 1e-14, Σθ = 1, ftol 1e-16, from the uniform distribution"}
    return rows, config


def _by_q(data: Table, kind: str, column: str, j: int) -> tuple[np.ndarray, np.ndarray]:
    m = data.where(kind=kind, j=j)
    return data["q"][m], data[column][m]


def plot(data: Table) -> plt.Figure:
    fig, (ax, bx, cx) = plt.subplots(1, 3, figsize=(14, 4.3), dpi=DPI)
    colours = plt.cm.tab10(np.arange(len(ALPHA)))
    for j, colour in enumerate(colours):
        q, e = _by_q(data, "theory", "escort", j)
        ax.plot(q, e, "-", color=colour, lw=1.2, label=f"α_{j + 1} = {ALPHA[j]:g}")
        for kind, marker in (("flow", "o"), ("slsqp", "x")):
            qk, tk = _by_q(data, kind, "theta", j)
            ax.plot(qk, tk, marker, color=colour, ms=6 if marker == "o" else 5, mfc="none")
    ax.plot([], [], "ko", mfc="none", label="softmax gradient flow")
    ax.plot([], [], "kx", label="SLSQP on the simplex")
    ax.set(xlabel="q", ylabel="θ*_j(q)", yscale="log", ylim=(1e-6, 1.5), title="(a) minimiser vs escort (Eq. 4)")
    ax.legend(fontsize=7)
    q, e1 = _by_q(data, "theory", "escort", 0)
    _, e2 = _by_q(data, "theory", "escort", 1)
    bx.plot(1 / q, e1 / e2, "k-", lw=1, label="(α_1/α_2)^(1/q)")
    for kind, marker in (("flow", "o"), ("slsqp", "x")):
        qk, t1 = _by_q(data, kind, "theta", 0)
        _, t2 = _by_q(data, kind, "theta", 1)
        bx.plot(1 / qk, t1 / t2, marker, color="C3", mfc="none", label=kind)
    bx.set(xlabel="1/q", ylabel="θ*_1 / θ*_2", yscale="log", title="(b) sharpening as q falls (Cor. B.2)")
    bx.legend(fontsize=8)
    q, gap = _by_q(data, "theory", "score_gap", 0)
    cx.plot(q, gap, "k-", lw=1, label="Eq. 4")
    for kind, marker in (("flow", "o"), ("slsqp", "x")):
        qk, gk = _by_q(data, kind, "score_gap", 0)
        cx.plot(qk, gk, marker, color="C2", mfc="none", label=kind)
    cx.set(xlabel="q", ylabel="S_q(θ*) − S_q(α)", title="(c) α is optimal only at q = 1 (Cor. B.3)")
    cx.set_yscale("symlog", linthresh=1e-6)
    cx.legend(fontsize=8)
    fig.tight_layout()
    return fig


def checks(data: Table) -> list[Check]:
    out = []
    for kind, label in (("flow", "softmax gradient flow"), ("slsqp", "SLSQP")):
        m = data.where(kind=kind)
        out.append(Check(NAME, f"Theorem 3.1: minimiser = escort α^(1/q)/Σα^(1/q), max |θ - θ*| ({label})", REGIME,
                         float(np.max(np.abs(data["theta"][m] - data["escort"][m]))), "≤", 1e-6))
    at_one = data.where(kind="flow", q=1.0)
    out.append(Check(NAME, "Corollary B.2 (1): at q = 1 the minimiser is α, max |θ - α| (flow)", REGIME,
                     float(np.max(np.abs(data["theta"][at_one] - data["alpha"][at_one]))), "≤", 1e-9))
    qs, mode = _by_q(data, "slsqp", "theta", 0)
    out.append(Check(NAME, f"Corollary B.2 (2): mass off the mode at q = {qs.min():.2g} (SLSQP)", REGIME,
                     float(1.0 - mode[np.argmin(qs)]), "≤", 1e-3))
    steps = []
    for j in range(len(ALPHA)):
        for k in range(j + 1, len(ALPHA)):
            qk, tj = _by_q(data, "flow", "theta", j)
            _, tk = _by_q(data, "flow", "theta", k)
            order = np.argsort(qk)[::-1]  # q falling
            steps.append(np.min(np.diff(np.log(tj[order] / tk[order]))))
    out.append(Check(NAME, "Corollary B.2 (3): θ*_j/θ*_k (α_j > α_k) rises as q falls, min log step (flow)", REGIME,
                     float(np.min(steps)), ">", 0.0))
    below = data.where(kind="slsqp", j=0) & (data["q"] < 1.0 - 1e-9)
    out.append(Check(NAME, "Corollary B.3: q < 1, α is not a maximiser: min S_q(θ*) − S_q(α) (SLSQP)", REGIME,
                     float(np.min(data["score_gap"][below])), ">", 0.0))
    out.append(Check(NAME, "Corollary B.3: q = 1 is proper, |S_1(θ*) − S_1(α)| (flow)", REGIME,
                     float(np.abs(data["score_gap"][at_one][0])), "≤", 1e-12))
    return out
