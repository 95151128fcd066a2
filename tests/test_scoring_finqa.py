"""FinQA: both executors reproduce exe_ans on every shipped record; the official quirks, the lenient rules,
the official number reader, and the strict and tolerant matches, each against hand-computed values."""

import json
import math

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from llm.data import Example, load_benchmark, shipped_path
from llm.data.finqa_program import ProgramError, execute_program, parse_program
from llm.scoring import get_scorer
from llm.scoring.finqa_match import parse_answer, read_strict, strict_match, tolerant_match, vote_key
from llm.scoring.finqa_official import evaluate_program, official_number, tokenize


def _shipped_records():
    return [r for split in ("train", "dev") for r in json.loads(shipped_path("finqa", split).read_text())]


def test_both_executors_reproduce_exe_ans_on_every_shipped_record():
    """Run the raw files (not the loader) so the check is independent of it: 300 of 300 records."""
    records = _shipped_records()
    lenient = sum(execute_program(r["qa"]["program"], r["table"]) == r["qa"]["exe_ans"] for r in records)
    official = sum(evaluate_program(r["qa"]["program"], r["table"]) == r["qa"]["exe_ans"] for r in records)
    assert (lenient, official, len(records)) == (300, 300, 300)


TABLE = [
    ["", "2019", "2018"],
    ["revenue", "$ 1,200", "$ 1,000"],
    ["net income ( loss )", "3", "7"],
    ["margin", "5.5% ( 3 )", "4.5%"],
    ["cost", "( 5 )", "10"],  # "( 5 )" loses everything from "(" on: not a number
    ["revenue", "2", "4"],  # a repeated first cell: the last row wins, as in the official dict
    ["empty", "", "1"],
    ["lonely"],  # a row name without cells
]

# programs both executors run alike
PROGRAMS = [
    ("add(1, 2)", 3.0),
    ("subtract(5829, 5735), divide(#0, 5735)", 0.01639),  # 94 / 5735 = 0.016390...
    ("multiply(2, const_100)", 200.0),
    ("divide(1, 3)", 0.33333),
    ("exp(2, 3)", 8.0),
    ("add(const_m1, 0)", -1.0),
    ("add(5%, 1,000)", 1000.05),
    ("multiply(1e-06, 1000000)", 1.0),
    ("greater(3, 2)", "yes"),
    ("greater(2, 2)", "no"),
    ("divide(2, 3), greater(#0, 0.5)", "yes"),
    ("table_sum(revenue, none)", 6.0),
    ("table_average(revenue, none)", 3.0),
    ("table_min(margin, none)", 0.045),
    ("table_max(margin, none), table_min(margin, none), subtract(#0, #1)", 0.01),
    ("add(1,  2)", 3.0),  # two spaces after the comma: the argument is stripped
    ("add(1, 2), ", 3.0),  # trailing ", "
]


@pytest.mark.parametrize(("program", "expected"), PROGRAMS)
def test_both_executors_by_hand(program, expected):
    assert execute_program(program, TABLE) == expected
    assert evaluate_program(program, TABLE) == expected


# the quirks of the official evaluate.py: (program, official result or None = invalid, lenient result or
# the start of the lenient error)
QUIRKS = [
    # separators other than ", "
    ("add(1,2)", None, "step 0 of 'add(1,2)' needs two arguments"),
    ("subtract(5, 3),divide(#0, 2)", None, 1.0),
    ("subtract(5, 3) , divide(#0, 2)", None, 1.0),
    ("add(1, 2, 3)", None, "step 0: argument '1, 2' is not a number"),
    # leading space, trailing separators
    (" add(1, 2)", None, 3.0),
    ("add(1, 2),", None, 3.0),
    # a row name containing "("
    ("table_max(net income ( loss ), none)", None, 7.0),
    # an empty row name matches the header row ["", "2019", "2018"]
    ("table_max( , none)", 2019.0, "a table operation needs a row name, got ''"),
    ("table_max(, none)", None, "a table operation needs a row name, got ''"),
    # a table operation on #k reuses the row of the previous table step (revenue: 2, 4)
    ("table_max(revenue, none), table_min(#0, none)", 2.0, "a table operation needs a row name, got '#0'"),
    ("table_max(revenue, none), add(#0, 1), table_min(#1, none)", 2.0, "a table operation needs a row name"),
    ("add(1, 2), table_max(#0, none)", None, "a table operation needs a row name, got '#0'"),
    # greater and add on yes/no results: Python's string comparison and concatenation
    ("greater(3, 2), greater(1, 2), greater(#0, #1)", "yes", "step 2: argument '#0' is not a number"),  # "yes" > "no"
    ("greater(1, 2), greater(3, 2), add(#0, #1)", None, "step 2: argument '#0' is not a number"),  # "noyes"
    ("greater(1, 2), greater(3, 2), add(#0, #1), greater(#2, #1)", "no", "step 2"),  # "noyes" < "yes"
    ("greater(1, 2), add(#0, 1)", None, "step 1: argument '#0' is not a number"),
    # references: any "#" marks one, the index is read by int()
    ("add(1, 2), add(#0#, 1)", 4.0, "step 1: bad reference '#0#'"),
    ("add(1, 2), add(0#, 1)", 4.0, "step 1: argument '0#' is not a number"),
    ("add(1, 2), add(# 0, 1)", 4.0, "step 1: bad reference '# 0'"),
    ("add(1, 2), add(#0e0, 1)", None, "step 1: bad reference '#0e0'"),
    ("add(1, 2), add(#1, 1)", None, "step 1: bad reference '#1'"),
    ("add(1, 2), add(#-1, 1)", None, "step 1: bad reference '#-1'"),
    # numbers: float() reads inf and nan; a "%" anywhere divides by 100
    ("add(inf, 1)", math.inf, "step 0: argument 'inf' is not a number"),
    ("add(%5, 1)", 1.05, "step 0: argument '%5' is not a number"),
    ("add(5%%, 0)", 0.05, "step 0: argument '5%%' is not a number"),
    ("add(5%3, 0)", 0.53, "step 0: argument '5%3' is not a number"),
    ("add(const_x, 1)", None, "step 0: argument 'const_x' is not a number"),
    # a missing final ")" drops the last step
    ("add(1, 2), divide(#0, 3", 3.0, "cannot parse program"),
    ("add(1, 2", None, "cannot parse program"),
    # a complex power is invalid only when its result is used
    ("exp(-8, 0.5)", None, "exp(-8.0, 0.5) is not a real number"),
    ("exp(-8, 0.5), add(1, 2)", 3.0, "exp(-8.0, 0.5) is not a real number"),
    # a row without cells sums to 0; a "|" inside an argument splits it
    ("table_sum(lonely, none)", 0, "table row 'lonely' has no numeric cells"),
    ("add(1|2, 3)", 3.0, "step 0: argument '1|2' is not a number"),
    # an op name without "(" (the tokens stay aligned): the step is skipped, the result stays
    ("add(1, 2), add, x(, 3|4)", 3.0, "step 0"),
]


@pytest.mark.parametrize(("program", "official", "lenient"), QUIRKS)
def test_official_quirks_and_the_lenient_rule(program, official, lenient):
    assert evaluate_program(program, TABLE) == official
    if isinstance(lenient, str):
        with pytest.raises(ProgramError) as info:
            execute_program(program, TABLE)
        assert str(info.value).startswith(lenient)
    else:
        assert execute_program(program, TABLE) == lenient


def test_official_nan_result_and_table_edge_cases():
    assert math.isnan(official_number("nan")) and math.isnan(evaluate_program("add(nan, 1)", TABLE))
    assert evaluate_program("table_max(revenue, none)", [["revenue", "1"], []]) is None  # an empty row: error
    assert execute_program("table_max(revenue, none)", [["revenue", "1"], []]) == 1.0  # skipped leniently
    assert evaluate_program("table_max(revenue, none)", None) is None
    assert evaluate_program("", TABLE) is None  # no step, no result


def test_official_tokens():
    assert tokenize("subtract(5829, 5735), divide(#0, 5735)") == [
        "subtract(", "5829", "5735", ")", "divide(", "#0", "5735", ")", "EOF"]
    assert tokenize("table_max(net income ( loss ), none)") == [
        "table_max(", "net income (", " loss ", ")", "none", ")", "EOF"]
    assert tokenize("add(1, 2), ") == ["add(", "1", "2", ")", "EOF"]


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
])
def test_lenient_errors(program, message):
    with pytest.raises(ProgramError, match=message.replace("(", r"\(").replace(")", r"\)")):
        execute_program(program, TABLE)


def test_parse_program_keeps_parentheses_in_row_names():
    steps = parse_program("table_max(net income ( loss ), none), divide(#0, 2)")
    assert [(s.op, s.arg1, s.arg2) for s in steps] == [("table_max", "net income ( loss )", "none"),
                                                       ("divide", "#0", "2")]


# the official number reader: (text, value or None)
NUMBERS = [
    ("1,234.5", 1234.5), ("-2.4", -2.4), ("+2.4", 2.4), ("+-2.4", None), ("−5", None), (" 7 ", 7.0),
    ("1e-06", 1e-06), ("3.471900e-01", 0.34719), ("3.4719E-01", 0.34719), ("1_000", 1000.0),
    ("14.1%", 0.141), ("%5", 0.05), ("5%%", 0.05), ("const_100", 100.0), ("const_m1", -1.0),
    ("const_x", None), ("$5", None), ("5 million", None), ("inf", math.inf), ("-inf", -math.inf), ("", None),
]


@pytest.mark.parametrize(("text", "value"), NUMBERS)
def test_official_number_reader(text, value):
    assert official_number(text) == value


# (answer text, gold exe_ans, strict, tolerant)
MATCHES = [
    ("34.7%", 0.34719, False, True),  # rounded percent: 0.347 is 0.05 % off
    ("0.34719", 0.34719, True, True),
    ("34.719%", 0.34719, True, True),
    ("3.471900e-01", 0.34719, True, True),  # scientific notation, not its mantissa 3.4719
    ("3.4719E-01", 0.34719, True, True),
    ("3.47194e-01", 0.34719, True, True),  # 0.347194 rounds to 0.34719
    ("3.47196e-01", 0.34719, False, True),  # 0.347196 rounds to 0.3472
    ("1e-06", 0.0, True, True),  # round(1e-06, 5) == 0
    ("1e-04", 0.0, False, False),
    ("+-2.4", -2.4, False, False),  # refused by the official parser, and by the tolerant reader
    ("+2.4", 2.4, True, True),
    ("35%", 0.34719, False, True),  # 0.8 % off
    ("36%", 0.34719, False, False),  # 3.7 % off
    ("0.3", 0.34719, False, False),
    ("$127.4 billion", 127.4, False, True),  # the official parser refuses "$" and words
    ("127.4", 127.4, True, True),
    ("127", 127.4, False, True),
    ("1,274", 127.4, False, False),
    ("1,234,567", 1234567.0, True, True),
    ("-5", -5.0, True, True),
    ("−5", -5.0, False, True),  # unicode minus: refused by float()
    ("5", -5.0, False, False),
    ("14.1%", 14.1, False, True),  # gold already in percent (program ends with multiply by const_100)
    ("14.1", 0.141, False, True),  # percent written without its sign
    ("const_100", 100.0, True, True),  # read by the official parser; tolerant accepts what strict accepts
    ("0", 0.0, True, True),
    ("0.001", 0.0, False, False),
    ("yes", "yes", True, True),
    ("Yes", "yes", False, True),  # strict: exact string equality
    ("Yes, it is greater", "yes", False, True),
    ("no", "yes", False, False),
    ("1", "yes", False, False),
    ("divide(114400, 329500)", 0.34719, True, True),  # a program answer is executed: official rule
    ("divide(114400, 329000)", 0.34719, False, False),
    ("add(1, 2), add(#0#, 1)", 4.0, True, True),  # official quirk: strict executes it, so tolerant accepts it
    ("greater(3, 2), greater(1, 2), greater(#0, #1)", "yes", True, True),
]


@pytest.mark.parametrize(("text", "gold", "strict", "tolerant"), MATCHES)
def test_strict_and_tolerant_rules(text, gold, strict, tolerant):
    assert strict_match(read_strict(text, TABLE), gold) is strict
    example = Example(id="x", benchmark="finqa", question="q", context="", answer="a",
                      metadata={"exe_ans": gold, "table": TABLE})
    for scorer, expected in ((get_scorer("finqa", strict=True), strict), (get_scorer("finqa"), tolerant)):
        result = scorer.score(example, f"Reasoning.\nAnswer: {text}")
        assert (result["correct"], result["em"]) == (expected, float(strict))


def test_unparseable_answers_and_vote_keys():
    assert parse_answer("I do not know") is None and read_strict("I do not know") is None
    assert parse_answer("frobnicate(1, 2)") is None and read_strict("frobnicate(1, 2)") is None
    assert parse_answer("+-2.4") is None and read_strict("+-2.4") is None
    assert parse_answer("1. No, it is not").value == 1.0  # "no" is not the first word: the number counts
    assert parse_answer("**No**, it fell").value == "no"
    assert parse_answer("1e999") is None  # overflows to infinity
    assert parse_answer("up 3.5e-2 points").value == 0.035
    assert vote_key(parse_answer("14.1%").value) == vote_key(parse_answer("0.141").value) == "0.141"
    assert vote_key(parse_answer("$1,200").value) == vote_key(parse_answer("1200.0").value) == "1200"
    assert vote_key(0.347194, strict=True) == "0.34719" and vote_key("yes") == "yes" and vote_key(None) is None


def test_scorer_on_a_shipped_record_and_strict_variant():
    example = load_benchmark("finqa", split="train", limit=1)[0]  # exe_ans 0.34719, human answer "34.7%"
    tolerant, strict = get_scorer("finqa"), get_scorer("finqa", strict=True)
    completion = "114400 / 329500 = 0.347\nAnswer: 34.7%"
    assert tolerant.score(example, completion) == {
        "prediction": "34.7%", "format_rule": "answer_line", "format_ok": True, "em": 0.0, "f1": 1.0,
        "correct": True, "vote_key": "0.347"}
    assert strict.score(example, completion) == {
        "prediction": "34.7%", "format_rule": "answer_line", "format_ok": True, "em": 0.0, "f1": 0.0,
        "correct": False, "vote_key": "0.347"}
    assert tolerant.reward(example, completion) == 1.0 and strict.reward(example, completion) == 0.0
    assert strict.reward(example, "<answer>divide(114400, 329500)</answer>") == 1.0
    unclear = tolerant.score(example, "Answer: unclear")
    assert (unclear["format_ok"], unclear["format_rule"], unclear["prediction"]) == (False, "answer_line", "unclear")
    assert strict.score(example, "Answer: $0.34719")["format_ok"] is False  # the official parser refuses "$"


def test_get_scorer_strict_option():
    assert get_scorer("finqa").strict is False and get_scorer("finqa", strict=True).strict is True
    assert get_scorer("hotpotqa", strict=True) is get_scorer("hotpotqa")  # one (official) rule
    with pytest.raises(ValueError, match="unknown benchmark 'squad'"):
        get_scorer("squad", strict=True)


_MANTISSA = st.decimals(min_value=-10**7, max_value=10**7, allow_nan=False, allow_infinity=False, places=7)


@settings(max_examples=300, deadline=None)
@given(value=_MANTISSA, style=st.sampled_from(["{:e}", "{:E}", "{:.3e}", "{:f}", "{:,f}", "{:.2f}%", "{:g}"]),
       shift=st.sampled_from([0, 1e-5, -1e-5, 4e-6]))
def test_strict_equals_round_to_5_on_number_strings_the_official_parser_reads(value, style, shift):
    """A number string s (scientific notation, commas, a trailing %) is correct under strict exactly when
    g = round(v, 5), v being float's reading of s; through the whole scorer (extraction included)."""
    text = style.format(float(value))
    v = float(text.rstrip("%").replace(",", "")) / (100.0 if text.endswith("%") else 1.0)
    gold = round(v, 5) + shift
    example = Example(id="x", benchmark="finqa", question="q", context="", answer="a", metadata={"exe_ans": gold})
    result = get_scorer("finqa", strict=True).score(example, f"Answer: {text}")
    assert result["correct"] is (shift == 0)


_ARGUMENTS = ["1", "2.5", "-3", "1,000", "5%", "const_100", "const_m1", "#0", "#1", "#0#", "inf", "%5", "1e-06",
              "", " 2", "yes", "revenue", "margin", "net income ( loss )", "lonely", "x"]


@st.composite
def _programs(draw):
    """Programs built from FinQA's ops (and one unknown), argument texts official and not, and separators."""
    steps = draw(st.lists(st.tuples(st.sampled_from(["add", "subtract", "multiply", "divide", "exp", "greater",
                                                     "table_max", "table_sum", "table_average", "adds"]),
                                    st.sampled_from(_ARGUMENTS), st.sampled_from(_ARGUMENTS),
                                    st.sampled_from([", ", ",", " , ", ",  "])), min_size=1, max_size=4))
    ending = draw(st.sampled_from(["", ", ", ",", ")"]))
    return ", ".join(f"{op}({a}{sep}{b})" for op, a, b, sep in steps) + ending


@settings(max_examples=500, deadline=None)
@given(program=_programs())
def test_lenient_and_official_never_give_different_values(program):
    """Each executor refuses programs the other runs, but where both give a result it is the same."""
    official = evaluate_program(program, TABLE)
    try:
        lenient = execute_program(program, TABLE)
    except ProgramError:
        return
    if official is not None:
        assert official == lenient or (math.isnan(official) and math.isnan(lenient))
