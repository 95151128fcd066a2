"""Noise fitting under symmetric label noise: the two-label model of Appendix C.5 (Eq. 16, Proposition C.2).

Maths
-----
Two labels {c, k}, model probabilities p (clean) and p̃ = 1 - p (contamination); the observed label is c with
probability 1 - ε and k with probability ε. The objective (minus the paper's loss) is

    S(p) = (1-ε) ln_q p + ε ln_q p̃,

and gradient flow on a scalar parameter θ of p gives (Eq. 16)

    dp̃/dt = [ε p̃^(-q) - (1-ε) p^(-q)] · p² ‖s‖²,     s = ∇_θ log p.

Its rest point for q > 0 is the escort of (1-ε, ε) (Theorem 3.1), p̃* = ε^(1/q) / (ε^(1/q) + (1-ε)^(1/q)),
which is (ε/(1-ε))^(1/q) (1 + o(1)) as ε → 0 (Eq. 17). Proposition C.2 assumes c* ≤ ‖s‖ ≤ C; then the time
from p̃ = 0+ to η ≪ p̃* is Θ(η^(q+1) / ((q+1) ε)) (Eq. 18). At q = 0, dp̃/dt = -(1-2ε) p² ‖s‖² < 0.

Two parameterisations (:class:`TwoLabelNoise`):

* ``"direct"``: θ = p̃ itself, so p² ‖s‖² = 1 and dp̃/dt = ε p̃^(-q) - (1-ε) p^(-q) exactly; the assumption
  holds (‖s‖ = 1/p ∈ [1, 2] for p ≥ 1/2), and the time to η is the integral :func:`contamination_time`,
  η^(q+1)/((q+1)ε) (1 + o(1)) as η/p̃* → 0.
* ``"logit"``: θ = logit p̃ (a softmax over the two labels), so ‖s‖ = p̃ and dp̃/dt = [ε p̃^(-q) - (1-ε) p^(-q)] p² p̃²;
  ‖s‖ → 0 as p̃ → 0, outside the assumption: near 0 this is the cold-start law dp̃/dt ≈ ε p̃^(2-q) and the time
  from p̃0 grows like p̃0^(-(1-q)) / ((1-q) ε), diverging as p̃0 → 0.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy.integrate import quad
from scipy.special import expit

from sim.escort import escort
from sim.flow import integrate_flow

PARAMETERISATIONS = ("direct", "logit")


@dataclass(frozen=True)
class TwoLabelNoise:
    """The two-label model with flip rate ``flip_rate`` (ε), θ of shape (..., 1) in the given parameterisation."""

    flip_rate: float
    parameterisation: str = "direct"
    dim: int = 1

    def __post_init__(self) -> None:
        if not 0.0 < self.flip_rate < 0.5:
            raise ValueError(f"flip_rate must lie in (0, 1/2), got flip_rate={self.flip_rate!r}")
        if self.parameterisation not in PARAMETERISATIONS:
            raise ValueError(f"parameterisation must be one of {PARAMETERISATIONS}, got {self.parameterisation!r}")

    def contamination(self, theta: np.ndarray) -> np.ndarray:
        """p̃, shape theta.shape[:-1]."""
        theta = np.asarray(theta, dtype=np.float64)[..., 0]
        return theta if self.parameterisation == "direct" else expit(theta)

    def theta_for(self, contamination: float) -> np.ndarray:
        """The θ (shape (1,)) with p̃ = ``contamination``."""
        c = float(contamination)
        return np.array([c if self.parameterisation == "direct" else np.log(c / (1.0 - c))])

    def flow(self, theta: np.ndarray, q: float) -> np.ndarray:
        """dθ/dt = ∂S/∂θ = [ε p̃^(-q) - (1-ε) p^(-q)] dp̃/dθ, with dp̃/dθ = 1 (direct) or p p̃ (logit).

        Plain numpy powers rather than :func:`tsallis.qlog.amplification` (whose zero-at-zero convention is
        for estimates P̂ = 0): p̃ and p stay inside (0, 1) on every path, and this right-hand side runs
        ~10⁵ times per figure, where the core function's array-API dispatch would cost ten times as much."""
        noisy = self.contamination(theta)[..., None]
        clean = 1.0 - noisy
        eps = self.flip_rate
        drive = eps * noisy ** (-q) - (1.0 - eps) * clean ** (-q)
        return drive if self.parameterisation == "direct" else drive * clean * noisy

    def contamination_rate(self, noisy: np.ndarray, q: float) -> np.ndarray:
        """dp̃/dt by Eq. 16 at contamination ``noisy``: [ε p̃^(-q) - (1-ε) p^(-q)] p² ‖s‖²."""
        noisy = np.asarray(noisy, dtype=np.float64)
        clean, eps = 1.0 - noisy, self.flip_rate
        score_term = 1.0 if self.parameterisation == "direct" else clean**2 * noisy**2
        return (eps * noisy ** (-q) - (1.0 - eps) * clean ** (-q)) * score_term


def escort_contamination(flip_rate: float, q: float) -> float:
    """The stable rest point p̃*(q): the second entry of the escort of (1-ε, ε) (Theorem 3.1)."""
    return float(escort(np.array([1.0 - flip_rate, flip_rate]), q)[1])


def eq17_contamination(flip_rate: float, q: float) -> float:
    """Eq. 17's small-ε form (ε/(1-ε))^(1/q)."""
    return (flip_rate / (1.0 - flip_rate)) ** (1.0 / q)


def leading_contamination_time(eta: np.ndarray | float, flip_rate: float, q: float) -> np.ndarray:
    """Eq. 18's leading term η^(q+1) / ((q+1) ε) (its constant is exact for the direct parameterisation)."""
    return np.asarray(eta, dtype=np.float64) ** (q + 1.0) / ((q + 1.0) * flip_rate)


def logit_leading_time(start: float, eta: np.ndarray | float, flip_rate: float, q: float) -> np.ndarray:
    """Cold-start law of the logit parameterisation, ∫_start^η dp̃ / (ε p̃^(2-q)):
    (start^(q-1) - η^(q-1)) / ((1-q) ε), or ln(η/start)/ε at q = 1."""
    eta = np.asarray(eta, dtype=np.float64)
    if q >= 1.0:
        return np.log(eta / start) / flip_rate
    return (start ** (q - 1.0) - eta ** (q - 1.0)) / ((1.0 - q) * flip_rate)


def contamination_time(eta: float, flip_rate: float, q: float) -> float:
    """Exact time from p̃ = 0 to η < p̃* in the direct parameterisation, ∫_0^η dp̃ / (ε p̃^(-q) - (1-ε)(1-p̃)^(-q))
    (adaptive quadrature of the integrand p̃^q / (ε - (1-ε) (p̃/(1-p̃))^q), which vanishes at 0)."""
    if not 0.0 < eta < escort_contamination(flip_rate, q):
        raise ValueError(f"eta must lie in (0, p̃*), got eta={eta!r}")
    eps = flip_rate
    value, _ = quad(lambda x: x**q / (eps - (1.0 - eps) * (x / (1.0 - x)) ** q), 0.0, eta,
                    epsabs=0.0, epsrel=1e-12, limit=200)
    return float(value)


def contamination_path(model: TwoLabelNoise, q: float, start: float, times: np.ndarray) -> np.ndarray:
    """p̃(t) at ``times`` under the exact flow from p̃ = ``start``."""
    result = integrate_flow(model, model.theta_for(start), q, t_max=float(times[-1]), target=None, t_eval=times,
                            measure=model.contamination, rtol=1e-10,
                            atol=1e-30 if model.parameterisation == "direct" else 1e-12)
    if not result.success:
        raise RuntimeError(f"noise flow failed at q={q}: {result.message}")
    return model.contamination(result.theta)


def crossing_times(path: np.ndarray, times: np.ndarray, etas: np.ndarray) -> np.ndarray:
    """The times at which a contamination path (recorded at ``times``, a fine log grid) first reaches each of
    ``etas``: linear interpolation of log t against log p̃ on the path's rising part (NaN outside the recorded
    range). Not an ODE event: solve_ivp locates events to an absolute time tolerance of ~1e-15, and the direct
    parameterisation reaches small η in times far below that."""
    reached = np.flatnonzero(path >= np.max(etas))
    if reached.size:  # the rising part is all that is needed (beyond it the path may settle at p̃*)
        path, times = path[: reached[0] + 1], times[: reached[0] + 1]
    if np.any(np.diff(path) <= 0):
        raise ArithmeticError("contamination is not increasing along the recorded path")
    return np.exp(np.interp(np.log(etas), np.log(path), np.log(times), left=np.nan, right=np.nan))
