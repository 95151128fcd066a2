"""SGD and Adam on the toys (sim.optimisers, sim.adam_study): against torch's Adam and sim.flow's Euler steps,
the batched multi-prompt flow, and the Adam experiment reproduced from its seed."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from sim.adam_study import escape_steps, prompts_study
from sim.flow import gradient_steps
from sim.optimisers import OptimiserSetting, ascend, first_crossing
from sim.policies import KArmedSoftmax, LinearSoftmaxPrompts, OneLogit


def test_adam_matches_torch():
    """Ascent of J_Q with our Adam = torch.optim.Adam minimising -J_Q (same β1, β2, ε, bias correction)."""
    toy, q, steps = KArmedSoftmax(num_arms=4), 0.5, 200
    theta0 = toy.theta_for(0.05) + np.array([0.0, 0.3, -0.2, 0.1])
    setting = OptimiserSetting("adam", 0.05, beta1=0.9, beta2=0.99, eps=1e-8)
    ours = ascend(lambda th: toy.flow(th, q), theta0[None], [setting], steps, lambda th: th.copy())[:, 0]
    w = torch.tensor(theta0, dtype=torch.float64, requires_grad=True)
    opt = torch.optim.Adam([w], lr=0.05, betas=(0.9, 0.99), eps=1e-8)
    for _ in range(steps):
        opt.zero_grad()
        w.grad = -torch.from_numpy(toy.flow(w.detach().numpy(), q))
        opt.step()
    np.testing.assert_allclose(ours[-1], w.detach().numpy(), rtol=1e-10, atol=1e-12)


def test_sgd_is_the_euler_scheme_of_the_flow():
    toy, q, lr = OneLogit(), 0.25, 0.3
    theta0 = toy.theta_for(np.array([0.01, 0.2]))  # (2, 1)
    ours = ascend(lambda th: toy.flow(th, q), theta0, [OptimiserSetting("sgd", lr)] * 2, 50, lambda th: th.copy())
    np.testing.assert_allclose(ours, gradient_steps(toy, theta0, q, lr, 50), rtol=1e-14)


def test_batched_prompts_flow_equals_one_at_a_time():
    toy = LinearSoftmaxPrompts.make(num_prompts=9, num_answers=4, num_features=3, noise_rate=0.2, cold_logit=1.0, seed=5)
    theta = np.random.default_rng(0).standard_normal((4, toy.dim))
    q = np.array([0.0, 0.3, 0.7, 1.0])[:, None]
    expected = np.array([toy.flow(t, float(qq)) for t, qq in zip(theta, q[:, 0])])
    np.testing.assert_allclose(toy.flow(theta, q), expected, rtol=1e-13, atol=1e-15)
    np.testing.assert_allclose(toy.success_prob(theta), [toy.success_prob(t) for t in theta], rtol=1e-15)


def test_adam_normalises_a_constant_scalar_away():
    """Scaling the gradient by a constant c leaves Adam's path unchanged (up to ε_A): m̂ and √v̂ both scale by c."""
    toy = OneLogit()
    theta0 = toy.theta_for(np.array([0.01, 0.01]))
    settings = [OptimiserSetting("adam", 0.1, eps=1e-12)] * 2
    scale = np.array([[1.0], [100.0]])
    path = ascend(lambda th: scale * toy.flow(th, 0.0), theta0, settings, 30, lambda th: th[:, 0].copy())
    np.testing.assert_allclose(path[:, 0], path[:, 1], rtol=1e-9)


def test_first_crossing():
    history = np.array([[0.1, 0.1], [0.6, 0.2], [0.4, 0.3]])
    np.testing.assert_array_equal(first_crossing(history, 0.5), [1.0, np.nan])


def test_estimator_experiment_is_reproducible_for_a_seed():
    settings = [OptimiserSetting("sgd", 1.0), OptimiserSetting("adam", 0.3)]
    run = lambda seed: escape_steps(OneLogit(), 0.02, (0.0, 1.0), settings, 3000, estimator="garl_mean", m=8,  # noqa: E731
                                    repeats=4, rng=np.random.default_rng(seed))
    first, again, other = run(7), run(7), run(8)
    assert first.shape == (2, 2, 4) and np.all(np.isfinite(first))
    np.testing.assert_array_equal(first, again)
    assert not np.array_equal(first, other)


def test_prompts_study_is_deterministic_and_sgd_equalises():
    toy = LinearSoftmaxPrompts.make(num_prompts=12, num_answers=4, num_features=5, noise_rate=0.0, cold_logit=3.0, seed=2)
    theta0 = np.random.default_rng(3).standard_normal(toy.dim)
    settings = [OptimiserSetting("sgd", 0.3), OptimiserSetting("adam", 0.03)]
    a = prompts_study(toy, theta0, (0.0, 1.0), settings, 800, 3)
    b = prompts_study(toy, theta0, (0.0, 1.0), settings, 800, 3)
    np.testing.assert_array_equal(a.variance_at_half, b.variance_at_half)
    assert a.variance_at_half[0, 1] < a.variance_at_half[0, 0]  # SGD: higher q, less dispersion at P̄ = 1/2


def test_rejects_unknown_optimiser():
    with pytest.raises(ValueError):
        OptimiserSetting("rmsprop", 0.1)
