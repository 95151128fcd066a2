"""Noise memorisation along training: the exact flow of J_Q on N = 32 prompts sharing a linear softmax
policy able to fit every label (d = 36 features >= N = 32), K = 5 answers, 25 % of gold labels
corrupted, cold start P ≈ 0.0066 on every prompt.

Regime: along training (exact flow; at the optimum every q fits every label, so what differs is when).
(a) mean P on the clean prompts; (b) noise mass, the mean probability on the corrupted labels.
Claim: high q escapes sooner and memorises the corrupted labels much sooner; low q ignores them for long.
Observed beyond the one-prompt theory: q = 1 escapes no sooner than q = 0.75 here, because the amplified
corrupted prompts pull the shared parameters away from the clean ones.
"""

from __future__ import annotations

import matplotlib.pyplot as plt
import numpy as np

from figures.common import Check, Table, q_colour
from sim.memorisation import track_flow
from sim.policies import LinearSoftmaxPrompts
from tsallis.files import DPI

NAME = "fig_memorisation"
QS = (0.0, 0.25, 0.5, 0.75, 1.0)
TOY = {"num_prompts": 32, "num_answers": 5, "num_features": 36, "noise_rate": 0.25, "cold_logit": 5.0}
HORIZON = 1000.0  # flow time at which the noise mass is compared across q


def make_toy(seed: int) -> LinearSoftmaxPrompts:
    return LinearSoftmaxPrompts.make(seed=seed, **TOY)


def compute(quick: bool, seed: int) -> tuple[list[dict], dict]:
    toy = make_toy(seed)
    # quick: stop at the horizon, the last time any check reads
    times = np.unique(np.concatenate([np.logspace(-1, 3 if quick else 4, 21 if quick else 51), [HORIZON]]))
    rows = []
    for q in (QS[0], QS[2], QS[4]) if quick else QS:
        trace = track_flow(toy, q, times)
        rows += [{"q": q, "t": t, "clean_p": cp, "clean_accuracy": ca, "noise_mass": nm, "true_mass_on_noisy": tm,
                  "escape_time": trace.escape_time}
                 for t, cp, ca, nm, tm in zip(trace.t, trace.clean_p, trace.clean_accuracy, trace.noise_mass,
                                              trace.true_mass_on_noisy)]
    config = TOY | {"qs": QS, "horizon": HORIZON, "toy_seed": seed, "noisy_prompts": int(toy.noisy.sum()),
                    "p0_mean": float(toy.success_prob(np.zeros(toy.dim)).mean()), "solver": "LSODA rtol=1e-6, escape time from a terminal event"}
    return rows, config


def plot(data: Table) -> plt.Figure:
    fig, (ax, bx) = plt.subplots(1, 2, figsize=(11.5, 4.4), dpi=DPI, sharex=True)
    for q in np.unique(data["q"]):
        m = data.where(q=q)
        ax.plot(data["t"][m], data["clean_p"][m], color=q_colour(q), label=f"q = {q:g}")
        bx.plot(data["t"][m], data["noise_mass"][m], color=q_colour(q), label=f"q = {q:g}")
        bx.axvline(data["escape_time"][m][0], color=q_colour(q), ls=":", lw=0.8)
    ax.axhline(0.5, color="grey", lw=0.5)
    bx.axvline(HORIZON, color="grey", ls="--", lw=0.8)
    ax.set(xscale="log", xlabel="flow time t", ylabel="mean P on clean prompts", title="(a) learning the clean labels")
    bx.set(xscale="log", xlabel="flow time t (dotted: clean P reaches 1/2; dashed: horizon)",
           ylabel="mean π(corrupted label) on corrupted prompts", title="(b) memorising the corrupted labels")
    ax.legend(fontsize=8)
    fig.tight_layout()
    return fig


def at_time(data: Table, q: float, column: str, t: float) -> float:
    """Value of ``column`` for ``q`` at the recorded time closest to ``t``."""
    m = data.where(q=q)
    return float(data[column][m][np.argmin(np.abs(np.log(data["t"][m] / t)))])


def checks(data: Table) -> list[Check]:
    qs = np.unique(data["q"])
    noise = np.array([at_time(data, q, "noise_mass", HORIZON) for q in qs])
    escape = np.array([data["escape_time"][data.where(q=q)][0] for q in qs])
    return [
        Check(NAME, f"noise mass at t={HORIZON:g} increases with q (min step)", "along training, d ≥ N",
              float(np.min(np.diff(noise))), ">", 0.0),
        Check(NAME, "clean escape time decreases with q < 1 (max step)", "along training, d ≥ N",
              float(np.max(np.diff(escape[:-1]))), "<", 0.0),
        # not a prediction: reported because the one-prompt monotonicity fails here (noisy prompts compete)
        Check(NAME, f"escape time q=1 / q={qs[-2]:g} (observed; no prediction)", "along training, d ≥ N",
              float(escape[-1] / escape[-2]), "info"),
    ]
