"""Turning free-form model outputs into benchmark answers (pure functions, one per official rule).

Yes/no rules:
- `extract_yes_no_word_level`: VLMEvalKit's `YOrN_Extraction` (the Janus paper protocol).
- `extract_yes_no_prefix`: lmms-eval MME's `parse_pred_ans` (from Otter's evaluation).
- `extract_yes_no_exact`: lmms-eval POPE's exact match.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Literal

YesNo = Literal["yes", "no", "unknown"]
YesNoExtractor = Callable[[str], YesNo]

# ----------------------------------------------------------------------------- VQA punctuation

# The punctuation list of the VQA evaluation code, as VLMEvalKit's `process_punctuation` uses it.
_VQA_PUNCTUATION: tuple[str, ...] = (
    ";", "/", "[", "]", '"', "{", "}", "(", ")", "=", "+", "\\", "_", "-", ">", "<", "@", "`", ",", "?", "!",
)  # fmt: skip
_DIGIT_COMMA_DIGIT = re.compile(r"(\d)(,)(\d)")
# Reproduced on purpose: the official pattern `(?!<=\d)(\.)(?!\d)` meant a look-behind but wrote a
# negative look-ahead for the literal "<=" + digit, which can never match where a "." stands, so
# the rule is only "a period not followed by a digit" ("3.5" keeps its period, "a.5" too).
_PERIOD_NOT_BEFORE_DIGIT = re.compile(r"(?!<=\d)(\.)(?!\d)")
# Reproduced on purpose: the official code calls `period_strip.sub("", text, re.UNICODE)`, which
# passes the flag positionally as `count`; re.UNICODE == 32, so at most 32 periods are removed.
_MAX_PERIODS_REMOVED = int(re.UNICODE)


def vqa_process_punctuation(text: str) -> str:
    """VLMEvalKit's `process_punctuation` (the VQA-eval rule), quirks included.

    Each punctuation mark is deleted everywhere if, anywhere in the original text, it touches a
    space (or the text contains digit,digit); otherwise every occurrence becomes a space. Then
    periods not followed by a digit are deleted (at most 32 of them).
    """
    has_digit_comma = _DIGIT_COMMA_DIGIT.search(text) is not None
    out = text
    for mark in _VQA_PUNCTUATION:
        # The condition looks at the whole original text, not at each occurrence (official behaviour).
        if has_digit_comma or f"{mark} " in text or f" {mark}" in text:
            out = out.replace(mark, "")
        else:
            out = out.replace(mark, " ")
    return _PERIOD_NOT_BEFORE_DIGIT.sub("", out, count=_MAX_PERIODS_REMOVED)


# ----------------------------------------------------------------------------- yes / no


def extract_yes_no_word_level(output: str) -> YesNo:
    """VLMEvalKit `YOrN_Extraction`: yes iff the word "yes" occurs and "no" does not, and vice versa.

    Lower-cases, applies `vqa_process_punctuation`, splits on whitespace; anything else is unknown
    (VLMEvalKit would then ask an optional LLM judge; this harness does not).
    """
    words = vqa_process_punctuation(output.lower()).split()
    has_yes, has_no = "yes" in words, "no" in words
    if has_yes and not has_no:
        return "yes"
    if has_no and not has_yes:
        return "no"
    return "unknown"


def extract_yes_no_prefix(output: str) -> YesNo:
    """lmms-eval MME `parse_pred_ans`: exact yes/no, else a lone y/n, else yes/no in the first 4 chars.

    The text is lower-cased, stripped and loses every "."; lmms-eval's "other" is "unknown" here.
    Note the official quirks this keeps: "not sure" and "none" read as "no", "yes and no" as "yes".
    """
    answer = output.lower().strip().replace(".", "")
    if answer in ("yes", "no"):
        return answer  # type: ignore[return-value]
    if len(answer) == 1:
        return {"y": "yes", "n": "no"}.get(answer, "unknown")  # type: ignore[return-value]
    prefix = answer[:4]
    if "yes" in prefix:
        return "yes"
    if "no" in prefix:
        return "no"
    return "unknown"


def extract_yes_no_exact(output: str) -> YesNo:
    """lmms-eval POPE: `output.lower().strip()` must equal "yes" or "no"; anything else is unknown."""
    answer = output.lower().strip()
    if answer in ("yes", "no"):
        return answer  # type: ignore[return-value]
    return "unknown"


def normalise_yes_no_label(value: object) -> Literal["yes", "no"] | None:
    """A ground-truth label ("Yes", "no.", " NO ") as "yes"/"no"; None if it is neither.

    Mirrors lmms-eval's `answer.lower().strip().replace(".", "")` normalisation of MME answers.
    """
    if not isinstance(value, str):
        return None
    label = value.lower().strip().replace(".", "")
    if label in ("yes", "no"):
        return label  # type: ignore[return-value]
    return None
