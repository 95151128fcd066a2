"""The "same direction, scalar amplification" claim: ∇ ln_q P = P^(-q) ∇P, with ∇P = E[r ∇log p]."""


import numpy as np
import pytest
import torch

from tsallis import amplification, jq_objective


def softmax_success(theta: torch.Tensor, correct: list[int]) -> torch.Tensor:
    return torch.softmax(theta, dim=0)[correct].sum()


@pytest.mark.parametrize("q", [0.0, 0.25, 0.5, 0.75, 1.0])
def test_autograd_of_jq_is_amplified_grad_p(q):
    gen = torch.Generator().manual_seed(0)
    theta = torch.randn(7, generator=gen, dtype=torch.float64) * 2
    correct = [1, 4]
    t1 = theta.clone().requires_grad_(True)
    (grad_j,) = torch.autograd.grad(jq_objective(softmax_success(t1, correct), q), t1)
    t2 = theta.clone().requires_grad_(True)
    p = softmax_success(t2, correct)
    (grad_p,) = torch.autograd.grad(p, t2)
    expected = amplification(p.detach(), q) * grad_p
    torch.testing.assert_close(grad_j, expected, rtol=1e-12, atol=1e-15)
    cosine = torch.dot(grad_j, grad_p) / (grad_j.norm() * grad_p.norm())
    assert float(cosine) == pytest.approx(1.0, abs=1e-12)


def test_grad_p_is_expected_reward_times_score_by_enumeration():
    """Exact expectation over the K arms: Σ_z p(z) r(z) ∇log p(z) equals autograd's ∇P."""
    theta = torch.tensor([0.3, -1.2, 0.8, 0.0], dtype=torch.float64, requires_grad=True)
    correct = [2]
    (grad_p,) = torch.autograd.grad(softmax_success(theta, correct), theta)
    probs = torch.softmax(theta.detach(), 0).numpy()
    expectation = np.zeros(4)
    for z in range(4):
        score = np.eye(4)[z] - probs  # ∇_θ log softmax(θ)_z
        expectation += probs[z] * float(z in correct) * score
    np.testing.assert_allclose(expectation, grad_p.numpy(), rtol=1e-12)
