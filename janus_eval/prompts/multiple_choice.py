"""The multiple-choice prompt of the Janus paper protocol (MMBench, SEED-Bench, MMMU) and its option letters.

VLMEvalKit `Janus.build_prompt` (MCQ type) puts every image first, then
`"\\n"` [+ `"Hint: {hint}\\n"`] + `"{question}\\n"` + `"A. ..\\nB. ..\\n"` +
`"\\nAnswer with the option's letter from the given choices directly."`; a question without
options (MMMU open questions) ends with `"Answer the question directly. "` instead.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any

from janus_eval.rules.option_matching import LETTERS

MCQ_SUFFIX = "\nAnswer with the option's letter from the given choices directly."
# VLMEvalKit's Janus prompt for a question without options, trailing space included
OPEN_SUFFIX = "Answer the question directly. "


# The strings pandas' read_csv turns into NaN by default. VLMEvalKit reads its benchmark TSVs that way, so
# in the paper protocol an option or hint that is literally "None", "NA", "null", ... counts as absent
# (reproduced on purpose: those prompts lacked them).
PANDAS_NA_STRINGS: frozenset[str] = frozenset({
    "", "#N/A", "#N/A N/A", "#NA", "-1.#IND", "-1.#QNAN", "-NaN", "-nan", "1.#IND", "1.#QNAN", "<NA>", "N/A", "NA",
    "NULL", "NaN", "None", "n/a", "nan", "null",
})  # fmt: skip


def is_missing(value: Any) -> bool:
    """True for "no value": None, NaN, blank strings, and the strings pandas reads as NaN (`PANDAS_NA_STRINGS`,
    as VLMEvalKit's TSV loading does; they include the "nan" that pandas round trips leave in parquet files)."""
    if value is None:
        return True
    if isinstance(value, float) and math.isnan(value):
        return True
    return isinstance(value, str) and (not value.strip() or value in PANDAS_NA_STRINGS)


def present_options(row: Mapping[str, Any], letters: str = LETTERS) -> dict[str, str]:
    """The options of a row stored as letter columns (`A`, `B`, ...), skipping missing ones, in letter order."""
    return {letter: str(row[letter]) for letter in letters if letter in row and not is_missing(row[letter])}


def paper_mcq_prompt(question: str, options: Mapping[str, str], hint: str | None = None) -> str:
    """The text after the image(s) in the Janus paper protocol (VLMEvalKit `Janus.build_prompt`, MCQ type)."""
    text = f"\nHint: {hint}\n" if hint is not None else "\n"
    text += f"{question}\n"
    if options:
        text += "".join(f"{letter}. {option}\n" for letter, option in options.items()) + MCQ_SUFFIX
    else:
        text += OPEN_SUFFIX
    return text
