"""Dynamic sampling with a scripted engine: batch composition, round bound, fallbacks and token accounting by hand."""

from dataclasses import dataclass

import numpy as np
import pytest

from llm.train.dynamic_sampling import DynamicSampler, dynamic_sample, informative

# prompt index -> (rewards of its M = 2 samples, completion lengths)
SCRIPT = {
    0: ([1.0, 0.0], [3, 4]),  # informative, 7 tokens
    1: ([0.0, 0.0], [5, 5]),  # all fail, 10
    2: ([1.0, 1.0], [2, 2]),  # all succeed, 4
    3: ([0.0, 1.0], [6, 1]),  # informative, 7
    4: ([0.0, 0.0], [8, 8]),  # all fail, 16
    5: ([1.0, 0.0], [1, 1]),  # informative, 2
    6: ([0.0, 1.0], [2, 3]),  # informative, 5
    7: ([1.0, 0.0], [4, 4]),  # informative, 8
}


@dataclass(frozen=True)
class Sample:
    completion_ids: list
    text: str


class ScriptedEngine:
    """generate(indices, round) -> groups from SCRIPT, recording every call."""

    def __init__(self):
        self.calls = []

    def generate(self, indices, round_number):
        self.calls.append((list(indices), round_number))
        return [[Sample([0] * n, f"{i}:{m}") for m, n in enumerate(SCRIPT[i][1])] for i in indices]

    @staticmethod
    def score(indices, groups):
        return [SCRIPT[i][0] for i in indices]


def run(first, fresh, **settings):
    engine, queue = ScriptedEngine(), list(fresh)

    def next_prompts(n):
        taken, queue[:] = queue[:n], queue[n:]
        return taken

    batch = dynamic_sample(first, next_prompts, engine.generate, engine.score, **settings)
    return batch, engine.calls


def test_asks_for_the_missing_groups_until_the_batch_is_full():
    batch, calls = run([0, 1, 2], [3, 4, 5, 6], max_extra_rounds=3)
    assert calls == [([0, 1, 2], 0), ([3, 4], 1), ([5], 2)]  # 2 missing after round 0, then 1
    assert batch.indices == [0, 3, 5] and batch.status == "full"
    assert batch.rewards.tolist() == [[1.0, 0.0], [0.0, 1.0], [1.0, 0.0]]
    assert batch.informative.tolist() == [True, True, True]
    assert [g[0].text for g in batch.groups] == ["0:0", "3:0", "5:0"]
    assert [r.generated_tokens for r in batch.rounds] == [21, 23, 2] and [r.kept for r in batch.rounds] == [1, 1, 1]
    assert batch.rounds[1].informative == (True, False)
    assert (batch.generated_tokens, batch.batch_tokens, batch.discarded_tokens) == (46, 16, 30)
    assert batch.metrics() == {
        "dynamic/rounds": 3.0, "dynamic/prompts_generated": 6.0, "dynamic/groups_informative": 3.0,
        "dynamic/groups_kept": 3.0, "dynamic/groups_filled": 0.0, "dynamic/groups_surplus": 0.0,
        "dynamic/frac_informative": 0.5, "dynamic/generated_tokens": 46.0, "dynamic/batch_tokens": 16.0,
        "dynamic/discarded_tokens": 30.0, "dynamic/full": 1.0,
    }


def test_a_fixed_round_size_counts_the_informative_surplus_as_discarded():
    batch, calls = run([0, 1], [5, 6, 7, 3], max_extra_rounds=2, round_prompts=3)
    assert calls == [([0, 1], 0), ([5, 6, 7], 1)]
    assert batch.indices == [0, 5] and batch.status == "full"
    # 7 + 10 in round 0, 2 + 5 + 8 in round 1; the batch holds 7 + 2; prompts 6 and 7 are surplus
    assert (batch.generated_tokens, batch.batch_tokens, batch.discarded_tokens) == (32, 9, 23)
    assert batch.metrics()["dynamic/groups_surplus"] == 2.0 and batch.rounds[1].kept == 1


@pytest.mark.parametrize("fallback", ["fill", "partial"])
def test_the_round_bound_and_the_fallback(fallback):
    batch, calls = run([1, 2, 0], [4, 2, 3], max_extra_rounds=1, fallback=fallback)
    assert calls == [([1, 2, 0], 0), ([4, 2], 1)]  # one extra round only, although 2 groups are still missing
    assert batch.generated_tokens == 21 + 20
    if fallback == "fill":  # topped up with the earliest zero-variance groups: prompts 1 and 2 of round 0
        assert batch.indices == [0, 1, 2] and batch.status == "filled"
        assert batch.informative.tolist() == [True, False, False]
        assert (batch.batch_tokens, batch.discarded_tokens) == (21, 20)
        assert batch.metrics()["dynamic/groups_filled"] == 2.0
    else:
        assert batch.indices == [0] and batch.status == "partial" and batch.rewards.shape == (1, 2)
        assert (batch.batch_tokens, batch.discarded_tokens) == (7, 34)
    assert batch.metrics()["dynamic/full"] == 0.0


def test_no_extra_rounds_and_no_informative_group():
    batch, calls = run([1, 2], [0], max_extra_rounds=0, fallback="partial")
    assert calls == [([1, 2], 0)] and batch.indices == [] and batch.rewards.shape == (0, 2)
    assert batch.metrics()["dynamic/groups_kept"] == 0.0 and batch.discarded_tokens == 14
    batch, _ = run([1, 2], [0], max_extra_rounds=0)
    assert batch.indices == [1, 2] and batch.status == "filled"  # "fill": the plain step, nothing to train on


def test_informative_is_nonzero_variance():
    assert informative([[1.0, 0.0], [0.0, 0.0], [1.0, 1.0], [0.3, 0.3000001]]).tolist() == [True, False, False, True]
    assert informative([[1.0], [0.0]]).tolist() == [False, False]  # M = 1: never


def test_the_planner_step_by_step():
    engine = ScriptedEngine()
    sampler = DynamicSampler(target=3, max_extra_rounds=3)
    requests = []
    for indices in ([0, 1, 2], [3, 4], [5]):
        groups = engine.generate(indices, 0)
        requests.append(sampler.observe(indices, groups, engine.score(indices, groups)))
    assert requests == [2, 1, 0]
    assert sampler.result().indices == [0, 3, 5]
    with pytest.raises(ValueError, match="observe was called after it returned 0"):
        sampler.observe([6], engine.generate([6], 0), [[0.0, 1.0]])


def test_errors_name_the_culprit():
    engine = ScriptedEngine()
    with pytest.raises(ValueError, match="max_extra_rounds must be an integer >= 0, got max_extra_rounds=-1"):
        DynamicSampler(2, -1)
    with pytest.raises(ValueError, match="round_prompts must be an integer >= 1, got round_prompts=0"):
        DynamicSampler(2, 1, round_prompts=0)
    with pytest.raises(ValueError, match=r"fallback must be one of \('fill', 'partial'\), got fallback='drop'"):
        DynamicSampler(2, 1, fallback="drop")
    with pytest.raises(ValueError, match="the batch is not decided yet"):
        DynamicSampler(2, 1).result()
    with pytest.raises(ValueError, match="generate returned 1 groups for 2 prompts in round 0"):
        dynamic_sample([0, 1], lambda n: [], lambda idx, r: engine.generate(idx[:1], r), engine.score,
                       max_extra_rounds=1)
    with pytest.raises(ValueError, match=r"next_prompts\(2\) returned 1 prompt indices"):
        dynamic_sample([1, 2], lambda n: [3], engine.generate, engine.score, max_extra_rounds=1)
    sampler = DynamicSampler(2, 2)
    sampler.observe([1, 2], engine.generate([1, 2], 0), engine.score([1, 2], None))
    with pytest.raises(ValueError, match="round 1: every group must have M = 2 samples"):
        sampler.observe([0], [[Sample([0], "x")] * 3], [[1.0, 0.0, 0.0]])
    with pytest.raises(ValueError, match=r"round 1: rewards must be finite"):
        sampler.observe([0], engine.generate([0], 1), np.array([[np.nan, 1.0]]))
