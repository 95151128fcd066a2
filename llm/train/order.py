"""The order in which training prompts are visited: seeded shuffled epochs with a resumable position."""

from __future__ import annotations

import numpy as np


class PromptOrder:
    """Epoch e visits ``permutation_e`` of range(n), drawn from ``numpy.random.default_rng([seed, e])``.

    The state is just (epoch, position), so a resumed run continues exactly where the killed run was,
    and every rank computes the same global order without communicating.
    """

    def __init__(self, num_prompts: int, seed: int) -> None:
        if num_prompts < 1:
            raise ValueError(f"need at least one training prompt, got num_prompts={num_prompts}")
        self.num_prompts = num_prompts
        self.seed = seed
        self.epoch = 0
        self.position = 0

    def _permutation(self, epoch: int) -> np.ndarray:
        return np.random.default_rng([self.seed, epoch]).permutation(self.num_prompts)

    def take(self, count: int) -> list[int]:
        """The next ``count`` prompt indices, continuing into the next epoch when this one runs out."""
        out: list[int] = []
        while len(out) < count:
            perm = self._permutation(self.epoch)
            chunk = perm[self.position : self.position + count - len(out)]
            out.extend(int(i) for i in chunk)
            self.position += len(chunk)
            if self.position == self.num_prompts:
                self.epoch, self.position = self.epoch + 1, 0
        return out

    def state_dict(self) -> dict[str, int]:
        """Position in the data, saved in checkpoints."""
        return {"epoch": self.epoch, "position": self.position, "num_prompts": self.num_prompts, "seed": self.seed}

    def load_state_dict(self, state: dict[str, int]) -> None:
        """Restore a position saved by :meth:`state_dict` (the data set and seed must be the same)."""
        if state["num_prompts"] != self.num_prompts or state["seed"] != self.seed:
            raise ValueError(
                f"checkpoint data position was for {state['num_prompts']} prompts with seed {state['seed']}, "
                f"this run has {self.num_prompts} prompts with seed {self.seed}"
            )
        self.epoch, self.position = int(state["epoch"]), int(state["position"])
