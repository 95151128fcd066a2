"""The verl plug-in (llm.integrations.verl): advantages = M × tsallis weights, verl's registry, verl's GRPO.

Two parts. The first calls the registered callables directly with verl-shaped inputs and runs in CI
(verl is not installed there: its hard dependencies include ray and transformers<5.11). The second,
``requires_verl``, runs against verl's own ``core_algos`` and is skipped where verl does not import;
docs/integrations.md gives the environment it runs in (``pip install --no-deps verl==0.9.1`` plus the
few packages its import needs) and the command.
"""

from __future__ import annotations

import importlib.util
import os
import subprocess
import sys

import numpy as np
import pytest
import torch

from llm.integrations.core import resampling_seed
from llm.integrations.verl import ADVANTAGE_FUNCTIONS, ESTIMATOR_NAMES, TsallisAdvantage, VerlSettings, group_rows
from tsallis.estimators import EstimatorOptions, compute_weights

G, M, T = 3, 4, 7
# (G, M) outcome rewards; group 0 has 2 successes (PAFT's resampling matters), group 2 none (all-zero weights)
REWARDS = torch.tensor([[1.0, 0.0, 1.0, 0.0], [0.0, 0.0, 0.0, 1.0], [0.0, 0.0, 0.0, 0.0]], dtype=torch.float64)
ORDER = np.array([5, 0, 9, 2, 11, 7, 1, 4, 10, 3, 8, 6])  # batch row r holds flat sample ORDER[r] (shuffled groups)
UIDS = np.array([f"uid-{ORDER[r] // M}" for r in range(G * M)], dtype=object)
LENGTHS = torch.tensor([7, 3, 1, 5, 6, 2, 4, 7, 1, 3, 5, 2])  # response lengths of the batch rows

requires_verl = pytest.mark.skipif(
    importlib.util.find_spec("verl") is None, reason="verl is not installed (see docs/integrations.md)"
)


def verl_batch() -> tuple[torch.Tensor, torch.Tensor]:
    """verl's inputs: token_level_rewards (B, T) with the outcome reward on each response's last token, and
    response_mask (B, T)."""
    mask = (torch.arange(T)[None, :] < LENGTHS[:, None]).float()
    rewards = torch.zeros(G * M, T)
    rewards[torch.arange(G * M), LENGTHS - 1] = REWARDS.reshape(-1)[ORDER].float()
    return rewards, mask


def expected_advantages(estimator: str, options: EstimatorOptions) -> torch.Tensor:
    """M × compute_weights(...) on the (G, M) rewards, put back in batch order and broadcast on the mask."""
    weights = compute_weights(estimator, REWARDS, options).reshape(-1)  # flat sample order
    _, mask = verl_batch()
    return (M * weights[ORDER]).float()[:, None] * mask


def config(**tsallis):
    return {"adv_estimator": "garl", "tsallis": tsallis}


@pytest.mark.parametrize("name", ["garl_none", "garl_mean", "garl_loo"])
def test_garl_advantages_are_m_times_tsallis_weights(name):
    fn = TsallisAdvantage(name)
    rewards, mask = verl_batch()
    advantages, returns = fn(rewards, mask, config=config(q=0.75), index=UIDS)
    expected = expected_advantages("garl", EstimatorOptions(q=0.75, baseline=ESTIMATOR_NAMES[name][1]))
    assert advantages.shape == (G * M, T) and torch.equal(advantages, returns)
    torch.testing.assert_close(advantages, expected, rtol=1e-6, atol=1e-7)
    assert float(advantages.abs().sum()) > 1.0 and torch.all(advantages[mask == 0] == 0)


def test_garl_reads_the_baseline_key_and_paft_its_seed_and_step():
    rewards, mask = verl_batch()
    advantages, _ = TsallisAdvantage("garl")(rewards, mask, config=config(q=0.5, baseline="loo"), index=UIDS)
    torch.testing.assert_close(advantages, expected_advantages("garl", EstimatorOptions(q=0.5, baseline="loo")))

    paft = TsallisAdvantage("paft")
    settings = config(q=0.75, num_resamples=4, seed=3, start_step=10)
    for step in (10, 11):  # the call count advances the step: the second call resamples with step 11's seed
        got, _ = paft(rewards, mask, config=settings, index=UIDS)
        options = EstimatorOptions(q=0.75, num_resamples=4,
                                   generator=torch.Generator().manual_seed(resampling_seed(3, step)))
        torch.testing.assert_close(got, expected_advantages("paft", options))
    assert paft.last_diagnostics["groups/frac_no_success"] == pytest.approx(1 / 3)


def test_q_schedule_is_read_at_the_call_count():
    """schedule {kind: step, switch_step: 1}: q = 1 on the first call, 0 on the second (GARL q = 0 = RLOO here)."""
    fn = TsallisAdvantage("garl_loo")
    rewards, mask = verl_batch()
    settings = config(schedule={"kind": "step", "switch_step": 1, "q_before": 1.0, "q_after": 0.0})
    first, _ = fn(rewards, mask, config=settings, index=UIDS)
    second, _ = fn(rewards, mask, config=settings, index=UIDS)
    torch.testing.assert_close(first, expected_advantages("garl", EstimatorOptions(q=1.0, baseline="loo")))
    torch.testing.assert_close(second, expected_advantages("rloo", EstimatorOptions()))
    assert fn.last_diagnostics["algo/q"] == 0.0


def test_settings_errors_name_the_key():
    rewards, mask = verl_batch()
    with pytest.raises(ValueError, match="exactly one of algorithm.tsallis.q"):
        TsallisAdvantage("garl")(rewards, mask, config=config(), index=UIDS)
    with pytest.raises(ValueError, match="fixes the baseline to 'loo'.*baseline='mean'"):
        TsallisAdvantage("garl_loo")(rewards, mask, config=config(q=0.5, baseline="mean"), index=UIDS)
    with pytest.raises(ValueError, match=r"unknown key\(s\) \['qq'\]"):
        VerlSettings.from_config(config(qq=0.5))
    with pytest.raises(ValueError, match="need index="):
        TsallisAdvantage("garl")(rewards, mask, config=config(q=0.5), index=None)
    with pytest.raises(ValueError, match="rewards must lie in"):
        TsallisAdvantage("garl")(2 * rewards, mask, config=config(q=0.5), index=UIDS)


def test_groups_of_unequal_size_use_their_own_m():
    index = np.array(["a", "b", "a", "b", "b"], dtype=object)
    rows = group_rows(index, 5)
    assert [r.tolist() for r in rows] == [[0, 2], [1, 3, 4]]
    scores = torch.tensor([1.0, 0.0, 0.0, 1.0, 1.0])
    mask = torch.ones(5, 1)
    advantages, _ = TsallisAdvantage("garl_mean")(scores[:, None], mask, config=config(q=1.0), index=index)
    a = 2 * compute_weights("garl", torch.tensor([[1.0, 0.0]], dtype=torch.float64), EstimatorOptions(q=1.0))
    b = 3 * compute_weights("garl", torch.tensor([[0.0, 1.0, 1.0]], dtype=torch.float64), EstimatorOptions(q=1.0))
    torch.testing.assert_close(advantages[:, 0].double(), torch.stack([a[0, 0], b[0, 0], a[0, 1], b[0, 1], b[0, 2]]))


# ---------------- against verl itself (skipped where verl does not import) ----------------


@requires_verl
def test_registry_returns_the_plugin_and_matches_tsallis():
    from verl.trainer.ppo import core_algos

    import llm.integrations.verl  # noqa: F401  (registers on import)

    from omegaconf import OmegaConf

    rewards, mask = verl_batch()
    for name in ESTIMATOR_NAMES:
        assert core_algos.get_adv_estimator_fn(name) is ADVANTAGE_FUNCTIONS[name]
    # verl's trainer passes the `algorithm` section as an OmegaConf DictConfig, with the +algorithm.tsallis keys
    settings = OmegaConf.create(config(q=0.75, baseline="loo"))
    got, returns = core_algos.get_adv_estimator_fn("garl")(token_level_rewards=rewards, response_mask=mask,
                                                           config=settings, index=UIDS)
    torch.testing.assert_close(got, expected_advantages("garl", EstimatorOptions(q=0.75, baseline="loo")))
    assert torch.equal(got, returns)
    schedule = OmegaConf.create(config(schedule={"kind": "linear", "q_start": 1.0, "q_end": 0.0, "total_steps": 4}))
    assert VerlSettings.from_config(schedule).schedule == {"kind": "linear", "q_start": 1.0, "q_end": 0.0,
                                                           "total_steps": 4}
    # verl's typed AlgoConfig has no tsallis section: the estimator says which key to add
    with pytest.raises(ValueError, match="exactly one of algorithm.tsallis.q"):
        core_algos.get_adv_estimator_fn("paft")(rewards, mask, config=core_algos.AlgoConfig(), index=UIDS)


@requires_verl
def test_verl_grpo_equals_tsallis_grpo_with_verl_eps():
    from verl.trainer.ppo import core_algos

    rewards, mask = verl_batch()
    theirs, _ = core_algos.compute_grpo_outcome_advantage(rewards, mask, UIDS)  # epsilon=1e-6 by default
    weights = compute_weights("grpo", REWARDS, EstimatorOptions(eps=1e-6))  # Bessel std as verl; group 2 -> 0
    ours = (M * weights.reshape(-1)[ORDER]).float()[:, None] * mask
    torch.testing.assert_close(theirs, ours, rtol=1e-6, atol=1e-6)
    assert float(theirs.abs().max()) > 1.0


@requires_verl
def test_verl_seq_mean_token_sum_loss_gives_the_tsallis_gradient():
    """verl's vanilla PPO loss with loss_agg_mode="seq-mean-token-sum" at ratio 1: ∂L/∂ℓ_it = -w_i/G, the
    gradient of -(1/G) Σ_g Σ_m w_gm Σ_t ℓ_gmt; verl's default "token-mean" gives a different one."""
    from verl.trainer.ppo import core_algos
    from verl.workers.config import FSDPActorConfig

    rewards, mask = verl_batch()
    advantages, _ = ADVANTAGE_FUNCTIONS["garl_mean"](rewards, mask, config=config(q=0.75), index=UIDS)
    actor = FSDPActorConfig(strategy="fsdp", ppo_mini_batch_size=G * M, ppo_micro_batch_size_per_gpu=G * M,
                            rollout_n=M, use_dynamic_bsz=False)
    weights = compute_weights("garl", REWARDS, EstimatorOptions(q=0.75)).reshape(-1)[ORDER].float()
    grads = {}
    for mode in ("seq-mean-token-sum", "token-mean"):
        logprob = (-torch.rand(G * M, T, generator=torch.Generator().manual_seed(0))).requires_grad_()
        loss, _ = core_algos.compute_policy_loss_vanilla(logprob.detach(), logprob, advantages, mask,
                                                         loss_agg_mode=mode, config=actor)
        loss.backward()
        grads[mode] = logprob.grad
    torch.testing.assert_close(grads["seq-mean-token-sum"], -(weights / G)[:, None] * mask, rtol=1e-5, atol=1e-7)
    assert not torch.allclose(grads["token-mean"], grads["seq-mean-token-sum"])


@requires_verl
def test_verl_external_modules_hook_registers_the_estimators():
    """``VERL_USE_EXTERNAL_MODULES=llm.integrations.verl``: ``import verl`` alone registers garl and paft."""
    code = "import verl; from verl.trainer.ppo.core_algos import get_adv_estimator_fn as f; print(f('garl').__name__, f('paft').__name__)"
    env = dict(os.environ, VERL_USE_EXTERNAL_MODULES="llm.integrations.verl")
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env, check=True)
    assert result.stdout.split() == ["tsallis_garl_advantage", "tsallis_paft_advantage"]


def test_example_reward_function_scores_with_the_project_verifier(tmp_path):
    """examples/verl_data.py: the parquet rows carry what compute_score needs; the gold answer scores 1."""
    spec = importlib.util.spec_from_file_location("verl_data", os.path.join(os.path.dirname(__file__), "..",
                                                                             "examples", "verl_data.py"))
    verl_data = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(verl_data)
    rows = verl_data.rows("hotpotqa", None, "train", closed_book=True, limit=3)
    assert len(rows) == 3 and rows[0]["prompt"][0]["role"] == "user"
    for row in rows:
        gold = row["reward_model"]["ground_truth"]
        args = (row["data_source"], f"Let me think.\nAnswer: {gold}", gold, row["extra_info"])
        assert verl_data.compute_score(*args) == 1.0
        assert verl_data.compute_score(row["data_source"], "Answer: certainly not this", gold, row["extra_info"]) == 0.0


def test_every_q_estimator_of_the_registry_is_offered_with_its_settings():
    """capped_garl (a q-estimator with a cap option) comes from the tsallis registry like garl and paft:
    its advantages are M × compute_weights with the configured cap; a setting it ignores is reported."""
    assert {"garl", "garl_loo", "paft", "capped_garl", "capped_garl_mean"} <= set(ESTIMATOR_NAMES)
    rewards, mask = verl_batch()
    got, _ = TsallisAdvantage("capped_garl_mean")(rewards, mask, config=config(q=1.0, cap=1.5), index=UIDS)
    torch.testing.assert_close(got, expected_advantages("capped_garl", EstimatorOptions(q=1.0, cap=1.5)))
    uncapped = expected_advantages("garl", EstimatorOptions(q=1.0))
    assert float((got - uncapped).abs().max()) > 0.1  # the cap binds on the one-success group (P̂^-1 = 4)
    with pytest.warns(UserWarning, match="garl ignores algorithm.tsallis.num_resamples"):
        TsallisAdvantage("garl")(rewards, mask, config=config(q=0.5, num_resamples=4), index=UIDS)
