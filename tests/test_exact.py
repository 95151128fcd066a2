"""Exact success probabilities on the synthetic task, and the trainer's update against exact expectations.

The policy is a small base model pre-trained with p0 = 0.3 on a small task (prompts of 2 symbols, 1 free token),
so that P_θ(x) is far from 0 and 1 and Monte Carlo comparisons have power.
"""

from __future__ import annotations

import itertools

import numpy as np
import pytest
import torch
from accelerate import Accelerator

from llm.coldstart.base_model import pretrain
from llm.coldstart.settings import BaseModelSpec
from llm.data.synthetic import SyntheticTask, make_examples, prompt_text
from llm.evaluation.exact import exact_metrics, latent_prefixes, success_probabilities, success_probability_tensor
from llm.rollout import SamplingConfig, make_engine
from llm.scoring import get_scorer
from llm.train.config import build_config
from llm.train.loss import LossSpec
from llm.train.update import accumulate_gradients, sequence_coefficients

TASK = SyntheticTask(prompt_length=2, free_tokens=1, num_train=4, num_heldout=3, noise=0.25)


@pytest.fixture(scope="module")
def policy():
    torch.manual_seed(0)
    return pretrain(TASK, BaseModelSpec(p0=0.3, hidden_size=32, num_layers=1, steps=120, seed=0))


def naive_probabilities(model, tokenizer, examples) -> np.ndarray:
    """The obviously correct reference: one full forward pass per (prompt, u, y*) sequence, summed."""
    out = []
    for x in examples:
        prompt = tokenizer(prompt_text(x), add_special_tokens=False)["input_ids"]
        answer = tokenizer(x.answer, add_special_tokens=False)["input_ids"]
        total = 0.0
        for u in latent_prefixes(tokenizer, TASK.free_tokens).tolist():
            ids = torch.tensor([prompt + u + answer])
            with torch.no_grad():
                logp = torch.log_softmax(model(input_ids=ids).logits[0].float(), dim=-1)
            total += float(torch.exp(sum(logp[len(prompt) - 1 + t, tok] for t, tok in enumerate(u + answer))))
        out.append(total)
    return np.array(out)


def test_exact_equals_the_naive_enumeration(policy):
    model, tokenizer = policy
    examples = make_examples(TASK, "train") + make_examples(TASK, "dev")
    exact = success_probabilities(model, tokenizer, examples, batch_rows=16)  # several batches
    np.testing.assert_allclose(exact, naive_probabilities(model, tokenizer, examples), rtol=1e-5)
    assert 0.05 < exact.mean() < 0.6  # the pre-training put P near p0, far from 0 and 1


def test_exact_equals_the_rollout_engines_frequency(policy):
    """P_θ(x) = the share of the HF engine's samples that the verifier accepts, within 4.5 standard errors."""
    model, tokenizer = policy
    examples = make_examples(TASK, "train")
    n = 1500
    engine = make_engine("hf", model=model, tokenizer=tokenizer, batch_size=1024)
    groups = engine.generate([prompt_text(x) for x in examples], n=n,
                             sampling=SamplingConfig(temperature=1.0, max_new_tokens=TASK.completion_length), seed=7)
    scorer = get_scorer("synthetic")
    frequency = np.array([np.mean([scorer.reward(x, r.text) for r in g]) for x, g in zip(examples, groups)])
    exact = success_probabilities(model, tokenizer, examples)
    z = (frequency - exact) / np.sqrt(exact * (1 - exact) / n)
    assert np.all(np.abs(z) < 4.5), (frequency, exact, z)


def test_exact_metrics_split_clean_and_corrupted(policy):
    model, tokenizer = policy
    train, dev = make_examples(TASK, "train"), make_examples(TASK, "dev")
    p = success_probabilities(model, tokenizer, train)
    corrupted = np.array([x.metadata["corrupted"] for x in train])
    metrics = exact_metrics(model, tokenizer, train, dev)
    assert metrics["exact/train_p_mean"] == pytest.approx(p.mean())
    assert metrics["exact/train_p_median"] == pytest.approx(np.median(p))
    assert metrics["exact/clean_p_mean"] == pytest.approx(p[~corrupted].mean())
    assert metrics["exact/corrupted_p_mean"] == pytest.approx(p[corrupted].mean())
    assert metrics["exact/frac_escaped"] == pytest.approx((p >= 0.5).mean())
    assert 0.0 <= metrics["exact/heldout_greedy_acc"] <= 1.0


def expected_coefficient(name: str, options: dict, p: float, m: int) -> float:
    """c with E[ĝ] = c ∇P for one group, by enumerating every reward vector r ∈ {0, 1}^M.

    Given r, the samples are independent with E[∇log p(z) | r = 1] = ∇P / P and E[∇log p(z) | r = 0] =
    -∇P / (1 - P), so E[ĝ] = Σ_r Pr(r) Σ_m E[w_m | r] (r_m / P - (1 - r_m) / (1 - P)) ∇P. PAFT's expectation
    over its resampling is GARL without a baseline (E[c_m | r] = K r_m / S).
    """
    from tsallis.estimators import EstimatorOptions, compute_weights

    if name == "paft":
        name, options = "garl", {**options, "baseline": "none"}
    total = 0.0
    for outcome in itertools.product((0.0, 1.0), repeat=m):
        r = np.array(outcome)
        prob = np.prod(np.where(r == 1, p, 1 - p))
        w = compute_weights(name, r[None], EstimatorOptions(**options))[0]
        total += prob * float(np.sum(w * np.where(r == 1, 1 / p, -1 / (1 - p))))
    return total


ARMS = [("garl", {"q": 0.75, "baseline": "mean"}), ("garl", {"q": 0.75, "baseline": "none"}),
        ("garl", {"q": 0.5, "baseline": "loo"}), ("paft", {"q": 0.75, "num_resamples": 4}),
        ("garl", {"q": 0.0, "baseline": "loo"})]


def test_trainer_gradient_equals_the_exact_expected_estimator_gradient(policy):
    """The trainer's gradient (rollouts of the real engine, tsallis weights, the trainer's loss and backward),
    averaged over many steps, equals -(1/G) Σ_g c_g ∇P_g, with c_g by enumeration of the group's reward vectors and
    ∇P_g by autograd of the exact P. Compared along the exact direction and along 4 fixed random directions,
    within 4.5 standard errors of the mean over steps. For GARL q = 0 with the LOO baseline c = 1: unbiased for ∇P.
    """
    model, tokenizer = policy
    examples = make_examples(TASK, "train")[:2]
    m, steps = 4, 150
    params = [p for p in model.parameters() if p.requires_grad]

    p_tensor = success_probability_tensor(model, tokenizer, examples)  # (G,)
    p_values = p_tensor.detach().numpy()
    grads_p = [torch.cat([g.reshape(-1) for g in torch.autograd.grad(p_tensor[i], params, retain_graph=True)])
               for i in range(len(examples))]
    generator = torch.Generator().manual_seed(0)
    directions = torch.randn(4, grads_p[0].numel(), generator=generator, dtype=torch.float64)

    configs = {}
    for name, options in ARMS:
        algo = {"name": name, **options}
        configs[(name, tuple(options.items()))] = build_config({
            "data": {"benchmark": "synthetic", "synthetic": TASK.to_dict()},
            "rollout": {"num_samples": m, "max_new_tokens": TASK.completion_length}, "algo": algo})
    accelerator = Accelerator(cpu=True)
    engine = make_engine("hf", model=model, tokenizer=tokenizer, batch_size=64)
    scorer = get_scorer("synthetic")
    sampling = SamplingConfig(temperature=1.0, max_new_tokens=TASK.completion_length)
    samples = {key: [] for key in configs}
    for step in range(steps):
        groups = engine.generate([prompt_text(x) for x in examples], n=m, sampling=sampling, seed=1000 + step)
        rewards = torch.tensor([[scorer.reward(x, r.text) for r in g] for x, g in zip(examples, groups)],
                               dtype=torch.float64)
        rollouts = [r for g in groups for r in g]
        for key, config in configs.items():
            coefficients = sequence_coefficients(config, rewards, config.algo.q,
                                                 torch.Generator().manual_seed(step))
            model.zero_grad(set_to_none=True)
            accumulate_gradients(model, rollouts, coefficients, LossSpec.from_config(config), accelerator=accelerator,
                                 pad_id=tokenizer.pad_token_id)
            flat = torch.cat([(p.grad if p.grad is not None else torch.zeros_like(p)).reshape(-1) for p in params])
            samples[key].append(flat.double())

    for (name, options), config in configs.items():
        opts = dict(options)
        exact = -sum(expected_coefficient(name, opts, float(p), m) * g.double()
                     for p, g in zip(p_values, grads_p)) / len(examples)  # gradient of the loss
        basis = torch.cat([(exact / exact.norm())[None], directions / directions.norm(dim=1, keepdim=True)])
        projections = torch.stack(samples[(name, options)]) @ basis.T  # (steps, 5)
        mean = projections.mean(dim=0)
        se = projections.std(dim=0) / steps**0.5
        z = (mean - basis @ exact) / se
        assert torch.all(z.abs() < 4.5), (name, opts, z)
        if opts == {"q": 0.0, "baseline": "loo"}:  # unbiased: E[ĝ] = ∇P exactly
            assert expected_coefficient(name, opts, 0.3, m) == pytest.approx(1.0, abs=1e-12)
