"""The per-benchmark reward/score functions (answer extraction: test_scoring_extract.py)."""

import pytest

from llm.data import BENCHMARKS, Example, load_benchmark
from llm.scoring import SCORERS, get_scorer, reward, score

def _example(benchmark, answer, aliases=()):
    return Example(id="x", benchmark=benchmark, question="q", context="", answer=answer, aliases=aliases)


@pytest.mark.parametrize(("benchmark", "answer", "aliases", "completion", "em", "f1"), [
    ("hotpotqa", "yes", (), "Both are American.\nAnswer: Yes", 1.0, 1.0),
    ("hotpotqa", "yes", (), "Answer: yes they are", 0.0, 0.0),  # yes/no rule
    ("hotpotqa", "Eiffel Tower", ("Tower",), "Answer: Tower", 0.0, 2 / 3),  # HotPotQA ignores aliases
    ("musique", "G. Stanley Hall", ("Stanley Hall",), "Answer: Stanley Hall", 1.0, 1.0),
    ("musique", "G. Stanley Hall", ("Stanley Hall",), "Answer: Hall", 0.0, 2 / 3),
    ("musique", "Paris", (), "I think Paris.", 0.0, 0.0),  # no Answer: line
])
def test_qa_scores(benchmark, answer, aliases, completion, em, f1):
    result = get_scorer(benchmark).score(_example(benchmark, answer, aliases), completion)
    assert result["em"] == em and result["f1"] == pytest.approx(f1)
    assert result["correct"] is (em == 1.0)
    assert reward(_example(benchmark, answer, aliases), completion) == float(em)


def test_rewards_are_binary_and_agree_with_score_on_shipped_data():
    completions = ["Answer: {gold}", "Answer: {gold} and more words", "nothing", "Answer: 0", "Answer: no"]
    for benchmark, split in (("finqa", "dev"), ("hotpotqa", "dev"), ("musique", "train")):
        for example in load_benchmark(benchmark, split=split, limit=20):
            for template in completions:
                completion = template.format(gold=example.answer)
                r = reward(example, completion)
                assert r in (0.0, 1.0) and r == float(score(example, completion)["correct"])
            assert reward(example, f"Reasoning.\nAnswer: {example.answer}") == 1.0  # the gold itself is correct


def test_get_scorer_registry():
    assert set(SCORERS) == set(BENCHMARKS)  # every benchmark has its verifier
    with pytest.raises(ValueError, match="unknown benchmark 'squad'"):
        get_scorer("squad")
