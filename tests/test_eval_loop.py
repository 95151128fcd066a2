"""The evaluation loop with a scripted engine (exact figures) and end to end with a tiny random model."""

import json

import pytest

from llm.data import Example, load_benchmark
from llm.data.prompts import build_prompt
from llm.data.stats import split_stats
from llm.evaluation import EvalConfig, evaluate, format_breakdown, summary_table, write_results
from llm.evaluation.loop import call_seed
from llm.rollout import Rollout, SamplingConfig
from llm.scoring import RULES
from tsallis.cli import main


class ScriptedEngine:
    """Returns fixed completion texts in prompt order and records every call."""

    def __init__(self, texts_per_prompt, check_n=True):
        self.texts = list(texts_per_prompt)
        self.check_n = check_n
        self.calls = []

    def generate(self, prompts, n, sampling, seed):
        self.calls.append((list(prompts), n, seed))
        out = []
        for g, _ in enumerate(prompts):
            texts = self.texts.pop(0)
            assert len(texts) == n or not self.check_n
            out.append([Rollout(prompt_index=g, sample_index=m, prompt_ids=[1], completion_ids=[5, 6, 7],
                                text=t, logprobs=[-1.0, -1.0, -1.0], finish_reason="eos") for m, t in enumerate(texts)])
        return out

    def sync_weights(self, model):
        pass


def _qa(i, answer, aliases=()):
    return Example(id=f"q{i}", benchmark="musique", question=f"question {i}?", context="", answer=answer, aliases=aliases)


def test_scripted_engine_gives_hand_computed_figures(tmp_path):
    examples = [_qa(0, "Paris"), _qa(1, "G. Stanley Hall", ("Stanley Hall",)), _qa(2, "1969")]
    scripts = [
        ["Answer: Paris", "Answer: Lyon", "Answer: paris."],        # maj "paris" correct; c = 2 of 3
        ["Answer: Wundt", "Answer: Stanley Hall", "no answer"],     # tie Wundt/Stanley Hall -> Wundt (first): wrong
        ["Answer: 1968", "I am not sure", "Answer: 1968"],          # maj wrong, c = 0
    ]
    engine = ScriptedEngine(scripts)
    sampling = SamplingConfig(temperature=1.0, max_new_tokens=8)
    result = evaluate(examples, engine, None, sampling, EvalConfig(k=3, seed=5, prompts_per_call=2), show_progress=False)
    assert [len(c[0]) for c in engine.calls] == [2, 1] and [c[2] for c in engine.calls] == [call_seed(5, 0), call_seed(5, 2)]
    assert engine.calls[0][0][0] == build_prompt(examples[0], None)
    maj = [r["maj_at_k"] for r in result.records]
    assert maj == [1.0, 0.0, 0.0]
    assert [r["maj_prediction"] for r in result.records] == ["Paris", "Wundt", "1968"]
    assert [r["pass_at_k"] for r in result.records] == [1.0, 1.0, 0.0]
    assert [r["mean_at_k"] for r in result.records] == pytest.approx([2 / 3, 1 / 3, 0.0])
    assert result.records[1]["f1"] == pytest.approx((0 + 1 + 0) / 3)
    assert result.records[2]["format_ok"] == pytest.approx(2 / 3)
    summary = result.summary["musique"]
    assert summary["questions"] == 3 and summary["maj_at_k"] == pytest.approx(1 / 3)
    assert summary["pass_at_k"] == pytest.approx(2 / 3) and summary["mean_at_k"] == pytest.approx(1 / 3)

    records_path, summary_path = write_results(result, tmp_path / "out", "run", {"seed": 5})
    rows = [json.loads(line) for line in records_path.read_text().splitlines()]
    assert [r["id"] for r in rows] == ["q0", "q1", "q2"] and len(rows[0]["samples"]) == 3
    saved = json.loads(summary_path.read_text())
    assert saved["benchmarks"]["musique"]["maj_at_k"] == pytest.approx(1 / 3) and saved["run"] == {"seed": 5}
    assert not list((tmp_path / "out").glob(".*tmp"))  # no temporary files left behind
    table = summary_table(result.summary, k=3)  # 9 figures + "via answer_line" (7 of 9 samples)
    assert table.row_count == 10 and [c.header for c in table.columns] == ["metric", "musique"]
    assert summary["format_rules"] == {**dict.fromkeys(RULES, 0.0), "answer_line": pytest.approx(7 / 9)}


def test_format_ok_breakdown_by_extraction_rule(tmp_path):
    examples = [_qa(0, "Paris"), _qa(1, "1969")]
    scripts = [
        ["Answer: Paris", "So the answer is Paris.", "so \\boxed{Lyon}"],
        ["<think>moon</think><answer>1969</answer>", "no idea", "#### 1968"],
    ]
    result = evaluate(examples, ScriptedEngine(scripts), None, SamplingConfig(), EvalConfig(k=3), show_progress=False)
    assert [s["format_rule"] for r in result.records for s in r["samples"]] == [
        "answer_line", "answer_is", "boxed", "answer_tag", None, "hash"]
    summary = result.summary["musique"]
    assert summary["format_ok"] == pytest.approx(5 / 6) and summary["mean_at_k"] == pytest.approx(1 / 2)
    assert summary["format_rules"] == {"answer_tag": pytest.approx(1 / 6), "answer_line": pytest.approx(1 / 6),
                                       "answer_next_line": 0.0, "hash": pytest.approx(1 / 6),
                                       "boxed": pytest.approx(1 / 6), "answer_inline": 0.0,
                                       "answer_is": pytest.approx(1 / 6)}
    _, summary_path = write_results(result, tmp_path, "rules", {})
    assert json.loads(summary_path.read_text())["benchmarks"]["musique"]["format_rules"]["hash"] == pytest.approx(1 / 6)
    rows = list(summary_table(result.summary, k=3).columns[0].cells)
    assert rows[6:12] == ["has an answer", "  via answer_tag", "  via answer_line", "  via hash", "  via boxed",
                          "  via answer_is"]


def test_format_breakdown_keeps_rules_of_other_scorers():
    samples = [{"format_ok": True, "format_rule": "answer_slot"}, {"format_ok": True, "format_rule": "hash"},
               {"format_ok": False, "format_rule": "answer_line"}, {"format_ok": False, "format_rule": None}]
    shares = format_breakdown(samples)
    assert list(shares) == [*RULES, "answer_slot"]  # the scorer's own rule after the extraction rules
    assert (shares["answer_slot"], shares["hash"], shares["answer_line"]) == (0.25, 0.25, 0.0)
    assert sum(shares.values()) == 0.5  # = format_ok


def test_engine_returning_the_wrong_shape_is_an_error():
    engine = ScriptedEngine([["Answer: a"]], check_n=False)
    with pytest.raises(RuntimeError, match="expected 2 each"):
        evaluate([_qa(0, "a")], engine, None, SamplingConfig(), EvalConfig(k=2), show_progress=False)
    with pytest.raises(ValueError, match="EvalConfig.k must be an integer >= 1"):
        EvalConfig(k=0)


def test_split_stats_counts_and_token_lengths():
    from llm.models import asset_tokenizer
    tokenizer = asset_tokenizer()
    examples = load_benchmark("finqa", split="dev", limit=5)
    stats = split_stats(examples, tokenizer)
    assert stats["examples"] == 5 and sum(stats["answer_types"].values()) == 5
    lengths = [len(tokenizer(build_prompt(e, tokenizer), add_special_tokens=False)["input_ids"]) for e in examples]
    assert stats["prompt_tokens"]["max"] == max(lengths) and stats["prompt_tokens"]["min"] == min(lengths)


def test_tsallis_eval_end_to_end_with_a_tiny_random_model(tmp_path, capsys):
    """Real policy, real HF rollout engine, real scoring: 2 closed-book questions × 2 samples, 8 new tokens."""
    argv = ["eval", "--tiny-random", "--benchmark", "hotpotqa", "--split", "dev", "--closed-book", "--limit", "2",
            "--k", "2", "--max-new-tokens", "8", "--seed", "3", "--out", str(tmp_path), "--name", "tiny"]
    assert main(argv) == 0
    rows = [json.loads(line) for line in (tmp_path / "tiny.jsonl").read_text().splitlines()]
    assert [r["id"] for r in rows] == ["hotpot_dev_qa_only_first300-0", "hotpot_dev_qa_only_first300-1"]
    assert all(len(r["samples"]) == 2 and 1 <= r["samples"][0]["completion_tokens"] <= 8 for r in rows)
    summary = json.loads((tmp_path / "tiny.summary.json").read_text())
    assert summary["run"]["model"] == "tiny-random" and summary["run"]["k"] == 2
    assert 0.0 <= summary["benchmarks"]["hotpotqa"]["maj_at_k"] <= summary["benchmarks"]["hotpotqa"]["pass_at_k"] <= 1.0
    assert main(argv[:-2] + ["--name", "again"]) == 0  # same seed, same samples
    again = [json.loads(line) for line in (tmp_path / "again.jsonl").read_text().splitlines()]
    assert [[s["text"] for s in r["samples"]] for r in again] == [[s["text"] for s in r["samples"]] for r in rows]
    assert "maj@2" in capsys.readouterr().out


def test_tsallis_data_stats_command(capsys):
    assert main(["data", "stats", "--benchmark", "musique", "--split", "train", "--limit", "3", "--tokenizer", "none"]) == 0
    out = capsys.readouterr().out
    assert "musique train" in out and "2hop" in out


def test_cli_reports_data_errors_without_a_traceback(tmp_path, capsys):
    assert main(["data", "stats", "--benchmark", "musique", "--split", "dev", "--tokenizer", "none"]) == 2
    err = capsys.readouterr().err
    assert "no shipped musique dev data with context" in err and "Traceback" not in err and err.count("\n") == 1
    bad = tmp_path / "bad.jsonl"
    bad.write_text('{"question": "q?", "answer": "a"}\n{oops\n')
    assert main(["data", "stats", "--benchmark", "hotpotqa", "--data", str(bad), "--closed-book", "--skip-bad",
                 "--tokenizer", "none"]) == 0
    assert "skipped 1 malformed record(s), kept 1" in capsys.readouterr().err


def test_tsallis_eval_of_the_synthetic_task_samples_its_completion_length(tmp_path):
    """Without --max-new-tokens the synthetic task is sampled to exactly k + L tokens, the only length the
    verifier accepts (a 256-token default made every sample of a trained model fail); others keep 256."""
    from llm.cli.eval import DEFAULT_MAX_NEW_TOKENS, default_max_new_tokens
    from llm.data import load_benchmark
    from llm.data.synthetic import SyntheticTask

    task = SyntheticTask(free_tokens=3)
    assert default_max_new_tokens(load_benchmark("synthetic", split="dev", task=task)) == 3 + task.prompt_length
    assert default_max_new_tokens(load_benchmark("hotpotqa", split="dev", closed_book=True)) == DEFAULT_MAX_NEW_TOKENS
    argv = ["eval", "--tiny-random", "--benchmark", "synthetic", "--limit", "2", "--k", "1", "--out", str(tmp_path),
            "--name", "synthetic"]
    assert main(argv) == 0
    summary = json.loads((tmp_path / "synthetic.summary.json").read_text())
    assert summary["run"]["sampling"]["max_new_tokens"] == SyntheticTask().completion_length == 6
