"""Schedules for the Tsallis index q over training steps.

A schedule is any callable ``schedule(step) -> q`` (the :class:`QSchedule` protocol), so the trainer
asks ``q = schedule(step)`` each step. Provided:

* :class:`ConstantQ`: q(t) = q.
* :class:`StepQ`: q(t) = q_before for t < switch_step, q_after afterwards. SFT-then-RLVR is
  q_before = 1, q_after = 0.
* :class:`LinearQ`: q(t) = q_start + (q_end - q_start) · min(t / T, 1).
* :class:`CosineQ`: q(t) = q_end + (q_start - q_end) · (1 + cos(π · min(t / T, 1))) / 2.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any, Protocol, runtime_checkable

from tsallis._arrays import check_q


@runtime_checkable
class QSchedule(Protocol):
    """Anything that maps a training step (int >= 0) to a q in [0, 1]."""

    def __call__(self, step: int) -> float: ...


def _check_step(step: int, name: str = "step") -> None:
    if isinstance(step, bool) or not isinstance(step, int) or step < 0:
        raise ValueError(f"{name} must be an integer >= 0, got {name}={step!r}")


@dataclass(frozen=True)
class ConstantQ:
    """q(t) = q."""

    q: float

    def __post_init__(self) -> None:
        check_q(self.q)

    def __call__(self, step: int) -> float:
        _check_step(step)
        return float(self.q)


@dataclass(frozen=True)
class StepQ:
    """q(t) = q_before while t < switch_step, then q_after (SFT-then-RLVR: 1 -> 0)."""

    switch_step: int
    q_before: float = 1.0
    q_after: float = 0.0

    def __post_init__(self) -> None:
        check_q(self.q_before)
        check_q(self.q_after)
        _check_step(self.switch_step, "switch_step")

    def __call__(self, step: int) -> float:
        _check_step(step)
        return float(self.q_before if step < self.switch_step else self.q_after)


@dataclass(frozen=True)
class _Anneal:
    q_start: float
    q_end: float
    total_steps: int

    def __post_init__(self) -> None:
        check_q(self.q_start)
        check_q(self.q_end)
        if isinstance(self.total_steps, bool) or not isinstance(self.total_steps, int) or self.total_steps < 1:
            raise ValueError(f"total_steps must be an integer >= 1, got total_steps={self.total_steps!r}")

    def progress(self, step: int) -> float:
        _check_step(step)
        return min(step / self.total_steps, 1.0)


class LinearQ(_Anneal):
    """q(t) = q_start + (q_end - q_start) · min(t/T, 1)."""

    def __call__(self, step: int) -> float:
        return float(self.q_start + (self.q_end - self.q_start) * self.progress(step))


class CosineQ(_Anneal):
    """q(t) = q_end + (q_start - q_end) · (1 + cos(π min(t/T, 1))) / 2."""

    def __call__(self, step: int) -> float:
        return float(self.q_end + (self.q_start - self.q_end) * 0.5 * (1.0 + math.cos(math.pi * self.progress(step))))


SCHEDULES: dict[str, type] = {"constant": ConstantQ, "step": StepQ, "linear": LinearQ, "cosine": CosineQ}


def make_schedule(spec: float | dict[str, Any] | QSchedule) -> QSchedule:
    """Build a schedule from a number (constant q), a dict ``{"kind": NAME, **fields}`` or a schedule.

    >>> make_schedule({"kind": "step", "switch_step": 100})(100)
    0.0
    """
    if isinstance(spec, (int, float)) and not isinstance(spec, bool):
        return ConstantQ(float(spec))
    if isinstance(spec, dict):
        fields = dict(spec)
        kind = fields.pop("kind", None)
        if kind not in SCHEDULES:
            raise ValueError(f"schedule kind must be one of {tuple(SCHEDULES)}, got kind={kind!r}")
        try:
            return SCHEDULES[kind](**fields)
        except TypeError as err:
            raise ValueError(f"bad fields for the {kind!r} q schedule {fields}: {err}") from None
    if isinstance(spec, QSchedule):
        return spec
    raise ValueError(f"a q schedule must be a number, a dict with 'kind', or a callable; got {spec!r}")
