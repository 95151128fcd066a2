"""Malformed input: each error names the file, the record (index and id) and the field; --skip-bad skips."""

import json

import pytest

from llm.data import DataFormatError, load_benchmark, load_benchmark_with_report, shipped_path


def _first_records(benchmark, split, n=3):
    return json.loads(shipped_path(benchmark, split).read_text())[:n]


def _write(tmp_path, name, records):
    path = tmp_path / name
    path.write_text(json.dumps(records))
    return path


def test_missing_nested_field_names_file_index_id_and_field(tmp_path):
    records = _first_records("finqa", "dev")
    del records[1]["qa"]["question"]
    path = _write(tmp_path, "finqa_bad.json", records)
    with pytest.raises(DataFormatError) as info:
        load_benchmark("finqa", path)
    message = str(info.value)
    assert str(path) in message and "record 1" in message and repr(records[1]["id"]) in message
    assert "'qa.question'" in message and "missing field" in message
    assert (info.value.index, info.value.field_name) == (1, "qa.question")


@pytest.mark.parametrize(("benchmark", "split", "field", "value", "problem"), [
    ("hotpotqa", "dev", "answer", "  ", "empty value"),
    ("musique", "train", "answer", "", "empty value"),
    ("musique", "train", "paragraphs", "not a list", "expected list"),
    ("hotpotqa", "dev", "context", [["title only"]], "paragraph 0 must be"),
    ("musique", "train", "answer_aliases", ["ok", 3], "item 1 is int"),
])
def test_bad_values_are_named(tmp_path, benchmark, split, field, value, problem):
    records = _first_records(benchmark, split)
    records[2][field] = value
    path = _write(tmp_path, f"{benchmark}.json", records)
    with pytest.raises(DataFormatError, match=rf"record 2, id .*field '{field}'.*{problem}"):
        load_benchmark(benchmark, path)


def test_finqa_exe_ans_and_program_are_checked(tmp_path):
    records = _first_records("finqa", "dev")
    records[0]["qa"]["exe_ans"] = "maybe"
    records[1]["qa"]["program"] = "divide(1, 2), frobnicate(#0, 3)"
    path = _write(tmp_path, "finqa.json", records)
    with pytest.raises(DataFormatError, match=r"record 0.*'qa.exe_ans'.*'yes' or 'no'"):
        load_benchmark("finqa", path)
    examples, skipped = load_benchmark_with_report("finqa", path, skip_bad=True)
    assert [e.id for e in examples] == [records[2]["id"]]
    assert [(err.index, err.field_name) for err in skipped] == [(0, "qa.exe_ans"), (1, "qa.program")]
    assert "unknown operation 'frobnicate'" in str(skipped[1])


def test_broken_json_array_is_fatal_and_names_the_position(tmp_path):
    path = tmp_path / "broken.json"
    path.write_text('[{"_id": "a", "question": "q"},\n {"_id": ')
    with pytest.raises(DataFormatError, match=r"broken.json: invalid JSON at line 2"):
        load_benchmark("hotpotqa", path, skip_bad=True)


def test_bad_jsonl_line_is_reported_or_skipped(tmp_path, caplog):
    good = json.loads(shipped_path("musique", "train").read_text())[:2]
    path = tmp_path / "musique.jsonl"
    path.write_text(json.dumps(good[0]) + "\n{not json\n" + json.dumps(good[1]) + "\n")
    with pytest.raises(DataFormatError, match=r"musique.jsonl, record 1: invalid JSON \(line 2"):
        load_benchmark("musique", path)
    examples = load_benchmark("musique", path, skip_bad=True)
    assert [e.id for e in examples] == [good[0]["id"], good[1]["id"]]
    assert "skipped 1 malformed record(s), kept 2" in caplog.text


def test_non_object_record_duplicate_id_and_empty_file(tmp_path):
    records = _first_records("hotpotqa", "dev", 2)
    path = _write(tmp_path, "h.json", [records[0], 42, records[0]])
    with pytest.raises(DataFormatError, match=r"record 1: expected a JSON object, got int"):
        load_benchmark("hotpotqa", path)
    examples, skipped = load_benchmark_with_report("hotpotqa", path, skip_bad=True)
    assert len(examples) == 1 and "duplicate id (first at record 0)" in str(skipped[1])
    empty = tmp_path / "empty.jsonl"
    empty.write_text("\n")
    with pytest.raises(DataFormatError, match="empty file"):
        load_benchmark("hotpotqa", empty)
    with pytest.raises(DataFormatError, match="no such file"):
        load_benchmark("hotpotqa", tmp_path / "missing.json")


def test_question_answer_list_needs_closed_book(tmp_path):
    path = tmp_path / "qa.jsonl"
    path.write_text(json.dumps({"question": "q?", "answer": "a"}) + "\n" + json.dumps({"question": "q2?", "answer": ""}))
    with pytest.raises(DataFormatError, match=r"record 0.*missing field.*closed_book=True"):
        load_benchmark("hotpotqa", path)
    with pytest.raises(DataFormatError, match=r"record 1, id 'qa-1', field 'answer': empty answer"):
        load_benchmark("hotpotqa", path, closed_book=True)


def test_bad_options_are_named():
    with pytest.raises(ValueError, match="unknown benchmark 'squad'"):
        load_benchmark("squad")
    with pytest.raises(ValueError, match="unknown split 'validation'"):
        load_benchmark("finqa", split="validation")
    with pytest.raises(ValueError, match="no shipped musique dev data with context"):
        load_benchmark("musique", split="dev")
    with pytest.raises(ValueError, match="limit must be a positive"):
        load_benchmark("finqa", limit=0)


@pytest.mark.parametrize("token", ["NaN", "Infinity", "-Infinity"])
def test_finqa_exe_ans_must_be_finite(tmp_path, token):
    """Python's JSON reader accepts NaN and Infinity; a gold answer that is one is refused, by record."""
    records = _first_records("finqa", "dev")
    records[1]["qa"]["exe_ans"] = "PLACEHOLDER"
    path = tmp_path / "finqa.json"
    path.write_text(json.dumps(records).replace('"PLACEHOLDER"', token))
    with pytest.raises(DataFormatError) as info:
        load_benchmark("finqa", path)
    assert (info.value.index, info.value.record_id, info.value.field_name) == (1, records[1]["id"], "qa.exe_ans")
    assert "must be a finite number" in str(info.value)
    examples, skipped = load_benchmark_with_report("finqa", path, skip_bad=True)
    assert [e.id for e in examples] == [records[0]["id"], records[2]["id"]] and len(skipped) == 1


def test_deeply_nested_json_is_a_data_error_not_a_recursion_error(tmp_path):
    deep = "[" * 100_000 + "]" * 100_000
    array = tmp_path / "deep.json"
    array.write_text(f'[{{"_id": "a", "question": {deep}}}]')
    with pytest.raises(DataFormatError, match=r"deep.json: JSON nested too deeply"):
        load_benchmark("hotpotqa", array)
    good = json.loads(shipped_path("musique", "train").read_text())[:2]
    lines = tmp_path / "deep.jsonl"
    lines.write_text(json.dumps(good[0]) + "\n" + deep + "\n" + json.dumps(good[1]) + "\n")
    with pytest.raises(DataFormatError, match=r"deep.jsonl, record 1: JSON nested too deeply .*\(line 2\)"):
        load_benchmark("musique", lines)
    assert [e.id for e in load_benchmark("musique", lines, skip_bad=True)] == [good[0]["id"], good[1]["id"]]


def test_official_tools_rejections_are_loading_errors(tmp_path):
    """A FinQA program using a later step's result and a MuSiQue record without paragraphs: one line naming the
    file, the record and the field."""
    finqa = json.loads(shipped_path("finqa", "dev").read_text())[:1]
    finqa[0]["qa"]["program"] = "divide(1, #5), add(#0, 1)"
    path = tmp_path / "finqa.json"
    path.write_text(json.dumps(finqa))
    with pytest.raises(DataFormatError) as err:
        load_benchmark("finqa", path, "dev")
    message = str(err.value)
    assert str(path) in message and "qa.program" in message and "step 0: bad reference '#5'" in message
    assert "\n" not in message
    musique = json.loads(shipped_path("musique", "train").read_text())[:1]
    musique[0]["paragraphs"] = []
    path = tmp_path / "musique.json"
    path.write_text(json.dumps(musique))
    with pytest.raises(DataFormatError) as err:
        load_benchmark("musique", path, "train")
    assert str(path) in str(err.value) and "paragraphs" in str(err.value) and "empty value" in str(err.value)
