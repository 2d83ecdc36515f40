"""Yes/no extraction rules: VLMEvalKit word level, lmms-eval MME prefix, lmms-eval POPE exact match."""

from __future__ import annotations

import pytest

from janus_eval.rules.yes_no import (
    extract_yes_no_exact,
    extract_yes_no_prefix,
    extract_yes_no_word_level,
    normalise_yes_no_label,
    vqa_process_punctuation,
)

# output -> (word_level, lmms-eval MME prefix, lmms-eval POPE exact)
MESSY_OUTPUTS = {
    "Yes.": ("yes", "yes", "unknown"),
    "No, there is not.": ("no", "no", "unknown"),
    "yes and no": ("unknown", "yes", "unknown"),
    "": ("unknown", "unknown", "unknown"),
    "YES": ("yes", "yes", "yes"),
    "Yes, there is a dog.": ("yes", "yes", "unknown"),
    "I think so": ("unknown", "unknown", "unknown"),
    "no.": ("no", "no", "unknown"),
    " no \n": ("no", "no", "no"),
    "Yes!": ("yes", "yes", "unknown"),
    "(Yes)": ("yes", "yes", "unknown"),
    "yes/no": ("unknown", "yes", "unknown"),
    "y": ("unknown", "yes", "unknown"),
    "N.": ("unknown", "no", "unknown"),
    "Not sure": ("unknown", "no", "unknown"),
    "None of them": ("unknown", "no", "unknown"),
    "There is no dog.": ("no", "unknown", "unknown"),
    "The answer is yes": ("yes", "unknown", "unknown"),
    "Nope": ("unknown", "no", "unknown"),
    "yesterday": ("unknown", "yes", "unknown"),
}


@pytest.mark.parametrize(("output", "expected"), MESSY_OUTPUTS.items())
def test_word_level(output: str, expected: tuple[str, str, str]) -> None:
    assert extract_yes_no_word_level(output) == expected[0]


@pytest.mark.parametrize(("output", "expected"), MESSY_OUTPUTS.items())
def test_lmms_eval_mme_prefix(output: str, expected: tuple[str, str, str]) -> None:
    assert extract_yes_no_prefix(output) == expected[1]


@pytest.mark.parametrize(("output", "expected"), MESSY_OUTPUTS.items())
def test_lmms_eval_pope_exact(output: str, expected: tuple[str, str, str]) -> None:
    assert extract_yes_no_exact(output) == expected[2]


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        # a mark touching a space anywhere is deleted everywhere, else every occurrence becomes a space
        ("yes, no", "yes no"),
        ("yes,no", "yes no"),
        ("no-thing - yes", "nothing  yes"),
        ("a-b", "a b"),
        # digit,digit anywhere: every mark is deleted
        ("3,5 is yes/no", "35 is yesno"),
        # periods: removed unless a digit follows (the malformed look-behind does nothing)
        ("it is 3.5.", "it is 3.5"),
        ("a.5", "a.5"),
        ("end. next.", "end next"),
        ("", ""),
    ],
)
def test_vqa_process_punctuation(text: str, expected: str) -> None:
    assert vqa_process_punctuation(text) == expected


def test_word_level_is_decided_on_the_whole_text_punctuation_rule() -> None:
    # "-" touches a space, so it is deleted everywhere: "no-thing" becomes "nothing", not "no thing"
    assert extract_yes_no_word_level("no-thing - yes") == "yes"
    # without a spaced "-", it becomes a space and "no" is a word
    assert extract_yes_no_word_level("no-thing yes") == "unknown"


def test_at_most_32_periods_are_removed() -> None:
    # VLMEvalKit passes re.UNICODE (32) as `count`: the 33rd period survives and "yes." is no word
    assert vqa_process_punctuation("." * 40) == "." * 8
    assert extract_yes_no_word_level("a." * 31 + " Yes.") == "yes"
    assert extract_yes_no_word_level("a." * 32 + " Yes.") == "unknown"


@pytest.mark.parametrize(
    ("label", "expected"),
    [("Yes", "yes"), ("no", "no"), (" NO. ", "no"), ("maybe", None), ("", None), (None, None), (1, None)],
)
def test_normalise_yes_no_label(label: object, expected: str | None) -> None:
    assert normalise_yes_no_label(label) == expected
