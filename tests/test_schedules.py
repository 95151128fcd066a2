"""q schedules: values at hand-picked steps, bounds, and configuration errors."""

import math

import pytest
from hypothesis import given
from hypothesis import strategies as st

from tsallis.schedules import ConstantQ, CosineQ, LinearQ, QSchedule, StepQ, make_schedule


def test_values():
    assert ConstantQ(0.75)(0) == ConstantQ(0.75)(10**6) == 0.75
    sft_then_rlvr = make_schedule({"kind": "step", "switch_step": 100})
    assert [sft_then_rlvr(s) for s in (0, 99, 100, 500)] == [1.0, 1.0, 0.0, 0.0]
    lin = LinearQ(q_start=1.0, q_end=0.25, total_steps=10)
    assert [lin(s) for s in (0, 5, 10, 20)] == [1.0, 0.625, 0.25, 0.25]
    cos = CosineQ(q_start=0.0, q_end=1.0, total_steps=4)
    assert cos(0) == 0.0 and cos(2) == pytest.approx(0.5) and cos(4) == 1.0 and cos(9) == 1.0
    assert cos(1) == pytest.approx(0.5 * (1 - math.cos(math.pi / 4)))
    assert make_schedule(0.5)(3) == 0.5
    assert isinstance(make_schedule({"kind": "cosine", "q_start": 1, "q_end": 0, "total_steps": 3}), QSchedule)


@given(a=st.floats(0, 1), b=st.floats(0, 1), total=st.integers(1, 1000), step=st.integers(0, 5000))
def test_anneals_stay_between_their_ends(a, b, total, step):
    for schedule in (LinearQ(a, b, total), CosineQ(a, b, total)):
        assert min(a, b) - 1e-12 <= schedule(step) <= max(a, b) + 1e-12


def test_errors_name_the_field():
    with pytest.raises(ValueError, match="q must lie in \\[0, 1\\], got q=1.5"):
        ConstantQ(1.5)
    with pytest.raises(ValueError, match="switch_step must be an integer >= 0, got switch_step=-1"):
        StepQ(switch_step=-1)
    with pytest.raises(ValueError, match="total_steps must be an integer >= 1, got total_steps=0"):
        LinearQ(1.0, 0.0, 0)
    with pytest.raises(ValueError, match="schedule kind must be one of .* got kind='exp'"):
        make_schedule({"kind": "exp"})
    with pytest.raises(ValueError, match="bad fields for the 'step' q schedule"):
        make_schedule({"kind": "step", "switch": 3})
    with pytest.raises(ValueError, match="step must be an integer >= 0, got step=-2"):
        ConstantQ(0.1)(-2)
