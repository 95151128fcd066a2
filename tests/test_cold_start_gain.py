"""tsallis.bias.cold_start_gain: the closed forms of its docstring, and E[ĝ]/∇P by enumeration as P → 0."""

import itertools

import numpy as np
import pytest

from tsallis.bias import cold_start_gain
from tsallis.estimators import EstimatorOptions, compute_weights


@pytest.mark.parametrize("m", [2, 8, 16])
@pytest.mark.parametrize("q", [0.0, 0.25, 0.5, 0.75, 1.0])
def test_closed_forms(m, q):
    assert cold_start_gain("garl", q, m, baseline="mean") == pytest.approx(m**q * (1 - 1 / m), rel=1e-12)
    assert cold_start_gain("garl", q, m, baseline="none") == pytest.approx(m**q, rel=1e-12)
    assert cold_start_gain("garl", q, m, baseline="loo") == pytest.approx(m**q, rel=1e-12)
    assert cold_start_gain("paft", q, m, num_resamples=4) == pytest.approx(m**q, rel=1e-12)
    assert cold_start_gain("rloo", q, m) == pytest.approx(1.0, rel=1e-12)
    assert cold_start_gain("reinforce", q, m) == pytest.approx(1.0, rel=1e-12)
    # GRPO, Bessel std of (1, 0, ..., 0) is 1/sqrt(M): gain (1 - 1/M) / (M^(-1/2) + eps)
    assert cold_start_gain("grpo", q, m, eps=1e-4) == pytest.approx((1 - 1 / m) / (m**-0.5 + 1e-4), rel=1e-12)
    assert cold_start_gain("grpo", q, m, eps=0.0) == pytest.approx(cold_start_gain("garl", 0.5, m), rel=1e-12)


@pytest.mark.parametrize("name, options", [("garl", {"baseline": "mean"}), ("garl", {"baseline": "loo"}),
                                           ("grpo", {}), ("rloo", {})])
def test_enumeration_limit(name, options):
    """A two-outcome policy (success with probability P, score s(1) = 1 - P, s(0) = -P: a logit θ with
    P = σ(θ), ∇P = P(1 - P)): E[ĝ]/∇P by enumerating all 2^M reward vectors tends to the gain as P → 0."""
    m, q = 6, 0.75
    ratios = []
    for p in (1e-4, 1e-6):
        expected = 0.0
        for outcome in itertools.product((0.0, 1.0), repeat=m):
            r = np.array([outcome])
            prob = np.prod(np.where(r[0] == 1, p, 1 - p))
            w = compute_weights(name, r, EstimatorOptions(q=q, **options))[0]
            expected += prob * float(np.sum(w * np.where(r[0] == 1, 1 - p, -p)))
        ratios.append(expected / (p * (1 - p)))
    gain = cold_start_gain(name, q, m, **options)
    assert ratios[1] == pytest.approx(gain, rel=1e-5)
    assert abs(ratios[1] - gain) <= abs(ratios[0] - gain) + 1e-12  # converges as P -> 0 (RLOO: exact at every P)


@pytest.mark.parametrize("bad", [{"m": 1}, {"m": 2.0}, {"m": True}])
def test_bad_m(bad):
    with pytest.raises(ValueError, match="m must be an integer >= 2"):
        cold_start_gain("garl", 0.5, **bad)


def test_sft_refused():
    with pytest.raises(ValueError, match="sft"):
        cold_start_gain("sft", 0.5, 4)
