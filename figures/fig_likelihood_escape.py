"""Escape from cold start with the paper's likelihood weights (GARL, Eq. 12, Algorithm 1) against the
sampled-answer form, on the latent-rationale toy (K = 4 rationales, M = 8), in two regimes:

(a) spread weights: uniform prior, every w_z = p0 · (0.6, 0.8, 1.2, 1.4) small and similar. Every pool's w̄
    tracks P, so the amplification w̄^(−q) ≈ P^(−q) is not capped: likelihood GARL follows the exact flow of
    ∇ln_q P (lines: the toy's flow integrated from the same start), Θ(p0^(−(1−q))), Θ(log 1/p0) at q = 1.
    The sampled answer is right with probability ≈ p0 << 1/M, so that form is capped at M^q.
(b) near-0/1 weights: one good rationale (w = 1 − 1e-6) of prior p0, three with w = 1e-9. Likelihood GARL's
    rationale term then sees w̄ = 1/M on the pools that draw the good rationale and ≈ 0 elsewhere: the same
    cap M^q as the sampled answer (dashed: the toy's q = 0 flow time / (M^q (1 − 1/M))). At q = 1 the pathwise
    term opens a second path: the self-normalised weights w_m / Σw put all the weight on whichever wrong
    rationale has the largest w, which learns to produce the gold answer (escape in flow time ≈ |logit 1e-9|,
    independent of p0). ``pathwise=False`` closes it.

Series: likelihood GARL (loo baseline) unnormalised (Eq. 12), without the pathwise term, and normalised by
1/M^q at the same η (Algorithm 1); the sampled-answer GARL (loo baseline); GRPO (TRL's std, lr of q = 1/2).
η: likelihood GARL in (a) η = T_flow / 150 (100 with --quick); elsewhere η = 0.15 · M^(1−q) (one success moves
θ by ≈ 0.15).
Times are flow times Σ η at the unnormalised scale; markers: median over runs, bars: interquartile range.
The last panels show the paper's monitor (Fig. 3), max_m c_m / M^q, along training (median over the runs
still training, at the smallest p0).
"""

from __future__ import annotations

import dataclasses

import matplotlib.pyplot as plt
import numpy as np
from matplotlib.ticker import FuncFormatter, NullFormatter

from figures.common import Check, Table, q_colour
from sim.escape import closed_form_escape_time, loglog_slope, measure_escape_time
from sim.latent import LatentRationale
from sim.latent_training import LatentTrainingOptions, train_latent
from sim.stochastic import small_m_escape_time
from tsallis.files import DPI

NAME = "fig_likelihood_escape"
K, M = 4, 8
SPREAD = np.array([0.6, 0.8, 1.2, 1.4])  # regime (a): w_z = p0 · SPREAD, uniform prior (P = p0)
GOOD_W, BAD_W = 1.0 - 1e-6, 1e-9  # regime (b): one good rationale of prior p0, K − 1 bad ones
JUMP = 0.15  # θ increment of one success at cold start, which sets η where the step is success-driven
FLOW_STEPS = {True: 100, False: 150}  # quick / full: steps to escape of likelihood GARL in (a), η = T_flow / steps
REGIMES = ("spread", "near01")
SERIES = {  # name -> (options, regimes)
    "likelihood": (LatentTrainingOptions(form="likelihood", m=M, normalize="none"), REGIMES),
    "likelihood_no_pathwise": (LatentTrainingOptions(form="likelihood", m=M, normalize="none", pathwise=False),
                               ("near01",)),
    "likelihood_m_q": (LatentTrainingOptions(form="likelihood", m=M, normalize="m_q"), REGIMES),
    "sampled_garl": (LatentTrainingOptions(form="sampled", m=M, sampled_estimator="garl_loo"), REGIMES),
    "grpo": (LatentTrainingOptions(form="sampled", m=M, sampled_estimator="grpo"), REGIMES),
}
GRPO_Q = 0.5  # GRPO's q column: its effective q on a group with one success (sim.stochastic)
TOY = LatentRationale(K)


def start(regime: str, p0: float) -> np.ndarray:
    """ψ0 (2K,) with P = p0 in regime "spread" (a) or "near01" (b)."""
    if regime == "spread":
        return LatentRationale.parameters(np.full(K, 1.0 / K), p0 * SPREAD)
    prior = np.array([p0] + [(1.0 - p0) / (K - 1)] * (K - 1))
    return LatentRationale.parameters(prior, np.array([GOOD_W] + [BAD_W] * (K - 1)))


def _lr(series: str, regime: str, q: float, flow_time: float, flow_steps: int) -> float:
    if series.startswith("likelihood") and regime == "spread":
        return flow_time / flow_steps
    return JUMP * M ** (1.0 - (GRPO_Q if series == "grpo" else q))


def _expected_time(series: str, regime: str, q: float, flow_time: float, capped: float) -> float:
    """The escape time a series should take (it sets the step budget): the flow's for likelihood GARL with spread
    w, the capped one otherwise, times M^q for the normalised series (the same estimate with η/M^q)."""
    unnormalised = flow_time if series.startswith("likelihood") and regime == "spread" else capped
    return unnormalised * (M**q if SERIES[series][0].normalize == "m_q" and SERIES[series][0].form == "likelihood"
                           else 1.0)


def _train(series: str, cells: list[tuple[str, float, float]], flow: dict, runs: int, rng: np.random.Generator,
           record_points: int, flow_steps: int) -> tuple[list[dict], list[dict]]:
    """One vectorised training of every (regime, q, p0) cell × runs; escape rows and monitor rows."""
    options = SERIES[series][0]
    lrs = np.array([_lr(series, r, q, flow[r, q, p0], flow_steps) for r, q, p0 in cells])
    # the toy's q = 0 flow time sped up by the capped amplification M^q (1 − 1/M) of a pool with one success
    capped = [flow[r, 0.0, p0] * small_m_escape_time(p0, q, M) / closed_form_escape_time(p0, 0.0) for r, q, p0 in cells]
    expected = [_expected_time(series, r, q, flow[r, q, p0], cap) for (r, q, p0), cap in zip(cells, capped)]
    budget = int(3 * max(t / lr for t, lr in zip(expected, lrs))) + 100
    options = dataclasses.replace(options, record_every=max(1, budget // record_points))
    psi0 = np.repeat(np.stack([start(r, p0) for r, _, p0 in cells]), runs, axis=0)
    q_runs = np.repeat([q for _, q, _ in cells], runs)
    res = train_latent(TOY, psi0, q_runs, np.repeat(lrs, runs), budget, rng, options)
    times = np.where(np.isfinite(res.escape_time), res.escape_time, np.inf).reshape(len(cells), runs)
    steps = res.escape_step.reshape(len(cells), runs)
    silent = res.silent_steps.reshape(len(cells), runs) / steps
    monitor = res.monitor.reshape(len(res.steps), len(cells), runs)
    escape_rows, monitor_rows = [], []
    p0_min = min(p0 for _, _, p0 in cells)
    for i, ((regime, q, p0), lr) in enumerate(zip(cells, lrs)):
        t = times[i]
        escape_rows.append({
            "kind": "escape", "series": series, "form": options.form, "regime": regime, "q": q, "p0": p0, "m": M,
            "runs": runs, "lr": lr, "normalize": options.normalize, "pathwise": options.pathwise,
            "median": np.median(t), "p25": np.quantile(t, 0.25), "p75": np.quantile(t, 0.75),
            "frac_escaped": float(np.mean(np.isfinite(t))), "median_steps": np.nanmedian(steps[i]),
            "silent_fraction": np.nanmedian(silent[i]), "flow_time": flow[regime, q, p0],
            "capped_prediction": capped[i], "expected_time": expected[i],
            "budget_steps": budget})
        if series != "likelihood" or p0 != p0_min:
            continue
        training = np.sum(np.isfinite(monitor[:, i]), axis=1)  # runs still training in each window
        for step, values, n in zip(res.steps[1:], monitor[1:, i], training[1:]):
            if 2 * n < runs:
                break
            monitor_rows.append({"kind": "monitor", "series": series, "regime": regime, "q": q, "p0": p0, "m": M,
                                 "runs": runs, "lr": lr, "step": step, "window": options.record_every,
                                 "monitor": np.nanmean(values)})
    return escape_rows, monitor_rows


def compute(quick: bool, seed: int) -> tuple[list[dict], dict]:
    rng = np.random.default_rng(seed)
    qs = (0.0, 0.5, 1.0) if quick else (0.0, 0.25, 0.5, 0.75, 1.0)
    p0s = (2e-2, 1e-2) if quick else (1e-2, 3e-3, 1e-3)
    runs = 16 if quick else 24
    flow = {(r, q, p0): measure_escape_time(TOY, p0, q, theta0=start(r, p0), rtol=1e-4)
            for r in REGIMES for q in sorted(set(qs) | {0.0, GRPO_Q}) for p0 in p0s}
    normalised_qs = qs[:2] if quick else qs  # normalised at q = 1 takes M times the steps
    escape_rows, monitor_rows = [], []
    for series, (_, regimes) in SERIES.items():
        regimes = ("spread",) if quick and series == "grpo" else regimes
        series_qs = {"grpo": (GRPO_Q,), "likelihood_m_q": normalised_qs}.get(series, qs)
        cells = [(r, q, p0) for r in regimes for q in series_qs for p0 in p0s]
        e, m = _train(series, cells, flow, 2 * runs if series == "grpo" else runs, rng, 40 if quick else 120,
                      FLOW_STEPS[quick])
        escape_rows += e
        monitor_rows += m
    config = {"k": K, "m": M, "qs": qs, "p0s": list(p0s), "runs": runs, "grpo_runs": 2 * runs,
              "normalised_qs": normalised_qs, "spread_w": "p0 * " + str(SPREAD.tolist()), "near01_w": [GOOD_W, BAD_W],
              "jump": JUMP,
              "flow_steps": FLOW_STEPS[quick], "garl_baseline": "loo", "grpo": "TRL: Bessel std (ddof=1), eps=1e-4",
              "series": {name: dataclasses.asdict(options) for name, (options, _) in SERIES.items()}}
    return escape_rows + monitor_rows, config


def _cell(data: Table, series: str, regime: str, q: float) -> np.ndarray:
    return data.where(kind="escape", series=series, regime=regime, q=q)


def _qs(data: Table, series: str, regime: str) -> np.ndarray:
    return np.unique(data["q"][data.where(kind="escape", series=series, regime=regime)])


def _plain_log_labels(ax: plt.Axes) -> None:
    """Plain-number major labels and no minor labels on the log axes (mathtext labels are slow to lay out)."""
    plain = FuncFormatter(lambda value, _: f"{value:g}")
    for axis in (ax.xaxis, ax.yaxis):
        if axis.get_scale() == "log":
            axis.set_minor_formatter(NullFormatter())
            if axis is ax.yaxis:
                axis.set_major_formatter(plain)


MARKERS = {"likelihood": "o", "likelihood_no_pathwise": "^", "sampled_garl": "s", "grpo": "*"}


def _escape_panel(ax: plt.Axes, data: Table, regime: str, series_list: tuple[str, ...], title: str) -> None:
    """Median escape time (bars: interquartile range) against p0 per q, with the flow (solid) and cap (dashed)."""
    for series in series_list:
        for q in _qs(data, series, regime):
            m = _cell(data, series, regime, q)
            p0, median = data["p0"][m], data["median"][m]
            colour = "k" if series == "grpo" else q_colour(q)
            ax.plot(p0, median, MARKERS[series], color=colour, mfc=colour if series == "likelihood" else "none", ms=5)
            ax.vlines(p0, data["p25"][m], data["p75"][m], color=colour, lw=1)
            if series == "likelihood":
                ax.plot(p0, data["flow_time"][m], "-", color=colour, lw=1)
                ax.plot(p0, data["capped_prediction"][m], "--", color=colour, lw=0.7)
    for q in _qs(data, "likelihood", regime):
        ax.plot([], [], "-", color=q_colour(q), label=f"q = {q:g}")
    for series, label in (("likelihood", "likelihood GARL"), ("likelihood_no_pathwise", "  without pathwise term"),
                          ("sampled_garl", "sampled-answer GARL"), ("grpo", "GRPO (TRL std)")):
        if series in series_list:
            ax.plot([], [], MARKERS[series], color="grey", mfc="grey" if series == "likelihood" else "none",
                    label=label)
    ax.plot([], [], "k-", lw=1, label="exact flow of ln_q P (integrated)")
    ax.plot([], [], "k--", lw=0.7, label="cap: T_flow(q=0)/(M^q(1−1/M))")
    shown = data.where(kind="escape", regime=regime)
    ax.set(xscale="log", yscale="log", xlabel="initial success probability p0", title=title,
           ylabel="escape time to P = 1/2 (flow time Σ η)", ylim=(np.min(data["flow_time"][shown]) / 20, None))
    p0s = np.unique(data["p0"][data.where(kind="escape")])
    ax.set_xticks(p0s, [f"{p0:g}" for p0 in p0s])
    _plain_log_labels(ax)
    ax.invert_xaxis()
    ax.legend(fontsize=6.5, ncol=2, loc="lower left")


def plot(data: Table) -> plt.Figure:
    fig, axes = plt.subplots(2, 2, figsize=(10.5, 7.8), dpi=DPI)
    _escape_panel(axes[0, 0], data, "spread", ("likelihood", "sampled_garl", "grpo"),
                  f"(a) spread w (w_z = p0·{SPREAD.tolist()}), M = {M}")
    _escape_panel(axes[0, 1], data, "near01", ("likelihood", "likelihood_no_pathwise", "sampled_garl", "grpo"),
                  f"(b) near-0/1 w (one rationale w ≈ 1, prior p0; others {BAD_W:g}), M = {M}")
    ax = axes[1, 0]
    for regime, style in (("spread", "o-"), ("near01", "s--")):
        qs = _qs(data, "likelihood_m_q", regime)
        ratio = [_at_min_p0(data, "likelihood_m_q", regime, q) / _at_min_p0(data, "likelihood", regime, q) for q in qs]
        ax.plot(qs, ratio, style, color="k", mfc="none", label=f"T(1/M^q) / T(unnormalised), {regime} w")
    qs = np.linspace(0, 1, 50)
    ax.plot(qs, M**qs, color="grey", lw=3, alpha=0.4, label="M^q (normalisation = η/M^q)")
    ax.set(yscale="log", xlabel="q", ylabel="escape-time ratio at the same η (smallest p0)",
           title="Algorithm 1's 1/M^q at equal η", yticks=M ** np.linspace(0, 1, 4))
    _plain_log_labels(ax)
    ax.legend(fontsize=7)
    ax = axes[1, 1]
    for regime, style in (("spread", "-"), ("near01", "--")):
        mon = data.where(kind="monitor", regime=regime)
        for q in np.unique(data["q"][mon]):
            m = mon & data.where(q=q)
            ax.plot(data["step"][m], data["monitor"][m], style, color=q_colour(q), lw=1,
                    label=f"q = {q:g}, {regime} w")
    ax.set(xlabel="training step", ylabel="max_m c_m / M^q (mean over a window and the runs)",
           title=f"paper's monitor (Fig. 3), likelihood GARL, p0 = {data['p0'][data.where(kind='monitor')][0]:g}")
    ax.legend(fontsize=6.5, ncol=2)
    for ax in axes.flat:
        ax.title.set_fontsize(9)
    fig.tight_layout()
    return fig


def _at_min_p0(data: Table, series: str, regime: str, q: float, column: str = "median") -> float:
    m = _cell(data, series, regime, q)
    return float(data[column][m][np.argmin(data["p0"][m])])


def _median_se(data: Table, series: str, regime: str, q: float) -> float:
    """Relative standard error of the median escape time at the smallest p0: 1.2533 σ/(√n · median), with
    σ ≈ IQR/1.349."""
    iqr = _at_min_p0(data, series, regime, q, "p75") - _at_min_p0(data, series, regime, q, "p25")
    return 1.2533 * iqr / 1.349 / np.sqrt(_at_min_p0(data, series, regime, q, "runs")) / _at_min_p0(
        data, series, regime, q)


def _speedup_exponent(data: Table, series: str, regime: str, column: str = "median",
                      max_q: float = 1.0) -> tuple[float, float]:
    """−d log_M T / dq at the smallest p0, a least-squares fit over the series' q <= max_q (1 when the gain over
    q = 0 is the cap M^q, log_M(1/p0) when it is the flow's P^(−q)), and its standard error from the medians'
    (:func:`_median_se`; 0 for the flow's times)."""
    qs = _qs(data, series, regime)
    qs = qs[qs <= max_q]
    log_t = np.array([np.log(_at_min_p0(data, series, regime, q, column)) for q in qs]) / np.log(M)
    se = np.array([_median_se(data, series, regime, q) / np.log(M) if column == "median" else 0.0 for q in qs])
    centred = qs - qs.mean()
    slope = float(centred @ log_t / (centred @ centred))
    return -slope, float(np.sqrt(np.sum(centred**2 * se**2)) / (centred @ centred))


def _exponent_check(data: Table, claim: str, regime: str, series: str, predicted: float, **fit) -> Check:
    """The fitted speed-up exponent against ``predicted``, within 0.1 (pre-asymptotic M·p0 and step-size effects)
    plus 3 standard errors of the fit."""
    value, se = _speedup_exponent(data, series, regime, **fit)
    return Check.within(NAME, claim, f"{regime} w, M=8, smallest p0, fit over q (tol 0.1 + 3 s.e.)", value,
                        predicted, 0.1 + 3.0 * se)


def checks(data: Table) -> list[Check]:
    out = []
    qs = _qs(data, "likelihood", "spread")
    for q in qs[qs < 1]:
        m = _cell(data, "likelihood", "spread", q)
        out.append(Check.within(NAME, f"likelihood GARL escape slope vs p0 follows the flow's −(1−q) (spread w), "
                                f"q={q:g} (predicted: the toy's flow slope)", "spread w, M=8",
                                loglog_slope(data["p0"][m], data["median"][m]),
                                loglog_slope(data["p0"][m], data["flow_time"][m]), 0.1))
    for q in qs:
        ratio = _at_min_p0(data, "likelihood", "spread", q) / _at_min_p0(data, "likelihood", "spread", q, "flow_time")
        out.append(Check.within(NAME, f"likelihood GARL escapes at the exact flow's time (Θ(p0^−(1−q)), "
                                f"Θ(log 1/p0) at q=1): T / T_flow, q={q:g}",
                                "spread w, M=8, smallest p0 (tol 0.1 + 3 s.e.)", ratio, 1.0, 0.1 + 3.0 * _median_se(data, "likelihood", "spread", q)))
    spread = data.where(kind="escape", series="likelihood", regime="spread")
    out.append(Check(NAME, "likelihood GARL: max |T / T_flow − 1| over q, p0 (spread w)", "spread w, M=8",
                     float(np.max(np.abs(data["median"][spread] / data["flow_time"][spread] - 1))), "info"))
    out.append(_exponent_check(data, "no M^q cap with spread w: likelihood GARL speed-up exponent −d log_M T/dq "
                               "equals the flow's (log_M(1/p0) asymptotically)", "spread", "likelihood",
                               _speedup_exponent(data, "likelihood", "spread", "flow_time")[0]))
    out.append(_exponent_check(data, "cap M^q binds for the sampled answer (P << 1/M): speed-up exponent "
                               "−d log_M T/dq", "spread", "sampled_garl", 1.0))
    out.append(_exponent_check(data, "cap M^q binds for near-0/1 w: sampled-answer GARL speed-up exponent",
                               "near01", "sampled_garl", 1.0))
    out.append(_exponent_check(data, "cap M^q binds for near-0/1 w: likelihood GARL without pathwise term, "
                               "speed-up exponent", "near01", "likelihood_no_pathwise", 1.0))
    out.append(_exponent_check(data, "cap M^q binds for near-0/1 w: likelihood GARL with pathwise term, speed-up "
                               "exponent over q < 1", "near01", "likelihood", 1.0, max_q=0.75))
    out.append(Check(NAME, "q=1 pathwise term escapes by memorising y* after a wrong rationale: flow time "
                     "(p0-independent; reference |logit w_bad|)", "near-0/1 w, M=8, smallest p0",
                     _at_min_p0(data, "likelihood", "near01", 1.0), "info"))
    out.append(Check(NAME, "q=1 with the pathwise term: T / capped prediction (< 1: the cap is bypassed)",
                     "near-0/1 w, M=8, smallest p0", _at_min_p0(data, "likelihood", "near01", 1.0)
                     / _at_min_p0(data, "likelihood", "near01", 1.0, "capped_prediction"), "info"))
    for q in _qs(data, "likelihood_m_q", "spread")[1:]:
        out.append(Check.within(NAME, f"normalised 1/M^q at equal η = η/M^q: log_M(T_norm/T_unnorm) ≈ q, q={q:g}",
                                "spread w, M=8, smallest p0",
                                float(np.log(_at_min_p0(data, "likelihood_m_q", "spread", q)
                                             / _at_min_p0(data, "likelihood", "spread", q)) / np.log(M)), q, 0.1))
    out.append(_exponent_check(data, "normalised 1/M^q at equal η cancels the capped gain: speed-up exponent over "
                               "q < 1", "near01", "likelihood_m_q", 0.0, max_q=0.75))
    p0_min = float(np.min(data["p0"][spread]))
    out.append(Check(NAME, "GRPO/sampled-answer sees no success in most cold-start pools: silent-step fraction "
                     "≤ (1−p0)^M", "spread w, M=8, smallest p0", _at_min_p0(data, "grpo", "spread", GRPO_Q,
                                                                             "silent_fraction"),
                     "≤", (1.0 - p0_min) ** M))
    out.append(Check(NAME, "likelihood GARL has a gradient in every pool: silent-step fraction (max over q, p0)",
                     "spread w, M=8", float(np.max(data["silent_fraction"][spread])), "≤", 0.0))
    for regime in np.unique(data["regime"][data.where(kind="escape", series="grpo")]):
        out.append(Check.within(NAME, "GRPO escapes like the capped GARL at q=1/2: T / (T_flow(q=0)/(√M(1−1/M)))",
                                f"{regime} w, M=8, smallest p0", _at_min_p0(data, "grpo", regime, GRPO_Q)
                                / _at_min_p0(data, "grpo", regime, GRPO_Q, "capped_prediction"), 1.0, 0.25))
    first = data.where(kind="monitor", regime="near01")
    for q in np.unique(data["q"][first]):
        m = first & data.where(q=q)
        n = float(data["runs"][m][0] * data["window"][m][0])
        p0 = float(data["p0"][m][0])
        predicted = 1.0 - (1.0 - p0) ** M  # c_good / M^q ≈ 1 when the good rationale is drawn, 0 otherwise
        claim = f"monitor max c_m/M^q at cold start ≈ Pr(good rationale drawn) = 1−(1−p0)^M, q={q:g}"
        if q < 1:
            out.append(Check.within(NAME, claim + " (3 s.e.)", "near-0/1 w, M=8, first window",
                                    data["monitor"][m][0], predicted, 3.0 * np.sqrt(predicted * (1 - predicted) / n)))
        else:  # the wrong rationales' w drift apart at once (pathwise term), so c_m > 0 on pools without the good one
            out.append(Check(NAME, claim + ", exceeded at q=1 where the wrong rationales' w drift apart",
                             "near-0/1 w, M=8, first window", data["monitor"][m][0], "info"))
        spread_m = data.where(kind="monitor", regime="spread", q=q)
        out.append(Check(NAME, f"monitor max c_m/M^q at cold start, spread w, q={q:g} (small: w_m/w̄^q ≈ P^(1−q))",
                         "spread w, M=8, first window", data["monitor"][spread_m][0], "info"))
    return out
