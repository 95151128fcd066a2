"""Derived seeds: one 32-bit seed per tuple of integers, mixed by numpy's ``SeedSequence``.

``derive_seed(a, b, ...) = SeedSequence([a, b, ...]).generate_state(1)[0]``: distinct tuples give
independent-looking streams, and the seed depends on the tuple only, so any part of a run (a rollout
sample, an evaluation call, a training step's stream) can be reproduced on its own.
"""

from __future__ import annotations

import numpy as np

SEED_LIMIT = 2**32
"""Every seed of a run is a 32-bit integer in [0, SEED_LIMIT) (what ``derive_seed`` returns and the config accepts)."""


def derive_seed(*parts: int) -> int:
    """A 32-bit seed mixed from ``parts`` (e.g. run seed, step, rank, stream) by ``numpy.random.SeedSequence``."""
    return int(np.random.SeedSequence(list(parts)).generate_state(1)[0])


ROLLOUT_STREAM, RESAMPLING_STREAM, EVAL_STREAM = 0, 1, 2
"""The random streams of a training step: rollouts, PAFT's resampling and evaluation draw from their own seeds."""


def step_seed(seed: int, step: int, rank: int, stream: int) -> int:
    """A 32-bit seed for one (run seed, step, rank, stream), so a resumed run draws exactly what the
    uninterrupted run drew."""
    return derive_seed(seed, step, rank, stream)
