"""The trainer's replay buffer: fifo and reservoir contents by hand, no duplicates, exact resume, the union arrays."""

import json

import numpy as np
import pytest
import torch

from llm.rollout.base import Rollout
from llm.seeding import derive_seed
from llm.train.replay import ReplayBuffer, StoredCompletion, replay_union
from tsallis import EstimatorOptions, compute_weights
from tsallis.replay import replay_proposal

PROMPT = [11, 12]


def rollouts(*completions, prompt=PROMPT):
    """One Rollout per completion token list (text = the tokens joined)."""
    return [Rollout(0, i, list(prompt), list(c), "".join(map(str, c)), [0.0] * len(c), "eos")
            for i, c in enumerate(completions)]


def contents(buffer, index):
    return [e.completion_ids for e in buffer.stored(index)]


def test_fifo_hand_computed():
    buffer = ReplayBuffer(capacity=2, policy="fifo")
    assert buffer.add(3, rollouts([1], [2], [3]), [1.0, 0.0, 1.0]) == 2  # the failure [2] is not stored
    assert contents(buffer, 3) == [(1,), (3,)]
    # [1] was stored when the call started: skipped, although [4] evicts it first
    assert buffer.add(3, rollouts([4], [1]), torch.tensor([1.0, 1.0])) == 1
    assert contents(buffer, 3) == [(3,), (4,)]
    assert buffer.add(3, rollouts([1], [1]), [1.0, 1.0]) == 1  # evicted by an earlier call: new again, once
    assert contents(buffer, 3) == [(4,), (1,)]
    assert buffer.stored(5) == () and buffer.prompt_ids(5) is None and buffer.prompt_ids(3) == (11, 12)
    assert len(buffer) == 2
    entry = buffer.stored(3)[1]
    assert entry == StoredCompletion((1,), "1", 1.0, "eos")
    rollout = entry.as_rollout(0, 7, PROMPT, [-0.5])
    assert (rollout.completion_ids, rollout.sample_index, rollout.logprobs, rollout.text) == ([1], 7, [-0.5], "1")


def test_threshold_and_partial_rewards():
    buffer = ReplayBuffer(capacity=4, threshold=0.5)
    assert buffer.add(0, rollouts([1], [2], [3]), [0.4, 0.5, 0.9]) == 2
    assert [(e.completion_ids, e.reward) for e in buffer.stored(0)] == [((2,), 0.5), ((3,), 0.9)]


def test_reservoir_slots_follow_algorithm_r():
    buffer = ReplayBuffer(capacity=2, policy="reservoir", seed=9)
    buffer.add(4, rollouts([1], [2]), [1.0, 1.0])
    expected = [(1,), (2,)]
    for t, token in ((3, 3), (4, 4), (5, 5)):  # the t-th new success replaces slot j ~ U{0..t-1} if j < 2
        j = int(np.random.default_rng(derive_seed(9, 4, t)).integers(t))
        if j < 2:
            expected[j] = (token,)
        buffer.add(4, rollouts([token]), [1.0])
        assert contents(buffer, 4) == expected
    buffer.add(4, rollouts(list(expected[0])), [1.0])  # a duplicate is no offer: t stays 5
    assert buffer.state_dict()["prompts"][0][2] == 5


def test_reservoir_keeps_a_uniform_sample_of_the_offers():
    # capacity 2 out of 6 distinct successes: each is kept with probability 1/3 (independently seeded prompts)
    buffer = ReplayBuffer(capacity=2, policy="reservoir", seed=1)
    prompts = 3000
    for index in range(prompts):
        buffer.add(index, rollouts([1], [2], [3]), [1.0, 1.0, 1.0])
        buffer.add(index, rollouts([4], [5], [6]), [1.0, 1.0, 1.0])
    kept = np.zeros(6)
    for index in range(prompts):
        for (token,) in contents(buffer, index):
            kept[token - 1] += 1
    sd = np.sqrt(prompts * (1 / 3) * (2 / 3))
    assert np.all(np.abs(kept - prompts / 3) < 4.5 * sd), kept


@pytest.mark.parametrize("policy", ["fifo", "reservoir"])
def test_resume_is_bitwise_identical(policy):
    rng = np.random.default_rng(0)
    steps = []
    for _ in range(12):
        index = int(rng.integers(4))
        group = [list(rng.integers(0, 3, size=rng.integers(1, 3))) for _ in range(4)]
        steps.append((index, group, (rng.random(4) < 0.6).astype(float)))
    full = ReplayBuffer(3, policy, seed=5)
    for index, group, rewards in steps:
        full.add(index, rollouts(*group), rewards)
    first = ReplayBuffer(3, policy, seed=5)
    for index, group, rewards in steps[:6]:
        first.add(index, rollouts(*group), rewards)
    resumed = ReplayBuffer(3, policy, seed=5)
    resumed.load_state_dict(json.loads(json.dumps(first.state_dict())))
    for index, group, rewards in steps[6:]:
        resumed.add(index, rollouts(*group), rewards)
    assert resumed.state_dict() == full.state_dict()
    assert all(resumed.stored(i) == full.stored(i) for i in range(4))
    assert len(full) > 3  # the script stores something in several prompts
    with pytest.raises(ValueError, match="replay buffer state has other settings {'seed': 5}"):
        ReplayBuffer(3, policy, seed=6).load_state_dict(full.state_dict())


def test_replay_union_hand_built():
    buffer = ReplayBuffer(capacity=3)
    buffer.add(5, rollouts([7, 8], [9]), [1.0, 1.0])  # x = (7, 8), y = (9,)
    groups = [rollouts([9], [4]), rollouts([2], [2])]  # prompt 5: y and z; prompt 7: u twice
    union = replay_union(buffer, [5, 7], groups, torch.tensor([[1.0, 0.0], [0.0, 0.0]]))
    assert union.num_fresh == 2 and [len(s) for s in union.stored] == [2, 0]
    assert union.rewards.tolist() == [[1.0, 0.0, 1.0, 1.0], [0.0, 0.0, 0.0, 0.0]]
    assert union.sequence_ids.tolist() == [[0, 1, 2, 0], [0, 0, 0, 0]]  # y, z, x, y; u, u, (empty, empty)
    assert union.valid.tolist() == [[True] * 4, [True, True, False, False]]
    logp = union.log_probs(torch.tensor([[-1.0, -2.0], [-3.0, -3.0]]), [[-5.0, -6.0], []])
    assert logp.tolist() == [[-6.0, -2.0, -5.0, -6.0], [-3.0, -3.0, 0.0, 0.0]]  # fresh y takes the stored value
    # into the core and PAFT: row 0 is N = 4, M = 2 with y stored once: P̂ = (h(y) + h(x) + h(y)), h = p/(2p + n)
    proposal = replay_proposal(union.rewards, logp, union.sequence_ids, union.num_fresh, union.valid)
    p_y, p_x = np.exp(-6.0), np.exp(-5.0)
    expected = 2 * p_y / (2 * p_y + 1) + p_x / (2 * p_x + 1)
    assert float(proposal.p_hat[0]) == pytest.approx(expected, rel=1e-14) and float(proposal.p_hat[1]) == 0.0
    weights = compute_weights("paft", union.rewards, EstimatorOptions(
        q=1.0, num_resamples=4, generator=torch.Generator().manual_seed(0), proposal_logw=proposal.proposal_logw,
        p_hat=proposal.p_hat))
    assert float(weights[0].sum()) == pytest.approx(1.0) and weights[1].abs().sum() == 0 and weights[0, 1] == 0
    # no stored completions anywhere: the union is the fresh groups
    empty = replay_union(ReplayBuffer(2), [0], [rollouts([1], [2])], torch.tensor([[1.0, 0.0]]))
    assert empty.rewards.shape == (1, 2) and empty.sequence_ids.tolist() == [[0, 1]]


def test_errors_name_the_argument():
    with pytest.raises(ValueError, match="capacity must be an integer >= 1, got capacity=0"):
        ReplayBuffer(0)
    with pytest.raises(ValueError, match=r"policy must be one of \('fifo', 'reservoir'\), got policy='lru'"):
        ReplayBuffer(2, "lru")
    with pytest.raises(ValueError, match=r"threshold must be a number in \(0, 1\], got threshold=0"):
        ReplayBuffer(2, threshold=0)
    buffer = ReplayBuffer(2)
    with pytest.raises(ValueError, match="need one reward per rollout, got 1 rewards for 2 rollouts"):
        buffer.add(0, rollouts([1], [2]), [1.0])
    with pytest.raises(ValueError, match=r"rewards must lie in \[0, 1\], got rewards\[0\]=nan"):
        buffer.add(0, rollouts([1]), [float("nan")])
    with pytest.raises(ValueError, match="prompt_index must be an integer >= 0, got prompt_index=-1"):
        buffer.add(-1, rollouts([1]), [1.0])
    buffer.add(0, rollouts([1]), [1.0])
    with pytest.raises(ValueError, match="prompt 0 was stored with other prompt token ids"):
        buffer.add(0, rollouts([2], prompt=[11]), [1.0])
    with pytest.raises(ValueError, match="groups\\[0\\] has 1 completions, rewards have M = 2"):
        replay_union(buffer, [0], [rollouts([1])], torch.zeros((1, 2)))
    union = replay_union(buffer, [0], [rollouts([3], [4])], torch.zeros((1, 2)))
    with pytest.raises(ValueError, match=r"stored\[0\] has 0 log-probabilities for 1 completions"):
        union.log_probs(torch.zeros((1, 2)), [[]])
