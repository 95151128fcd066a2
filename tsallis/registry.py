"""Queries over the estimator registry: what a trainer, a CLI, a config schema or a docs table derives from it.

The registrations in :mod:`tsallis.estimators` are the only description of an estimator; nothing
here holds a per-estimator fact. Typical use by a trainer::

    from tsallis.registry import ESTIMATORS, estimator_spec, option_specs, unused_options, uses_q

    Literal[ESTIMATORS]                          # the config type of the estimator name
    spec = estimator_spec("paft")                # formula, description, options read, min_samples
    spec.needs_generator, spec.trains_on_targets # build a generator / feed gold targets instead of samples
    uses_q("grpo")                               # False: q is 0 and left out of run names
    unused_options("paft", {"baseline", "num_resamples"})   # ["baseline"]: warn, paft ignores it
    option_specs()["eps"].doc                    # field help; .choices, .default, .check(value)
"""

from __future__ import annotations

import numbers
from collections.abc import Iterable
from dataclasses import dataclass, fields
from typing import Any

from tsallis.estimators import (
    _REGISTRY,
    ESTIMATORS,
    OPTION_NAMES,
    EstimatorName,
    EstimatorOptions,
    EstimatorSpec,
    compute_weights,
    estimator_spec,
    get_estimator,
)

__all__ = [
    "ESTIMATORS",
    "OPTION_NAMES",
    "EstimatorSpec",
    "OptionSpec",
    "compute_weights",
    "estimator_spec",
    "get_estimator",
    "markdown_table",
    "option_specs",
    "unused_options",
    "uses_q",
]


@dataclass(frozen=True)
class OptionSpec:
    """One :class:`~tsallis.estimators.EstimatorOptions` field as a schema: enough to build a config field or a CLI flag."""

    name: str
    default: Any
    doc: str
    choices: tuple[Any, ...] | None
    """The allowed values of a categorical option, None for a number or an array."""
    per_call: bool
    """True for an input supplied with each batch (generator, arrays), not a configuration setting."""
    read_by: tuple[str, ...]
    """The registered estimators that read this option."""

    def check(self, value: Any) -> None:
        """Raise ``ValueError`` naming this option and ``value`` unless ``value`` is valid for it."""
        EstimatorOptions(**{self.name: value})


def option_specs() -> dict[str, OptionSpec]:
    """Every option of :class:`~tsallis.estimators.EstimatorOptions`, in field order, as an :class:`OptionSpec`."""
    return {
        f.name: OptionSpec(
            name=f.name,
            default=f.default,
            doc=f.metadata["doc"],
            choices=f.metadata["choices"],
            per_call=f.metadata["per_call"],
            read_by=tuple(spec.name for spec in _REGISTRY.values() if f.name in spec.options),
        )
        for f in fields(EstimatorOptions)
    }


def uses_q(name: EstimatorName | str) -> bool:
    """Whether estimator ``name`` reads the Tsallis index q (for the others q is ignored)."""
    return estimator_spec(name).uses_q


def unused_options(name: EstimatorName | str, options: EstimatorOptions | Iterable[str]) -> list[str]:
    """The options given that estimator ``name`` ignores, in field order (for a warning, not an error).

    ``options`` is either the names of the options a user set (e.g. the config keys present in a
    recipe) or an :class:`~tsallis.estimators.EstimatorOptions`, whose fields that differ from their
    defaults count as set. An unknown option name raises ``ValueError`` naming it.
    """
    spec = estimator_spec(name)
    if isinstance(options, EstimatorOptions):
        given = {f.name for f in fields(options) if not _is_default(getattr(options, f.name), f.default)}
    else:
        given = set(options)
        unknown = sorted(given - set(OPTION_NAMES))
        if unknown:
            raise ValueError(f"unknown estimator options {unknown}; EstimatorOptions has {OPTION_NAMES}")
    return [o for o in OPTION_NAMES if o in given and o not in spec.options]


def _is_default(value: Any, default: Any) -> bool:
    """Whether an option value equals its default (an array or a generator never does)."""
    if value is None or default is None:
        return value is default
    return isinstance(value, (str, numbers.Real)) and not isinstance(value, bool) and value == default


def markdown_table() -> str:
    """The README table of the registered estimators: name, weight w_m, options read, notes."""
    lines = ["| name | weight w_m | options read | notes |", "|---|---|---|---|"]
    for spec in _REGISTRY.values():
        read = ", ".join(f"`{o}`" for o in spec.options) or "none"
        lines.append(f"| `{spec.name}` | {spec.formula} | {read} | {spec.description} |")
    return "\n".join(lines) + "\n"
