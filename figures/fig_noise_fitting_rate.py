"""Noise fitting under symmetric label flips (Proposition C.2, Eqs. 16 to 18): the two-label model with flip
rate ε = 0.1, contamination p̃ = π(noise label) under the exact flow of J_Q.

Regime: exact flow. (a) p̃(t) in the direct parameterisation (θ = p̃, so p²‖s‖² = 1 and the proposition's
bounded-score assumption holds), from p̃ = 1e-25, against the leading law ((q+1)εt)^(1/(q+1)) (dotted) and
the escort rest point p̃* = ε^(1/q)/(ε^(1/q) + (1-ε)^(1/q)) (dashed, Eq. 17 as ε → 0). (b) Time to reach η in
the same model: flow (markers), the exact integral of Eq. 16 (lines, up to 0.9 p̃*) and η^(q+1)/((q+1)ε)
(dotted). (c) The softmax parameterisation (θ = logit p̃): ‖s‖ = p̃ → 0, outside the assumption; the time
from p̃0 to η is then the cold-start law ∫ dp̃/(ε p̃^(2-q)) (lines), set by p̃0 and nearly flat in η.
q = 0 (Eq. 16 with p̃^0 = 1) lowers p̃ from any start: it never memorises.
"""

from __future__ import annotations

import matplotlib.pyplot as plt
import numpy as np
from matplotlib.ticker import LogLocator

from figures.common import Check, Table, q_colour
from sim.escape import loglog_slope
from sim.noise_fitting import (
    TwoLabelNoise,
    contamination_path,
    contamination_time,
    crossing_times,
    eq17_contamination,
    escort_contamination,
    leading_contamination_time,
    logit_leading_time,
)
from tsallis.files import DPI

NAME = "fig_noise_fitting_rate"
EPS = 0.1
QS = (0.25, 0.5, 0.75, 1.0)
START = 1e-25  # direct parameterisation: the time from 0 to START, START^(q+1)/((q+1)ε), is below 1e-30
LOGIT_STARTS = (1e-6, 1e-10)
SMALL_EPS = 0.001  # a flip rate at which the flow's rest point is compared with Eq. 17's small-ε form
REGIME = "exact flow, two labels, ε = 0.1"


def compute(quick: bool, seed: int) -> tuple[list[dict], dict]:
    direct, logit = TwoLabelNoise(EPS, "direct"), TwoLabelNoise(EPS, "logit")
    etas = np.logspace(-14, -8, 4 if quick else 9)
    rows = []
    qs = (0.5, 1.0) if quick else QS
    for q in qs:
        rest = escort_contamination(EPS, q)
        leading = leading_contamination_time(etas, EPS, q)
        coarse = np.logspace(-32, 2, 60 if quick else 120)
        fine = np.logspace(np.log10(leading[0] / 10), np.log10(leading[-1] * 10), 1500)  # brackets every T(η)
        times = np.union1d(coarse, fine)
        path = contamination_path(direct, q, START, times)
        shown = np.isin(times, coarse)
        rows += [{"kind": "path", "q": q, "t": t, "contamination": c, "escort": rest,
                  "leading": ((q + 1) * EPS * t) ** (1 / (q + 1))} for t, c in zip(times[shown], path[shown])]
        measured = crossing_times(path, times, etas)
        rows += [{"kind": "direct", "q": q, "eta": e, "time": t, "exact": contamination_time(e, EPS, q), "leading": lead}
                 for e, t, lead in zip(etas, measured, leading)]
        rows += [{"kind": "exact", "q": q, "eta": e, "exact": contamination_time(e, EPS, q),
                  "leading": leading_contamination_time(e, EPS, q)} for e in np.logspace(-14, np.log10(0.9 * rest), 12 if quick else 40)]
        for start in LOGIT_STARTS[1:] if quick else LOGIT_STARTS:  # the checks read the second start
            logit_etas = np.logspace(np.log10(start) + 1, np.log10(rest / 10), 3 if quick else 6)
            logit_times = np.logspace(-3, 12, 1500)
            measured = crossing_times(contamination_path(logit, q, start, logit_times), logit_times, logit_etas)
            rows += [{"kind": "logit", "q": q, "start": start, "eta": e, "time": t,
                      "leading": logit_leading_time(start, e, EPS, q)} for e, t in zip(logit_etas, measured)]
        settled = contamination_path(TwoLabelNoise(SMALL_EPS, "direct"), q, 0.5, np.array([1e3]))[-1]  # from above
        rows.append({"kind": "rest", "q": q, "flip_rate": SMALL_EPS, "contamination": settled,
                     "escort": escort_contamination(SMALL_EPS, q), "eq17": eq17_contamination(SMALL_EPS, q)})
    q0_times = np.linspace(0.0, 2e3, 50)
    rows += [{"kind": "q0", "q": 0.0, "t": t, "contamination": c}
             for t, c in zip(q0_times, contamination_path(logit, 0.0, 0.01, q0_times))]
    config = {"flip_rate": EPS, "qs": qs, "direct_start": START, "logit_starts": LOGIT_STARTS, "etas": etas.tolist(),
              "small_flip_rate": SMALL_EPS, "exact": "quad of Eq. 16, epsrel 1e-12",
              "solver": "LSODA rtol=1e-10 (atol 1e-30 direct, 1e-12 logit); times to η by log-log interpolation "
                        "of the path on a 1500-point log grid"}
    return rows, config


def plot(data: Table) -> plt.Figure:
    fig, (ax, bx, cx) = plt.subplots(1, 3, figsize=(15, 4.4), dpi=DPI)
    for q in np.unique(data["q"][data.where(kind="direct")]):
        colour = q_colour(q)
        m = data.where(kind="path", q=q)
        ax.plot(data["t"][m], data["contamination"][m], "-", color=colour, lw=1.4, label=f"q = {q:g}")
        ax.plot(data["t"][m], data["leading"][m], ":", color=colour, lw=1)
        ax.axhline(data["escort"][m][0], color=colour, ls="--", lw=0.8)
        e, d = data.where(kind="exact", q=q), data.where(kind="direct", q=q)
        bx.plot(data["eta"][e], data["exact"][e], "-", color=colour, lw=1.2)
        bx.plot(data["eta"][e], data["leading"][e], ":", color=colour, lw=1)
        bx.plot(data["eta"][d], data["time"][d], "o", color=colour, ms=4, mfc="none", label=f"q = {q:g}")
        for start, marker in zip(LOGIT_STARTS, ("o", "s")):
            lg = data.where(kind="logit", q=q, start=start)
            cx.plot(data["eta"][lg], data["time"][lg], marker, color=colour, ms=4, mfc="none")
            cx.plot(data["eta"][lg], data["leading"][lg], "-", color=colour, lw=0.8)
    ax.set(xscale="log", yscale="log", ylim=(1e-26, 1), xlabel="flow time t", ylabel="contamination p̃(t)",
           title="(a) contamination, direct parameterisation")
    for axis in (ax.xaxis, ax.yaxis, bx.yaxis):  # spans of 20 to 34 decades: a label every few decades is enough
        axis.set_major_locator(LogLocator(numticks=6))
    ax.legend(fontsize=8)
    bx.set(xscale="log", yscale="log", xlabel="contamination level η", ylabel="time to reach η",
           title="(b) T(η), direct: η^(q+1)/((q+1)ε) dotted")
    bx.legend(fontsize=8)
    cx.plot([], [], "ko", mfc="none", label=f"p̃0 = {LOGIT_STARTS[0]:g}")
    cx.plot([], [], "ks", mfc="none", label=f"p̃0 = {LOGIT_STARTS[1]:g}")
    cx.plot([], [], "k-", lw=0.8, label="∫ dp̃ / (ε p̃^(2−q))")
    cx.set(xscale="log", yscale="log", xlabel="contamination level η", ylabel="time from p̃0 to η",
           title="(c) softmax parameterisation (‖s‖ → 0)")
    cx.legend(fontsize=8)
    fig.tight_layout()
    return fig


def _slope(data: Table, kind: str, q: float, **where) -> float:
    m = data.where(kind=kind, q=q, **where)
    return loglog_slope(data["eta"][m], data["time"][m])


def checks(data: Table) -> list[Check]:
    direct = data.where(kind="direct")
    qs = np.unique(data["q"][direct])
    slopes = np.array([_slope(data, "direct", q) for q in qs])
    smallest = direct & (data["eta"] == np.min(data["eta"][direct]))
    t1 = data["time"][data.where(kind="direct", q=1.0)]
    speedup = [loglog_slope(data["eta"][data.where(kind="direct", q=q)], data["time"][data.where(kind="direct", q=q)] / t1)
               + (1.0 - q) for q in qs[:-1]]
    last = np.array([data["contamination"][data.where(kind="path", q=q)][-1] / data["escort"][data.where(kind="path", q=q)][0]
                     for q in qs])
    rest = data.where(kind="rest")
    q0 = data["contamination"][data.where(kind="q0")]
    out = [
        Check(NAME, "Proposition C.2 (Eq. 16): flow time to η = exact integral, max rel. error", REGIME + ", direct",
              float(np.max(np.abs(data["time"][direct] / data["exact"][direct] - 1.0))), "≤", 1e-5),
        Check(NAME, "Proposition C.2 (Eq. 18): log-log slope of T(η) − (q+1), worst over q", REGIME + ", direct, η ≤ 1e-8",
              float(np.max(np.abs(slopes - (qs + 1.0)))), "≤", 0.05),
        Check(NAME, "Proposition C.2 (Eq. 18): T·(q+1)ε/η^(q+1) at the smallest η, worst |· − 1|", REGIME + ", direct",
              float(np.max(np.abs(data["time"][smallest] / data["leading"][smallest] - 1.0))), "≤", 0.01),
        Check(NAME, "Proposition C.2: speed-up T_q/T_1 = Θ(η^−(1−q)), worst log-log slope error", REGIME + ", direct",
              float(np.max(np.abs(speedup))), "≤", 0.05),
        Check(NAME, "Proposition C.2 (Eq. 17): flow settles at the escort p̃*, worst |p̃(∞)/p̃* − 1|", REGIME + ", direct",
              float(np.max(np.abs(last - 1.0))), "≤", 1e-6),
        Check(NAME, f"Proposition C.2 (Eq. 17): p̃(∞)/(ε/(1−ε))^(1/q) at ε = {SMALL_EPS:g}, worst |· − 1|",
              "exact flow, two labels, direct", float(np.max(np.abs(data["contamination"][rest] / data["eq17"][rest] - 1.0))),
              "≤", 2 * SMALL_EPS),
        Check(NAME, "Proposition C.2: q = 0 never memorises, max step of p̃(t) from p̃0 = 0.01",
              "exact flow, two labels, softmax", float(np.max(np.diff(q0))), "<", 0.0),
    ]
    for q in (0.5, 1.0):
        out.append(Check(NAME, f"Proposition C.2, softmax parameterisation (‖s‖ = p̃, outside its assumption): "
                         f"T(η) log-log slope at q = {q:g} (Eq. 18 would give {q + 1:g}; observed)",
                         f"exact flow, logit, p̃0 = {LOGIT_STARTS[1]:g}", _slope(data, "logit", q, start=LOGIT_STARTS[1]),
                         "info"))
    return out
