"""Per-batch diagnostics of a reward tensor, logged by the simulator and the trainer alike."""

from __future__ import annotations

from typing import Any

import numpy as np

from tsallis._arrays import as_float_array, check_groups, to_numpy
from tsallis.estimators import estimator_spec, resampling_ess
from tsallis.qlog import amplification


def group_diagnostics(rewards: Any, q: Any = 0.0, estimator: str | None = None) -> dict[str, float]:
    """Summary of a (G, M) reward batch as plain floats with namespaced keys; ``q`` is a number or one per group
    ((G,) or (G, 1)).

    Keys
    ----
    p_hat/mean, p_hat/min, p_hat/max, p_hat/std
        statistics of P̂_g = mean_m r_gm over the G groups.
    p_hat/p25, p_hat/median, p_hat/p75
        quartiles of P̂_g over the groups (linear interpolation, numpy's default).
    groups/frac_no_success
        share of groups with P̂ = 0: they carry no gradient for any estimator (the cold-start stall).
    groups/frac_zero_std
        share of groups whose rewards are all equal (TRL's ``frac_reward_zero_std``): no GRPO signal.
    groups/frac_all_success
        share of groups with every reward 1.
    amplification/mean, amplification/max
        P̂^(-q) over the groups with a success (NaN-free: 0 when there is none).
    paft/ess_mean
        mean Kish effective sample size of PAFT's resampling weights (on-policy).

    With ``estimator`` (a registered name) only what applies to it is reported: the amplification only when it
    uses q, PAFT's ESS only when its weights come from resampling (it needs a generator).

    ``rewards`` may be any float dtype (bfloat16 included); the statistics are computed in float64.
    A batch with no group (G = 0) has no statistics and raises ``ValueError``.
    """
    rewards, _ = as_float_array(rewards, "rewards")
    check_groups(rewards)
    if rewards.shape[0] == 0:
        raise ValueError(f"rewards must hold at least one group for diagnostics, got shape {tuple(rewards.shape)}")
    r = to_numpy(rewards)
    p_hat = r.mean(axis=1)
    has_success = p_hat > 0
    q_groups = np.broadcast_to(np.asarray(to_numpy(as_float_array(q, "q")[0]), dtype=np.float64).reshape(-1),
                               p_hat.shape) if np.ndim(q) else np.full(p_hat.shape, float(q))  # (G,)
    amp = np.asarray(amplification(p_hat[has_success], q_groups[has_success])) if has_success.any() else np.zeros(1)
    p25, median, p75 = np.quantile(p_hat, [0.25, 0.5, 0.75])
    out = {
        "p_hat/mean": float(p_hat.mean()),
        "p_hat/min": float(p_hat.min()),
        "p_hat/max": float(p_hat.max()),
        "p_hat/std": float(p_hat.std()),
        "p_hat/p25": float(p25),
        "p_hat/median": float(median),
        "p_hat/p75": float(p75),
        "groups/frac_no_success": float(np.mean(~has_success)),
        "groups/frac_zero_std": float(np.mean(r.max(axis=1) == r.min(axis=1))),
        "groups/frac_all_success": float(np.mean(r.min(axis=1) == 1.0)),
        "amplification/mean": float(amp.mean()),
        "amplification/max": float(amp.max()),
        "paft/ess_mean": float(np.mean(resampling_ess(r))),
    }
    if estimator is not None:
        spec = estimator_spec(estimator)
        if not spec.uses_q:
            del out["amplification/mean"], out["amplification/max"]
        if not spec.needs_generator:
            del out["paft/ess_mean"]
    return out
