"""Where a training step's q comes from: a schedule of the step, or the success rates observed so far.

``algo.q`` is one of

* a number or a ``tsallis.schedules`` spec (``{kind: step | linear | cosine | constant, ...}``): q = schedule(step - 1);
* ``{kind: prompt_success, q_min, q_max, power, rate, prior}``: per prompt, from a moving average of its observed
  success rate (:class:`tsallis.adaptive.PromptSuccessQ`; each group gets its own q, fixed before the step's rewards);
* ``{kind: amplification, a_max, q_max, rise}``: per batch, the largest q whose amplification max_g P̂_g^(-q) on the
  step's groups stays <= A_max (:class:`tsallis.adaptive.AmplificationController`).

:class:`QSource` gives the trainer one interface for all three, with a state for checkpoints.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from tsallis.adaptive import AmplificationController, PromptSuccessQ, q_metrics
from tsallis.schedules import make_schedule

ADAPTIVE = {"prompt_success": PromptSuccessQ, "amplification": AmplificationController}
"""Adaptive q kinds and the ``tsallis.adaptive`` class each builds (its constructor's keywords are the settings)."""


def adaptive_kind(spec: Any) -> str | None:
    """The adaptive kind of a q spec, or None for a number or a schedule."""
    return spec.get("kind") if isinstance(spec, dict) and spec.get("kind") in ADAPTIVE else None


def check_q_spec(spec: Any) -> None:
    """Raise ``ValueError`` naming the problem unless ``spec`` is a number, a schedule or an adaptive spec."""
    kind = adaptive_kind(spec)
    if kind is None:
        make_schedule(spec)
        return
    settings = {k: v for k, v in spec.items() if k != "kind"}
    try:
        ADAPTIVE[kind](**({"num_prompts": 1} if kind == "prompt_success" else {}), **settings)
    except TypeError as err:
        raise ValueError(f"q kind {kind!r}: {err}") from None


class QSource:
    """The q of every step (module docstring) for a training set of ``num_prompts`` prompts."""

    def __init__(self, spec: Any, num_prompts: int) -> None:
        self.kind = adaptive_kind(spec)
        if self.kind is None:
            self._schedule = make_schedule(spec)
            self._controller = None
        else:
            settings = {k: v for k, v in spec.items() if k != "kind"}
            extra = {"num_prompts": num_prompts} if self.kind == "prompt_success" else {}
            self._controller = ADAPTIVE[self.kind](**extra, **settings)

    def q(self, step: int, indices: list[int], all_rewards) -> float | np.ndarray:
        """q of step ``step`` (1-based) for this rank's groups ``indices``: a float, or (G_local, 1) per prompt.
        ``all_rewards`` (G, M) are every rank's rewards of the step (read by the batch controller only)."""
        if self.kind is None:
            return float(self._schedule(step - 1))
        if self.kind == "prompt_success":
            return self._controller.q(indices)
        return self._controller.step(all_rewards)

    def update(self, all_indices: list[int], all_rewards) -> None:
        """After the step: fold the step's success rates into the per-prompt estimates (others: nothing)."""
        if self.kind == "prompt_success":
            self._controller.update(all_indices, all_rewards)

    def state_dict(self) -> dict[str, Any]:
        return {} if self._controller is None else self._controller.state_dict()

    def load_state_dict(self, state: dict[str, Any]) -> None:
        if self._controller is not None:
            self._controller.load_state_dict(state)


def q_record(q: float | np.ndarray) -> dict[str, float]:
    """``algo/q`` (the mean over the step's groups) and, for a per-group q, its ``q/`` spread."""
    if isinstance(q, float):
        return {"algo/q": q}
    spread = q_metrics(q)
    return {"algo/q": spread["q/mean"], **spread}
