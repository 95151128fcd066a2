"""Training batches: the shared-prompt layout and its two-pass log-probs against one unpadded pass per sequence.

Reference: for each (prompt, completion), ℓ_t = log softmax(logits_t / T)[y_t] and the entropy of
softmax(logits_t / T) from one forward pass over the unpadded prompt + completion, and the gradient of
Σ_i w_i Σ_t ℓ_it by autograd of that sum. The batch computes the same with padding, prompts kept once, a prompt
pass and a completion pass; both must agree to float32 round-off.
"""

from __future__ import annotations

import pytest
import torch

from llm.models import tiny_random_policy
from llm.train.batch import collate, token_logprobs

PAD = 0


@pytest.fixture(scope="module")
def policy():
    model, _ = tiny_random_policy(seed=0)
    return model.train()


def rows(seed: int, prompts: int, samples: int, max_completion: int = 8):
    """``samples`` completions for each of ``prompts`` random prompts of different lengths, prompt-major, plus
    one more row repeating prompt 0 at the end (rows of a prompt need not be adjacent)."""
    gen = torch.Generator().manual_seed(seed)
    distinct = [torch.randint(10, 1000, (int(torch.randint(2, 9, (1,), generator=gen)),), generator=gen).tolist()
                for _ in range(prompts)]
    prompt_rows = [p for p in distinct for _ in range(samples)] + [distinct[0]]
    completions = [torch.randint(10, 1000, (int(torch.randint(1, max_completion + 1, (1,), generator=gen)),),
                                 generator=gen).tolist() for _ in prompt_rows]
    return prompt_rows, completions


def reference(model, prompt_rows, completions, temperature, weights):
    """Per row: (ℓ (T_i,), entropy (T_i,)) from one unpadded pass, and the gradient of Σ_i w_i Σ_t ℓ_it."""
    model.zero_grad(set_to_none=True)
    logps, entropies, total = [], [], 0.0
    for w, p, c in zip(weights, prompt_rows, completions):
        logits = model(input_ids=torch.tensor([p + c])).logits[0, len(p) - 1 : -1].float() / temperature  # (T, V)
        logp = torch.log_softmax(logits, dim=-1)
        chosen = logp.gather(1, torch.tensor(c)[:, None]).squeeze(1)
        logps.append(chosen.detach())
        entropies.append(-(logp.exp() * logp).sum(dim=-1).detach())
        total = total + float(w) * chosen.sum()
    total.backward()
    return logps, entropies, [p.grad.clone() for p in model.parameters()]


def batched(model, prompt_rows, completions, temperature, weights):
    batch = collate(prompt_rows, completions, PAD)
    model.zero_grad(set_to_none=True)
    logps, entropy = token_logprobs(model, batch, temperature, with_entropy=True)
    (logps * batch.completion_mask * weights[:, None]).sum().backward()
    return batch, logps.detach(), entropy, [p.grad.clone() for p in model.parameters()]


def relative_l2(grad: list[torch.Tensor], ref: list[torch.Tensor]) -> float:
    """||g - g_ref|| / ||g_ref|| over all parameters."""
    flat, ref_flat = torch.cat([g.reshape(-1) for g in grad]), torch.cat([g.reshape(-1) for g in ref])
    return float((flat - ref_flat).norm() / ref_flat.norm())


def test_collate_keeps_each_prompt_once_and_rebuilds_the_padded_rows():
    prompt_rows = [[5, 6, 7], [5, 6, 7], [8], [5, 6, 7]]
    completions = [[1, 2], [3], [4, 4, 4], [9]]
    batch = collate(prompt_rows, completions, PAD, old_logprobs=[[-1.0, -2.0], [-3.0], [-4.0, -4.0, -4.0], [-5.0]])
    assert batch.prompt_ids.tolist() == [[5, 6, 7], [PAD, PAD, 8]]
    assert batch.prompt_mask.tolist() == [[1, 1, 1], [0, 0, 1]]
    assert batch.prompt_index.tolist() == [0, 0, 1, 0]
    assert batch.input_ids.tolist() == [[5, 6, 7, 1, 2, PAD], [5, 6, 7, 3, PAD, PAD], [PAD, PAD, 8, 4, 4, 4],
                                        [5, 6, 7, 9, PAD, PAD]]
    assert batch.attention_mask.tolist() == [[1, 1, 1, 1, 1, 0], [1, 1, 1, 1, 0, 0], [0, 0, 1, 1, 1, 1],
                                             [1, 1, 1, 1, 0, 0]]
    assert batch.position_ids[2].tolist() == [0, 0, 0, 1, 2, 3]
    assert batch.completion_mask.tolist() == [[1, 1, 0], [1, 0, 0], [1, 1, 1], [1, 0, 0]]
    assert batch.old_logprobs.tolist() == [[-1, -2, 0], [-3, 0, 0], [-4, -4, -4], [-5, 0, 0]]
    with pytest.raises(ValueError, match="sequence 1 has an empty completion"):
        collate([[1], [2]], [[3], []], PAD)


@pytest.mark.parametrize("temperature", [1.0, 0.7])
@pytest.mark.parametrize("prompts, samples", [(1, 4), (3, 3), (4, 1)], ids=["one-prompt", "three-prompts", "distinct"])
def test_shared_prompt_logprobs_entropy_and_gradient_equal_unpadded_passes(policy, temperature, prompts, samples):
    prompt_rows, completions = rows(prompts * 10 + samples, prompts, samples)
    weights = torch.linspace(-1.0, 1.0, len(prompt_rows))
    ref_logps, ref_entropy, ref_grad = reference(policy, prompt_rows, completions, temperature, weights)
    batch, logps, entropy, grad = batched(policy, prompt_rows, completions, temperature, weights)
    assert batch.prompt_ids.shape[0] == prompts
    for i, c in enumerate(completions):
        torch.testing.assert_close(logps[i, : len(c)], ref_logps[i], atol=3e-6, rtol=0)
        torch.testing.assert_close(entropy[i, : len(c)], ref_entropy[i], atol=3e-5, rtol=0)
    assert relative_l2(grad, ref_grad) < 1e-5


def test_one_token_completions_need_only_the_prompt_pass(policy):
    prompt_rows, completions = rows(3, 2, 3, max_completion=1)
    weights = torch.ones(len(prompt_rows))
    ref_logps, _, ref_grad = reference(policy, prompt_rows, completions, 1.0, weights)
    _, logps, _, grad = batched(policy, prompt_rows, completions, 1.0, weights)
    assert logps.shape == (len(prompt_rows), 1)
    torch.testing.assert_close(logps[:, 0], torch.cat(ref_logps), atol=3e-6, rtol=0)
    assert relative_l2(grad, ref_grad) < 1e-5


def test_activation_checkpointing_takes_the_single_pass():
    """Checkpointed layers drop the key/value cache; the single pass over the full rows gives the same values."""
    model, _ = tiny_random_policy(seed=0)
    model.train()
    model.gradient_checkpointing_enable(gradient_checkpointing_kwargs={"use_reentrant": False})
    prompt_rows, completions = rows(5, 2, 2)
    weights = torch.linspace(-1.0, 1.0, len(prompt_rows))
    ref_logps, _, ref_grad = reference(model, prompt_rows, completions, 0.7, weights)
    _, logps, _, grad = batched(model, prompt_rows, completions, 0.7, weights)
    for i, c in enumerate(completions):
        torch.testing.assert_close(logps[i, : len(c)], ref_logps[i], atol=3e-6, rtol=0)
    assert relative_l2(grad, ref_grad) < 1e-5
