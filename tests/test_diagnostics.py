"""Batch diagnostics against hand-computed values."""

import numpy as np
import pytest
import torch

from tsallis.diagnostics import group_diagnostics


def test_hand_computed():
    rewards = np.array([[0, 0, 0, 0], [1, 0, 0, 0], [1, 1, 1, 1], [1, 1, 0, 0]], dtype=float)
    for batch in (rewards, torch.tensor(rewards)):
        d = group_diagnostics(batch, 0.5)
        assert d["p_hat/mean"] == pytest.approx((0 + 0.25 + 1 + 0.5) / 4)
        assert d["groups/frac_no_success"] == 0.25
        assert d["groups/frac_zero_std"] == 0.5
        assert d["groups/frac_all_success"] == 0.25
        assert d["amplification/max"] == pytest.approx(2.0)
        assert d["amplification/mean"] == pytest.approx((2.0 + 1.0 + 2**0.5) / 3)
        assert d["paft/ess_mean"] == pytest.approx((0 + 1 + 4 + 2) / 4)


def test_all_zero_batch_is_finite():
    d = group_diagnostics(np.zeros((3, 5)), 1.0)
    assert d["groups/frac_no_success"] == 1.0 and d["amplification/max"] == 0.0
