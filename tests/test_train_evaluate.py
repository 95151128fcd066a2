"""Training-time held-out evaluation scores answers by the same rule as the training reward."""

from __future__ import annotations

from llm.data import load_benchmark
from llm.train import build
from llm.train.evaluate import evaluate_held_out
from llm.train.recipe import load_config


class AnswerEngine:
    """A rollout engine stand-in that answers every prompt with one fixed completion."""

    def __init__(self, completion: str) -> None:
        self.completion = completion

    def generate(self, prompts, n, sampling, seed):
        from llm.rollout import Rollout

        return [[Rollout(prompt_index=g, sample_index=m, prompt_ids=[1], completion_ids=[5], text=self.completion,
                         logprobs=[-1.0], finish_reason="eos") for m in range(n)] for g, _ in enumerate(prompts)]


def test_held_out_evaluation_follows_data_strict_scoring():
    """The FinQA gold 0.56197 answered as "56.197" (a percentage without its sign) is right by the tolerant rule
    and wrong by the official one."""
    [example] = [x for x in load_benchmark("finqa", split="dev") if x.answer == "0.56197"]
    means = {}
    for strict in (False, True):
        config = load_config(None, ["data.benchmark=finqa", "eval.every=1", "eval.k=2", f"data.strict_scoring={strict}",
                                    "data.chat_template=false", "progress=false"])
        data = build.Data(train=[], train_prompts=[], eval=[example])
        means[strict] = evaluate_held_out(AnswerEngine("Answer: 56.197"), None, data, config, seed=0)["eval/pass@1"]
    assert means == {False: 1.0, True: 0.0}
