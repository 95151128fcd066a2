"""The benchmark registry: every list of benchmark names derives from it, and a new benchmark is one registration."""

from __future__ import annotations

import json
import typing

import pytest

from llm.data import BENCHMARKS, load_benchmark
from llm.data.benchmarks import REGISTRY, Benchmark, benchmark_spec, register
from llm.data.prompts import build_prompt
from llm.data.records import Example
from llm.rollout import ENGINES
from llm.scoring import SCORERS, get_scorer
from llm.train.config import DataConfig, RolloutConfig


def test_config_and_scorer_choices_are_the_registered_names():
    assert typing.get_args(typing.get_type_hints(DataConfig)["benchmark"]) == BENCHMARKS == tuple(REGISTRY)
    assert tuple(SCORERS) == BENCHMARKS
    assert typing.get_args(typing.get_type_hints(RolloutConfig)["engine"]) == tuple(ENGINES)


def test_a_taken_name_cannot_be_registered_again():
    with pytest.raises(ValueError, match="benchmark 'finqa' is already registered"):
        register(Benchmark(name="finqa", scoring_rule="qa"))
    register(REGISTRY["finqa"])  # the same record again is harmless


def _parse_trivia(source, raw, *, closed_book=False) -> Example:
    return Example(id=source.get(raw, "id", str), benchmark="trivia", question=source.get(raw, "q", str),
                   context="", answer=source.get(raw, "a", str))


def test_a_new_benchmark_is_one_registration(tmp_path):
    """Loader, prompt and verifier all follow from one ``register`` call."""
    path = tmp_path / "trivia.json"
    path.write_text(json.dumps([{"id": "t1", "q": "Capital of France?", "a": "Paris"}]))
    register(Benchmark(name="trivia", scoring_rule="qa", scoring_options={"use_aliases": False},
                       instruction="Answer the trivia question{source}.", parse_record=_parse_trivia))
    try:
        [example] = load_benchmark("trivia", path, split="dev")
        assert build_prompt(example).startswith("Answer the trivia question from your own knowledge.")
        assert get_scorer("trivia").reward(example, "Reasoning.\nAnswer: Paris") == 1.0
        assert benchmark_spec("trivia").exact_success is False
    finally:
        del REGISTRY["trivia"]
