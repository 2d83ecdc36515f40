"""The paper protocol's multiple-choice prompt and what counts as an absent option or hint."""

from __future__ import annotations

import math

import pytest

from janus_eval.prompts.multiple_choice import is_missing, paper_mcq_prompt, present_options

SUFFIX = "\nAnswer with the option's letter from the given choices directly."


def test_prompt_with_hint_and_options() -> None:
    text = paper_mcq_prompt("What is shown?", {"A": "a cat", "B": "a dog"}, hint="Look closely.")
    assert text == "\nHint: Look closely.\nWhat is shown?\nA. a cat\nB. a dog\n" + SUFFIX


def test_prompt_without_hint_and_without_options() -> None:
    assert paper_mcq_prompt("Q?", {"A": "x"}) == "\nQ?\nA. x\n" + SUFFIX
    # an open question (no options) ends with VLMEvalKit's open suffix, trailing space included
    assert paper_mcq_prompt("How many?", {}) == "\nHow many?\nAnswer the question directly. "


@pytest.mark.parametrize(
    ("value", "missing"),
    [
        (None, True), (math.nan, True), ("", True), ("  ", True), ("nan", True), ("NaN", True), ("None", True),
        ("NA", True), ("null", True), ("N/A", True),
        ("none", False), ("None of the above", False), ("0", False), (0, False), ("cat", False),
    ],
)  # fmt: skip
def test_missing_values_follow_pandas_tsv_reading(value: object, missing: bool) -> None:
    assert is_missing(value) is missing


def test_present_options_skip_absent_letters_in_order() -> None:
    row = {"A": "red", "B": "None", "C": "blue", "D": math.nan, "answer": "A"}
    assert present_options(row) == {"A": "red", "C": "blue"}
