"""The TRL plug-in (llm.integrations.trl) against this project's trainer, on the same rollouts.

Reference: this project's trainer gradient (``llm.train.update.accumulate_gradients`` with the ``seq-sum``
aggregation and A = M·w from ``sequence_coefficients``) on the rollouts TRL generated, converted to
``Rollout`` objects (prompt and completion tokens read through TRL's masks). The plug-in's gradient is
TRL's own ``compute_loss`` on its generation batch, over two micro-batches of gradient accumulation.
Both must agree within 1e-5 relative L2.
"""

from __future__ import annotations

import math
import subprocess
import sys

import pytest
import torch

trl = pytest.importorskip("trl")  # in the [test] extra; skipped only where TRL is absent

from accelerate import Accelerator  # noqa: E402
from datasets import Dataset  # noqa: E402

from llm.integrations.core import resampling_seed, step_diagnostics  # noqa: E402
from llm.integrations.trl import TsallisGRPOTrainer, check_grpo_args, tsallis_grpo_config  # noqa: E402
from llm.models import tiny_random_policy  # noqa: E402
from llm.rollout.base import Rollout  # noqa: E402
from llm.train.recipe import load_config  # noqa: E402
from llm.train.loss import LossSpec  # noqa: E402
from llm.train.update import accumulate_gradients, sequence_coefficients  # noqa: E402
from tsallis.estimators import EstimatorOptions, compute_weights  # noqa: E402

PROMPTS = ["The answer is", "Hello there, how are", "Count: 1 2 3"]  # different lengths: left padding
G, M, MAX_LEN = 3, 4, 6
TEMPERATURE = 0.7  # not 1, so a missing temperature scaling would show
Q = 0.75
# fixed rewards per (prompt, sample), in TRL's order: one group with 2 successes (PAFT's resampling matters),
# one with 1, one with 3; none all-equal, so every estimator has signal in every group
PATTERN = [1.0, 0.0, 1.0, 0.0, 0.0, 0.0, 0.0, 1.0, 1.0, 1.0, 0.0, 1.0]
LENGTHS = [6, 2, 4, 1, 5, 3, 6, 2, 3, 1, 4, 5]  # completion lengths imposed through the mask (as EOS would)


def pattern_reward(completions, **kwargs):
    """The fixed PATTERN, whatever was generated."""
    assert len(completions) == len(PATTERN)
    return list(PATTERN)


def make_args(**overrides):
    values = dict(
        output_dir="/tmp/tsallis-trl-test", report_to=[], save_strategy="no", use_cpu=True, bf16=False,
        activation_checkpointing=False,  # TRL defaults to gradient checkpointing; the tiny model needs none
        per_device_train_batch_size=G * M // 2, gradient_accumulation_steps=2,  # 2 micro-batches per step
        num_generations=M, max_completion_length=MAX_LEN, temperature=TEMPERATURE, seed=0, logging_steps=1,
        max_steps=1, learning_rate=1e-3,
    )
    values.update(overrides)
    return tsallis_grpo_config(**values)


def make_trainer(model, tokenizer, reward=pattern_reward, **kwargs):
    args = kwargs.pop("args", None) or make_args()
    dataset = Dataset.from_dict({"prompt": PROMPTS})
    return TsallisGRPOTrainer(model=model, reward_funcs=reward, args=args, train_dataset=dataset,
                              processing_class=tokenizer, **kwargs)


def flat_grad(model) -> torch.Tensor:
    return torch.cat([(p.grad if p.grad is not None else torch.zeros_like(p)).reshape(-1) for p in model.parameters()])


def trl_gradient(trainer, batch) -> torch.Tensor:
    """TRL's gradient of one optimizer step on ``batch``: compute_loss per micro-batch, backward, summed."""
    model = trainer.model
    model.zero_grad(set_to_none=True)
    trainer.current_gradient_accumulation_steps = 2
    half = G * M // 2
    for rows in (slice(0, half), slice(half, G * M)):
        part = {k: (v[rows] if torch.is_tensor(v) and v.ndim > 0 else v) for k, v in batch.items()}
        trainer.compute_loss(model, part).backward()
    return flat_grad(model)


def generation_batch(trainer):
    """One generation batch of G·M completions from TRL (train mode), with the LENGTHS imposed on the mask."""
    trainer.model.train()
    out = trainer._generate_and_score_completions([{"prompt": p} for p in PROMPTS for _ in range(M)])
    mask = (torch.arange(MAX_LEN)[None, :] < torch.tensor(LENGTHS)[:, None]).to(out["completion_mask"].dtype)
    out["completion_mask"] = out["completion_mask"] * mask
    assert out["completion_mask"].sum(dim=1).tolist() == LENGTHS  # TRL generated the full MAX_LEN tokens
    return out


def as_rollouts(out) -> list[Rollout]:
    rollouts = []
    for i in range(G * M):
        prompt = out["prompt_ids"][i][out["prompt_mask"][i].bool()].tolist()
        completion = out["completion_ids"][i][out["completion_mask"][i].bool()].tolist()
        rollouts.append(Rollout(i // M, i % M, prompt, completion, "", [0.0] * len(completion), "eos"))
    return rollouts


def project_gradient(model, rollouts, advantages, pad_id) -> torch.Tensor:
    model.zero_grad(set_to_none=True)
    spec = LossSpec(agg="seq-sum", clip=None, kl_beta=0.0, kl_bias_correction=False, temperature=TEMPERATURE,
                    max_new_tokens=MAX_LEN, micro_batch_size=5)
    accumulate_gradients(model, rollouts, advantages, spec, accelerator=Accelerator(cpu=True), pad_id=pad_id)
    return flat_grad(model)


CASES = [
    ("garl", "none", ["algo.name=garl", f"algo.q={Q}", "algo.baseline=none"]),
    ("garl", "mean", ["algo.name=garl", f"algo.q={Q}", "algo.baseline=mean"]),
    ("garl", "loo", ["algo.name=garl", f"algo.q={Q}", "algo.baseline=loo"]),
    ("paft", None, ["algo.name=paft", f"algo.q={Q}", "algo.num_resamples=4"]),
]


@pytest.fixture(scope="module")
def policy():
    return tiny_random_policy(seed=0)


@pytest.mark.parametrize("estimator,baseline,sets", CASES, ids=[f"{c[0]}-{c[1]}" for c in CASES])
def test_trl_gradient_equals_project_trainer_gradient(policy, estimator, baseline, sets):
    """∇ of TRL's luspo loss with the plug-in's advantages = this project's -(1/G) Σ w ∇log p(z), rel. L2 < 1e-5."""
    model, tokenizer = policy
    options = {"baseline": baseline} if baseline else {"num_resamples": 4}
    trainer = make_trainer(model, tokenizer, estimator=estimator, estimator_options=options, q_schedule=Q)
    out = generation_batch(trainer)
    rewards = torch.tensor(PATTERN, dtype=torch.float64).reshape(G, M)

    # the project's trainer: A = M·w from its own config, PAFT with the plug-in's step-0 resampling seed
    config = load_config(None, sets + [f"rollout.num_samples={M}"])
    generator = torch.Generator().manual_seed(resampling_seed(0, 0))
    advantages = sequence_coefficients(config, rewards, Q, generator)  # (G·M,)
    torch.testing.assert_close(out["advantages"], advantages, rtol=1e-6, atol=1e-6)

    ours = project_gradient(model, as_rollouts(out), advantages, tokenizer.pad_token_id)
    theirs = trl_gradient(trainer, out)
    relative = float((theirs - ours).norm() / ours.norm())
    assert float(ours.norm()) > 1.0  # a real gradient, not zeros on both sides
    assert relative < 1e-5, f"relative L2 difference {relative:.2e}"


def test_paft_resampling_is_seeded_by_step_not_rank(policy):
    """The plug-in's PAFT advantages are M × compute_weights with generator seed derive_seed(seed, step, 1):
    no rank enters the seed. Another resampling seed draws different counts (the seed is used)."""
    model, tokenizer = policy
    rewards = torch.tensor(PATTERN, dtype=torch.float64).reshape(G, M)
    options = dict(q=Q, num_resamples=4)

    def expected(seed):
        return M * compute_weights("paft", rewards, EstimatorOptions(
            **options, generator=torch.Generator().manual_seed(resampling_seed(seed, 0)))).reshape(-1)

    draws = {}
    for seed in (0, 7):
        trainer = make_trainer(model, tokenizer, estimator="paft", estimator_options=options, resampling_seed=seed)
        draws[seed] = generation_batch(trainer)["advantages"].double()
        torch.testing.assert_close(draws[seed], expected(seed), rtol=1e-6, atol=1e-6)
    assert not torch.equal(draws[0], draws[7])


def test_two_step_training_run_logs_diagnostics_and_the_q_schedule(policy, tmp_path):
    """trainer.train() for 2 steps: parameters move, q follows the schedule at the global step (1 then 0),
    and the tsallis/ diagnostics in TRL's log equal step_diagnostics of that step's rewards."""
    _, tokenizer = policy
    model, _ = tiny_random_policy(seed=1)  # its own copy: training changes it
    seen: list[list[float]] = []

    def reward(completions, completion_ids, **kwargs):
        values = [float(ids[0] % 2 == 0) for ids in completion_ids]  # learnable: parity of the first token
        seen.append(values)
        return values

    args = make_args(output_dir=str(tmp_path), max_steps=2)
    trainer = make_trainer(model, tokenizer, reward=reward, args=args, estimator="garl",
                           estimator_options={"baseline": "mean"},
                           q_schedule={"kind": "step", "switch_step": 1, "q_before": 1.0, "q_after": 0.0})
    before = [p.detach().clone() for p in model.parameters()]
    trainer.train()
    logs = [entry for entry in trainer.state.log_history if "tsallis/algo/q" in entry]
    assert [entry["step"] for entry in logs] == [1, 2]
    assert [entry["tsallis/algo/q"] for entry in logs] == [1.0, 0.0]
    for entry, values in zip(logs, seen):
        expected = step_diagnostics(torch.tensor(values).reshape(G, M), entry["tsallis/algo/q"], "garl")
        for key in ("p_hat/mean", "p_hat/p25", "p_hat/p75", "groups/frac_no_success", "amplification/mean"):
            assert math.isclose(entry[f"tsallis/{key}"], expected[key], rel_tol=1e-9, abs_tol=1e-12), key
        assert math.isclose(entry["reward"], expected["p_hat/mean"], rel_tol=1e-6)  # TRL's own mean reward
    moved = sum(float((p.detach() - b).abs().sum()) for p, b in zip(model.parameters(), before))
    assert moved > 0 and all(torch.isfinite(p).all() for p in model.parameters())


def test_config_checks_name_the_option():
    with pytest.raises(ValueError, match="loss_type='luspo'"):
        tsallis_grpo_config(output_dir="/tmp/x", loss_type="dapo")
    args = make_args()
    args.importance_sampling_level = "sequence"
    with pytest.raises(ValueError, match="importance_sampling_level='token'"):
        check_grpo_args(args)
    args = make_args(num_iterations=2, beta=0.1)
    notes = check_grpo_args(args)
    assert any("num_iterations=2" in n for n in notes) and any("beta=0.1" in n for n in notes)


def test_trainer_rejects_bad_estimator_arguments(policy):
    model, tokenizer = policy
    with pytest.raises(ValueError, match="estimator must be one of .* got estimator='sft'"):
        make_trainer(model, tokenizer, estimator="sft")
    with pytest.raises(ValueError, match="generator must be None"):
        make_trainer(model, tokenizer, estimator="paft", estimator_options=EstimatorOptions(generator=torch.Generator()))
    with pytest.raises(ValueError, match="unknown estimator option"):
        make_trainer(model, tokenizer, estimator="garl", estimator_options={"basline": "mean"})


def test_module_imports_without_trl():
    """``import llm.integrations.trl`` must not import TRL (it is an optional extra)."""
    code = "import sys, llm.integrations.trl, llm.integrations.verl; print('trl' in sys.modules)"
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert result.stdout.strip() == "False"
