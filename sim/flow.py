"""Gradient flow dθ/dt = ∇J_Q(θ) of a toy policy, and its discrete-step (learning-rate) counterpart.

Maths
-----
::

    dθ/dt = ∇J_Q(θ) = E_x[P_x(θ)^(-q) ∇P_x(θ)],     θ(0) = θ0,

(one prompt: P^(-q) ∇P; N prompts: the mean over them, as ``policy.flow`` computes it),
integrated with :func:`scipy.integrate.solve_ivp` until the success probability P(θ(t)) reaches
``target`` (a terminal event) or t = ``t_max``. The default method is LSODA, which switches to a
stiff (BDF) solver by itself when it detects stiffness, so it is safe near the optimum where the
flow becomes stiff. Gradient ascent θ_{k+1} = θ_k + η ∇J_Q(θ_k) is the Euler discretisation of the
same ODE with time t = k η; it converges to the flow with error O(η) (see :func:`gradient_steps`).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
from scipy.integrate import solve_ivp

METHODS = ("LSODA", "Radau", "BDF", "RK45", "DOP853")

FLOW_MESSAGES = {
    -1: "integration step failed",
    0: "reached t_max before P reached the target",
    1: "P reached the target",
}


@dataclass(frozen=True)
class FlowResult:
    """Result of :func:`integrate_flow`, after scipy's ``OdeResult``.

    Attributes
    ----------
    t : (n,) times at which the solution is reported.
    theta : (n, D) parameters at those times.
    p : (n,) success probability (the policy's ``success_prob`` reduced to a scalar by ``measure``).
    escape_time : time at which P reached ``target`` (NaN when it did not).
    status : -1 (solver failed), 0 (t_max reached first) or 1 (target reached); see ``FLOW_MESSAGES``.
    message : text for the status, with the solver's own message on failure.
    success : True unless the solver failed (status >= 0), as in scipy.
    nfev : number of evaluations of the right-hand side.
    """

    t: np.ndarray
    theta: np.ndarray
    p: np.ndarray
    escape_time: float
    status: int
    message: str
    success: bool
    nfev: int

    @property
    def reached_target(self) -> bool:
        return self.status == 1


def integrate_flow(
    policy,
    theta0: np.ndarray,
    q: float,
    t_max: float,
    target: float | None = 0.5,
    t_eval: np.ndarray | None = None,
    measure: Callable[[np.ndarray], float] | None = None,
    method: str = "LSODA",
    rtol: float = 1e-9,
    atol: float = 1e-12,
) -> FlowResult:
    """Integrate dθ/dt = ``policy.flow(θ, q)`` from ``theta0`` (shape (D,)) over [0, t_max].

    Parameters
    ----------
    policy : a toy policy from :mod:`sim.policies` (anything with ``flow`` and ``success_prob``).
    theta0 : (D,) initial parameters.
    q : Tsallis index in [0, 1].
    t_max : end of the time span (> 0).
    target : stop when ``measure(θ)`` reaches this value (a terminal event); None integrates to t_max.
    t_eval : times at which to report the solution; None reports the solver's own steps.
    measure : θ -> scalar success probability; default ``policy.success_prob`` (its mean, if a vector).
    method : one of ``METHODS``; LSODA is stiff-safe. rtol, atol: the error model atol + rtol·|θ|.
    """
    if method not in METHODS:
        raise ValueError(f"method must be one of {METHODS}, got method={method!r}")
    if not t_max > 0:
        raise ValueError(f"t_max must be > 0, got t_max={t_max!r}")
    measure = measure if measure is not None else (lambda th: float(np.mean(policy.success_prob(th))))
    theta0 = np.asarray(theta0, dtype=np.float64).ravel()

    def rhs(_t: float, theta: np.ndarray) -> np.ndarray:
        return np.asarray(policy.flow(theta, q), dtype=np.float64).ravel()

    events = None
    if target is not None:

        def reach(_t: float, theta: np.ndarray) -> float:
            return measure(theta) - target

        reach.terminal = True
        reach.direction = 1.0
        events = [reach]
    if t_eval is not None:
        t_eval = np.asarray(t_eval, dtype=np.float64)
        t_eval = t_eval[t_eval <= t_max]
    sol = solve_ivp(rhs, (0.0, t_max), theta0, method=method, t_eval=t_eval, events=events, rtol=rtol, atol=atol)
    escape = np.nan
    if sol.status == 1 and len(sol.t_events[0]):
        escape = float(sol.t_events[0][0])
    theta = sol.y.T  # (n, D)
    p = np.array([measure(th) for th in theta])
    message = FLOW_MESSAGES[sol.status] if sol.status >= 0 else f"{FLOW_MESSAGES[-1]}: {sol.message}"
    return FlowResult(
        t=sol.t,
        theta=theta,
        p=p,
        escape_time=escape,
        status=int(sol.status),
        message=message,
        success=bool(sol.status >= 0),
        nfev=int(sol.nfev),
    )


def gradient_steps(policy, theta0: np.ndarray, q: float, lr: float, num_steps: int) -> np.ndarray:
    """Gradient ascent θ_{k+1} = θ_k + lr · ∇J_Q(θ_k); returns θ_0..θ_num_steps, shape (num_steps+1, D).

    Vectorised over instances: ``theta0`` may carry leading axes, e.g. (R, D) for R learning rates or
    starting points, and ``lr`` may broadcast against them. Step k sits at flow time t = k · lr.
    """
    theta = np.asarray(theta0, dtype=np.float64)
    out = np.empty((num_steps + 1,) + theta.shape)
    out[0] = theta
    for k in range(num_steps):  # sequential in time by nature
        theta = theta + lr * policy.flow(theta, q)
        out[k + 1] = theta
    return out
