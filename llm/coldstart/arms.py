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

from dataclasses import dataclass

from tsallis.bias import cold_start_gain


@dataclass(frozen=True)
class Arm:
    """One estimator setting of the comparison: a ``tsallis`` estimator name and its q (None if it has none)."""

    algo: str
    q: float | None = None

    @property
    def label(self) -> str:
        """``GRPO``, ``RLOO``, ``GARL q=0.75``, ``PAFT q=0.75``."""
        return self.algo.upper() if self.q is None else f"{self.algo.upper()} q={self.q:g}"

    def gain(self, num_samples: int) -> float:
        """E[ĝ] / ∇P while P ≪ 1/M (module docstring)."""
        return cold_start_gain(self.algo, 0.0 if self.q is None else self.q, num_samples)

    def algo_settings(self) -> dict:
        """The ``algo:`` section of a run's config."""
        settings: dict = {"name": self.algo}
        if self.q is not None:
            settings["q"] = self.q
        if self.algo == "garl":
            settings["baseline"] = "mean"
        if self.algo == "grpo":
            # TRL's advantages (Bessel std, eps 1e-4), summed per sequence like every other arm, so that the
            # arms differ only in their weights (TRL's default token-sum would divide GRPO's update by k + L)
            settings["loss_agg"] = "seq-sum"
        return settings


CLEAN_ARMS = (Arm("grpo"), Arm("rloo"), Arm("garl", 0.5), Arm("garl", 0.75), Arm("garl", 1.0), Arm("paft", 0.75))
"""The clean-task comparison: GRPO (TRL's convention), RLOO (the q = 0 reference), GARL q ∈ {1/2, 3/4, 1}, PAFT."""
NOISE_ARMS = (Arm("garl", 0.0), Arm("garl", 0.5), Arm("garl", 0.75), Arm("garl", 1.0))
"""The label-noise comparison: GARL with a mean baseline along q."""
REFERENCE = Arm("rloo")
"""The q = 0 reference of the speed-up ratios (unbiased, gain 1)."""


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
    """The ratios the issue asks for among ``arms``: every arm against RLOO, and GRPO against every GARL."""
    out = [Prediction(REFERENCE, arm) for arm in arms if arm != REFERENCE and REFERENCE in arms]
    if Arm("grpo") in arms:
        out += [Prediction(Arm("grpo"), arm) for arm in arms if arm.algo == "garl"]
    return out
