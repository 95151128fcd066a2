"""q-sweep of the escape-speed / noise-memorisation trade-off, in both regimes: along training and at the optimum.

(a) Along training (the toy of fig_memorisation, d >= N, exact flow): escape time of the clean prompts
    against the noise mass at t = 1000; each point is one q. Low q: slow escape, little noise memorised;
    high q: fast escape, corrupted labels memorised.
(b) Near the optimum of a policy too small to fit every label (N = 60 prompts, d = 4 features, K = 6,
    25 % corrupted; L-BFGS maximiser of J_Q reached from the cold start), mean ± sd over instances:
    mean P on clean prompts and noise mass at the optimum against q. Measured: up to q ≈ 0.6 the
    maximiser is (near-)deterministic, fits the clean labels better as q grows from 0 (q = 0 stops at a
    poorer local optimum) and its noise mass is flat then peaks; at q -> 1 (log-likelihood) the optimum
    turns soft and spreads mass to cover the corrupted labels, and the clean P falls (GCE's
    mode-covering end). The noise-mass check allows ties (several q fit the same corrupted labels).
"""

from __future__ import annotations

import matplotlib.pyplot as plt
import numpy as np

from figures.common import Check, Table, q_colour
from figures.fig_memorisation import HORIZON, make_toy
from sim.memorisation import optimum, track_flow
from sim.policies import LinearSoftmaxPrompts
from tsallis.files import DPI

NAME = "fig_memorisation_tradeoff"
SMALL = {"num_prompts": 60, "num_answers": 6, "num_features": 4, "noise_rate": 0.25, "cold_logit": 5.0}


def compute(quick: bool, seed: int) -> tuple[list[dict], dict]:
    qs = np.round(np.linspace(0, 1, 3 if quick else 6), 3)
    toy = make_toy(seed)
    rows = []
    for q in qs:
        trace = track_flow(toy, float(q), np.array([HORIZON]))
        rows.append({"regime": "along_training", "q": q, "escape_time": trace.escape_time,
                     "noise_mass": trace.noise_mass[-1], "clean_p": trace.clean_p[-1]})
    instances = 2 if quick else 5
    for i in range(instances):
        small = LinearSoftmaxPrompts.make(seed=seed + 1000 + i, **SMALL)
        for q in qs:
            opt = optimum(small, float(q))
            rows.append({"regime": "optimum", "q": q, "instance": i, "grad_norm": opt.grad_norm,
                         "converged": int(opt.success), **opt.metrics})
    config = {"qs": qs.tolist(), "horizon": HORIZON, "along_training_toy": "fig_memorisation.TOY", "small_toy": SMALL,
              "instances": instances, "optimiser": "L-BFGS-B gtol=1e-9 from W=0"}
    return rows, config


def _optimum_stats(data: Table, column: str) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    m = data.where(regime="optimum")
    qs = np.unique(data["q"][m])
    values = np.array([data[column][m & data.where(q=q)] for q in qs])  # (Q, instances)
    return qs, values.mean(axis=1), values.std(axis=1)


def plot(data: Table) -> plt.Figure:
    fig, (ax, bx) = plt.subplots(1, 2, figsize=(11.5, 4.4), dpi=DPI)
    m = data.where(regime="along_training")
    ax.plot(data["noise_mass"][m], data["escape_time"][m], "-", color="grey", lw=0.8)
    for q, nm, esc in zip(data["q"][m], data["noise_mass"][m], data["escape_time"][m]):
        ax.plot(nm, esc, "o", color=q_colour(q), ms=7)
        ax.annotate(f"q={q:g}", (nm, esc), textcoords="offset points", xytext=(6, 4), fontsize=8)
    ax.set(yscale="log", xlabel=f"noise mass at t = {HORIZON:g} (mean π on corrupted labels)",
           ylabel="escape time of the clean prompts (flow time)", title="(a) along training (d ≥ N): the trade-off")
    for column, colour, label in (("clean_p", "#2ca02c", "mean P on clean prompts"),
                                  ("noise_mass", "#d62728", "noise mass (π on corrupted labels)")):
        qs, mean, sd = _optimum_stats(data, column)
        bx.errorbar(qs, mean, yerr=sd, fmt="o-", color=colour, capsize=3, label=label)
    bx.set(xlabel="Tsallis index q", ylabel="value at the maximiser of J_Q (mean ± sd over instances)",
           title="(b) near the optimum of a too-small policy (d = 4, N = 60)", ylim=(0, 1.05))
    bx.legend(fontsize=8)
    fig.tight_layout()
    return fig


def checks(data: Table) -> list[Check]:
    m = data.where(regime="along_training")
    noise, escape = data["noise_mass"][m], data["escape_time"][m]
    order = np.argsort(data["q"][m])
    out = [Check(NAME, "q-sweep: noise mass at horizon increases with q (min step)", "along training, d ≥ N",
                 float(np.min(np.diff(noise[order]))), ">", 0.0)]
    out.append(Check(NAME, "escape time q=0 / q=max-noise q (the trade-off)", "along training, d ≥ N",
                     float(escape[order][0] / escape[order][-1]), ">", 1.0))
    qs, clean, _ = _optimum_stats(data, "clean_p")
    _, noise_opt, _ = _optimum_stats(data, "noise_mass")
    out.append(Check(NAME, "clean P at optimum: q=1 minus q=0 (high q pulled by noise)", "optimum, d << N",
                     float(clean[-1] - clean[0]), "<", 0.0))
    out.append(Check(NAME, "noise mass at optimum: q=0 vs the smallest over q > 0", "optimum, d << N",
                     float(noise_opt[0]), "≤", float(noise_opt[1:].min())))
    conv = data["converged"][data.where(regime="optimum")]
    out.append(Check(NAME, "share of L-BFGS runs converged", "optimum, d << N", float(conv.mean()), "≥", 1.0))
    return out
