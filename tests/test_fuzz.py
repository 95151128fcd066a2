"""Fuzz: every estimator returns finite weights of the rewards' shape and dtype for any q, M and group.

Cases generated: 4,000 (numpy) + 3,000 (torch) + 2,000 (all-zero / all-one / binary groups) +
1,500 (diagnostics) = 10,500 hypothesis examples, each run through all six estimators.
"""

import numpy as np
import torch
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays

from tsallis import ESTIMATORS, EstimatorOptions, compute_weights
from tsallis.diagnostics import group_diagnostics

unit = st.floats(0.0, 1.0, allow_nan=False)


@st.composite
def reward_groups(draw, values=unit):
    groups = draw(st.integers(1, 6))
    m = draw(st.integers(1, 64))
    return draw(arrays(np.float64, (groups, m), elements=values))


def _check_all(rewards, q, k, seed, to_generator):
    for name in ESTIMATORS:
        opts = EstimatorOptions(q=q, baseline=["none", "mean", "loo"][seed % 3], num_resamples=k,
                                generator=to_generator(seed), targets=rewards, resampling=["multinomial", "systematic"][seed % 2])
        w = compute_weights(name, rewards, opts)
        assert type(w) is type(rewards) and tuple(w.shape) == tuple(rewards.shape) and w.dtype == rewards.dtype, name
        finite = np.isfinite(w.numpy() if isinstance(w, torch.Tensor) else w)
        assert finite.all(), (name, q, rewards)


@settings(max_examples=4000)
@given(rewards=reward_groups(), q=unit, k=st.integers(1, 32), seed=st.integers(0, 2**16))
def test_numpy_weights_finite(rewards, q, k, seed):
    _check_all(rewards, q, k, seed, np.random.default_rng)


@settings(max_examples=3000)
@given(rewards=reward_groups(), q=unit, k=st.integers(1, 32), seed=st.integers(0, 2**16), single=st.booleans())
def test_torch_weights_finite(rewards, q, k, seed, single):
    tensor = torch.tensor(rewards, dtype=torch.float32 if single else torch.float64)
    _check_all(tensor, q, k, seed, lambda s: torch.Generator().manual_seed(s))


@settings(max_examples=2000)
@given(rewards=reward_groups(values=st.sampled_from([0.0, 1.0])), q=st.sampled_from([0.0, 1e-12, 0.5, 1 - 1e-12, 1.0]),
       fill=st.sampled_from([None, 0.0, 1.0]), seed=st.integers(0, 2**16))
def test_binary_and_constant_groups(rewards, q, fill, seed):
    if fill is not None:
        rewards = np.full_like(rewards, fill)
    _check_all(rewards, q, 4, seed, np.random.default_rng)
    if fill == 0.0:  # P̂ = 0: no signal from any reward-driven estimator
        for name in ("reinforce", "rloo", "grpo", "garl", "paft"):
            w = compute_weights(name, rewards, EstimatorOptions(q=q, generator=np.random.default_rng(seed)))
            assert np.all(w == 0), name


@settings(max_examples=1500)
@given(rewards=reward_groups(), q=unit)
def test_diagnostics_finite(rewards, q):
    stats = group_diagnostics(rewards, q)
    assert all(np.isfinite(v) for v in stats.values())
    assert 0.0 <= stats["groups/frac_no_success"] <= 1.0
