"""The estimator registry describes every estimator truthfully: options read, q, generator, targets, docs."""

import numpy as np
import pytest

from tsallis import ESTIMATORS, EstimatorName, EstimatorOptions, compute_weights
from tsallis.estimators import OPTION_NAMES, register_estimator
from tsallis.registry import (
    estimator_spec,
    likelihood_estimators,
    markdown_table,
    option_specs,
    unused_options,
    uses_q,
)

RNG = np.random.default_rng(0)
REWARDS = np.array([[1.0, 0.0, 1.0, 0.0, 0.0], [0.3, 0.9, 0.0, 0.5, 1.0], [0.0, 0.0, 0.0, 0.0, 1.0]])


class RecordingOptions:
    """Wraps EstimatorOptions and records every field an estimator reads."""

    def __init__(self, options: EstimatorOptions) -> None:
        self._options = options
        self.read: set[str] = set()

    def __getattr__(self, name: str):
        self.read.add(name)
        return getattr(self._options, name)


def full_options(seed: int = 0, **changes) -> EstimatorOptions:
    """Options with every per-call input present, so no estimator fails for lack of one."""
    values = dict(q=0.5, num_resamples=3, generator=np.random.default_rng(seed), targets=REWARDS > 0.4,
                  proposal_logw=np.zeros_like(REWARDS))
    values.update(changes)
    return EstimatorOptions(**values)


def test_every_name_is_registered_once_in_order():
    assert ESTIMATORS == tuple(name.value for name in EstimatorName)
    spec = estimator_spec("garl")
    with pytest.raises(ValueError, match="estimator 'garl' is already registered"):  # a second function is refused
        register_estimator("garl", formula="", description="", options=())(lambda rewards, options: rewards)
    register_estimator("garl", formula=spec.formula, description=spec.description, options=spec.options,
                       min_samples=spec.min_samples)(spec.fn)  # the same function again is harmless
    assert estimator_spec("garl") == spec


@pytest.mark.parametrize("name", ESTIMATORS)
def test_declared_options_are_exactly_the_options_read(name):
    recorder = RecordingOptions(full_options())
    estimator_spec(name).fn(REWARDS, recorder)
    assert recorder.read == set(estimator_spec(name).options), name


@pytest.mark.parametrize("name", ESTIMATORS)
def test_uses_q_is_whether_q_changes_the_weights(name):
    low = compute_weights(name, REWARDS, full_options(q=0.0))
    high = compute_weights(name, REWARDS, full_options(q=1.0))
    assert uses_q(name) == (not np.array_equal(low, high)), name
    assert estimator_spec(name).uses_q == uses_q(name)


@pytest.mark.parametrize("name", ESTIMATORS)
def test_needs_generator_is_whether_the_seed_changes_the_weights(name):
    draws = {compute_weights(name, REWARDS, full_options(seed=seed)).tobytes() for seed in range(6)}
    assert estimator_spec(name).needs_generator == (len(draws) > 1), name


@pytest.mark.parametrize("name", ESTIMATORS)
def test_trains_on_targets_is_whether_the_targets_set_the_weights(name):
    a = compute_weights(name, REWARDS, full_options(targets=REWARDS > 0.4))
    b = compute_weights(name, REWARDS, full_options(targets=REWARDS < 0.4))
    assert estimator_spec(name).trains_on_targets == (not np.array_equal(a, b)), name


@pytest.mark.parametrize("name", ESTIMATORS)
def test_groups_smaller_than_min_samples_carry_no_signal(name):
    spec = estimator_spec(name)
    for m in range(1, spec.min_samples):
        rewards = RNG.random((20, m))
        assert np.all(compute_weights(name, rewards, full_options(targets=rewards > 0.4)) == 0), (name, m)


def test_the_q_estimators_and_the_derived_flags():
    assert {n for n in ESTIMATORS if uses_q(n)} >= {"garl", "paft"}
    assert not uses_q("grpo") and not uses_q("sft") and not uses_q("rloo")
    assert estimator_spec("paft").needs_generator and not estimator_spec("garl").needs_generator
    assert estimator_spec("sft").trains_on_targets and not estimator_spec("grpo").trains_on_targets
    assert estimator_spec("grpo").min_samples == 2


def test_option_specs_document_every_field_and_who_reads_it():
    specs = option_specs()
    assert tuple(specs) == OPTION_NAMES
    for name, spec in specs.items():
        assert spec.doc and spec.doc[-1] == ".", name
        assert spec.read_by or spec.read_by_likelihood, f"option {name} is read by no estimator"
        assert spec.read_by == tuple(n for n in ESTIMATORS if name in estimator_spec(n).options)
        assert spec.read_by_likelihood == tuple(n for n in likelihood_estimators()
                                                if name in estimator_spec(n).likelihood.options)
        if spec.choices is not None:
            assert spec.default is None or spec.default in spec.choices
        if spec.default is not None:
            assert spec.kind is type(spec.default), name
    assert {n for n, s in specs.items() if s.per_call} == {"generator", "proposal_logw", "p_hat", "targets"}
    assert specs["baseline"].choices == ("none", "mean", "loo") and specs["baseline"].kind is str
    assert specs["num_resamples"].default is None and specs["num_resamples"].kind is int
    assert specs["normalize"].read_by == () and specs["normalize"].read_by_likelihood == ("garl", "paft")
    specs["eps"].check(1e-6)
    with pytest.raises(ValueError, match="eps must be a finite number >= 0, got eps='1e-4'"):
        specs["eps"].check("1e-4")


def test_unused_options_names_what_the_estimator_ignores():
    assert unused_options("paft", {"baseline", "num_resamples", "q"}) == ["baseline"]
    assert unused_options("garl", ["q", "baseline"]) == []
    assert unused_options("grpo", ["q", "eps"]) == ["q"]
    assert unused_options("paft", EstimatorOptions(baseline="loo", q=0.5, num_resamples=2)) == ["baseline"]
    assert unused_options("garl", EstimatorOptions()) == []  # defaults are not "set"
    assert unused_options("reinforce", EstimatorOptions(eps=1e-6, q=0.2)) == ["q", "eps"]  # field order
    with pytest.raises(ValueError, match=r"unknown estimator options \['clip'\]"):
        unused_options("garl", {"clip"})
    with pytest.raises(ValueError, match="unknown estimator 'ppo'"):
        unused_options("ppo", {"q"})


def test_markdown_table_has_one_row_per_estimator():
    lines = markdown_table().strip().splitlines()
    assert lines[0].startswith("| name | sampled answer, reward r_m: weight w_m | options read | paper's form")
    rows = lines[2:]
    assert [row.split("|")[1].strip() for row in rows] == [f"`{n}`" for n in ESTIMATORS]
    for name, row in zip(ESTIMATORS, rows):
        spec = estimator_spec(name)
        assert spec.formula in row and spec.description in row
        assert (spec.likelihood.formula in row) if spec.likelihood else ("| — | — |" in row)


def test_readme_shows_the_registry_table():
    """The README's estimator table is the registry's (regenerate it with markdown_table() after a change)."""
    from pathlib import Path

    readme = (Path(__file__).parents[1] / "README.md").read_text()
    assert markdown_table().strip() in readme


def test_registration_refuses_a_taken_name_or_an_unknown_option():
    with pytest.raises(ValueError, match="estimator 'garl' is already registered"):
        register_estimator(EstimatorName.GARL, formula="x", description="x", options=("q",))(lambda r, o: r)
    assert estimator_spec("garl").formula == "P̂^(−q)(r_m − b_m)/M"  # unchanged
    with pytest.raises(ValueError, match=r"estimator 'garl' lists unknown options \['temperature'\]"):
        register_estimator(EstimatorName.GARL, formula="x", description="x", options=("temperature",))
    with pytest.raises(ValueError, match="'ppo' is not a valid EstimatorName"):
        register_estimator("ppo", formula="x", description="x", options=())


@pytest.mark.parametrize("name", likelihood_estimators())
def test_likelihood_forms_declare_exactly_the_options_they_read(name):
    recorder = RecordingOptions(full_options())
    estimator_spec(name).likelihood.fn(np.log(0.5 * REWARDS + 0.01), recorder)
    assert recorder.read == set(estimator_spec(name).likelihood.options), name


def test_a_second_likelihood_form_is_refused():
    from tsallis.estimators import register_likelihood_form

    with pytest.raises(ValueError, match="estimator 'garl' already has a likelihood form"):
        register_likelihood_form("garl", formula="x", options=("q",))(lambda log_w, o: None)
    with pytest.raises(ValueError, match=r"estimator 'paft' lists unknown options \['temperature'\]"):
        register_likelihood_form("paft", formula="x", options=("temperature",))
