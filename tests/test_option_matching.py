"""Option matching: VLMEvalKit can_infer (2024 and current rules), lmms-eval's MMBench and SEED rules, random draws."""

from __future__ import annotations

import pytest

from janus_eval.rules.option_matching import (
    extract_mcq_letter,
    first_character_option,
    infer_option,
    infer_option_letter,
    infer_option_lmms_eval,
    infer_option_lmms_eval_static,
    infer_option_text,
    random_option,
)

COLOURS = {"A": "red", "B": "blue", "C": "green", "D": "yellow"}
CELLS = {"A": "B cells", "B": "T cells", "C": "red blood cells", "D": "platelets"}


# ----------------------------------------------------------------------------- VLMEvalKit can_infer (2024)


@pytest.mark.parametrize(
    "answer",
    ["B", "(B)", "B.", "The answer is B", "The answer is B.", "[B] blue", "**B**", "B: blue", "  B\n"],
)
def test_a_lone_letter_is_the_option(answer: str) -> None:
    assert infer_option(answer, COLOURS) == "B"


def test_two_option_letters_match_no_letter() -> None:
    assert infer_option_letter("A or B", COLOURS) is None
    assert infer_option("A or B", COLOURS) is None
    # the letter rule gives up, the option text decides
    assert infer_option("A. red, not B", COLOURS) == "A"


def test_only_letters_of_present_options_count() -> None:
    # C and D are not options of a two-option question: "C" is just a word here
    assert infer_option("B, not C", {"A": "cat", "B": "dog"}) == "B"
    assert infer_option("C", {"A": "cat", "B": "dog"}) is None


def test_option_text_containing_another_options_letter() -> None:
    # official behaviour: the token "B" wins although "B cells" is the text of option A
    assert infer_option("B cells", CELLS) == "B"
    # two letter tokens (A, B): letters give up, the text "b cells" is option A's alone
    assert infer_option("A. B cells", CELLS) == "A"


def test_text_match_of_a_full_option() -> None:
    assert infer_option("The cells are platelets", CELLS) == "D"
    assert infer_option_text("it is GREEN", COLOURS) == "C"
    # two option texts occur: no option
    assert infer_option("red or blue", COLOURS) is None


def test_no_inferable_option_is_none() -> None:
    assert infer_option("I am not sure.", COLOURS) is None
    assert infer_option("", COLOURS) is None


def test_refusals_and_a_lone_z_mean_no_option() -> None:
    # VLMEvalKit's "Z": the search stops, even though "B" follows
    assert infer_option_letter("Cannot determine the answer, maybe B", COLOURS) == "Z"
    assert infer_option("Cannot determine the answer, maybe B", COLOURS) is None
    assert infer_option("Z", COLOURS) is None
    # an API failure message is no letter, but option text may still match
    assert infer_option("Failed to obtain answer via API: red", COLOURS) == "A"


def test_an_article_a_counts_as_option_a() -> None:
    # VLMEvalKit only distrusts "A" in long answers with its VERBOSE variable set
    assert infer_option("A dog is on the left", COLOURS) == "A"


def test_choices_are_not_modified() -> None:
    choices = {"A": "Red", "B": "Blue"}
    infer_option("red", choices)
    assert choices == {"A": "Red", "B": "Blue"}


# ----------------------------------------------------------------------------- VLMEvalKit can_infer (current)


def test_current_rules_want_the_letter_near_the_end() -> None:
    answer = "B is the answer because the circle is red and bigger"
    assert infer_option(answer, COLOURS, rules="2024") == "B"
    # "B" is token 0 of 11, not among the last 4; the answer (52 chars) is longer than 2 x 19 option chars
    assert infer_option(answer, COLOURS, rules="current") is None
    assert infer_option("so it is B", COLOURS, rules="current") == "B"


def test_current_rules_read_answer_is_x() -> None:
    answer = "Not A; the answer is B"
    assert infer_option(answer, COLOURS, rules="2024") is None
    assert infer_option(answer, COLOURS, rules="current") == "B"
    # the pattern is case-insensitive, the letter too (official behaviour)
    assert infer_option("the answer is a circle", COLOURS, rules="current") == "A"
    assert infer_option("the answer is a circle", COLOURS, rules="2024") is None


def test_current_rules_limit_text_matching_to_short_answers() -> None:
    long_answer = "after a long look at every part of the picture I would say it is green"
    assert infer_option(long_answer, COLOURS, rules="2024") == "C"
    assert infer_option(long_answer, COLOURS, rules="current") is None


# ----------------------------------------------------------------------------- lmms-eval MMBench


def test_lmms_eval_letters() -> None:
    assert infer_option_lmms_eval("B", COLOURS) == "B"
    assert infer_option_lmms_eval("(B)", COLOURS) == "B"
    assert infer_option_lmms_eval("The answer is B", COLOURS) == "B"
    # E is looked for whatever the options are, and returned
    assert infer_option_lmms_eval("E", COLOURS) == "E"


def test_lmms_eval_distrusts_bare_letters_next_to_an_article() -> None:
    answer = "A dog is shown, so B."
    # bare tokens: "A" only, in a 6-token answer -> distrusted; "B." is the one letter with a period
    assert infer_option_lmms_eval(answer, COLOURS) == "B"
    # VLMEvalKit strips the period: A and B both stand alone, and no option text occurs
    assert infer_option(answer, COLOURS) is None


def test_lmms_eval_static_falls_back_to_mcq_extract() -> None:
    answer = "(A) or (B)? I choose (B)"
    # can_infer: no bare letter, "(A)" and "(B)" both occur, "(B)?" is no form it knows, no option text
    assert infer_option_lmms_eval(answer, COLOURS) is None
    # extract_mcq_answer: the letter after "i choose" (phrase) beats the parenthesised ones
    assert infer_option_lmms_eval_static(answer, COLOURS) == "B"


def test_mcq_extract_formats() -> None:
    letters = ["A", "B", "C", "D"]
    assert extract_mcq_letter("The correct answer is (B).", letters) == "B"
    # a standalone letter at the end beats everything but the start
    assert extract_mcq_letter("Answer: C", letters) == "C"
    assert extract_mcq_letter("D) yellow", letters) == "D"
    # fallback: a capital letter anywhere, even inside a word (official behaviour)
    assert extract_mcq_letter("Apple", letters) == "A"
    assert extract_mcq_letter("no idea", letters) is None
    assert extract_mcq_letter("   ", letters) is None
    # default letters A-H when none are given
    assert extract_mcq_letter("(G)", None) == "G"


# ----------------------------------------------------------------------------- lmms-eval SEED-Bench


def test_first_character_rule() -> None:
    letters = {"A": "x", "B": "y", "C": "z", "D": "w"}
    assert first_character_option(" b) a cat", letters) == "B"
    assert first_character_option("C", letters) == "C"
    assert first_character_option("The answer is B", letters) is None
    assert first_character_option("E", letters) is None
    assert first_character_option("  ", letters) is None


# ----------------------------------------------------------------------------- random fallback


def test_random_option_is_deterministic_per_key_and_uses_every_letter() -> None:
    letters = ("A", "B", "C", "D", "E")
    first = [random_option(f"q{n}", letters) for n in range(200)]
    again = [random_option(f"q{n}", letters) for n in reversed(range(200))][::-1]
    assert first == again
    assert set(first) == set(letters)
    # roughly uniform: no letter takes more than half of 200 draws
    assert max(first.count(letter) for letter in letters) < 100
    assert [random_option(f"q{n}", letters, seed=1) for n in range(200)] != first
    with pytest.raises(ValueError):
        random_option("q", ())
