"""P(t) under the exact gradient flow for each q (one logit and a 5-armed softmax), and gradient
steps with learning rate η converging to the flow (Euler, error O(η)).

Regime: exact flow (no sampling), cold start p0 = 1e-3.
"""

from __future__ import annotations

import matplotlib.pyplot as plt
import numpy as np

from figures.common import Check, Table, q_colour
from sim.escape import loglog_slope
from sim.flow import gradient_steps, integrate_flow
from sim.policies import KArmedSoftmax, OneLogit
from tsallis.files import DPI

NAME = "fig_trajectories"
QS = (0.0, 0.25, 0.5, 0.75, 1.0)


def compute(quick: bool, seed: int) -> tuple[list[dict], dict]:
    p0, t_max, num_arms = 1e-3, 3000.0, 5
    times = np.logspace(-1, np.log10(t_max), 40 if quick else 120)
    rows = []
    toys = {"one_logit": OneLogit(), f"k_armed_{num_arms}": KArmedSoftmax(num_arms=num_arms)}
    for toy_name, toy in toys.items():
        for q in (0.0, 0.5, 1.0) if quick else QS:
            res = integrate_flow(toy, toy.theta_for(p0), q, t_max=t_max, target=None, t_eval=times)
            rows += [{"panel": "flow", "toy": toy_name, "q": q, "t": t, "p": p} for t, p in zip(res.t, res.p)]
    # Discrete steps vs the flow: one logit, q = 0.5, from p0 = 0.01 up to flow time t_end.
    q_steps, p0_steps, t_end = 0.5, 1e-2, 30.0
    toy = OneLogit()
    lrs = np.array([4.0, 2.0, 1.0, 0.5, 0.25, 0.125] if not quick else [4.0, 1.0, 0.25])
    for lr in lrs:
        n = int(round(t_end / lr))
        thetas = gradient_steps(toy, toy.theta_for(p0_steps), q_steps, lr, n)  # (n+1, 1)
        step_t = lr * np.arange(n + 1)
        ref = integrate_flow(toy, toy.theta_for(p0_steps), q_steps, t_max=step_t[-1], target=None, t_eval=step_t)
        p_steps = toy.success_prob(thetas)
        err = float(np.max(np.abs(p_steps - ref.p)))
        rows += [{"panel": "steps", "toy": "one_logit", "q": q_steps, "lr": lr, "t": t, "p": p, "max_error": err}
                 for t, p in zip(step_t, p_steps)]
    config = {"p0": p0, "t_max": t_max, "num_arms": num_arms, "qs": QS, "steps": {"q": q_steps, "p0": p0_steps,
              "t_end": t_end, "lrs": lrs.tolist()}, "solver": "LSODA rtol=1e-9 atol=1e-12"}
    return rows, config


def plot(data: Table) -> plt.Figure:
    fig, (ax, bx) = plt.subplots(1, 2, figsize=(11, 4.2), dpi=DPI)
    for toy, style in (("one_logit", "-"), ("k_armed_5", "--")):
        for q in np.unique(data["q"][data.where(panel="flow", toy=toy)]):
            m = data.where(panel="flow", toy=toy, q=q)
            label = f"q = {q:g}" if toy == "one_logit" else None
            ax.plot(data["t"][m], data["p"][m], style, color=q_colour(q), label=label)
    ax.plot([], [], "k-", label="one logit")
    ax.plot([], [], "k--", label="5-armed softmax")
    ax.set(xscale="log", yscale="log", xlabel="flow time t (units of 1/learning rate)", ylabel="success probability P(t)",
           title="(a) exact gradient flow from p0 = 1e-3")
    ax.axhline(0.5, color="grey", lw=0.5)
    ax.legend(fontsize=8)
    steps = data.where(panel="steps")
    lrs = np.unique(data["lr"][steps])
    errors = np.array([data["max_error"][steps & data.where(lr=lr)][0] for lr in lrs])
    bx.loglog(lrs, errors, "o-", label="measured max |P_k - P(k η)|")
    bx.loglog(lrs, errors[-1] * lrs / lrs[-1], "k:", label="slope 1 (Euler, O(η))")
    bx.set_xticks(lrs, [f"{lr:g}" for lr in lrs])
    bx.minorticks_off()
    bx.set(xlabel="learning rate η (flow time per step)", ylabel="max error in P over t ≤ 30",
           title="(b) gradient steps → flow (one logit, q = 0.5)")
    bx.legend(fontsize=8)
    fig.tight_layout()
    return fig


def checks(data: Table) -> list[Check]:
    steps = data.where(panel="steps")
    lrs = np.unique(data["lr"][steps])
    errors = np.array([data["max_error"][steps & data.where(lr=lr)][0] for lr in lrs])
    order = loglog_slope(lrs, errors)
    out = [Check.within(NAME, "gradient steps converge to the flow: error order in η", "exact flow", order, 1.0, 0.15)]
    return out
