"""The synthetic reversal task: deterministic prompts, targets, split and corruption; its tokenizer and verifier."""

from __future__ import annotations

import pytest

from llm.data import load_benchmark
from llm.data.prompts import build_prompt
from llm.data.synthetic import SyntheticTask, make_examples, read_task_file, synthetic_tokenizer, write_task_file
from llm.scoring import get_scorer


def test_same_seed_same_examples_other_seed_other_prompts():
    task = SyntheticTask(noise=0.25)
    assert make_examples(task, "train") == make_examples(SyntheticTask(noise=0.25), "train")
    assert [x.metadata for x in make_examples(task, "train")] == [x.metadata for x in make_examples(task, "train")]
    other = {x.question for x in make_examples(SyntheticTask(noise=0.25, seed=1), "train")}
    assert other != {x.question for x in make_examples(task, "train")}


def test_prompts_distinct_non_palindromic_and_splits_disjoint():
    task = SyntheticTask(symbols=5, prompt_length=3, num_train=40, num_heldout=40)
    train, dev = make_examples(task, "train"), make_examples(task, "dev")
    prompts = [x.question for x in train + dev]
    assert len(set(prompts)) == 80
    assert all(p != p[::-1] for p in prompts)
    assert all(set(p) <= set("01234") and len(p) == 3 for p in prompts)
    assert {x.id for x in train}.isdisjoint({x.id for x in dev})


def test_targets_are_reversals_and_noise_corrupts_exactly_the_chosen_share():
    task = SyntheticTask(num_train=40, noise=0.3)
    train = make_examples(task, "train")
    corrupted = [x for x in train if x.metadata["corrupted"]]
    assert len(corrupted) == 12  # round(0.3 * 40)
    for x in train:
        assert x.metadata["clean_answer"] == x.question[::-1]
        assert x.answer == (x.question if x.metadata["corrupted"] else x.question[::-1])
    assert all(x.answer == x.question[::-1] and not x.metadata["corrupted"] for x in make_examples(task, "dev"))
    # the clean task has the same prompts in the same order: noise only changes targets
    assert [x.question for x in make_examples(SyntheticTask(num_train=40), "train")] == [x.question for x in train]


@pytest.mark.parametrize("bad, message", [
    ({"symbols": 11}, "symbols must be an integer in"), ({"noise": 1.0}, "noise must be a number in"),
    ({"noise": True}, "noise must be a number in"), ({"free_tokens": -1}, "free_tokens"),
    ({"symbols": 2, "prompt_length": 2, "num_train": 2, "num_heldout": 1}, "non-palindromic prompts exist"),
])
def test_bad_settings_name_the_field_and_value(bad, message):
    with pytest.raises(ValueError, match=message):
        SyntheticTask(**bad)


def test_registry_loads_the_task_from_settings_or_a_file(tmp_path):
    task = SyntheticTask(num_train=10, num_heldout=6, seed=3)
    assert load_benchmark("synthetic", split="dev", task=task) == make_examples(task, "dev")
    assert load_benchmark("synthetic", split="train", task={"num_train": 10, "seed": 3}, limit=4) == \
        make_examples(SyntheticTask(num_train=10, seed=3), "train")[:4]
    path = write_task_file(task, tmp_path / "task.yaml")
    assert read_task_file(path) == task
    assert load_benchmark("synthetic", path, split="train") == make_examples(task, "train")
    with pytest.raises(ValueError, match="unknown synthetic task setting"):
        load_benchmark("synthetic", split="train", task={"num_trian": 3})
    with pytest.raises(ValueError, match="splits 'train' and 'dev'"):
        load_benchmark("synthetic", split="test")


def test_tokenizer_one_character_per_token_and_prompt():
    task = SyntheticTask()
    tok = synthetic_tokenizer(task)
    assert len(tok) == 8 + 1 + 2 + 1  # digits, '>', 'r' 'c', EOS
    x = make_examples(task, "train")[0]
    prompt = build_prompt(x, tok)
    assert prompt == x.question + ">"
    ids = tok(prompt, add_special_tokens=False)["input_ids"]
    assert len(ids) == 5 and tok.decode(ids) == prompt
    assert tok.decode(ids + [tok.eos_token_id], skip_special_tokens=True) == prompt


def test_verifier_reads_only_the_answer_slot():
    task = SyntheticTask()
    x = make_examples(task, "train")[0]
    scorer = get_scorer("synthetic")
    assert scorer.reward(x, "r7" + x.answer) == 1.0  # any two free tokens
    assert scorer.reward(x, ">c" + x.answer) == 1.0
    assert scorer.reward(x, "rr" + x.question) == 0.0  # the copy is wrong (not a palindrome)
    assert scorer.reward(x, x.answer) == 0.0  # too short: stopped before the answer slot
    assert scorer.reward(x, "r" + x.answer) == 0.0
    score = scorer.score(x, "c1" + x.answer[:3] + "0")
    assert score["format_ok"] and score["prediction"] == x.answer[:3] + "0" and not score["correct"]
