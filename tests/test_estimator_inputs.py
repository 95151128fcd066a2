"""Bad and unusual inputs to the estimator API: a clear ValueError or a defined result, never a silent wrong number.

One block per kind of input, each with its neighbours: GRPO with eps = 0, the shape and type
of q, half precision, NaN, sft's targets, empty batches, option validation and autograd graphs.
"""

import math

import numpy as np
import pytest
import torch

from tsallis import (
    ESTIMATORS,
    ConstantQ,
    EstimatorOptions,
    amplification,
    compute_weights,
    garl,
    grpo,
    jq_derivative,
    jq_objective,
    paft,
    qexp,
    qlog,
    sft,
)
from tsallis.diagnostics import group_diagnostics
from tsallis.estimators import OPTION_NAMES

BINARY = np.array([[1.0, 0.0, 1.0, 0.0], [0.0, 0.0, 0.0, 0.0], [1.0, 1.0, 1.0, 1.0], [1.0, 0.0, 0.0, 0.0]])


def options_for(rewards, seed=0, **changes):
    """Options every estimator accepts for ``rewards`` (a seeded generator, the rewards as targets)."""
    generator = torch.Generator().manual_seed(seed) if isinstance(rewards, torch.Tensor) else np.random.default_rng(seed)
    values = dict(q=0.5, num_resamples=3, generator=generator, targets=rewards)
    values.update(changes)
    return EstimatorOptions(**values)


# --- GRPO with eps = 0 -----------------------------------------------------------------------------


@pytest.mark.parametrize("value", [0.0, 1.0, 0.1, 1 / 3, 0.7])
@pytest.mark.parametrize("scale", ["group", "batch", "none"])
@pytest.mark.parametrize("ddof", [0, 1])
def test_grpo_constant_group_is_zero_for_every_eps(value, scale, ddof):
    """A constant group has A = 0 exactly (its docstring), also where its float mean is not the value (0.1, 1/3)."""
    for dtype in (np.float64, np.float32):
        rewards = np.full((2, 5), value, dtype=dtype)
        for eps in (0.0, 1e-6, 1e-4):
            w = grpo(rewards, std_ddof=ddof, eps=eps, scale=scale)
            assert w.dtype == dtype and np.all(w == 0), (dtype, eps)


def test_grpo_eps_zero_neighbours():
    r = BINARY[3:4]  # one success in four: eps = 0 is the plain standardisation
    np.testing.assert_allclose(grpo(r, std_ddof=0, eps=0.0), (r - 0.25) / np.sqrt(0.25 * 0.75) / 4, rtol=1e-15)
    # a constant group inside a batch with a spread: the batch std is > 0 and the constant group still gets 0
    w = grpo(BINARY, eps=0.0, scale="batch")
    assert np.all(w[1:3] == 0) and np.all(np.isfinite(w)) and np.any(w[0] != 0)
    # the whole batch constant and eps = 0: 0/0 is defined as 0, not NaN
    assert np.all(grpo(np.full((3, 4), 0.1), eps=0.0, scale="batch") == 0)
    tensor = grpo(torch.zeros(2, 3), eps=0.0)
    assert torch.equal(tensor, torch.zeros(2, 3))
    # not constant, but the squared deviations underflow: the std is 0, and with eps = 0 so is the advantage
    assert np.all(grpo(np.array([[1e-242, 0.0, 0.0, 0.0]]), eps=0.0) == 0)
    tiny = np.array([[1e-242, 0.0, 0.0, 0.0]])
    np.testing.assert_allclose(grpo(tiny, eps=1e-4), (tiny - tiny.mean()) / 1e-4 / 4, rtol=1e-12)  # std + ε = ε


# --- q: a number or (G, 1), never a bool -----------------------------------------------------------


@pytest.mark.parametrize("shape", [(1, 1, 1), (1, 4), (4,), (2, 1, 1)])
def test_q_of_a_non_group_shape_is_refused(shape):
    q = np.full(shape, 0.5)
    with pytest.raises(ValueError, match=rf"q must be a number or an array of shape .*got q of shape \({shape[0]},"):
        EstimatorOptions(q=q)
    for fn in (lambda: garl(BINARY, q), lambda: paft(BINARY, q, 2, np.random.default_rng(0))):
        with pytest.raises(ValueError, match="q must be a number or an array of shape"):
            fn()


def test_q_of_another_group_count_is_refused_at_call_time():
    options = EstimatorOptions(q=np.full((3, 1), 0.5))  # (n, 1) is fine before the rewards are known
    with pytest.raises(ValueError, match=r"q must be a number or an array of shape \(1, 1\) or \(4, 1\).*\(3, 1\)"):
        compute_weights("garl", BINARY, options)


@pytest.mark.parametrize("q", [0.5, np.float32(0.5), np.array(0.5), np.array([0.5]), np.full((1, 1), 0.5),
                               np.full((4, 1), 0.5), torch.full((4, 1), 0.5)])
def test_q_of_a_group_shape_gives_the_scalar_result(q):
    expected = garl(BINARY, 0.5)
    np.testing.assert_allclose(garl(BINARY, q), expected, rtol=1e-7)
    assert garl(BINARY, q).shape == BINARY.shape


@pytest.mark.parametrize("q", [True, False, np.bool_(True), np.array([[True]]), torch.tensor(True)])
def test_q_bool_is_refused_everywhere(q):
    for fn in (lambda: EstimatorOptions(q=q), lambda: garl(BINARY, q), lambda: qlog(0.5, q),
               lambda: amplification(0.5, q), lambda: ConstantQ(q)):
        with pytest.raises(ValueError, match="q must be a number in \\[0, 1\\], not a bool"):
            fn()


@pytest.mark.parametrize("q", ["0.5", None, [0.5, "x"], 1 + 0j, object()])
def test_q_that_is_not_a_number_is_refused_naming_q(q):
    with pytest.raises(ValueError, match="q must be a number in \\[0, 1\\] or an array of them, got q="):
        EstimatorOptions(q=q)


# --- half precision: accumulate in float32, return the input dtype -------------------------------


def _close_in(dtype_eps, got, expected):
    got = got.float().numpy() if isinstance(got, torch.Tensor) else got.astype(np.float64)
    np.testing.assert_allclose(got, expected, rtol=4 * dtype_eps, atol=1e-7)


@pytest.mark.parametrize("name", ESTIMATORS)
def test_float16_with_large_m_neither_overflows_nor_loses_the_sum(name):
    """M = 70,000 > 65,504 (float16's max): a float16 sum of the rewards would be inf."""
    m = 70_000
    rewards64 = np.zeros((2, m))
    rewards64[0, ::7] = 1.0  # P̂ = 1/7
    rewards64[1, :] = 0.5  # P̂ = 1/2, sum 35,000
    expected = compute_weights(name, rewards64, options_for(rewards64))
    for rewards in (rewards64.astype(np.float16), torch.tensor(rewards64, dtype=torch.float16)):
        w = compute_weights(name, rewards, options_for(rewards))
        assert w.dtype == rewards.dtype, name
        if name != "paft":  # paft's counts are random; its row sums are checked below
            _close_in(1e-3, w, expected)
    w = compute_weights("paft", rewards64.astype(np.float16), options_for(rewards64))
    if name == "paft":
        np.testing.assert_allclose(w.astype(np.float64).sum(1), [(1 / 7) ** 0.5, 0.5**0.5], rtol=4e-3)


@pytest.mark.parametrize("name", ESTIMATORS)
@pytest.mark.parametrize("dtype", [torch.bfloat16, torch.float16])
def test_torch_half_precision_on_every_estimator(name, dtype):
    rewards64 = np.random.default_rng(1).random((6, 8)) * (np.random.default_rng(2).random((6, 8)) < 0.5)
    rewards = torch.tensor(rewards64, dtype=dtype)
    w = compute_weights(name, rewards, options_for(rewards, seed=3))
    assert w.dtype == dtype and torch.isfinite(w.float()).all(), name
    # the same numbers as float32 on the rounded rewards, rounded once to the half dtype
    rewards32 = rewards.float()
    expected = compute_weights(name, rewards32, options_for(rewards32, seed=3)).to(dtype)
    assert torch.equal(w, expected), name


def test_float16_small_m_equals_the_float32_result_rounded():
    rewards = BINARY.astype(np.float16)
    for name in ("reinforce", "rloo", "grpo", "garl"):
        w = compute_weights(name, rewards, EstimatorOptions(q=0.75))
        expected = compute_weights(name, BINARY.astype(np.float32), EstimatorOptions(q=0.75)).astype(np.float16)
        assert w.dtype == np.float16 and np.array_equal(w, expected), name


def test_qlog_and_amplification_keep_half_precision_dtypes():
    for u in (np.array([0.0, 0.25, 1.0], dtype=np.float16), torch.tensor([0.0, 0.25, 1.0], dtype=torch.bfloat16)):
        for fn in (qlog, qexp, amplification, jq_objective):
            assert fn(u, 0.5).dtype == u.dtype, fn.__name__
    assert float(amplification(torch.tensor([0.25], dtype=torch.bfloat16), 0.5)[0]) == 2.0


# --- NaN never becomes a number ---------------------------------------------------------------------


@pytest.mark.parametrize("fn", [qlog, qexp, jq_objective, jq_derivative, amplification])
@pytest.mark.parametrize("q", [0.0, 0.5, 1.0])
def test_nan_propagates_through_the_q_functions(fn, q):
    u = np.array([0.0, np.nan, 0.5, 1.0])
    out = fn(u, q)
    assert math.isnan(out[1]) and not np.isnan(out[[0, 2, 3]]).any(), (fn.__name__, q)
    finite = fn(np.array([0.0, 0.5, 1.0]), q)
    np.testing.assert_array_equal(out[[0, 2, 3]], finite)  # the other entries are untouched
    t = fn(torch.tensor(u), q)
    assert torch.isnan(t[1]) and not torch.isnan(t[[0, 2, 3]]).any()
    assert math.isnan(float(fn(float("nan"), q)))


def test_nan_with_an_array_q_and_negative_u_message():
    out = qlog(np.array([[np.nan], [0.25]]), np.array([[0.0], [1.0]]))
    assert math.isnan(out[0, 0]) and out[1, 0] == pytest.approx(math.log(0.25))
    with pytest.raises(ValueError, match="u must be non-negative, got u=-1.0"):
        qlog(np.array([np.nan, -1.0]), 0.5)  # names the negative entry, not the NaN


@pytest.mark.parametrize("name", ESTIMATORS)
@pytest.mark.parametrize("bad", [float("nan"), float("inf"), -0.5, 1.5])
def test_bad_rewards_raise_naming_rewards(name, bad):
    rewards = BINARY.copy()
    rewards[0, 1] = bad
    for batch in (rewards, torch.tensor(rewards)):
        with pytest.raises(ValueError, match=r"rewards must lie in \[0, 1\], got rewards="):
            compute_weights(name, batch, options_for(BINARY))
    with pytest.raises(ValueError, match=r"rewards must lie in \[0, 1\], got rewards="):
        group_diagnostics(rewards, 0.5)


# --- sft names its targets --------------------------------------------------------------------------


@pytest.mark.parametrize("bad", [1.5, -0.1, float("nan")])
def test_sft_targets_outside_the_unit_interval_are_named_targets(bad):
    targets = BINARY.copy()
    targets[2, 2] = bad
    with pytest.raises(ValueError, match=r"targets must lie in \[0, 1\], got targets="):
        sft(targets)
    with pytest.raises(ValueError, match=r"targets must lie in \[0, 1\], got targets="):
        EstimatorOptions(targets=targets)
    with pytest.raises(ValueError, match=r"targets must have shape \(groups, M\)"):
        sft(BINARY[0])
    with pytest.raises(ValueError, match="targets must have the rewards' shape"):
        compute_weights("sft", BINARY, EstimatorOptions(targets=BINARY[:2]))


# --- empty batches ----------------------------------------------------------------------------------


def test_group_diagnostics_without_groups_is_a_clear_error():
    with pytest.raises(ValueError, match=r"rewards must hold at least one group for diagnostics, got shape \(0, 4\)"):
        group_diagnostics(np.zeros((0, 4)), 0.5)
    assert group_diagnostics(np.zeros((1, 4)), 0.5)["groups/frac_no_success"] == 1.0
    stats = group_diagnostics(torch.tensor(BINARY, dtype=torch.bfloat16), 0.5)  # any dtype
    assert stats["p_hat/mean"] == pytest.approx(BINARY.mean())


@pytest.mark.parametrize("name", ESTIMATORS)
def test_estimators_on_an_empty_batch_return_an_empty_batch(name):
    for rewards in (np.zeros((0, 4)), torch.zeros(0, 4, dtype=torch.float32)):
        w = compute_weights(name, rewards, options_for(rewards))
        assert tuple(w.shape) == (0, 4) and w.dtype == rewards.dtype, name


# --- every option is validated with its name and value --------------------------------------------

BAD_OPTIONS = [
    ("q", 1.5, "q must lie in \\[0, 1\\], got q=1.5"),
    ("baseline", "median", "baseline must be one of \\('none', 'mean', 'loo'\\), got baseline='median'"),
    ("baseline", "", "baseline must be one of .*got baseline=''"),
    ("num_resamples", 0, "num_resamples must be an integer >= 1, got num_resamples=0"),
    ("normalize", "M^q", "normalize must be one of \\('m_q', 'none'\\), got normalize='M\\^q'"),
    ("pathwise", 1, "pathwise must be True or False, got pathwise=1"),
    ("num_resamples", 2.0, "num_resamples must be an integer >= 1, got num_resamples=2.0"),
    ("num_resamples", True, "num_resamples must be an integer >= 1, got num_resamples=True"),
    ("generator", 3, "generator must be a numpy.random.Generator or a torch.Generator, got int"),
    ("generator", "rng", "generator must be a numpy.random.Generator or a torch.Generator, got str"),
    ("proposal_logw", [[0.0, float("nan")]], "proposal_logw must be finite, got a NaN or inf entry"),
    ("proposal_logw", "x", "proposal_logw must be numeric"),
    ("resampling", "stratified", "resampling must be one of .*got resampling='stratified'"),
    ("std_ddof", True, "std_ddof must be one of \\(0, 1\\), got std_ddof=True"),
    ("std_ddof", 1.0, "std_ddof must be one of \\(0, 1\\), got std_ddof=1.0"),
    ("eps", "1e-4", "eps must be a finite number >= 0, got eps='1e-4'"),
    ("eps", -1e-4, "eps must be a finite number >= 0, got eps=-0.0001"),
    ("eps", float("nan"), "eps must be a finite number >= 0, got eps=nan"),
    ("eps", float("inf"), "eps must be a finite number >= 0, got eps=inf"),
    ("eps", True, "eps must be a finite number >= 0, got eps=True"),
    ("scale", "token", "scale must be one of .*got scale='token'"),
    ("targets", [[2.0]], "targets must lie in \\[0, 1\\], got targets=2.0"),
]


@pytest.mark.parametrize(("field", "value", "message"), BAD_OPTIONS)
def test_bad_option_values_name_the_option_and_the_value(field, value, message):
    with pytest.raises(ValueError, match=message):
        EstimatorOptions(**{field: value})


@pytest.mark.parametrize("field", OPTION_NAMES)
def test_every_option_refuses_nonsense_naming_itself(field):
    with pytest.raises(ValueError, match=rf"^{field} must"):
        EstimatorOptions(**{field: "nonsense"})


def test_the_functions_check_their_arguments_like_the_options():
    with pytest.raises(ValueError, match="eps must be a finite number >= 0, got eps='1e-4'"):
        grpo(BINARY, eps="1e-4")
    with pytest.raises(ValueError, match="scale must be one of"):
        grpo(BINARY, scale="token")
    with pytest.raises(ValueError, match="resampling must be one of"):
        paft(BINARY, 0.5, 2, np.random.default_rng(0), resampling="stratified")
    with pytest.raises(ValueError, match="proposal_logw must be finite"):
        paft(BINARY, 0.5, 2, np.random.default_rng(0), proposal_logw=np.full((4, 4), np.inf))


# --- weights never carry the rewards' autograd graph ----------------------------------------------


@pytest.mark.parametrize("name", ESTIMATORS)
def test_weights_are_detached_from_the_rewards_graph(name):
    leaf = torch.tensor(BINARY * 0.8 + 0.1, requires_grad=True)
    rewards = leaf * 1.0  # a non-leaf with a graph, as a learned reward model would give
    options = options_for(rewards, targets=rewards, proposal_logw=leaf * 0.0)
    w = compute_weights(name, rewards, options)
    assert not w.requires_grad and w.grad_fn is None, name
    expected = compute_weights(name, rewards.detach(), options_for(rewards.detach(), proposal_logw=torch.zeros(4, 4)))
    assert torch.equal(w, expected), name
