"""Queries over the estimator registry: what a trainer, a CLI, a config schema or a docs table derives from it.

The registrations in :mod:`tsallis.estimators` are the only description of an estimator; nothing
here holds a per-estimator fact. Typical use by a trainer::

    from tsallis.registry import ESTIMATORS, estimator_spec, option_specs, unused_options, uses_q

    Literal[ESTIMATORS]                          # the config type of the estimator name
    spec = estimator_spec("paft")                # formula, description, options read, min_samples
    spec.likelihood.options                      # the paper's form (likelihood weights): options it reads
    likelihood_estimators()                      # ("reinforce", "rloo", "garl", "paft")
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

from tsallis._arrays import check_choice
from tsallis.estimators import (
    _REGISTRY,
    ESTIMATORS,
    OPTION_NAMES,
    EstimatorName,
    EstimatorOptions,
    EstimatorSpec,
    compute_likelihood_weights,
    compute_weights,
    estimator_spec,
    get_estimator,
    likelihood_form,
)

__all__ = [
    "ESTIMATORS",
    "OPTION_NAMES",
    "EstimatorSpec",
    "OptionSpec",
    "FORMS",
    "compute_likelihood_weights",
    "compute_weights",
    "estimator_spec",
    "get_estimator",
    "likelihood_estimators",
    "likelihood_form",
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
    """The registered estimators whose sampled-answer (reward) form reads this option."""
    read_by_likelihood: tuple[str, ...]
    """The registered estimators whose likelihood-weight form reads this option."""
    kind: type
    """The type of the option's value (int for ``num_resamples``, whose default is None)."""

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
            read_by_likelihood=tuple(spec.name for spec in _REGISTRY.values()
                                     if spec.likelihood is not None and f.name in spec.likelihood.options),
            kind=f.metadata["kind"],
        )
        for f in fields(EstimatorOptions)
    }


def uses_q(name: EstimatorName | str) -> bool:
    """Whether estimator ``name`` reads the Tsallis index q (for the others q is ignored)."""
    return estimator_spec(name).uses_q


FORMS = ("reward", "likelihood")
"""The two inputs an estimator can take: sampled-answer rewards r_m, or likelihood weights log p(y*|x, z_m)."""


def likelihood_estimators() -> tuple[str, ...]:
    """The registered estimators that have a likelihood-weight form, in registration order."""
    return tuple(spec.name for spec in _REGISTRY.values() if spec.likelihood is not None)


def unused_options(name: EstimatorName | str, options: EstimatorOptions | Iterable[str], form: str = "reward") -> list[str]:
    """The options given that estimator ``name`` in ``form`` ("reward" or "likelihood") ignores, in field order
    (for a warning, not an error).

    ``options`` is either the names of the options a user set (e.g. the config keys present in a
    recipe) or an :class:`~tsallis.estimators.EstimatorOptions`, whose fields that differ from their
    defaults count as set. An unknown option name raises ``ValueError`` naming it.
    """
    check_choice("form", form, FORMS)
    read = estimator_spec(name).options if form == "reward" else likelihood_form(name).options
    if isinstance(options, EstimatorOptions):
        given = {f.name for f in fields(options) if not _is_default(getattr(options, f.name), f.default)}
    else:
        given = set(options)
        unknown = sorted(given - set(OPTION_NAMES))
        if unknown:
            raise ValueError(f"unknown estimator options {unknown}; EstimatorOptions has {OPTION_NAMES}")
    return [o for o in OPTION_NAMES if o in given and o not in read]


def _is_default(value: Any, default: Any) -> bool:
    """Whether an option value equals its default (an array or a generator never does; True is not 1)."""
    if value is None or default is None or isinstance(default, bool) or isinstance(value, bool):
        return value is default
    return isinstance(value, (str, numbers.Real)) and value == default


def markdown_table() -> str:
    """The README table of the registered estimators, both forms: the sampled-answer weight w_m (gradient
    Σ_m w_m ∇log p(z_m, ŷ_m)) and the likelihood form's coefficients "score ; answer" (gradient
    Σ_m score_m ∇log p(z_m) + answer_m ∇log p(y*|z_m)), each with the options it reads."""
    lines = ["| name | sampled answer, reward r_m: weight w_m | options read | paper's form, w_m = p(y*\\|x, z_m): "
             "score ; answer | options read | notes |", "|---|---|---|---|---|---|"]
    for spec in _REGISTRY.values():
        read = ", ".join(f"`{o}`" for o in spec.options) or "none"
        if spec.likelihood is None:
            paper, paper_read = "—", "—"
        else:
            paper, paper_read = spec.likelihood.formula, ", ".join(f"`{o}`" for o in spec.likelihood.options) or "none"
        lines.append(f"| `{spec.name}` | {spec.formula} | {read} | {paper} | {paper_read} | {spec.description} |")
    return "\n".join(lines) + "\n"
