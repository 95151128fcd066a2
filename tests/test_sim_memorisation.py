"""Noise memorisation: metrics by hand, the flow trace, and the J_Q maximiser."""

from __future__ import annotations

import numpy as np
import pytest

from sim.memorisation import metrics, optimum, track_flow
from sim.policies import LinearSoftmaxPrompts


def hand_toy() -> LinearSoftmaxPrompts:
    """Two prompts, one-hot features, three answers; prompt 1's gold label is corrupted (2 instead of 1)."""
    return LinearSoftmaxPrompts(features=np.eye(2), labels=np.array([1, 2]), clean_labels=np.array([1, 1]),
                                offset=np.zeros(3))


def test_metrics_by_hand():
    toy = hand_toy()
    w = np.array([[0.0, 0.0], [np.log(2.0), 0.0], [0.0, np.log(3.0)]])  # (K, d): prompt 0 -> (1,2,1)/4, prompt 1 -> (1,1,3)/5
    values = metrics(toy, w.ravel())
    assert values["clean_p"] == pytest.approx(0.5)
    assert values["clean_accuracy"] == 1.0
    assert values["noise_mass"] == pytest.approx(0.6)
    assert values["true_mass_on_noisy"] == pytest.approx(0.2)


def test_track_flow_escape_and_memorisation_order():
    toy = LinearSoftmaxPrompts.make(num_prompts=16, num_answers=4, num_features=18, noise_rate=0.25, cold_logit=3.0, seed=1)
    low = track_flow(toy, 0.0, np.array([1.0, 50.0, 500.0]))
    high = track_flow(toy, 1.0, np.array([1.0, 50.0, 500.0]))
    assert high.escape_time < low.escape_time
    assert high.noise_mass[1] > low.noise_mass[1]
    assert low.status == 0 and np.all(np.diff(low.clean_p) > 0)


def test_optimum_is_stationary_and_fits_the_separable_hand_toy():
    """One-hot features can fit every label: at q = 1 the maximiser puts (nearly) all mass on each gold label,
    including the corrupted one."""
    res = optimum(hand_toy(), 1.0)
    assert res.success and res.grad_norm < 1e-6
    assert res.metrics["noise_mass"] > 0.99 and res.metrics["clean_p"] > 0.99
