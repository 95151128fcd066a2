"""FinQA: the program executor reproduces exe_ans on every shipped record; hand-checked ops and matches."""

import json

import pytest

from llm.data import load_benchmark, shipped_path
from llm.scoring import get_scorer
from llm.scoring.finqa_match import parse_answer, strict_match, tolerant_match, vote_key
from llm.finqa_program import ProgramError, execute_program, parse_program


def test_executor_reproduces_exe_ans_on_every_shipped_record():
    """Run the raw files (not the loader) so the check is independent of it: 300 of 300 records."""
    reproduced, total = 0, 0
    for split in ("train", "dev"):
        for record in json.loads(shipped_path("finqa", split).read_text()):
            total += 1
            reproduced += execute_program(record["qa"]["program"], record["table"]) == record["qa"]["exe_ans"]
    assert (reproduced, total) == (300, 300)


TABLE = [
    ["", "2019", "2018"],
    ["revenue", "$ 1,200", "$ 1,000"],
    ["net income ( loss )", "3", "7"],
    ["margin", "5.5% ( 3 )", "4.5%"],
    ["cost", "( 5 )", "10"],  # "( 5 )" loses everything from "(" on: not a number
    ["revenue", "2", "4"],  # a repeated first cell: the last row wins, as in the official dict
    ["empty", "", "1"],
]

PROGRAMS = [
    ("add(1, 2)", 3.0),
    ("subtract(5829, 5735), divide(#0, 5735)", 0.01639),  # 94 / 5735 = 0.016390...
    ("multiply(2, const_100)", 200.0),
    ("divide(1, 3)", 0.33333),
    ("exp(2, 3)", 8.0),
    ("add(const_m1, 0)", -1.0),
    ("add(5%, 1,000)", 1000.05),
    ("greater(3, 2)", "yes"),
    ("greater(2, 2)", "no"),
    ("divide(2, 3), greater(#0, 0.5)", "yes"),
    ("table_sum(revenue, none)", 6.0),
    ("table_average(revenue, none)", 3.0),
    ("table_max(net income ( loss ), none)", 7.0),
    ("table_min(margin, none)", 0.045),
    ("table_max(margin, none), table_min(margin, none), subtract(#0, #1)", 0.01),
]


@pytest.mark.parametrize(("program", "expected"), PROGRAMS)
def test_execute_program_by_hand(program, expected):
    assert execute_program(program, TABLE) == expected


@pytest.mark.parametrize(("program", "message"), [
    ("frobnicate(1, 2)", "unknown operation 'frobnicate'"),
    ("add(1)", "needs two arguments"),
    ("divide(1, 0)", "divide"),
    ("add(#3, 1)", "bad reference '#3'"),
    ("add(x, 1)", "argument 'x' is not a number"),
    ("table_sum(missing, none)", "no table row named 'missing'"),
    ("table_sum(cost, none)", "non-numeric cell '( 5 )'"),
    ("table_sum(empty, none)", "non-numeric cell ''"),
    ("add(1, 2) trailing", "cannot parse"),
    ("", "empty program"),
    ("greater(1, 2), add(#0, 1)", "argument '#0' is not a number"),
])
def test_execute_program_errors(program, message):
    with pytest.raises(ProgramError, match=message.replace("(", r"\(").replace(")", r"\)")):
        execute_program(program, TABLE)


def test_parse_program_keeps_parentheses_in_row_names():
    steps = parse_program("table_max(net income ( loss ), none), divide(#0, 2)")
    assert [(s.op, s.arg1, s.arg2) for s in steps] == [("table_max", "net income ( loss )", "none"), ("divide", "#0", "2")]


# (answer text, gold exe_ans, strict, tolerant)
MATCHES = [
    ("34.7%", 0.34719, False, True),  # rounded percent: 0.347 is 0.05 % off
    ("0.34719", 0.34719, True, True),
    ("34.719%", 0.34719, True, True),
    ("35%", 0.34719, False, True),  # 0.8 % off
    ("36%", 0.34719, False, False),  # 3.7 % off
    ("0.3", 0.34719, False, False),
    ("$127.4 billion", 127.4, True, True),
    ("127", 127.4, False, True),
    ("1,274", 127.4, False, False),
    ("1,234,567", 1234567.0, True, True),
    ("-5", -5.0, True, True),
    ("−5", -5.0, True, True),  # unicode minus
    ("5", -5.0, False, False),
    ("14.1%", 14.1, False, True),  # gold already in percent (program ends with multiply by const_100)
    ("14.1", 0.141, False, True),  # percent written without its sign
    ("0", 0.0, True, True),
    ("0.001", 0.0, False, False),
    ("Yes, it is greater", "yes", True, True),
    ("no", "yes", False, False),
    ("1", "yes", False, False),
    ("divide(114400, 329500)", 0.34719, True, True),  # a program answer is executed: official rule
    ("divide(114400, 329000)", 0.34719, False, False),
]


@pytest.mark.parametrize(("text", "gold", "strict", "tolerant"), MATCHES)
def test_numeric_match_rules(text, gold, strict, tolerant):
    parsed = parse_answer(text, TABLE)
    assert parsed is not None
    assert strict_match(parsed, gold) is strict
    assert tolerant_match(parsed, gold) is tolerant


def test_unparseable_answers_and_vote_keys():
    assert parse_answer("I do not know") is None
    assert parse_answer("frobnicate(1, 2)") is None
    assert parse_answer("1. No, it is not").value == 1.0  # "no" is not the first word: the number counts
    assert parse_answer("**No**, it fell").value == "no"
    assert vote_key(parse_answer("14.1%")) == vote_key(parse_answer("0.141")) == "0.141"
    assert vote_key(parse_answer("$1,200")) == vote_key(parse_answer("1200.0")) == "1200"
    assert vote_key(parse_answer("Yes.")) == "yes" and vote_key(None) is None


def test_scorer_on_a_shipped_record_and_strict_variant():
    example = load_benchmark("finqa", split="train", limit=1)[0]  # exe_ans 0.34719, human answer "34.7%"
    tolerant, strict = get_scorer("finqa"), get_scorer("finqa", strict=True)
    completion = "114400 / 329500 = 0.347\nAnswer: 34.7%"
    assert tolerant.score(example, completion) == {
        "prediction": "34.7%", "format_ok": True, "em": 0.0, "f1": 1.0, "correct": True, "vote_key": "0.347"}
    assert tolerant.reward(example, completion) == 1.0 and strict.reward(example, completion) == 0.0
    assert strict.reward(example, "Answer: divide(114400, 329500)") == 1.0
    assert tolerant.score(example, "Answer: unclear")["format_ok"] is False
