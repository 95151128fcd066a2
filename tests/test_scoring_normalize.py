"""SQuAD normalisation, EM and token F1 (HotPotQA and MuSiQue rules) on hand-checked cases."""

import pytest

from llm.scoring.normalize import exact_match, max_over_golds, normalize_answer, token_f1

# (text, normalised): lower case, ASCII punctuation dropped, whole-word a/an/the removed, spaces collapsed
NORMALISE = [
    ("The Eiffel Tower!", "eiffel tower"),
    ("  A  cat's   toy. ", "cats toy"),
    ("Theater and anthem", "theater and anthem"),  # "the"/"an" inside words stay
    ("an apple, the pear & a fig", "apple pear fig"),
    ("1,000", "1000"),
    ("3.14", "314"),  # the official rule drops the decimal point too
    ("U.S.A.", "usa"),
    ("Café Müller", "café müller"),  # non-ASCII letters kept
    ("São Paulo–Rio", "são paulo–rio"),  # unicode dash is not ASCII punctuation: kept
    ("“Quoted”", "“quoted”"),  # curly quotes kept
    ("THE", ""),
    ("", ""),
]


@pytest.mark.parametrize(("text", "expected"), NORMALISE)
def test_normalize_answer(text, expected):
    assert normalize_answer(text) == expected


# (prediction, gold, EM, HotPotQA F1, MuSiQue F1), F1 worked by hand from precision and recall
CASES = [
    ("the Eiffel Tower", "Eiffel Tower", 1.0, 1.0, 1.0),
    ("Eiffel Tower in Paris", "Eiffel Tower", 0.0, 2 / 3, 2 / 3),  # P = 2/4, R = 1
    ("Paris Paris", "Paris", 0.0, 2 / 3, 2 / 3),  # multiset overlap is 1: P = 1/2, R = 1
    ("1,000 people", "1000", 0.0, 2 / 3, 2 / 3),
    ("12.5", "125", 1.0, 1.0, 1.0),  # punctuation removal makes these equal, as officially
    ("Yes", "yes", 1.0, 1.0, 1.0),
    ("yes", "no", 0.0, 0.0, 0.0),
    ("yes it is", "yes", 0.0, 0.0, 0.5),  # HotPotQA: gold is yes/no and differs -> 0; MuSiQue: P = 1/3, R = 1
    ("noanswer", "no answer", 0.0, 0.0, 0.0),
    ("Café", "cafe", 0.0, 0.0, 0.0),  # accents are not folded
    ("the", "a", 1.0, 0.0, 1.0),  # both normalise to "": HotPotQA common = 0 -> 0; MuSiQue both empty -> 1
    ("", "Paris", 0.0, 0.0, 0.0),
    ("New York City", "new york", 0.0, 0.8, 0.8),  # P = 2/3, R = 1 -> 0.8
]


@pytest.mark.parametrize(("prediction", "gold", "em", "hotpot_f1", "musique_f1"), CASES)
def test_exact_match_and_f1(prediction, gold, em, hotpot_f1, musique_f1):
    assert exact_match(prediction, gold) == em
    assert token_f1(prediction, gold, yes_no_rule=True) == pytest.approx(hotpot_f1)
    assert token_f1(prediction, gold, empty_rule=True) == pytest.approx(musique_f1)


def test_musique_takes_the_max_over_answer_and_aliases():
    golds = ("G. Stanley Hall", "Stanley Hall")
    assert max_over_golds("Hall", golds, empty_rule=True) == pytest.approx((0.0, 2 / 3))  # alias: P = 1, R = 1/2
    assert max_over_golds("stanley hall", golds, empty_rule=True) == (1.0, 1.0)
    assert max_over_golds("Wundt", golds, empty_rule=True) == (0.0, 0.0)
