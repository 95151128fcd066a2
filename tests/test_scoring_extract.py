"""Answer extraction on realistic completions: the answer and the rule, per case (the table of docs/scoring.md).

``python tests/test_scoring_extract.py`` prints the markdown table that docs/scoring.md holds between its
``extraction-table`` markers; a test checks that the two agree.
"""

import re
import time
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from llm.scoring import RULES, Extraction, extract_answer, find_answer

DOCS = Path(__file__).resolve().parents[1] / "docs" / "scoring.md"

# (source of the style, completion, expected answer, expected rule)
CASES = [
    # instruction-tuned chat models
    ("chat", "The Eiffel Tower is in Paris.\nAnswer: Paris", "Paris", "answer_line"),
    ("chat", "Both bands formed in England.\n\n**Answer:** yes", "yes", "answer_line"),
    ("chat", "**Answer**: Paris", "Paris", "answer_line"),
    ("chat", "Answer - Paris", "Paris", "answer_line"),
    ("chat", "Answer – Lake Tahoe", "Lake Tahoe", "answer_line"),
    ("chat", "- **Answer:** no", "no", "answer_line"),
    ("chat", "> Answer: 1994", "1994", "answer_line"),
    ("chat", "1. Find both years.\n2. Answer: 1994", "1994", "answer_line"),
    ("chat", "ANSWER: yes", "yes", "answer_line"),
    ("chat", "Short answer: The Beatles", "The Beatles", "answer_line"),
    ("chat", "Answer：巴黎", "巴黎", "answer_line"),
    ("chat", "Answer = 12.5", "12.5", "answer_line"),
    ("chat", "**Answer: 34.7%**", "34.7%", "answer_line"),
    ("chat", "Answer: **Paris**, the capital of France.", "Paris", "answer_line"),
    ("chat", "Answer: The **Eiffel** Tower", "The Eiffel Tower", "answer_line"),
    ("chat", "Answer: Paris. It has been the capital since 987.", "Paris", "answer_line"),
    ("chat", "Answer: St. Louis, Missouri.", "St. Louis, Missouri", "answer_line"),
    ("chat", "Answer: U.S. Steel", "U.S. Steel", "answer_line"),
    ("chat", "Answer: Washington, D.C.", "Washington, D.C", "answer_line"),
    ("chat", "Answer: Yes, both are American.", "Yes", "answer_line"),
    ("chat", "Answer: yes (both are American)", "yes", "answer_line"),
    ("chat", 'Answer: "Lake Tahoe".', "Lake Tahoe", "answer_line"),
    ("chat", "Answer: *Chicago*", "Chicago", "answer_line"),
    ("chat", "Answer: The Eiffel Tower and\nthe Louvre", "The Eiffel Tower and the Louvre", "answer_line"),
    ("chat", "Answer: 1\nWait, 2019 is the later year.\nAnswer: 2", "2", "answer_line"),
    ("chat", "Answer: Paris\nExplanation: the answer: a capital city, so not Lyon.", "Paris", "answer_line"),
    ("chat", "Answer: Paris\n\nNote that the answer is often written Paris, France.", "Paris", "answer_line"),
    ("chat", "### Final Answer\n\\[\n\\boxed{14.1\\%}\n\\]", "14.1%", "answer_next_line"),
    ("chat", "**Final Answer**\n\nParis", "Paris", "answer_next_line"),
    ("chat", "Final Answer:\n**Yes**", "Yes", "answer_next_line"),
    ("chat", "Final Answer\nThe final answer is $\\boxed{42}$.", "42", "answer_next_line"),
    ("chat", "Answer:\n  Lake Tahoe\n", "Lake Tahoe", "answer_next_line"),
    ("chat", "Answer:\nExplanation: both films were directed by him.", None, None),
    ("chat", "Answer:\n\nBecause the merger closed in 2004, the company", None, None),
    # FinQA answers
    ("finqa", "114400 / 329500 = 0.347\nAnswer: 34.7%", "34.7%", "answer_line"),
    ("finqa", "Answer: $1,200 million", "$1,200 million", "answer_line"),
    ("finqa", "Answer (in millions): 1,200", "1,200", "answer_line"),
    ("finqa", "Answer: 1,200 (in millions)", "1,200", "answer_line"),
    ("finqa", "Answer: $\\boxed{0.347}$", "0.347", "answer_line"),
    ("finqa", "Answer: -5.2%", "-5.2%", "answer_line"),
    ("finqa", "Answer: divide(114400, 329500)", "divide(114400, 329500)", "answer_line"),
    ("finqa", "Answer: 3.5 million. The rest is debt.", "3.5 million", "answer_line"),
    # base models continuing "Reasoning:"
    ("base", " The tower is in Paris. Answer: Paris", "Paris", "answer_inline"),
    ("base", " 94 / 5735 = 0.0164. The final answer: 1.6%. Next we check.", "1.6%", "answer_inline"),
    ("base", " We are asked for the answer: the city. It is Paris.", None, None),
    ("base", " Paris is the capital of France. So the answer is Paris.", "Paris", "answer_is"),
    ("base", " 5829 - 5735 = 94 and 94 / 5735 = 0.0164. Therefore, the answer is 1.6%.", "1.6%", "answer_is"),
    ("base", " The total was $1.2 billion, so the answer would be 1.2 billion.", "1.2 billion", "answer_is"),
    ("base", " In short, the answer is no.", "no", "answer_is"),
    ("base", " The final answer is 42", "42", "answer_is"),
    ("base", " The final answer is: **42**.", "42", "answer_is"),
    ("base", " Both were born in Ohio, so the answer is:\nyes", "yes", "answer_is"),
    ("base", " It opened in 1994.\nAnswer: 1994\n\nQuestion: When did Titanic come out?\n\nReasoning: In 1997.\n"
             "Answer: 1997", "1994", "answer_line"),
    ("base", " So the answer is Paris.\n\nQuestion: What is the capital of Spain?\nReasoning: It is Madrid, so the "
             "answer is Madrid.", "Paris", "answer_is"),
    ("base", "Question: Who directed Jaws?\nAnswer: Steven Spielberg\nQuestion: Where was he born?\n"
             "Answer: Cincinnati", "Cincinnati", "answer_line"),
    # R1-style tags
    ("r1", "<think>Paris is the capital.</think>\n<answer>Paris</answer>", "Paris", "answer_tag"),
    ("r1", "<think>94 / 5735</think><answer>\n0.0164\n</answer>", "0.0164", "answer_tag"),
    ("r1", "<think>the answer: maybe Lyon</think>\n<answer>Answer: Paris</answer>", "Paris", "answer_tag"),
    ("r1", "<think>ratio</think><answer>\\boxed{0.347}</answer>", "0.347", "answer_tag"),
    ("r1", "<think>long reasoning</think><answer>Lake Tahoe", "Lake Tahoe", "answer_tag"),
    ("r1", "<think>so Lyon?</think><answer>Paris</answer>\nAnswer: Lyon", "Paris", "answer_tag"),
    # GSM8K-style ####
    ("gsm8k", "5829 - 5735 = 94\n94 / 5735 = 0.0164\n#### 0.0164", "0.0164", "hash"),
    ("gsm8k", "#### 1,234", "1,234", "hash"),
    ("gsm8k", "#### Final Answer\n42", "42", "answer_next_line"),
    # LaTeX \boxed
    ("latex", "So the ratio is $\\boxed{\\frac{1}{2}}$.", "\\frac{1}{2}", "boxed"),
    ("latex", "\\boxed{\\text{Paris}}", "Paris", "boxed"),
    ("latex", "We get \\boxed{1} at first, then correct it to \\boxed{2}.", "2", "boxed"),
    ("latex", "The change is \\boxed{14.1\\%}", "14.1%", "boxed"),
    ("latex", "\\boxed{$1{,}200$}", "1,200", "boxed"),
    ("latex", "Answer: \\boxed{\\frac{1}{2}}", "\\frac{1}{2}", "answer_line"),
    ("latex", "The value is \\boxed{42", None, None),
    # no answer
    ("none", "I am not sure about this question.", None, None),
    ("none", "Answer the question using the paragraphs below.", None, None),
    ("none", "The answer depends on the year.", None, None),
    ("none", "Answer:   ", None, None),
    ("none", "", None, None),
]


@pytest.mark.parametrize(("style", "completion", "answer", "rule"), CASES)
def test_extraction_table(style, completion, answer, rule):
    found = find_answer(completion)
    assert (found.answer, found.rule) == (answer, rule)
    assert extract_answer(completion) == answer


def test_table_covers_every_rule_and_style():
    assert len(CASES) >= 50
    assert {rule for *_, rule in CASES} == {*RULES, None}
    assert {style for style, *_ in CASES} == {"chat", "finqa", "base", "r1", "gsm8k", "latex", "none"}


_PIECES = ["Answer", "answer", "Final Answer", ":", " ", "\n", "**", "#", "####", "- ", "<answer>", "</answer>",
           "\\boxed{", "{", "}", "\\text{", "is", "the", "would be", "Paris", "42", "3.5", ".", ",", "and", "$",
           "Question:", "Reasoning:", "Explanation:", "Because", "(", ")", "yes", "No", "—", "\\[", "U.S."]
_COMPLETIONS = st.lists(st.sampled_from(_PIECES), max_size=40).map("".join)


@settings(max_examples=200, deadline=None)
@given(_COMPLETIONS)
def test_any_completion_gives_a_clean_answer_or_none(completion):
    found = find_answer(completion)
    assert (found.answer is None) == (found.rule is None)
    if found.answer is not None:
        assert found.rule in RULES and found.answer == " ".join(found.answer.split()) != ""


@settings(max_examples=300, deadline=None)
@given(_COMPLETIONS.filter(lambda text: "<answer>" not in text and "Question" not in text),
       st.from_regex(r"[A-Za-z]{1,12}", fullmatch=True))
def test_a_final_answer_line_wins_after_any_text(prefix, word):
    assert find_answer(f"{prefix}\nAnswer: {word}") == Extraction(word, "answer_line")


@pytest.mark.parametrize("completion", ["#" * 5000 + "x", "> " * 3000 + "x", "\\boxed{" * 3000, "answer is " * 3000,
                                        "Answer:" + " and\n" * 3000, "\\text{" * 3000 + "}" * 3000])
def test_pathological_completions_take_linear_time(completion):
    started = time.perf_counter()
    find_answer(completion)
    assert time.perf_counter() - started < 1.0


def _cell(text):
    shown = "∅" if text is None else (text.replace("\n", "⏎").replace("|", "\\|") or "(empty)")
    return f"`{shown}`" if text else shown


def render_table(cases=CASES):
    """The markdown table of docs/scoring.md: one row per case."""
    rows = ["| # | style | completion (⏎ = new line) | answer | rule |", "|---:|---|---|---|---|"]
    rows += [f"| {i} | {style} | {_cell(completion)} | {_cell(answer)} | {rule or '—'} |"
             for i, (style, completion, answer, rule) in enumerate(CASES, 1)]
    return "\n".join(rows)


def test_docs_table_is_this_table():
    text = DOCS.read_text(encoding="utf-8")
    match = re.search(r"<!-- extraction-table -->\n(.*?)\n<!-- /extraction-table -->", text, re.DOTALL)
    assert match, "docs/scoring.md needs the extraction-table markers"
    assert match.group(1) == render_table(), "regenerate with: python tests/test_scoring_extract.py"


if __name__ == "__main__":
    print(render_table())
