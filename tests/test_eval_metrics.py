"""maj@k, pass@k and mean@k against brute-force definitions (hypothesis) and hand-checked values."""

from fractions import Fraction
from itertools import combinations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from llm.evaluation.metrics import maj_at_k, majority_vote, mean_at_k, pass_at_k


@st.composite
def n_c_k(draw):
    n = draw(st.integers(1, 10))
    return n, draw(st.integers(0, n)), draw(st.integers(1, n))


@given(n_c_k())
def test_pass_at_k_equals_enumeration_over_k_subsets(nck):
    """pass@k = fraction of the C(n, k) size-k subsets of the samples that hold a correct one."""
    n, c, k = nck
    correct = [True] * c + [False] * (n - c)
    subsets = list(combinations(range(n), k))
    exact = Fraction(sum(any(correct[i] for i in s) for s in subsets), len(subsets))
    assert pass_at_k(n, c, k) == pytest.approx(float(exact), abs=1e-12)


def test_pass_at_k_hand_values_and_errors():
    assert pass_at_k(4, 1, 2) == pytest.approx(0.5)  # 1 - C(3,2)/C(4,2) = 1 - 3/6
    assert pass_at_k(5, 2, 1) == pytest.approx(0.4)  # pass@1 = c/n
    assert pass_at_k(5, 0, 3) == 0.0 and pass_at_k(5, 3, 3) == 1.0
    with pytest.raises(ValueError, match="k=6"):
        pass_at_k(5, 1, 6)


@given(st.lists(st.booleans(), min_size=1, max_size=20))
def test_mean_at_k_is_pass_at_1(correct):
    assert mean_at_k(correct) == pytest.approx(pass_at_k(len(correct), sum(correct), 1))


def _brute_majority(keys):
    """Quadratic definition: the winner is a voted key that no other key beats on count, nor ties earlier."""
    voted = [key for key in keys if key is not None]
    for key in voted:
        count, first = voted.count(key), keys.index(key)
        if all(voted.count(other) < count or (voted.count(other) == count and keys.index(other) >= first)
               for other in set(voted)):
            return first
    return None


@st.composite
def samples(draw):
    keys = draw(st.lists(st.one_of(st.none(), st.sampled_from("abcd")), min_size=1, max_size=12))
    # one correctness flag per answer key, shared by every sample with that key (as a scorer gives)
    truth = {key: draw(st.booleans()) for key in "abcd"}
    return keys, [key is not None and truth[key] for key in keys]


@given(samples(), st.data())
def test_maj_at_k_equals_brute_force(sample, data):
    keys, correct = sample
    k = data.draw(st.integers(1, len(keys)))
    winner = _brute_majority(keys[:k])
    assert majority_vote(keys[:k]) == winner
    assert maj_at_k(keys, correct, k) == (0.0 if winner is None else float(correct[winner]))


@given(samples())
def test_a_strict_majority_always_wins(sample):
    keys, correct = sample
    voted = [key for key in keys if key is not None]
    for key in set(voted):
        if voted.count(key) * 2 > len(voted):
            assert keys[majority_vote(keys)] == key


def test_maj_at_k_hand_cases():
    assert maj_at_k(["a", "b", "a"], [True, False, True]) == 1.0
    assert maj_at_k(["b", "a", "a", "b"], [False, True, True, False]) == 0.0  # tie: "b" appeared first
    assert maj_at_k([None, None, "a"], [False, False, True]) == 1.0  # unanswered samples do not vote
    assert maj_at_k([None, None], [False, False]) == 0.0
    assert maj_at_k(["a", "b", "b"], [True, False, False], k=1) == 1.0
    with pytest.raises(ValueError, match="one key per sample"):
        maj_at_k(["a"], [True, False])
