"""Adaptive q: the per-prompt map and its running estimates, the amplification controller; hand-computed sequences."""

import json
import math

import numpy as np
import pytest
import torch
from hypothesis import given
from hypothesis import strategies as st

from tsallis import EstimatorOptions, compute_weights, garl
from tsallis.adaptive import AmplificationController, PromptSuccessQ, amplification_q, q_from_success, q_metrics
from tsallis.qlog import amplification


def test_q_from_success_hand_computed():
    p = np.array([0.0, 0.5, 0.75, 1.0])
    np.testing.assert_array_equal(q_from_success(p, 0.25, 1.0), [1.0, 0.625, 0.4375, 0.25])  # 0.25 + 0.75 (1 - P)
    np.testing.assert_array_equal(q_from_success(p, 0.25, 1.0, power=2.0), [1.0, 0.4375, 0.296875, 0.25])
    np.testing.assert_array_equal(q_from_success(p, 0.5, 0.5), np.full(4, 0.5))
    # κ sets where q is halfway: P̃ = 1 - 2^(-1/κ)
    for kappa in (0.5, 1.0, 3.0):
        assert q_from_success(1 - 2 ** (-1 / kappa), 0.0, 1.0, kappa) == pytest.approx(0.5, abs=1e-15)
    t = q_from_success(torch.tensor([[0.0], [0.5]], dtype=torch.float32), 0.25, 1.0)
    assert t.dtype == torch.float32 and t.shape == (2, 1) and t.tolist() == [[1.0], [0.625]]


def test_q_from_success_keeps_the_q_max_escape_and_a_monotone_amplification():
    # near cold start P^(-q(P)) / P^(-q_max) = exp(κ Δq P ln P (1 + O(P))) -> 1
    for p in (1e-3, 1e-6, 1e-9):
        ratio = p ** -q_from_success(p, 0.0, 1.0, 2.0) / p ** -1.0
        assert abs(ratio - 1) <= 2.0 * p * abs(math.log(p)) * 1.01
    # the amplification P^(-q(P)) is non-increasing in P for any decreasing map
    p = np.linspace(1e-6, 1.0, 20001)
    for q_min, q_max, kappa in ((0.0, 1.0, 1.0), (0.25, 0.75, 0.3), (0.0, 1.0, 5.0)):
        amp = amplification(p, q_from_success(p, q_min, q_max, kappa))
        assert np.all(np.diff(amp) <= 0)


def test_prompt_success_q_hand_computed_sequence():
    adaptive = PromptSuccessQ(num_prompts=3, q_min=0.25, q_max=1.0, rate=0.5, prior=0.0)
    # step 1: nothing seen, q = q_max; P̂ = (1/4, 0) -> P̃_0 = 1/8, P̃_1 = 0
    np.testing.assert_array_equal(adaptive.q([0, 1]), [[1.0], [1.0]])
    adaptive.update([0, 1], np.array([[1.0, 0, 0, 0], [0, 0, 0, 0]]))
    # step 2: q_0 = 0.25 + 0.75·7/8; P̂ = (1/2, 1) -> P̃_0 = 5/16, P̃_2 = 1/2
    np.testing.assert_array_equal(adaptive.q([0, 2]), [[0.90625], [1.0]])
    adaptive.update([0, 2], np.array([[1.0, 1, 0, 0], [1, 1, 1, 1]]))
    # step 3
    np.testing.assert_array_equal(adaptive.q([0, 1, 2]), [[0.765625], [1.0], [0.625]])
    assert q_metrics(adaptive.q([0, 1, 2])) == {"q/mean": 0.796875, "q/min": 0.625, "q/max": 1.0}
    assert q_metrics(0.5) == {"q/mean": 0.5, "q/min": 0.5, "q/max": 0.5}
    np.testing.assert_array_equal(adaptive.estimate, [0.3125, 0.0, 0.5])
    np.testing.assert_array_equal(adaptive.visits, [2, 1, 1])
    # a prompt drawn twice in one step is updated twice, in order: 5/16 -> 5/32 -> 5/64 + 1/2
    adaptive.update(torch.tensor([0, 0]), torch.tensor([[0.0, 0, 0, 0], [1, 1, 1, 1]]))
    assert adaptive.estimate[0] == 5 / 64 + 0.5 and adaptive.visits[0] == 4
    # with a prior and β = 1 the estimate is the last visit's P̂
    last = PromptSuccessQ(2, rate=1.0, prior=0.5)
    np.testing.assert_array_equal(last.q([0, 1]), [[0.5], [0.5]])
    last.update([1], [[0.0, 1.0, 1.0, 1.0]])
    np.testing.assert_array_equal(last.q([0, 1]), [[0.5], [0.25]])


def test_prompt_success_q_feeds_the_estimators_per_group():
    adaptive = PromptSuccessQ(4, q_min=0.0, q_max=1.0, rate=0.5)
    adaptive.update([1, 2], [[1.0, 1.0], [1.0, 0.0]])
    rewards = torch.tensor([[1.0, 0.0, 0.0, 1.0], [0.0, 1.0, 0.0, 0.0], [1.0, 1.0, 1.0, 0.0]], dtype=torch.float64)
    q = adaptive.q([0, 1, 2])  # (3, 1): 1, 0.5, 0.75
    weights = compute_weights("garl", rewards, EstimatorOptions(q=q))
    for g, q_g in enumerate((1.0, 0.5, 0.75)):
        torch.testing.assert_close(weights[g], garl(rewards[g : g + 1], q_g)[0], rtol=0, atol=0)


def test_prompt_success_q_resumes_exactly():
    rng = np.random.default_rng(3)
    steps = [(rng.integers(0, 20, 6), (rng.random((6, 5)) < rng.random((6, 1))).astype(float)) for _ in range(8)]
    full = PromptSuccessQ(20, q_min=0.1, q_max=0.9, power=1.5, rate=0.3, prior=0.05)
    first = PromptSuccessQ(20, q_min=0.1, q_max=0.9, power=1.5, rate=0.3, prior=0.05)
    qs_full = []
    for indices, rewards in steps:
        qs_full.append(full.q(indices))
        full.update(indices, rewards)
    for indices, rewards in steps[:5]:
        first.update(indices, rewards)
    resumed = PromptSuccessQ(20, q_min=0.1, q_max=0.9, power=1.5, rate=0.3, prior=0.05)
    resumed.load_state_dict(json.loads(json.dumps(first.state_dict())))
    for (indices, rewards), expected in zip(steps[5:], qs_full[5:]):
        np.testing.assert_array_equal(resumed.q(indices), expected)
        resumed.update(indices, rewards)
    np.testing.assert_array_equal(resumed.estimate, full.estimate)
    with pytest.raises(ValueError, match="state is for num_prompts=20, this has 21"):
        PromptSuccessQ(21).load_state_dict(full.state_dict())


def test_amplification_q_hand_computed():
    rewards = np.array([[1.0, 0, 0, 0], [1, 1, 0, 0], [0, 0, 0, 0]])  # P̂_min over successes = 1/4
    assert amplification_q(rewards, 2.0) == pytest.approx(0.5, abs=1e-15)  # ln 2 / ln 4
    assert amplification_q(rewards, 16.0, q_max=1.0) == 1.0  # ln 16 / ln 4 = 2, capped at q_max
    assert amplification_q(rewards, 1.0) == 0.0
    assert amplification_q(rewards, math.inf, q_max=0.75) == 0.75
    assert amplification_q(np.zeros((3, 4)), 2.0, 0.8) == 0.8  # no success: nothing to bound
    assert amplification_q(np.ones((3, 4)), 2.0, 0.8) == 0.8  # P̂_min = 1: amplification 1
    q = amplification_q(rewards, 2.0)
    assert float(np.max(amplification(rewards.mean(1), q))) == pytest.approx(2.0, rel=1e-14)  # the cap binds exactly
    # binary rewards: P̂_min >= 1/M, so A_max = M^q_max never binds
    binary = (np.random.default_rng(0).random((50, 8)) < 0.1).astype(float)
    assert amplification_q(binary, 8**0.75, q_max=0.75) == pytest.approx(0.75, abs=1e-15)
    assert amplification_q(torch.tensor(rewards, dtype=torch.bfloat16), 2.0) == pytest.approx(0.5, abs=1e-15)


def test_amplification_controller_hand_computed_sequence():
    controller = AmplificationController(a_max=2.0, q_max=1.0, rise=0.5)
    one_in = lambda m: np.eye(1, m)  # noqa: E731  a single group with one success in m: P̂ = 1/m
    assert controller.step(one_in(4)) == pytest.approx(0.5, abs=1e-15)  # target ln2/ln4, first step
    assert controller.step(one_in(2)) == pytest.approx(0.75, abs=1e-15)  # target 1: rises halfway from 0.5
    assert controller.step(one_in(16)) == pytest.approx(0.25, abs=1e-15)  # target ln2/ln16: falls at once
    assert controller.step(np.zeros((2, 4))) == pytest.approx(0.625, abs=1e-15)  # target q_max: halfway up
    unsmoothed = AmplificationController(2.0, rise=1.0)
    assert [unsmoothed.step(one_in(m)) for m in (4, 2, 16)] == pytest.approx([0.5, 1.0, 0.25], abs=1e-15)


@given(st.lists(st.tuples(st.integers(1, 12), st.integers(0, 12)), min_size=1, max_size=12),
       st.floats(1.0, 50.0), st.floats(0.05, 1.0))
def test_amplification_controller_never_exceeds_the_cap(groups, a_max, rise):
    controller = AmplificationController(a_max, q_max=1.0, rise=rise)
    for m, successes in groups:
        rewards = np.array([[1.0] * min(successes, m) + [0.0] * (m - min(successes, m)), [1.0] + [0.0] * (m - 1)])
        q = controller.step(rewards)
        assert 0.0 <= q <= 1.0
        assert np.max(amplification(rewards.mean(1), q)) <= a_max * (1 + 1e-12)


def test_amplification_controller_resumes_exactly():
    batches = [np.eye(1, m) for m in (3, 9, 2, 5, 40, 7)]
    full = AmplificationController(3.0, q_max=0.9, rise=0.3)
    expected = [full.step(b) for b in batches]
    part = AmplificationController(3.0, q_max=0.9, rise=0.3)
    for b in batches[:3]:
        part.step(b)
    resumed = AmplificationController(3.0, q_max=0.9, rise=0.3)
    resumed.load_state_dict(json.loads(json.dumps(part.state_dict())))
    assert [resumed.step(b) for b in batches[3:]] == expected[3:]
    fresh = AmplificationController(3.0)
    fresh.load_state_dict({"last_q": None})
    assert fresh.step(batches[0]) == amplification_q(batches[0], 3.0)


def test_errors_name_the_argument():
    with pytest.raises(ValueError, match="q_min must be <= q_max, got q_min=0.8 and q_max=0.2"):
        q_from_success(0.5, 0.8, 0.2)
    with pytest.raises(ValueError, match="power must be a finite number > 0, got power=0"):
        q_from_success(0.5, power=0)
    with pytest.raises(ValueError, match=r"p must lie in \[0, 1\], got p=1.5"):
        q_from_success([0.2, 1.5])
    with pytest.raises(ValueError, match=r"rate must be a number in \(0, 1\], got rate=0"):
        PromptSuccessQ(3, rate=0)
    with pytest.raises(ValueError, match=r"prior must be a number in \[0, 1\], got prior=True"):
        PromptSuccessQ(3, prior=True)
    with pytest.raises(ValueError, match="num_prompts must be an integer >= 1, got num_prompts=0"):
        PromptSuccessQ(0)
    adaptive = PromptSuccessQ(3)
    with pytest.raises(ValueError, match=r"indices must be integers in \[0, 3\), got indices\[1\]=3"):
        adaptive.q([0, 3])
    with pytest.raises(ValueError, match=r"indices must be integers in \[0, 3\), got indices\[0\]=1.0"):
        adaptive.q(np.array([1.0]))
    with pytest.raises(ValueError, match="rewards must have one row per index \\(2\\), got shape \\(1, 4\\)"):
        adaptive.update([0, 1], np.zeros((1, 4)))
    with pytest.raises(ValueError, match=r"rewards must lie in \[0, 1\], got rewards=nan"):
        adaptive.update([0], [[np.nan, 1.0]])
    with pytest.raises(ValueError, match="a_max must be a number \\(inf allowed\\) >= 1, got a_max=0.5"):
        amplification_q(np.ones((1, 2)), 0.5)
    with pytest.raises(ValueError, match=r"q_max must be a number in \[0, 1\], got q_max=2"):
        AmplificationController(2.0, q_max=2)
    with pytest.raises(ValueError, match=r"rise must be a number in \(0, 1\], got rise=1.5"):
        AmplificationController(2.0, rise=1.5)
    with pytest.raises(ValueError, match=r"last_q must be a number in \[0, 1\], got last_q=-0.1"):
        AmplificationController(2.0).load_state_dict({"last_q": -0.1})
