"""Fuzz: every estimator returns finite weights of the rewards' shape and dtype for any q, M and group, agrees
with its slow loop-over-samples reference (tests/reference_estimators.py), and keeps the identities that
tie it to its neighbours.

Cases generated (hypothesis examples, each through every registered estimator where it applies):
finiteness 4,000 (numpy) + 3,000 (torch) + 2,000 (all-zero / all-one / binary groups) + 500 (half
precision) + 1,500 (diagnostics); equivalence with the references 3,000; invariants 6 × 500.
"""

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays

from reference_estimators import REFERENCES
from tsallis import ESTIMATORS, EstimatorOptions, amplification, compute_weights, garl, grpo, paft, reinforce, rloo, sft
from tsallis.diagnostics import group_diagnostics

unit = st.floats(0.0, 1.0, allow_nan=False)
eighths = st.integers(0, 8).map(lambda k: k / 8)  # exact sums: no rounding in means or baselines
# rewards for the identities between estimators: 0 or at least 1e-100, so that w·K/P̂^(1-q) and P̂^(-q)·w stay far
# from float64 underflow (subnormal rewards such as 5e-324 hold the identities in exact arithmetic only; the
# finiteness tests above still draw them from ``unit``)
moderate = st.one_of(st.just(0.0), st.floats(1e-100, 1.0))


@st.composite
def reward_groups(draw, values=unit, max_m=64):
    groups = draw(st.integers(1, 6))
    m = draw(st.integers(1, max_m))
    return draw(arrays(np.float64, (groups, m), elements=values))


def _options(rewards, q, k, seed, to_generator, **changes):
    values = dict(q=q, baseline=["none", "mean", "loo"][seed % 3], num_resamples=k, generator=to_generator(seed),
                  targets=rewards, resampling=["multinomial", "systematic"][seed % 2])
    values.update(changes)
    return EstimatorOptions(**values)


def _numpy(w):
    return w.float().numpy() if isinstance(w, torch.Tensor) else np.asarray(w, dtype=np.float64)


def _check_all(rewards, q, k, seed, to_generator):
    for name in ESTIMATORS:
        w = compute_weights(name, rewards, _options(rewards, q, k, seed, to_generator))
        assert type(w) is type(rewards) and tuple(w.shape) == tuple(rewards.shape) and w.dtype == rewards.dtype, name
        assert np.isfinite(_numpy(w)).all(), (name, q, rewards)


@settings(max_examples=4000)
@given(rewards=reward_groups(), q=unit, k=st.integers(1, 32), seed=st.integers(0, 2**16))
def test_numpy_weights_finite(rewards, q, k, seed):
    _check_all(rewards, q, k, seed, np.random.default_rng)


@settings(max_examples=3000)
@given(rewards=reward_groups(), q=unit, k=st.integers(1, 32), seed=st.integers(0, 2**16), single=st.booleans())
def test_torch_weights_finite(rewards, q, k, seed, single):
    tensor = torch.tensor(rewards, dtype=torch.float32 if single else torch.float64)
    _check_all(tensor, q, k, seed, lambda s: torch.Generator().manual_seed(s))


@settings(max_examples=500)
@given(rewards=reward_groups(), q=unit, k=st.integers(1, 8), seed=st.integers(0, 2**16),
       dtype=st.sampled_from([torch.float16, torch.bfloat16]))
def test_half_precision_weights_finite(rewards, q, k, seed, dtype):
    _check_all(torch.tensor(rewards, dtype=dtype), q, k, seed, lambda s: torch.Generator().manual_seed(s))


@settings(max_examples=2000)
@given(rewards=reward_groups(values=st.sampled_from([0.0, 1.0])), q=st.sampled_from([0.0, 1e-12, 0.5, 1 - 1e-12, 1.0]),
       fill=st.sampled_from([None, 0.0, 1.0]), seed=st.integers(0, 2**16))
def test_binary_and_constant_groups(rewards, q, fill, seed):
    if fill is not None:
        rewards = np.full_like(rewards, fill)
    _check_all(rewards, q, 4, seed, np.random.default_rng)
    if fill == 0.0:  # P̂ = 0: no signal from any estimator that learns from rewards
        for name in ESTIMATORS:
            w = compute_weights(name, rewards, _options(rewards, q, 4, seed, np.random.default_rng))
            assert np.all(w == 0), name


@settings(max_examples=1500)
@given(rewards=reward_groups(), q=unit)
def test_diagnostics_finite(rewards, q):
    stats = group_diagnostics(rewards, q)
    assert all(np.isfinite(v) for v in stats.values())
    assert 0.0 <= stats["groups/frac_no_success"] <= 1.0


# --- the fast estimators equal their loop-over-samples references ---------------------------------


def test_every_registered_estimator_has_a_reference():
    assert set(REFERENCES) == set(ESTIMATORS)


@settings(max_examples=3000)
@given(data=st.data(), name=st.sampled_from(ESTIMATORS), seed=st.integers(0, 2**16), per_group_q=st.booleans())
def test_fast_estimators_equal_their_references(data, name, seed, per_group_q):
    """GRPO gets rewards in eighths: its division by a small std would amplify the (legitimate) rounding
    differences between numpy's pairwise sums and the reference's sequential ones on near-constant groups."""
    rewards = data.draw(reward_groups(values=eighths if name == "grpo" else st.one_of(unit, eighths), max_m=24))
    g = rewards.shape[0]
    q = data.draw(arrays(np.float64, (g, 1), elements=unit)) if per_group_q else data.draw(unit)
    changes = dict(std_ddof=data.draw(st.sampled_from([0, 1])), eps=data.draw(st.sampled_from([0.0, 1e-6, 1e-4])),
                   scale=data.draw(st.sampled_from(["group", "batch", "none"])))
    if data.draw(st.booleans()):
        changes["proposal_logw"] = data.draw(arrays(np.float64, rewards.shape, elements=st.floats(-5.0, 5.0)))
    k = data.draw(st.integers(1, 16))
    fast = compute_weights(name, rewards, _options(rewards, q, k, seed, np.random.default_rng, **changes))
    slow = REFERENCES[name](rewards, _options(rewards, q, k, seed, np.random.default_rng, **changes))
    np.testing.assert_allclose(fast, slow, rtol=1e-9, atol=1e-12, err_msg=name)


# --- identities between estimators -----------------------------------------------------------------


@settings(max_examples=500)
@given(rewards=reward_groups(), q=unit)
def test_baselines_mean_and_loo_give_weights_summing_to_zero(rewards, q):
    """Σ_m w_m = 0 per group for GARL with the mean or LOO baseline, RLOO and GRPO (every scale), up to
    the rounding of the mean: |Σ_m w_m| <= 1e-12 · (factor_g · Σ_m r_m / M), factor_g being what the
    centred rewards are multiplied by. A group of one has no other sample, so its LOO baseline is 0
    (w = P̂^(-q) r): M = 1 is left out there. Constant groups get exactly 0 from GRPO."""
    groups, m = rewards.shape
    scale = rewards.sum(1) / m  # (G,)

    def assert_zero_sum(w, factor):
        np.testing.assert_array_less(np.abs(w.sum(1)), 1e-12 * factor * scale + 1e-300)

    assert_zero_sum(garl(rewards, q, "mean"), amplification(rewards.mean(1), q))
    if m > 1:
        assert_zero_sum(garl(rewards, q, "loo"), amplification(rewards.mean(1), q) * m / (m - 1))
        assert_zero_sum(rloo(rewards), m / (m - 1))
    for ddof in (0, 1):
        for eps in (0.0, 1e-4):
            assert_zero_sum(grpo(rewards, ddof, eps, "none"), np.ones(groups))
            for spread, scope in ((rewards.std(1, ddof=ddof) if m > ddof else np.zeros(groups), "group"),
                                  (np.full(groups, rewards.std(ddof=ddof) if rewards.size > ddof else 0.0), "batch")):
                factor = np.divide(1.0, spread + eps, out=np.zeros(groups), where=spread + eps > 0)
                assert_zero_sum(grpo(rewards, ddof, eps, scope), factor)


@settings(max_examples=500)
@given(rewards=reward_groups(values=moderate), q=unit, k=st.integers(1, 32), seed=st.integers(0, 2**16),
       scheme=st.sampled_from(["multinomial", "systematic"]))
def test_paft_counts_are_integers_summing_to_k(rewards, q, k, seed, scheme):
    """w = c P̂^(1-q)/K with c_m a count of draws: Σ_m c_m = K where P̂ > 0 (so Σ_m w_m = P̂^(1-q)), failures never drawn."""
    w = paft(rewards, q, k, np.random.default_rng(seed), resampling=scheme)
    p_hat = rewards.mean(1, keepdims=True)
    has = p_hat[:, 0] > 0
    counts = w[has] * k / (p_hat[has] * amplification(p_hat[has], q))  # the core's P̂^(1-q) (subnormal P̂ raised)
    np.testing.assert_allclose(counts, np.round(counts), atol=1e-9)
    np.testing.assert_array_equal(np.round(counts).sum(1), k)
    assert np.all(w[rewards == 0] == 0) and np.all(w[~has] == 0)
    if scheme == "systematic":  # each count is within 1 of its expectation K r_m / Σ r
        expected = k * rewards[has] / rewards[has].sum(1, keepdims=True)
        assert np.all(np.abs(np.round(counts) - expected) < 1 + 1e-9)


@settings(max_examples=500)
@given(rewards=reward_groups(values=moderate), q=unit, baseline=st.sampled_from(["none", "mean", "loo"]))
def test_garl_is_the_q0_estimator_amplified_per_group(rewards, q, baseline):
    """GARL(q) = P̂^(-q) · GARL(0), group by group (and REINFORCE, RLOO are GARL(0) with their baselines)."""
    p_hat = rewards.mean(1, keepdims=True)
    amp = np.where(p_hat > 0, np.maximum(p_hat, np.finfo(float).smallest_normal) ** -q, 0.0)
    np.testing.assert_allclose(garl(rewards, q, baseline), amp * garl(rewards, 0.0, baseline), rtol=1e-12, atol=1e-300)
    np.testing.assert_array_equal(garl(rewards, 0.0, "none"), np.where(p_hat > 0, reinforce(rewards), 0.0))
    np.testing.assert_allclose(garl(rewards, 0.0, "loo"), np.where(p_hat > 0, rloo(rewards), 0.0), rtol=1e-9, atol=1e-15)


@settings(max_examples=500)
@given(rewards=reward_groups(values=eighths), a=st.sampled_from([1.0, 0.5, 0.25, 0.125]), shift=st.integers(0, 8),
       ddof=st.sampled_from([0, 1]))
def test_grpo_is_invariant_to_affine_reward_maps(rewards, a, shift, ddof):
    """r -> a r + b (a > 0) leaves (r - r̄)/std unchanged when ε = 0, for the group and the batch std;
    Dr. GRPO (no std) scales by a. Eighths keep a r + b exact."""
    b = min(shift / 8, 1 - a)
    mapped = a * rewards + b
    for scale in ("group", "batch"):
        np.testing.assert_allclose(grpo(mapped, ddof, 0.0, scale), grpo(rewards, ddof, 0.0, scale), rtol=1e-10, atol=1e-14)
    np.testing.assert_allclose(grpo(mapped, ddof, 0.0, "none"), a * grpo(rewards, ddof, 0.0, "none"), rtol=1e-12, atol=1e-15)


@settings(max_examples=500)
@given(targets=reward_groups())
def test_sft_weights_are_a_distribution_over_each_groups_targets(targets):
    w = sft(targets)
    has = targets.sum(1) > 0
    np.testing.assert_allclose(w[has].sum(1), 1.0, rtol=1e-12)
    assert np.all(w[~has] == 0) and np.all(w >= 0) and np.all(w[targets == 0] == 0)


@settings(max_examples=500)
@given(rewards=reward_groups(max_m=16), q=unit, k=st.integers(1, 8), seed=st.integers(0, 2**16))
def test_numpy_and_torch_float64_agree(rewards, q, k, seed):
    for name in ESTIMATORS:
        a = compute_weights(name, rewards, _options(rewards, q, k, seed, np.random.default_rng))
        b = compute_weights(name, torch.tensor(rewards), _options(torch.tensor(rewards), q, k, seed, np.random.default_rng))
        np.testing.assert_allclose(a, b.numpy(), rtol=1e-12, atol=1e-14, err_msg=name)  # means round alike to 1e-16


@pytest.mark.parametrize("name", ESTIMATORS)
def test_references_catch_a_wrong_estimator(name):
    """The equivalence test is not vacuous: a perturbed weight is detected by the same tolerance."""
    rewards = np.array([[1.0, 0.0, 0.5, 0.25], [0.0, 1.0, 1.0, 0.0]])
    options = _options(rewards, 0.5, 4, 1, np.random.default_rng)
    fast = compute_weights(name, rewards, options)
    slow = REFERENCES[name](rewards, _options(rewards, 0.5, 4, 1, np.random.default_rng))
    np.testing.assert_allclose(fast, slow, rtol=1e-9, atol=1e-12)
    assert np.any(fast != 0), name
    with pytest.raises(AssertionError):
        np.testing.assert_allclose(fast * (1 + 1e-6), slow, rtol=1e-9, atol=1e-12)
