"""Every shipped record loads; official-format files load from any path; counts match the READMEs."""

import json
import shutil
from collections import Counter

import pytest

from llm.data import SHIPPED_DIR, Example, load_benchmark, shipped_path
from llm.data.finqa_program import format_number

# (benchmark, split, closed_book) -> record count stated in llm/data/shipped/*/README.md
SHIPPED_COUNTS = {
    ("finqa", "train", False): 100,
    ("finqa", "dev", False): 200,
    ("finqa", "dev", True): 200,
    ("hotpotqa", "train", False): 100,
    ("hotpotqa", "train", True): 100,
    ("hotpotqa", "dev", False): 103,
    ("hotpotqa", "dev", True): 300,
    ("musique", "train", False): 100,
    ("musique", "train", True): 100,
    ("musique", "dev", True): 300,
}


@pytest.mark.parametrize(("benchmark", "split", "closed_book"), sorted(SHIPPED_COUNTS))
def test_every_shipped_record_loads(benchmark, split, closed_book):
    examples = load_benchmark(benchmark, split=split, closed_book=closed_book)
    assert len(examples) == SHIPPED_COUNTS[benchmark, split, closed_book]
    assert len({e.id for e in examples}) == len(examples)
    for e in examples:
        assert isinstance(e, Example) and e.benchmark == benchmark and e.metadata["split"] == split
        assert e.question.strip() and e.answer.strip()
        assert all(a.strip() and a != e.answer for a in e.aliases)
        assert (e.context == "") == closed_book
        assert e.metadata["answer_type"] in ("number", "yes/no", "span")


def test_finqa_records_carry_program_table_and_rendered_context():
    for split in ("train", "dev"):
        raw = json.loads(shipped_path("finqa", split).read_text())
        examples = load_benchmark("finqa", split=split)
        for record, e in zip(raw, examples, strict=True):
            exe_ans = record["qa"]["exe_ans"]
            assert e.id == record["id"] and e.metadata["program"] == record["qa"]["program"]
            assert e.answer == (exe_ans if isinstance(exe_ans, str) else format_number(exe_ans))
            assert e.metadata["table"] == record["table"]
            for row in record["table"]:  # every row of the table is shown, cells joined by " | "
                assert " | ".join(cell.strip() for cell in row) in e.context
    answer_types = Counter(e.metadata["answer_type"] for s in ("train", "dev") for e in load_benchmark("finqa", split=s))
    assert answer_types == {"number": 286, "yes/no": 14}  # READMEs: 190 + 96 floats, 10 + 4 strings


def test_hotpotqa_context_shows_all_paragraphs_and_gold_titles():
    examples = load_benchmark("hotpotqa", split="dev")
    assert Counter(e.context.count("Title: ") for e in examples) == {10: 102, 2: 1}  # README: one record has 2
    assert Counter(e.metadata["type"] for e in examples) == {"bridge": 82, "comparison": 21}
    for e in examples:
        for title, _ in e.metadata["supporting_facts"]:
            assert f"Title: {title}\n" in e.context
    first = examples[0]
    assert (first.id, first.answer) == ("5a8b57f25542995d1e6f1371", "yes")


def test_musique_aliases_hops_and_supporting_paragraphs():
    examples = load_benchmark("musique", split="train")
    assert sum(bool(e.aliases) for e in examples) == 28  # README: 28 records have answer aliases
    assert Counter(e.metadata["hops"] for e in examples) == {"2hop": 68, "3hop1": 24, "3hop2": 3, "4hop1": 3, "4hop3": 2}
    for e in examples:
        assert e.context.count("Title: ") == 20
        decomposition_support = {step["paragraph_support_idx"] for step in e.metadata["question_decomposition"]}
        assert set(e.metadata["supporting_idx"]) == decomposition_support
    assert examples[0].gold_answers == ("G. Stanley Hall", "Stanley Hall")


def test_closed_book_question_answer_lists_match_the_official_dev_order():
    hotpot_qa = load_benchmark("hotpotqa", split="dev", closed_book=True)
    hotpot = load_benchmark("hotpotqa", split="dev")
    # README: the first 103 entries of the dev list are the distractor records, with equal answers
    assert [(e.question, e.answer) for e in hotpot_qa[:103]] == [(e.question, e.answer) for e in hotpot]
    musique = load_benchmark("musique", split="dev", closed_book=True)
    assert (musique[0].question, musique[0].answer) == ("Who is the spouse of the Green performer?", "Miquette Giraudy")


def test_official_files_load_from_any_path_and_jsonl(tmp_path):
    """A copy elsewhere loads the same; MuSiQue's official form is JSON Lines, HippoRAG's copy is an array."""
    copy = tmp_path / "somewhere" / "dev.json"
    copy.parent.mkdir()
    shutil.copy(shipped_path("finqa", "dev"), copy)
    assert load_benchmark("finqa", copy, split="dev") == load_benchmark("finqa", split="dev")
    records = json.loads(shipped_path("musique", "train").read_text())
    jsonl = tmp_path / "musique_ans_v1.0_dev.jsonl"
    jsonl.write_text("\n".join(json.dumps(r) for r in records) + "\n")
    assert load_benchmark("musique", jsonl, split="dev") == load_benchmark("musique", split="train")


def test_plain_question_answer_jsonl_in_closed_book_mode(tmp_path):
    path = tmp_path / "qa.jsonl"
    lines = [{"question": "Capital of France?", "answer": "Paris", "answer_aliases": ["Paris, France"]},
             {"id": "q7", "question": "Is 2 > 1?", "answer": "yes"}]
    path.write_text("\n".join(json.dumps(x) for x in lines))
    examples = load_benchmark("musique", path, split="dev", closed_book=True)
    assert [(e.id, e.answer, e.aliases, e.context) for e in examples] == [
        ("qa-0", "Paris", ("Paris, France",), ""), ("q7", "yes", (), "")]


def test_verl_style_lines_with_a_list_of_ground_truths(tmp_path):
    path = tmp_path / "verl.jsonl"
    line = {"prompt": [{"role": "user", "content": "Who wrote Emma?"}],
            "reward_model": {"ground_truth": ["Jane Austen", "Austen"], "style": "rule"}}
    path.write_text(json.dumps(line) + "\n")
    (example,) = load_benchmark("hotpotqa", path, split="dev", closed_book=True)
    assert (example.id, example.question, example.answer, example.aliases) == (
        "verl-0", "Who wrote Emma?", "Jane Austen", ("Austen",))


def test_limit_and_shipped_folder_holds_licences():
    assert [e.id for e in load_benchmark("finqa", split="dev", limit=3)] == \
           [e.id for e in load_benchmark("finqa", split="dev")[:3]]
    for name in ("finqa", "hotpotqa", "musique"):
        assert (SHIPPED_DIR / name / "LICENSE.md").is_file() and (SHIPPED_DIR / name / "README.md").is_file()
