"""Every figure script, in the order ``tsallis figures`` regenerates them."""

from __future__ import annotations

from importlib import import_module
from types import ModuleType

FIGURE_NAMES: tuple[str, ...] = (
    "fig_trajectories",
    "fig_escape_time",
    "fig_escape_slopes",
    "fig_bias",
    "fig_likelihood_estimators",
    "fig_variance",
    "fig_stochastic_escape",
    "fig_finite_m",
    "fig_likelihood_escape",
    "fig_autoregressive",
    "fig_stochastic_training",
    "fig_memorisation",
    "fig_memorisation_tradeoff",
    "fig_escort_minimiser",
    "fig_dispersion_penalty",
    "fig_near_optimum",
    "fig_noise_fitting_rate",
    "fig_adam_vs_q",
)


def load_figure(name: str) -> ModuleType:
    """The module ``figures.<name>``; an unknown name raises ValueError listing the known ones."""
    if name not in FIGURE_NAMES:
        raise ValueError(f"unknown figure {name!r}; choose from {', '.join(FIGURE_NAMES)}")
    return import_module(f"figures.{name}")
