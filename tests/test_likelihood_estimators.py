"""The paper's GARL and PAFT (likelihood weights w_m = p(y*|x, z_m)): exact values, loop references, edge cases.

Exact values come from sympy with rational weights (the formulas of Eqs. 9, 12 and 14 written out
symbolically); the loop references are in tests/reference_estimators.py; hypothesis fuzzes finiteness
over log w in [-1e4, 0] ∪ {-inf}, M = 1, 2 and more, every dtype, numpy against torch.
"""

import math

import numpy as np
import pytest
import sympy as sp
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from reference_estimators import LIKELIHOOD_REFERENCES
from tsallis import EstimatorOptions, compute_likelihood_weights, compute_weights
from tsallis.registry import likelihood_estimators, unused_options

QS = (0, sp.Rational(1, 4), sp.Rational(1, 2), sp.Rational(3, 4), 1)
W = (sp.Rational(1, 5), sp.Rational(1, 2), sp.Rational(1, 10), sp.Rational(0))


def _log(values) -> np.ndarray:
    with np.errstate(divide="ignore"):
        return np.log(np.asarray(values, dtype=np.float64))


def _exact_garl(w, q, baseline, normalize):
    """Score and answer coefficients of Eq. 12 ("loo") or Eq. 9 ("none") in exact rational arithmetic."""
    m = len(w)
    mean = sum(w) / m
    norm = m * (sp.Integer(m) ** q if normalize == "m_q" else 1)
    score, answer = [], []
    for i, wi in enumerate(w):
        amplified = wi / mean**q
        loo = (sum(w) - wi) / (m - 1)
        b = (loo ** (1 - q) if loo != 0 or q != 1 else 1) if baseline == "loo" else 0
        score.append(sp.nsimplify(amplified - b) / norm)
        answer.append(amplified / norm)
    return [float(v) for v in score], [float(v) for v in answer]


@pytest.mark.parametrize("q", QS)
@pytest.mark.parametrize("baseline", ["loo", "none"])
@pytest.mark.parametrize("normalize", ["m_q", "none"])
def test_garl_equals_eq12_in_exact_arithmetic(q, baseline, normalize):
    score, answer = compute_likelihood_weights(
        "garl", _log([W]), EstimatorOptions(q=float(q), baseline=baseline, normalize=normalize))
    exact_score, exact_answer = _exact_garl(W, q, baseline, normalize)
    np.testing.assert_allclose(score[0], exact_score, rtol=1e-13, atol=1e-15)
    np.testing.assert_allclose(answer[0], exact_answer, rtol=1e-13, atol=1e-15)


def test_garl_by_hand():
    """w = (0.2, 0.5, 0.1, 0): w̄ = 0.2, leave-one-out means (0.6/3, 0.3/3, 0.7/3, 0.8/3)."""
    log_w = _log([[0.2, 0.5, 0.1, 0.0]])
    score, answer = compute_likelihood_weights("garl", log_w, EstimatorOptions(q=0.0))  # RB-RLOO
    np.testing.assert_allclose(score[0], [0.0, 0.1, -0.4 / 12, -0.8 / 12], atol=1e-16)
    np.testing.assert_allclose(answer[0], [0.05, 0.125, 0.025, 0.0], atol=1e-16)
    score, answer = compute_likelihood_weights("garl", log_w, EstimatorOptions(q=1.0))  # IWAE, / M
    np.testing.assert_allclose(score[0], [0.0, 1.5 / 16, -0.5 / 16, -1 / 16], atol=1e-16)
    np.testing.assert_allclose(answer[0], [0.25 / 4, 0.625 / 4, 0.125 / 4, 0.0], atol=1e-16)
    score, _ = compute_likelihood_weights("garl", log_w, EstimatorOptions(q=0.5, normalize="none"))
    assert score[0, 1] == pytest.approx((0.5 / math.sqrt(0.2) - math.sqrt(0.1)) / 4, rel=1e-14)


@pytest.mark.parametrize("q", [0.0, 0.25, 0.5, 0.75, 1.0])
def test_paft_by_hand_with_a_fixed_draw(q):
    """One group, w = (0.6, 0.2, 0.2), K = 5 systematic draws at u_0 = 0.5: u = (0.1, 0.3, ..., 0.9), counts
    (3, 1, 1); coefficient n_m w̄^(1-q)/(M^q K)."""

    class Fixed(np.random.Generator):
        def random(self, shape):
            return np.full(shape, 0.5)

    fixed = Fixed(np.random.PCG64(0))
    score, answer = compute_likelihood_weights(
        "paft", _log([[0.6, 0.2, 0.2]]), EstimatorOptions(q=q, num_resamples=5, generator=fixed, resampling="systematic"))
    mean = 1.0 / 3.0
    np.testing.assert_allclose(score[0], np.array([3, 1, 1]) * mean ** (1 - q) / (3**q * 5), rtol=1e-14)
    assert np.array_equal(score, answer)


def test_paft_resamples_k_equal_m_by_default():
    log_w = _log(np.random.default_rng(0).random((40, 7)))
    score, _ = compute_likelihood_weights("paft", log_w, EstimatorOptions(q=1.0, generator=np.random.default_rng(1)))
    np.testing.assert_allclose(score.sum(axis=1) * 7, np.ones(40))  # Σ n_m = K = M; at q = 1 each draw has 1/(M K)


def test_endpoints_of_proposition_d2():
    rng = np.random.default_rng(3)
    log_w = _log(rng.random((50, 6)) ** 3)
    w = np.exp(log_w)
    # q = 0: Rao–Blackwellized REINFORCE / RLOO, the registered likelihood forms of reinforce and rloo
    plain = compute_likelihood_weights("garl", log_w, EstimatorOptions(q=0.0, baseline="none"))
    loo = compute_likelihood_weights("garl", log_w, EstimatorOptions(q=0.0))
    for got, name in ((plain, "reinforce"), (loo, "rloo")):
        reference = compute_likelihood_weights(name, log_w)
        np.testing.assert_array_equal(got.score, reference.score)
        np.testing.assert_array_equal(got.answer, reference.answer)
    np.testing.assert_allclose(plain.score, w / 6)
    # q = 1: IWAE, self-normalised weights w_m / Σ w on the joint (score and answer alike, without baseline)
    iwae = compute_likelihood_weights("garl", log_w, EstimatorOptions(q=1.0, baseline="none", normalize="none"))
    np.testing.assert_allclose(iwae.answer, w / w.sum(axis=1, keepdims=True), rtol=1e-12)
    np.testing.assert_allclose(iwae.score, iwae.answer)
    centred = compute_likelihood_weights("garl", log_w, EstimatorOptions(q=1.0, normalize="none"))
    np.testing.assert_allclose(centred.score * 6, w / w.mean(axis=1, keepdims=True) - 1, atol=1e-12)
    np.testing.assert_allclose(centred.score.sum(axis=1), 0.0, atol=1e-14)
    # PAFT at q = 1 (unnormalised) is EM: uniform SFT 1/K on the resampled rationales
    em = compute_likelihood_weights("paft", log_w, EstimatorOptions(q=1.0, normalize="none", generator=rng))
    assert set(np.unique(np.round(em.score * 6, 12))) <= set(range(7))


def test_bernoulli_weights_reduce_to_the_sampled_answer_form():
    """w_m = r_m in {0, 1}: the plug-in score coefficient is the sampled-answer GARL weight r_m P̂^(-q)/M."""
    rewards = (np.random.default_rng(4).random((30, 8)) < 0.3).astype(float)
    for q in (0.0, 0.5, 1.0):
        score, _ = compute_likelihood_weights("garl", _log(rewards),
                                              EstimatorOptions(q=q, baseline="none", normalize="none"))
        np.testing.assert_allclose(score, compute_weights("garl", rewards, EstimatorOptions(q=q, baseline="none")),
                                   rtol=1e-12, atol=1e-15)


def test_pathwise_off_zeroes_only_the_answer_term():
    log_w = _log(np.random.default_rng(5).random((5, 4)))
    on = compute_likelihood_weights("garl", log_w, EstimatorOptions(q=0.75))
    off = compute_likelihood_weights("garl", log_w, EstimatorOptions(q=0.75, pathwise=False))
    np.testing.assert_array_equal(on.score, off.score)
    assert np.all(off.answer == 0) and np.all(on.answer > 0)


def test_normalisation_bounds_the_effective_reward_by_one():
    """w_m / (M^q w̄^q) = w_m / (Σ w)^q <= 1 (Section 6.1.1): the answer coefficient times M."""
    rng = np.random.default_rng(6)
    for q in (0.25, 0.5, 0.75, 1.0):
        log_w = _log(rng.random((200, 16)) ** 8)
        _, answer = compute_likelihood_weights("garl", log_w, EstimatorOptions(q=q))
        assert np.max(answer * 16) <= 1.0 + 1e-12


@pytest.mark.parametrize("name", ["reinforce", "rloo", "garl", "paft"])
@pytest.mark.parametrize("seed", range(6))
def test_fast_forms_equal_their_loop_references(name, seed):
    rng = np.random.default_rng(seed)
    m = int(rng.integers(1, 9))
    w = rng.random((6, m)) ** rng.uniform(0.5, 6)
    w[rng.random(w.shape) < 0.2] = 0.0
    w[0] = 0.0  # a group whose weights are all zero
    q = rng.random((6, 1)) if seed % 2 else float(rng.choice([0, 0.25, 0.5, 0.75, 1]))
    options = dict(q=q, baseline=["loo", "none"][seed % 2], normalize=["m_q", "none"][seed // 3 % 2],
                   pathwise=bool(seed % 3), num_resamples=[None, 3][seed % 2],
                   resampling=["multinomial", "systematic"][seed // 2 % 2])
    fast = compute_likelihood_weights(name, _log(w), EstimatorOptions(**options, generator=np.random.default_rng(9)))
    ref = LIKELIHOOD_REFERENCES[name](_log(w), EstimatorOptions(**options, generator=np.random.default_rng(9)))
    np.testing.assert_allclose(fast.score, ref[0], rtol=1e-12, atol=1e-15)
    np.testing.assert_allclose(fast.answer, ref[1], rtol=1e-12, atol=1e-15)


def test_every_likelihood_form_has_a_reference():
    assert set(LIKELIHOOD_REFERENCES) == set(likelihood_estimators()) == {"reinforce", "rloo", "garl", "paft"}


log_weight = st.one_of(st.floats(-1e4, 0.0), st.just(-math.inf), st.just(0.0))


@st.composite
def log_groups(draw, max_m=12):
    g = draw(st.integers(1, 4))
    m = draw(st.integers(1, max_m))
    rows = [draw(st.one_of(st.lists(log_weight, min_size=m, max_size=m), st.just([-math.inf] * m))) for _ in range(g)]
    return np.asarray(rows, dtype=np.float64)


def _all_forms(log_w, q, seed, **changes):
    for name in likelihood_estimators():
        options = EstimatorOptions(q=q, generator=np.random.default_rng(seed), **changes)
        yield name, compute_likelihood_weights(name, log_w, options)


@settings(max_examples=150, deadline=None)
@given(log_groups(), st.sampled_from([0.0, 0.25, 0.5, 0.75, 1.0]) | st.floats(0, 1), st.integers(0, 99),
       st.sampled_from(["m_q", "none"]), st.sampled_from(["loo", "none"]))
def test_coefficients_are_finite_and_zero_for_dead_groups(log_w, q, seed, normalize, baseline):
    dead = np.all(np.isinf(log_w), axis=1)
    for name, (score, answer) in _all_forms(log_w, q, seed, normalize=normalize, baseline=baseline):
        assert np.all(np.isfinite(score)) and np.all(np.isfinite(answer)), name
        assert np.all(score[dead] == 0) and np.all(answer[dead] == 0), name
        assert np.all(answer >= 0), name
        if normalize == "m_q" and name == "garl":
            assert np.all(answer * log_w.shape[1] <= 1 + 1e-9), name


@settings(max_examples=60, deadline=None)
@given(log_groups(), st.sampled_from([0.0, 0.25, 0.5, 0.75, 1.0]), st.integers(0, 99),
       st.sampled_from([torch.float32, torch.float16, torch.bfloat16]))
def test_torch_and_low_precision_are_finite_and_close_to_float64(log_w, q, seed, dtype):
    for name in likelihood_estimators():
        exact = compute_likelihood_weights(name, log_w, EstimatorOptions(q=q, generator=torch.Generator().manual_seed(seed)))
        tensor = torch.tensor(log_w, dtype=dtype)
        low = compute_likelihood_weights(name, tensor, EstimatorOptions(q=q, generator=torch.Generator().manual_seed(seed)))
        for got, ref in zip(low, exact):
            assert got.dtype == dtype and torch.isfinite(got).all(), name
            if dtype == torch.float32 and name != "paft":  # PAFT's draws may differ where a cdf rounds across u
                # float32 resolves log w to |log w|·2^-24, so coefficients agree to that relative precision
                tol = 1e-5 * (1 + np.max(np.abs(np.where(np.isinf(log_w), 0, log_w))))
                np.testing.assert_allclose(got.double().numpy(), ref, rtol=tol, atol=tol)


@settings(max_examples=60, deadline=None)
@given(log_groups(), st.sampled_from([0.0, 0.5, 1.0]), st.integers(0, 99))
def test_numpy_and_torch_float64_agree(log_w, q, seed):
    for name in likelihood_estimators():
        a = compute_likelihood_weights(name, log_w, EstimatorOptions(q=q, generator=torch.Generator().manual_seed(seed)))
        b = compute_likelihood_weights(name, torch.tensor(log_w), EstimatorOptions(q=q, generator=torch.Generator().manual_seed(seed)))
        for x, y in zip(a, b):
            np.testing.assert_allclose(y.numpy(), x, rtol=1e-13, atol=1e-300)


def test_coefficients_carry_no_gradient():
    log_w = torch.log(torch.tensor([[0.2, 0.5, 0.3]], requires_grad=True))
    for name in likelihood_estimators():
        score, answer = compute_likelihood_weights(name, log_w, EstimatorOptions(q=0.5, generator=torch.Generator()))
        assert not score.requires_grad and not answer.requires_grad and score.grad_fn is None, name


@pytest.mark.parametrize("bad, message", [
    ([[0.1, -1.0]], "log_w must hold log-probabilities <= 0 (or -inf), got log_w=0.1"),
    ([[math.nan, -1.0]], "got log_w=nan"),
    ([[math.inf, -1.0]], "got log_w=inf"),
    ([-1.0, -2.0], "log_w must have shape (groups, M) with M >= 1, got shape (2,)"),
    (np.zeros((2, 0)), "got shape (2, 0)"),
])
def test_bad_log_weights_are_one_line_errors(bad, message):
    for name in likelihood_estimators():
        with pytest.raises(ValueError, match=None) as err:
            compute_likelihood_weights(name, bad, EstimatorOptions(generator=np.random.default_rng(0)))
        assert message in str(err.value) and "\n" not in str(err.value), name


def test_bad_options_and_estimators_without_the_form():
    log_w = _log([[0.5, 0.25]])
    with pytest.raises(ValueError, match="baseline=\"mean\" does not keep GARL's expectation"):
        compute_likelihood_weights("garl", log_w, EstimatorOptions(baseline="mean"))
    with pytest.raises(ValueError, match="estimator 'grpo' has no likelihood-weight form; choose one of "
                                         r"\('reinforce', 'rloo', 'garl', 'paft'\)"):
        compute_likelihood_weights("grpo", log_w)
    with pytest.raises(ValueError, match="paft needs generator="):
        compute_likelihood_weights("paft", log_w)
    with pytest.raises(ValueError, match="normalize must be one of"):
        EstimatorOptions(normalize="m")
    with pytest.raises(ValueError, match="pathwise must be True or False, got pathwise='yes'"):
        EstimatorOptions(pathwise="yes")


def test_unused_options_per_form():
    assert unused_options("garl", {"q", "normalize", "pathwise"}) == ["normalize", "pathwise"]
    assert unused_options("garl", {"q", "normalize", "pathwise"}, form="likelihood") == []
    assert unused_options("paft", {"p_hat", "proposal_logw", "normalize"}, form="likelihood") == ["proposal_logw", "p_hat"]
    assert unused_options("rloo", {"q"}, form="likelihood") == ["q"]


@pytest.mark.parametrize("q", [0.0, 0.5, 1.0])
def test_groups_of_one_and_two_by_hand(q):
    """M = 1: no leave-one-out mean (b = 0), w/w̄^q = w^(1-q). M = 2: b_1 = w_2^(1-q), b_2 = w_1^(1-q)."""
    score, answer = compute_likelihood_weights("garl", _log([[0.25], [0.0]]), EstimatorOptions(q=q, normalize="none"))
    np.testing.assert_allclose(score[:, 0], [0.25 ** (1 - q), 0.0], rtol=1e-15)
    np.testing.assert_allclose(answer[:, 0], [0.25 ** (1 - q), 0.0], rtol=1e-15)
    w1, w2 = 0.5, 0.125
    mean = (w1 + w2) / 2
    score, answer = compute_likelihood_weights("garl", _log([[w1, w2]]), EstimatorOptions(q=q))
    norm = 2 * 2**q
    np.testing.assert_allclose(score[0], [(w1 / mean**q - w2 ** (1 - q)) / norm, (w2 / mean**q - w1 ** (1 - q)) / norm],
                               rtol=1e-14)
    np.testing.assert_allclose(answer[0], [w1 / mean**q / norm, w2 / mean**q / norm], rtol=1e-14)
    score, _ = compute_likelihood_weights("garl", _log([[w1, 0.0]]), EstimatorOptions(q=q, normalize="none"))
    np.testing.assert_allclose(score[0], [(w1 / (w1 / 2) ** q - (0.0 if q < 1 else 1.0)) / 2,
                                          (0.0 - w1 ** (1 - q)) / 2], rtol=1e-14)
