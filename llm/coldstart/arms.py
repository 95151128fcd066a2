"""The estimators compared by ``tsallis coldstart``, and what :mod:`sim` predicts for their escape times.

Deep cold start (P ≪ 1/M): almost every group has no success (no signal from any estimator) or exactly one,
where P̂ = 1/M. On such a group the expected update is a fixed multiple of ∇P, the *cold-start gain*
(:func:`tsallis.bias.cold_start_gain`): M^q (1 - 1/M) for GARL with a mean baseline, M^q for PAFT (whose
expectation is GARL without a baseline), √M (1 - 1/M) for GRPO with the Bessel std (GARL at q = 1/2) and 1
for RLOO (unbiased). The escape time of stochastic training is the q = 0 flow time Θ(1/p0) divided by the gain
(``sim.stochastic.small_m_escape_time``; checked in ``fig_stochastic_escape`` and ``fig_finite_m``), so::

    T(RLOO) / T(arm) ≈ gain(arm)                 e.g. M^q (1 - 1/M) for GARL q
    T(GRPO) / T(GARL q) ≈ M^(q - 1/2)

These hold for plain gradient steps, where an update is proportional to the estimate. The experiment measures
them on a transformer (:mod:`llm.coldstart.experiment`).
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass
from typing import Any

from tsallis.bias import cold_start_gain


@dataclass(frozen=True)
class Arm:
    """One setting of the comparison: a ``tsallis`` estimator, its q (None if it has none, a dict for an adaptive
    q) and any further run settings (``extra``: (section, key, value) triples, e.g. a replay buffer)."""

    algo: str
    q: float | dict | None = None
    extra: tuple[tuple[str, str, Any], ...] = ()
    name: str | None = None
    """The label when it is not ``ALGO q=Q`` (the remedies)."""

    def __hash__(self) -> int:  # q may be a dict
        return hash((self.algo, repr(self.q), self.extra, self.name))

    @property
    def label(self) -> str:
        """``GRPO``, ``RLOO``, ``GARL q=0.75``, ``PAFT q=0.75``, or ``name``."""
        if self.name is not None:
            return self.name
        return self.algo.upper() if self.q is None else f"{self.algo.upper()} q={self.q:g}"

    @property
    def recipe(self) -> str:
        """The runs' recipe name: ``coldstart``, or for a named arm (a remedy) ``coldstart-`` and its label as a
        slug, so that runs of one estimator with and without a remedy never share a run folder name (two
        started in the same second would collide) and ``tsallis report`` keeps them apart."""
        if self.name is None:
            return "coldstart"
        return "coldstart-" + re.sub(r"[^a-z0-9]+", "-", self.name.lower()).strip("-")

    @property
    def plain(self) -> bool:
        """A fixed-q estimator with no remedy: the setting of the sim/ predictions."""
        return not self.extra and not isinstance(self.q, dict)

    @property
    def q_value(self) -> float | None:
        """q as a number (None without q or for an adaptive q)."""
        return self.q if isinstance(self.q, (int, float)) else None

    def gain(self, num_samples: int) -> float:
        """E[ĝ] / ∇P while P ≪ 1/M (module docstring); NaN for a remedy, which sim/ does not predict."""
        if not self.plain:
            return math.nan
        return cold_start_gain(self.algo, 0.0 if self.q is None else self.q, num_samples)

    def settings(self) -> dict[str, dict[str, Any]]:
        """The config sections this arm sets: ``algo`` (and ``rollout`` etc. from ``extra``)."""
        algo: dict[str, Any] = {"name": self.algo}
        if self.q is not None:
            algo["q"] = self.q
        if self.algo == "garl":
            algo["baseline"] = "mean"
        if self.algo == "grpo":
            # TRL's advantages (Bessel std, eps 1e-4), summed per sequence like every other arm, so that the
            # arms differ only in their weights (TRL's default token-sum would divide GRPO's update by k + L)
            algo["loss_agg"] = "seq-sum"
        sections: dict[str, dict[str, Any]] = {"algo": algo}
        for section, key, value in self.extra:
            sections.setdefault(section, {})[key] = value
        return sections


CLEAN_ARMS = (Arm("grpo"), Arm("rloo"), Arm("garl", 0.5), Arm("garl", 0.75), Arm("garl", 1.0), Arm("paft", 0.75))
"""The clean-task comparison: GRPO (TRL's convention), RLOO (the q = 0 reference), GARL q ∈ {1/2, 3/4, 1}, PAFT."""
NOISE_ARMS = (Arm("garl", 0.0), Arm("garl", 0.5), Arm("garl", 0.75), Arm("garl", 1.0))
"""The label-noise comparison: GARL with a mean baseline along q."""
REFERENCE = Arm("rloo")
"""The q = 0 reference of the speed-up ratios (unbiased, gain 1)."""
REMEDY_ARMS = (
    Arm("grpo"),
    Arm("grpo", extra=(("rollout", "dynamic_sampling_rounds", 3),), name="GRPO + dynamic sampling"),
    Arm("garl", 0.75),
    Arm("garl", {"kind": "prompt_success", "q_min": 0.0, "q_max": 1.0, "rate": 0.5}, name="GARL adaptive q"),
    Arm("paft", 0.75),
    Arm("paft", 0.75, (("algo", "replay_capacity", 4),), name="PAFT q=0.75 + replay"),
)
"""Remedies for groups with no success, against their plain versions (compared at equal generated tokens):
DAPO's dynamic sampling (up to 3 extra rounds replace zero-variance groups), GARL with a per-prompt q from the
success rates (q_max = 1 while a prompt is unsolved, falling to 0 as it is solved), PAFT with a replay buffer of
4 past successes per prompt."""


@dataclass(frozen=True)
class Prediction:
    """A predicted ratio of median escape steps, T(slow) / T(fast) ≈ gain(fast) / gain(slow)."""

    slow: Arm
    fast: Arm

    def claim(self) -> str:
        return f"T({self.slow.label}) / T({self.fast.label})"

    def predicted(self, num_samples: int) -> float:
        return self.fast.gain(num_samples) / self.slow.gain(num_samples)


def predictions(arms: tuple[Arm, ...]) -> list[Prediction]:
    """The predicted ratios checked among the plain ``arms``: every arm against RLOO, and GRPO against every
    GARL."""
    plain = [arm for arm in arms if arm.plain]
    out = [Prediction(REFERENCE, arm) for arm in plain if arm != REFERENCE and REFERENCE in plain]
    if Arm("grpo") in plain:
        out += [Prediction(Arm("grpo"), arm) for arm in plain if arm.algo == "garl"]
    return out
