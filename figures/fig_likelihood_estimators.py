"""The paper's GARL and PAFT (likelihood weights w_m = p(y*|x, z_m)) checked by exact enumeration of every pool.

Toy: :class:`sim.latent.LatentRationale` with K = 3 rationales, prior π = (0.5, 0.3, 0.2) and gold-answer
likelihoods w = (0.1, 0.4, 0.8), so P = 0.33 and w is far from 0/1. Every moment is an exact sum over the
C(M + 2, 2) pools (:mod:`sim.pool_moments`) of the core's coefficients (``compute_likelihood_weights``),
unnormalised (N_q = 1, Eqs. 9, 12, 14), except the two Monte Carlo checks of the core's PAFT resampling.

Statements: Theorem 6.1 (bias q/(M P^(q+1)) [(q+1)/2 ∇ℓ_1 Var(w) - Cov(g, w)] + O(M^-2); none at q = 0),
Proposition 6.2 (the leave-one-out centring keeps the expectation), Propositions D.3 (E[PAFT | pool] =
plug-in GARL) and D.4 (Var(PAFT) >= Var(GARL)), Proposition D.2 (endpoints: RB-REINFORCE, IWAE, EM), the
Rao–Blackwell comparison with the sampled-answer form, and the reduction to the sampled-answer bias when
w is 0/1.
"""

from __future__ import annotations

import itertools

import matplotlib.pyplot as plt
import numpy as np

from figures.common import Check, Table, q_colour
from sim.latent import LatentRationale
from sim.pool_moments import (
    answer_outcomes,
    enumerate_pools,
    likelihood_estimates,
    moments,
    paft_conditional,
    paft_moments,
    sampled_answer_moments,
    weight_moments,
)
from tsallis import EstimatorOptions, compute_likelihood_weights, compute_weights
from tsallis.bias import ScoreModel, exact_moments, likelihood_leading_bias
from tsallis.files import DPI

NAME = "fig_likelihood_estimators"
TOY = LatentRationale(3)
PRIOR, LIKELIHOOD = (0.5, 0.3, 0.2), (0.1, 0.4, 0.8)
QS = (0.0, 0.25, 0.5, 0.75, 1.0)
M_VARIANCE, Q_VARIANCE = 8, 0.75
Z_TOL, EXACT_TOL = 4.5, 1e-12
SAMPLED_MAX_M = 16  # the sampled-answer form enumerates pools over 2K outcomes


def _psi() -> np.ndarray:
    return TOY.parameters(PRIOR, LIKELIHOOD)


def _bias_rows(ms: list[int]) -> list[dict]:
    """Exact bias of plug-in GARL against Theorem 6.1's leading term, per q and M."""
    psi = _psi()
    p, grad = float(TOY.success_prob(psi)), TOY.grad_success(psi)
    var_w, cov = weight_moments(TOY, psi)
    rows = []
    for q, m in itertools.product(QS, ms):
        pools = enumerate_pools(TOY.prior(psi), m)
        plug_in = moments(likelihood_estimates(TOY, psi, pools, "garl", q, baseline="none", normalize="none"), pools.prob)
        bias = plug_in.mean - p**-q * grad
        lead = likelihood_leading_bias(q, m, p, grad, var_w, cov)
        lead_norm = float(np.linalg.norm(lead))
        rows.append({"kind": "bias", "q": q, "m": m, "m_bias": m * float(np.linalg.norm(bias)), "m_lead": m * lead_norm,
                     "rel_dev": float(np.linalg.norm(bias - lead)) / lead_norm if lead_norm > 0 else np.nan,
                     "rel_bias": float(np.linalg.norm(bias) / np.linalg.norm(grad))})
    return rows


def _variance_rows(ms: list[int], qs: tuple[float, ...]) -> list[dict]:
    """Exact expectations and total variances of plug-in, LOO, PAFT (K = M) and the sampled answer, per q and M."""
    psi = _psi()
    rows = []
    for q, m in itertools.product(qs, ms):
        pools = enumerate_pools(TOY.prior(psi), m)
        plug_in = moments(likelihood_estimates(TOY, psi, pools, "garl", q, baseline="none", normalize="none"), pools.prob)
        loo = moments(likelihood_estimates(TOY, psi, pools, "garl", q, baseline="loo", normalize="none"), pools.prob)
        paft = paft_moments(TOY, psi, pools, q, num_resamples=m)
        scale = float(np.linalg.norm(plug_in.mean))
        row = {"kind": "variance", "q": q, "m": m, "var_plugin": plug_in.variance, "var_loo": loo.variance,
               "var_paft": paft.variance, "loo_mean_dev": float(np.max(np.abs(loo.mean - plug_in.mean))) / scale,
               "paft_mean_dev": float(np.max(np.abs(paft.mean - plug_in.mean))) / scale}
        if m <= SAMPLED_MAX_M:
            row["var_sampled"] = sampled_answer_moments(TOY, psi, m, "garl", q, baseline="none").variance
            row["var_sampled_loo"] = sampled_answer_moments(TOY, psi, m, "garl", q, baseline="loo").variance
        rows.append(row)
    return rows


def _identity(name: str, value: float) -> dict:
    return {"kind": "identity", "identity": name, "value": value}


def _endpoint_rows() -> list[dict]:
    """Proposition D.2's endpoints, each as the largest deviation over every pool of M = 2 and 6."""
    psi = _psi()
    w, pi = TOY.answer_likelihood(psi), TOY.prior(psi)
    joint = TOY.score_rationale(psi) + TOY.score_answer(psi)  # (K, D) ∇log p(z, y*)
    centred, iwae, em, rao_blackwell = 0.0, 0.0, 0.0, 0.0
    for m in (2, 6):
        z = enumerate_pools(pi, m).outcome
        log_w = np.log(w)[z]
        score, _ = compute_likelihood_weights("garl", log_w, EstimatorOptions(q=1.0, normalize="none"))
        centred = max(centred, float(np.max(np.abs(score.sum(axis=1)))))  # Σ_m (w_m/w̄ - 1)/M = 0
        snis = np.einsum("cm,cmd->cd", w[z] / w[z].sum(axis=1, keepdims=True), joint[z])
        plug_in = likelihood_estimates(TOY, psi, enumerate_pools(pi, m), "garl", 1.0, baseline="none", normalize="none")
        iwae = max(iwae, float(np.max(np.abs(plug_in - snis))))
        counts, _ = compute_likelihood_weights(
            "paft", log_w, EstimatorOptions(q=1.0, normalize="none", num_resamples=5, generator=np.random.default_rng(0)))
        em = max(em, float(np.max(np.abs(counts * 5 - np.round(counts * 5)))) + float(np.max(np.abs(counts.sum(1) - 1))))
        rao_blackwell = max(rao_blackwell, _rao_blackwell_gap(psi, z))
    return [_identity("q1_centred_sum", centred), _identity("q1_iwae", iwae), _identity("q1_paft_em", em),
            _identity("q0_rao_blackwell", rao_blackwell)]


def _rao_blackwell_gap(psi: np.ndarray, z: np.ndarray) -> float:
    """max |RB-REINFORCE - E[sampled-answer REINFORCE | rationales]| over pools z (C, M), the answers summed over."""
    w = TOY.answer_likelihood(psi)[z]  # (C, M)
    m = z.shape[1]
    _, _, scores = answer_outcomes(TOY, psi)  # (2K, D): correct answers first
    likelihood = likelihood_estimates(TOY, psi, enumerate_pools(TOY.prior(psi), m), "reinforce", 0.0)
    expected = np.zeros_like(likelihood)
    for pattern in itertools.product((0.0, 1.0), repeat=m):
        r = np.broadcast_to(np.array(pattern), z.shape)  # (C, M)
        prob = np.prod(np.where(r > 0, w, 1.0 - w), axis=1)  # (C,)
        outcome = np.where(r > 0, z, z + TOY.k)  # index into the (z, ŷ) outcomes
        weights = compute_weights("reinforce", r, EstimatorOptions())
        expected += prob[:, None] * np.einsum("cm,cmd->cd", weights, scores[outcome])
    return float(np.max(np.abs(likelihood - expected)))


def _bernoulli_row(ms: list[int]) -> dict:
    """Likelihood-form plug-in GARL on exactly 0/1 weights (w = 1 on rationale 2, 0 elsewhere: log w in {0, -inf},
    the answer a function of z, so the pathwise term vanishes) against the sampled-answer exact binomial sum of
    :mod:`tsallis.bias`, per coordinate of θ: the largest deviation relative to |∇P|. (w = δ > 0 instead would not
    do: an all-wrong pool then gets w_m/w̄^q = δ^(1-q), which at q = 1 stays 1 as δ → 0.)"""
    psi = _psi()
    pi = TOY.prior(psi)
    correct = len(PRIOR) - 1
    s_rationale = TOY.score_rationale(psi)[:, : TOY.k]  # (K, K): the θ block
    p, grad = float(pi[correct]), pi[correct] * s_rationale[correct]  # K-armed: ∇_θ P = π_c (e_c - π)
    log_w = np.where(np.arange(TOY.k) == correct, 0.0, -np.inf)
    worst = 0.0
    for q, m in itertools.product((0.5, 1.0), ms):
        pools = enumerate_pools(pi, m)
        score, _ = compute_likelihood_weights("garl", log_w[pools.outcome],
                                              EstimatorOptions(q=q, baseline="none", normalize="none"))
        mean = pools.prob @ np.einsum("cm,cmd->cd", score, s_rationale[pools.outcome])
        binomial = np.array([exact_moments("garl_none", p, q, m, ScoreModel(grad_p=float(g))).mean for g in grad])
        worst = max(worst, float(np.max(np.abs(mean - binomial)) / np.max(np.abs(grad))))
    return _identity("bernoulli_reduction", worst)


def _paft_monte_carlo_rows(draws: int, groups: int, rng: np.random.Generator) -> list[dict]:
    """The core's PAFT resampling against the exact moments: per pool (Proposition D.3) and over pools (D.4)."""
    psi = _psi()
    q, m = Q_VARIANCE, 4
    pools = enumerate_pools(TOY.prior(psi), m)
    joint = TOY.score_rationale(psi) + TOY.score_answer(psi)  # (K, D)
    z = np.repeat(pools.outcome, draws, axis=0)  # (C·R, M): R resamplings of every pool
    coef, _ = compute_likelihood_weights("paft", TOY.log_answer_likelihood(psi)[z],
                                         EstimatorOptions(q=q, normalize="none", generator=rng))
    estimates = np.einsum("nm,nmd->nd", coef, joint[z]).reshape(len(pools.prob), draws, -1)  # (C, R, D)
    plug_in = likelihood_estimates(TOY, psi, pools, "garl", q, baseline="none", normalize="none")  # (C, D)
    _, cond_var = paft_conditional(TOY, psi, pools, q, num_resamples=m)  # K = M, as the core's default
    z_pool = (estimates.mean(axis=1) - plug_in) / np.sqrt(np.maximum(cond_var, 1e-300) / draws)
    z_pool = np.where(cond_var > 0, z_pool, 0.0)
    # over pools: draw pools from the toy, resample with the core, compare with the exact total moments
    rationales = TOY.sample_rationales(np.broadcast_to(psi, (groups, psi.size)), rng, M_VARIANCE)  # (N, M)
    coef, _ = compute_likelihood_weights("paft", TOY.log_answer_likelihood(psi)[rationales],
                                         EstimatorOptions(q=q, normalize="none", generator=rng))
    sample = np.einsum("nm,nmd->nd", coef, joint[rationales])  # (N, D)
    exact = paft_moments(TOY, psi, enumerate_pools(TOY.prior(psi), M_VARIANCE), q, M_VARIANCE)
    spread = np.sum((sample - exact.mean) ** 2, axis=1)  # unbiased for the total variance
    z_var = (spread.mean() - exact.variance) / (spread.std() / np.sqrt(groups))
    return [_identity("paft_pool_mean_max_z", float(np.max(np.abs(z_pool)))),
            _identity("paft_mc_variance_z", float(z_var)),
            _identity("paft_mc_variance_ratio", float(spread.mean() / exact.variance))]


def compute(quick: bool, seed: int) -> tuple[list[dict], dict]:
    rng = np.random.default_rng(seed)
    ms = [2, 4, 8, 16, 32] if quick else [2, 3, 4, 6, 8, 12, 16, 24, 32, 48, 64]
    draws, groups = (1500, 20_000) if quick else (6000, 100_000)
    rows = _bias_rows(ms)
    rows += _variance_rows(ms if not quick else [2, 4, 8, 16], (Q_VARIANCE,))
    rows += _variance_rows([2, M_VARIANCE], tuple(q for q in QS if q != Q_VARIANCE))
    rows += _endpoint_rows() + [_bernoulli_row([4, 16])] + _paft_monte_carlo_rows(draws, groups, rng)
    psi = _psi()
    config = {"toy": "LatentRationale(K=3)", "prior": PRIOR, "likelihood": LIKELIHOOD,
              "P": float(TOY.success_prob(psi)), "ms": ms, "qs": QS, "normalize": "none",
              "paft_resamples": "K = M", "paft_mc_draws_per_pool": draws, "paft_mc_groups": groups}
    return rows, config


def _identity_value(data: Table, name: str) -> float:
    return float(data["value"][data.where(kind="identity") & (data["identity"] == name)][0])


def _group_size_axis(ax: plt.Axes, ms: np.ndarray) -> None:
    """A log M axis labelled with the group sizes themselves."""
    ax.set_xscale("log")
    ax.set_xticks(ms, [f"{m:g}" for m in ms])
    ax.xaxis.set_minor_locator(plt.NullLocator())


def plot(data: Table) -> plt.Figure:
    fig, axes = plt.subplots(2, 2, figsize=(12, 8.4), dpi=DPI)
    ms = np.unique(data["m"][data.where(kind="bias")])
    ax = axes[0, 0]
    for q in QS[1:]:
        rows = data.where(kind="bias", q=q)
        ax.plot(data["m"][rows], data["m_bias"][rows], "o", color=q_colour(q), ms=4, label=f"exact, q = {q:g}")
        ax.plot(data["m"][rows], data["m_lead"][rows], "-", color=q_colour(q), lw=1)
    ax.plot([], [], "k-", label="Theorem 6.1 leading term")
    _group_size_axis(ax, ms)
    ax.set(xlabel="group size M", ylabel="M · |E[ĝ] − P^(−q)∇P|",
           title="(a) plug-in GARL: M × bias is flat in M")
    ax.legend(fontsize=7)
    ax = axes[0, 1]
    for q in QS[1:]:
        rows = data.where(kind="bias", q=q)
        ax.plot(data["m"][rows], data["rel_dev"][rows], "o-", color=q_colour(q), ms=4, label=f"q = {q:g}")
    rows = data.where(kind="bias", q=1.0)
    ax.plot(data["m"][rows], data["rel_dev"][rows][0] * data["m"][rows][0] / data["m"][rows], "k:", label="∝ 1/M")
    _group_size_axis(ax, ms)
    ax.set(yscale="log", xlabel="group size M", ylabel="|bias − leading term| / |leading term|",
           title="(b) the expansion's remainder is O(1/M) relative")
    ax.legend(fontsize=7)
    ax = axes[1, 0]
    rows = data.where(kind="variance", q=Q_VARIANCE)
    for col, label, style in (("var_plugin", "GARL plug-in (Eq. 9)", "o-"), ("var_loo", "GARL LOO (Eq. 12)", "s-"),
                              ("var_paft", "PAFT, K = M (Eq. 14)", "^-"), ("var_sampled", "sampled answer, GARL", "x--"),
                              ("var_sampled_loo", "sampled answer, GARL LOO", "+--")):
        ax.plot(data["m"][rows], data[col][rows], style, ms=4, label=label)
    _group_size_axis(ax, np.unique(data["m"][rows]))
    ax.set(yscale="log", xlabel="group size M", ylabel="total variance tr Cov(ĝ)",
           title=f"(c) variances at q = {Q_VARIANCE}")
    ax.legend(fontsize=7)
    ax = axes[1, 1]
    for m, marker, line in ((2, "o", "--"), (M_VARIANCE, "s", "-")):
        rows = data.where(kind="variance", m=m)
        qs = data["q"][rows]
        order = np.argsort(qs)
        for col, base, colour, label in (("var_loo", "var_plugin", "C1", "LOO / plug-in"),
                                         ("var_paft", "var_plugin", "C2", "PAFT / plug-in"),
                                         ("var_sampled", "var_plugin", "C3", "sampled answer / likelihood")):
            ax.plot(qs[order], (data[col][rows] / data[base][rows])[order], marker + line, color=colour, ms=4,
                    label=f"{label}, M = {m}")
    ax.axhline(1.0, color="grey", lw=0.6)
    ax.set(xlabel="q", ylabel="variance ratio", yscale="log", title="(d) Prop. 6.2, D.4 and Rao–Blackwell, by q")
    ax.legend(fontsize=6)
    fig.text(0.5, 0.005, "Regime: one gradient estimate at fixed ψ of the latent-rationale toy (K = 3, P = 0.33, "
             "w = 0.1 / 0.4 / 0.8), exact sums over every pool; N_q = 1.", ha="center", fontsize=8)
    fig.tight_layout(rect=(0, 0.02, 1, 1))
    return fig


def checks(data: Table) -> list[Check]:
    regime = "exact enumeration, latent toy P = 0.33"
    bias = data.where(kind="bias")
    largest = bias & (data["m"] == np.max(data["m"][bias]))
    out = [Check(NAME, "Theorem 6.1 at q = 0: unbiased for every M (max |bias|/|∇P|)", regime,
                 float(np.max(data["rel_bias"][data.where(kind="bias", q=0.0)])), "≤", EXACT_TOL)]
    for q in QS[1:]:
        row = largest & data.where(q=q)
        out.append(Check(NAME, f"Theorem 6.1, q = {q:g}: |bias − leading term|/|leading term| at M = "
                               f"{data['m'][row][0]:g}", regime, float(data["rel_dev"][row][0]), "≤", 0.05))
    q_rows = data.where(kind="bias", q=0.75)
    half = q_rows & (data["m"] == np.max(data["m"][bias]) // 2)
    out.append(Check.within(NAME, "Theorem 6.1, q = 0.75: the remainder halves when M doubles (ratio of rel. dev.)",
                            regime, float(data["rel_dev"][half][0] / data["rel_dev"][q_rows & largest][0]), 2.0, 0.2))
    var = data.where(kind="variance")
    out.append(Check(NAME, "Proposition 6.2: LOO centring keeps E[ĝ] for every M and q (max rel. difference)", regime,
                     float(np.max(data["loo_mean_dev"][var])), "≤", EXACT_TOL))
    out.append(Check(NAME, "Proposition 6.2: LOO lowers the variance (max Var(LOO)/Var(plug-in))", regime,
                     float(np.max(data["var_loo"][var] / data["var_plugin"][var])), "<", 1.0))
    out.append(Check(NAME, "Proposition D.3: core PAFT's mean given each pool = plug-in GARL (max |z|, M = 4)",
                     "Monte Carlo over the resampling", _identity_value(data, "paft_pool_mean_max_z"), "≤", Z_TOL))
    out.append(Check(NAME, "Proposition D.4: Var(PAFT) ≥ Var(plug-in GARL) (min ratio over q, M)", regime,
                     float(np.min(data["var_paft"][var] / data["var_plugin"][var])), "≥", 1.0))
    out.append(Check.within(NAME, f"Proposition D.4: core PAFT's variance = Var(GARL) + E[Var | pool] (z, M = {M_VARIANCE})",
                            "Monte Carlo over pools and resampling", _identity_value(data, "paft_mc_variance_z"), 0.0,
                            Z_TOL))
    for name, claim in (("q0_rao_blackwell", "Proposition D.2, q = 0: RB-REINFORCE = E[sampled-answer REINFORCE | z]"),
                        ("q1_iwae", "Proposition D.2, q = 1: plug-in GARL = IWAE's self-normalised Σ w f / Σ w"),
                        ("q1_centred_sum", "Proposition D.2, q = 1: centred weights w_m/w̄ − 1 sum to 0"),
                        ("q1_paft_em", "Proposition D.2, q = 1: PAFT is EM, uniform SFT on the K resampled")):
        out.append(Check(NAME, claim + " (max deviation)", "every pool, M = 2 and 6", _identity_value(data, name),
                         "≤", EXACT_TOL))
    out.append(Check(NAME, "0/1 weights reproduce the sampled-answer exact bias (tsallis.bias, max dev / |∇P|)",
                     "w = 0, 0, 1; M = 4, 16; q = 0.5, 1", _identity_value(data, "bernoulli_reduction"), "≤", EXACT_TOL))
    for q in QS:
        row = data.where(kind="variance", q=q, m=M_VARIANCE)
        ratio = float(data["var_sampled"][row][0] / data["var_plugin"][row][0])
        if q == 0.0:
            out.append(Check(NAME, f"Rao–Blackwell at q = 0: Var(sampled answer)/Var(likelihood), M = {M_VARIANCE}",
                             regime, ratio, ">", 1.0))
        else:
            out.append(Check(NAME, f"Var(sampled answer)/Var(likelihood), plug-in, q = {q:g}, M = {M_VARIANCE}",
                             regime, ratio, "info"))
        out.append(Check(NAME, f"Var(sampled answer)/Var(likelihood), LOO baseline, q = {q:g}, M = {M_VARIANCE}",
                         regime, float(data["var_sampled_loo"][row][0] / data["var_loo"][row][0]), "info"))
    small = data.where(kind="variance", q=1.0, m=2)
    out.append(Check(NAME, "Var(sampled answer)/Var(likelihood), plug-in, q = 1, M = 2 (no Rao–Blackwell guarantee "
                           "for q > 0)", regime, float(data["var_sampled"][small][0] / data["var_plugin"][small][0]),
                     "info"))
    return out
