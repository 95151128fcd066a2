"""What a cold-start experiment runs: the training budget every arm gets and how the base model is built.

Plain frozen dataclasses that import neither torch nor transformers: the ``tsallis coldstart`` parser reads
their defaults for its help text, and ``tsallis --help`` (which builds every subcommand's parser) should start
without loading them.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Budget:
    """What every arm gets: the same steps, G, M, learning rate and optimiser."""

    steps: int
    """Training steps per run."""
    seeds: int
    """Runs per arm (seeds 0..seeds-1: rollouts, data order, PAFT resampling)."""
    prompts_per_step: int = 8
    """G."""
    num_samples: int = 16
    """M, the paper's group size; deep cold start needs P ≪ 1/M."""
    lr: float = 0.01
    """Learning rate of every arm."""
    optimizer: str = "sgd"
    """``sgd`` (plain gradient steps, the regime of the sim/ predictions) or ``adamw``."""
    max_grad_norm: float = 10.0
    """Gradient clipping. 10 clips only outliers after escape; the trainer's default 1.0 would clip every
    cold-phase update of GARL q ≥ 0.75 (measured pre-clip norms 1.3 to 3.8), capping the amplification under test."""
    exact_every: int = 10
    """Steps between exact evaluations (and the escape step's resolution)."""


QUICK = Budget(steps=150, seeds=3)
FULL = Budget(steps=400, seeds=5)


@dataclass(frozen=True)
class BaseModelSpec:
    """How the base model is built and pre-trained (:mod:`llm.coldstart.base_model`)."""

    p0: float = 1e-3
    """Probability of the verified strategy ``r`` after pre-training: P_θ(x) ≈ p0 for every prompt."""
    hidden_size: int = 64
    """Model width (head_dim 32, so vLLM's CPU attention accepts it)."""
    num_layers: int = 2
    """Decoder layers."""
    steps: int = 600
    """Pre-training steps (AdamW)."""
    batch_size: int = 128
    """Sequences per pre-training step."""
    lr: float = 3e-3
    """Pre-training learning rate (constant)."""
    seed: int = 0
    """Seeds the initial weights and the pre-training data."""

    def __post_init__(self) -> None:
        if isinstance(self.p0, bool) or not isinstance(self.p0, (int, float)) or not 0.0 < self.p0 < 0.5:
            raise ValueError(f"base model: p0 must be a number in (0, 0.5) (a cold start), got p0={self.p0!r}")
        for name in ("hidden_size", "num_layers", "steps", "batch_size"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                raise ValueError(f"base model: {name} must be an integer >= 1, got {name}={value!r}")
        if self.hidden_size % 32:
            raise ValueError(f"base model: hidden_size must be a multiple of 32 (head_dim 32), got {self.hidden_size}")
        if not self.lr > 0:
            raise ValueError(f"base model: lr must be > 0, got lr={self.lr!r}")
