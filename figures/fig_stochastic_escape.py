"""Escape time of stochastic training (one logit, GARL with a mean baseline at several q, and GRPO)
against p0, in the two regimes of the finite-M cap:

(a) M = 8, p0 << 1/M: the time stays Θ(1/p0) for every q and is only shortened by M^q (1 - 1/M)
    (lines: the q = 0 closed form divided by that factor); GRPO sits on the GARL q = 1/2 line.
(b) M = 2048 >> 1/p0: the estimates concentrate and the escape follows the exact flow of ln_q P
    (lines: the sympy closed forms); GRPO's slope matches GARL's at q = 1/2.

Markers: median over runs, bars: interquartile range. η is set per q so that one success moves θ by
about 0.15 (flow time t = steps · η); GRPO uses TRL's convention (Bessel std, ε = 1e-4).
"""

from __future__ import annotations

import matplotlib.pyplot as plt
import numpy as np

from figures.common import Check, Table, plot_escape_medians, q_colour
from sim.escape import closed_form_escape_time, loglog_slope
from sim.policies import OneLogit
from sim.stochastic import small_m_escape_time, train_stochastic
from tsallis.files import DPI

NAME = "fig_stochastic_escape"
SMALL_M, LARGE_M = 8, 2048
JUMP = 0.15  # θ increment of one success near cold start, which sets η


def _run(key: str, qs: tuple[float, ...], lrs: tuple[float, ...], p0s: np.ndarray, m: int, runs: int,
         rng: np.random.Generator) -> list[dict]:
    """One vectorised training of len(qs) × len(p0s) × runs rows (per-row q and η) until all escape."""
    toy = OneLogit()
    q_rows = np.repeat(np.asarray(qs, dtype=np.float64), len(p0s) * runs)  # (Q·P0·R,)
    lr_rows = np.repeat(np.asarray(lrs, dtype=np.float64), len(p0s) * runs)
    theta0 = np.tile(np.repeat(toy.theta_for(p0s), runs, axis=0), (len(qs), 1))  # (Q·P0·R, 1)
    budget = int(20 * max(small_m_escape_time(p0s.min(), q, m) / lr for q, lr in zip(qs, lrs))) + 100
    res = train_stochastic(toy, theta0, key, q_rows, m, lr_rows, budget, rng)
    times = res.escape_time.reshape(len(qs), len(p0s), runs)  # (Q, P0, R)
    rows = []
    for q, lr, per_q in zip(qs, lrs, times):
        for p0, t in zip(p0s, per_q):
            rows.append({"estimator": key, "q": q, "m": m, "p0": p0, "runs": runs, "lr": lr,
                         "median": np.median(t), "p25": np.quantile(t, 0.25), "p75": np.quantile(t, 0.75),
                         "frac_escaped": float(np.mean(np.isfinite(t))), "small_m_prediction": small_m_escape_time(p0, q, m),
                         "flow_closed_form": closed_form_escape_time(p0, q)})
    return rows


def compute(quick: bool, seed: int) -> tuple[list[dict], dict]:
    rng = np.random.default_rng(seed)
    qs = (0.0, 0.5) if quick else (0.0, 0.25, 0.5, 0.75, 1.0)
    small_p0 = np.logspace(-2, -3, 3) if quick else np.logspace(-2, np.log10(5e-4), 4)
    large_p0 = np.array([0.1, 0.01]) if quick else np.logspace(-1, np.log10(5e-3), 4)
    small_runs, large_runs = (48, 2) if quick else (48, 4)
    large_m = 512 if quick else LARGE_M
    small_lrs = tuple(JUMP * SMALL_M ** (1 - q) for q in qs)
    rows = [r | {"regime": "small_m"} for r in _run("garl_mean", qs, small_lrs, small_p0, SMALL_M, small_runs, rng)]
    rows += [r | {"regime": "small_m"} for r in _run("grpo", (0.5,), (JUMP * SMALL_M**0.5,), small_p0, SMALL_M,
                                                     small_runs, rng)]
    large_qs = (0.0, 0.5, 1.0)
    rows += [r | {"regime": "large_m"} for r in _run("garl_mean", large_qs, (0.25,) * 3, large_p0, large_m, large_runs, rng)]
    rows += [r | {"regime": "large_m"} for r in _run("grpo", (0.5,), (0.25,), large_p0, large_m, large_runs, rng)]
    config = {"small_m": SMALL_M, "large_m": large_m, "qs": qs, "small_p0": small_p0.tolist(),
              "large_p0": large_p0.tolist(), "runs": [small_runs, large_runs], "jump": JUMP, "small_m_lrs": small_lrs,
              "large_m_lr": 0.25, "garl_baseline": "mean",
              "grpo": "TRL: Bessel std (ddof=1), eps=1e-4 (q column is 0.5 by convention)"}
    return rows, config


def _series(data: Table, regime: str) -> list[tuple[str, float, np.ndarray]]:
    out = []
    for key in ("garl_mean", "grpo"):
        for q in np.unique(data["q"][data.where(regime=regime, estimator=key)]):
            out.append((key, float(q), data.where(regime=regime, estimator=key, q=q)))
    return out


def plot(data: Table) -> plt.Figure:
    fig, axes = plt.subplots(1, 2, figsize=(11.5, 4.6), dpi=DPI)
    for ax, regime, line_col, title in (
        (axes[0], "small_m", "small_m_prediction", f"(a) M = {SMALL_M}: p0 << 1/M (finite-M cap)"),
        (axes[1], "large_m", "flow_closed_form", f"(b) M = {int(data['m'][data.where(regime='large_m')][0])}: M >> 1/p0"),
    ):
        for key, q, m in _series(data, regime):
            p0 = data["p0"][m]
            plot_escape_medians(ax, p0, data, m, key, q)
            if key == "grpo":
                continue
            ax.plot(p0, data[line_col][m], "-", color=q_colour(q), lw=1)
        ax.plot([], [], "k-", label="T_flow(q=0)/(M^q(1−1/M))" if regime == "small_m" else "exact flow, closed form")
        ax.set(xscale="log", yscale="log", xlabel="initial success probability p0",
               ylabel="escape time to P = 1/2 (flow time Σ η)", title=title)
        ax.invert_xaxis()
        ax.legend(fontsize=7)
    fig.tight_layout()
    return fig


def _slope(data: Table, mask: np.ndarray) -> float:
    return loglog_slope(data["p0"][mask], data["median"][mask])


def checks(data: Table) -> list[Check]:
    out = []
    small = data.where(regime="small_m")
    zero = small & data.where(estimator="garl_mean", q=0.0)
    t_zero = data["median"][zero][np.argmin(data["p0"][zero])]
    for key, q, m in _series(data, "small_m"):
        out.append(Check.within(NAME, f"log-log slope, {key} q={q:g}", f"stochastic, M={SMALL_M}, p0<<1/M",
                                _slope(data, m), -1.0, 0.1))
        if q > 0:
            t_q = data["median"][m][np.argmin(data["p0"][m])]
            exponent = np.log(t_zero / t_q) / np.log(SMALL_M)
            label = "GRPO effective q" if key == "grpo" else f"speed-up exponent log_M(T_0/T_q), q={q:g}"
            out.append(Check.within(NAME, label, f"stochastic, M={SMALL_M}, p0<<1/M", float(exponent), q, 0.1))
    large = data.where(regime="large_m")
    grpo_slope = _slope(data, large & data.where(estimator="grpo"))
    garl_slope = _slope(data, large & data.where(estimator="garl_mean", q=0.5))
    out.append(Check.within(NAME, "GRPO slope − GARL(q=0.5) slope", "stochastic, M >> 1/p0", grpo_slope - garl_slope,
                            0.0, 0.06))
    garl = large & data.where(estimator="garl_mean")
    ratio = data["median"][garl] / data["flow_closed_form"][garl]
    out.append(Check(NAME, "max |T_stoch / T_flow − 1| over q, p0 (GARL)", "stochastic, M >> 1/p0",
                     float(np.max(np.abs(ratio - 1))), "≤", 0.15))
    return out
