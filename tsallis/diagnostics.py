"""Per-batch diagnostics of a reward tensor, logged by the simulator and the trainer alike."""

from __future__ import annotations

from typing import Any

import numpy as np

from tsallis._arrays import as_float_array, check_groups, to_numpy
from tsallis.estimators import resampling_ess
from tsallis.qlog import amplification


def group_diagnostics(rewards: Any, q: float) -> dict[str, float]:
    """Summary of a (G, M) reward batch as plain floats with namespaced keys.

    Keys
    ----
    p_hat/mean, p_hat/min, p_hat/max, p_hat/std
        statistics of P̂_g = mean_m r_gm over the G groups.
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
    amp = np.asarray(amplification(p_hat[has_success], q)) if has_success.any() else np.zeros(1)
    return {
        "p_hat/mean": float(p_hat.mean()),
        "p_hat/min": float(p_hat.min()),
        "p_hat/max": float(p_hat.max()),
        "p_hat/std": float(p_hat.std()),
        "groups/frac_no_success": float(np.mean(~has_success)),
        "groups/frac_zero_std": float(np.mean(r.max(axis=1) == r.min(axis=1))),
        "groups/frac_all_success": float(np.mean(r.min(axis=1) == 1.0)),
        "amplification/mean": float(amp.mean()),
        "amplification/max": float(amp.max()),
        "paft/ess_mean": float(np.mean(resampling_ess(r))),
    }
