"""PAFT's ``p_hat`` option: the attenuation P̂^(1-q) from a caller's estimate of P (e.g. a replay buffer's)."""

import numpy as np
import pytest
import torch

from tsallis import EstimatorOptions, compute_weights, paft

REWARDS = np.array([[1.0, 0.0, 1.0, 0.0], [0.0, 1.0, 0.0, 1.0]])


def test_p_hat_sets_the_attenuation_hand_computed():
    # systematic, K = 2: cdf (1/2, 1/2, 1, 1) puts u_0 = u/2 in [0, 1/2) on sample 0 and u_1 in [1/2, 1) on
    # sample 2, whatever the uniform u; row 1, cdf (0, 1/2, 1/2, 1), on samples 1 and 3
    counts = np.array([[1.0, 0, 1, 0], [0, 1, 0, 1]])
    for seed in range(5):
        rng = np.random.default_rng(seed)
        w = paft(REWARDS[:1], 0.5, 2, rng, resampling="systematic", p_hat=np.array([[0.25]]))
        np.testing.assert_allclose(w, counts[:1] * 0.25**0.5 / 2, rtol=1e-15)
    w = paft(REWARDS, 0.0, 2, np.random.default_rng(0), resampling="systematic", p_hat=np.array([[2.0], [0.0]]))
    np.testing.assert_allclose(w[0], counts[0] * 2.0 / 2, rtol=1e-15)  # P̂ > 1 is allowed (an IS estimate)
    np.testing.assert_array_equal(w[1], np.zeros(4))  # P̂ = 0: no weight even with successes
    # p_hat = mean(r) is the on-policy default
    for seed in range(3):
        a = paft(REWARDS, 0.75, 3, np.random.default_rng(seed))
        b = paft(REWARDS, 0.75, 3, np.random.default_rng(seed), p_hat=REWARDS.mean(1, keepdims=True))
        np.testing.assert_allclose(a, b, rtol=1e-15, atol=0)


def test_p_hat_through_the_registry_and_torch():
    rewards = torch.tensor(REWARDS, dtype=torch.float32)
    options = EstimatorOptions(q=1.0, num_resamples=2, generator=torch.Generator().manual_seed(1),
                               resampling="systematic", p_hat=torch.tensor([[0.1], [0.3]], dtype=torch.float64))
    w = compute_weights("paft", rewards, options)
    assert w.dtype == torch.float32
    # q = 1: the attenuation P̂^0 = 1 for any P̂ > 0, so the weights are the counts / K
    torch.testing.assert_close(w, torch.tensor([[0.5, 0, 0.5, 0], [0, 0.5, 0, 0.5]]), rtol=0, atol=1e-7)


@pytest.mark.parametrize("value, message", [
    (np.array([[0.5], [-0.1]]), "p_hat must be >= 0, got p_hat=-0.1"),
    (np.array([[0.5], [np.nan]]), "p_hat must be finite, got a NaN or inf entry"),
    (np.array([0.5, 0.5]), r"p_hat must have shape \(2, 1\), got \(2,\)"),
])
def test_bad_p_hat_is_refused(value, message):
    with pytest.raises(ValueError, match=message):
        paft(REWARDS, 0.5, 2, np.random.default_rng(0), p_hat=value)
    if "shape" not in message:
        with pytest.raises(ValueError, match=message):
            EstimatorOptions(p_hat=value)
