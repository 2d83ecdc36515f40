"""Turning a free-form answer to a multiple-choice question into an option letter (one function per official rule).

- `infer_option`: VLMEvalKit's `can_infer` (letter matching, then option-text matching), the rule of the Janus
  paper protocol; `rules="2024"` is the code of October 2024 (VLMEvalKit PR #541), `rules="current"` adds the
  later changes (commits c3371551, 2025-08, and a67ace50, 2026-06).
- `infer_option_lmms_eval`: lmms-eval MMBench's own `can_infer` (`MMBench_Evaluator`), and
  `infer_option_lmms_eval_static`: that, then `extract_mcq_letter` (`mmbench_en_dev_static`).
- `extract_mcq_letter`: lmms-eval's `_task_utils/mcq_extract.py::extract_mcq_answer`.
- `first_character_option`: lmms-eval SEED-Bench (first character of the stripped answer).
- `random_option`: lmms-eval's fallback without an LLM judge, drawn per sample instead of from one global stream.

Every function returns a letter of `choices` (or, for the lmms-eval rules, a letter the official rule can
return) or None when no option can be inferred. `choices` maps option letters to option texts, in letter
order, with absent options left out.
"""

from __future__ import annotations

import hashlib
import re
import string
from collections.abc import Callable, Collection, Mapping, Sequence
from typing import Literal

# the option letters, in order (A, B, C, ...): prompts list options under them, rules read them back
LETTERS = string.ascii_uppercase

VlmEvalKitRules = Literal["2024", "current"]
OptionExtractor = Callable[[str, Mapping[str, str]], str | None]

# ----------------------------------------------------------------------------- VLMEvalKit can_infer

# Answers that mean "I will not answer": VLMEvalKit returns its "Z" (no option) for them.
_REFUSALS: tuple[str, ...] = (
    "Sorry, I can't help with images of people yet.",
    "I can't process this file.",
    "I'm sorry, but without the image provided",
    "Cannot determine the answer",
)
_API_FAILURE = "Failed to obtain answer via API"
# Characters VLMEvalKit turns into spaces before splitting the answer into tokens.
_LETTER_SEPARATORS = ".()[],:;!*#{}"
_SEPARATOR_TABLE = str.maketrans(_LETTER_SEPARATORS, " " * len(_LETTER_SEPARATORS))
# rules="current" (VLMEvalKit a67ace50): "answer is B" anywhere; the flag makes the letter case-insensitive too,
# so "the answer is a cat" reads as A (official behaviour).
_VERBOSE_ANSWER = re.compile(r"(?i)(?:correct\s+)?answer\s+is\s+\**([ABCD])\**")
# rules="current" (VLMEvalKit c3371551): a lone letter counts only among the last 4 tokens.
_LAST_TOKENS = 4
_NO_OPTION = "Z"


def _letter_tokens(answer: str) -> list[str]:
    return answer.translate(_SEPARATOR_TABLE).split()


def infer_option_letter(answer: str, choices: Mapping[str, str], *, rules: VlmEvalKitRules = "2024") -> str | None:
    """VLMEvalKit `can_infer_option`: the option letter standing alone in the answer, "Z" for a refusal, else None.

    Punctuation in `.()[],:;!*#{}` becomes a space, so "B", "(B)", "B." and "The answer is B" all give B.
    Exactly one of the option letters must stand as a token: two or more ("A or B") match nothing. With no
    option letter, a lone "Z" token also means no option. VLMEvalKit's rule that an "A" in a long answer may
    be an article only runs with its VERBOSE environment variable set and is not reproduced.
    """
    if _API_FAILURE in answer:
        return None
    if any(refusal in answer for refusal in _REFUSALS):
        return _NO_OPTION
    tokens = _letter_tokens(answer)
    present = [letter for letter in choices if letter in tokens]
    if len(present) == 1:
        letter = present[0]
        if rules == "2024" or tokens.index(letter) > len(tokens) - 1 - _LAST_TOKENS:
            return letter
    elif not present and _NO_OPTION in tokens:
        return _NO_OPTION
    if rules == "current":
        match = _VERBOSE_ANSWER.search(answer)
        if match and match.group(1).upper() in choices:
            return match.group(1).upper()
    return None


def infer_option_text(answer: str, choices: Mapping[str, str], *, rules: VlmEvalKitRules = "2024") -> str | None:
    """VLMEvalKit `can_infer_text`: the one option whose text occurs in the answer (case-insensitive substring).

    None when no option text or several occur; with `rules="current"` also when the answer is longer than twice
    the options' texts together.
    """
    lowered = answer.lower()
    if rules == "current" and len(lowered) > 2 * sum(len(text) for text in choices.values()):
        return None
    found = [letter for letter, text in choices.items() if text.lower() in lowered]
    return found[0] if len(found) == 1 else None


def infer_option(answer: str, choices: Mapping[str, str], *, rules: VlmEvalKitRules = "2024") -> str | None:
    """VLMEvalKit `can_infer`: letter matching first, then option-text matching; None when neither infers an option.

    VLMEvalKit's "Z" (a refusal, or a lone "Z") ends the search without text matching and is None here.
    """
    letter = infer_option_letter(answer, choices, rules=rules)
    if letter == _NO_OPTION:
        return None
    if letter is not None:
        return letter
    return infer_option_text(answer, choices, rules=rules)


# ----------------------------------------------------------------------------- lmms-eval MMBench

# lmms-eval MMBench_Evaluator.can_infer_option looks for these letters whatever the question's options are.
# The VLMEvalKit heuristics as task extraction options (option name -> extractor, card description).
VLMEVALKIT_EXTRACTORS: dict[str, tuple[OptionExtractor, str]] = {
    "vlmevalkit": (
        lambda answer, choices: infer_option(answer, choices, rules="2024"),
        "VLMEvalKit can_infer as of PR #541 (Oct 2024; exact matching, no judge): with punctuation turned into "
        "spaces, the one option letter standing alone (two or more: none), else the one option whose text occurs "
        "in the answer",
    ),
    "vlmevalkit_current": (
        lambda answer, choices: infer_option(answer, choices, rules="current"),
        "VLMEvalKit can_infer as of e8e78f05: as vlmevalkit, but the letter must be among the last 4 tokens, "
        "'answer is X' is read anywhere, and text matching refuses answers longer than twice the options",
    ),
}


_LMMS_EVAL_LETTERS = "ABCDE"
# (prefix, suffix) around a letter token, tried in this order when no bare letter decides.
_LMMS_EVAL_AFFIXES: tuple[tuple[str, str], ...] = (
    ("", "."), ("", ","), ("", ":"), ("", ")"), ("", ")."), ("(", ")"), ("(", ")."),
    (":", ""), (":", ","), (":", "."), (":", ")"), (":", ")."),
)  # fmt: skip


def _lmms_eval_letter(answer: str) -> str | None:
    """lmms-eval `MMBench_Evaluator.can_infer_option` (tokens split on whitespace only, letters A to E)."""
    if _API_FAILURE in answer:
        return None
    tokens = [token.strip() for token in answer.split()]
    bare = [letter for letter in _LMMS_EVAL_LETTERS if letter in tokens]
    # official behaviour: an "A" token in an answer of more than 3 tokens may be an article, so bare letters
    # are not trusted then (the affixed forms below still are)
    if len(bare) == 1 and not ("A" in tokens and len(tokens) > 3):
        return bare[0]
    for prefix, suffix in _LMMS_EVAL_AFFIXES:
        found = [letter for letter in _LMMS_EVAL_LETTERS if f"{prefix}{letter}{suffix}" in tokens]
        if len(found) == 1:
            return found[0]
    return None


def infer_option_lmms_eval(answer: str, choices: Mapping[str, str]) -> str | None:
    """lmms-eval MMBench `can_infer`: its letter rule (may return E, never an option), then option-text matching."""
    letter = _lmms_eval_letter(answer)
    if letter is not None:
        return letter
    # lmms-eval's can_infer_text equals VLMEvalKit's of 2024 (no length limit)
    return infer_option_text(answer, choices, rules="2024")


def infer_option_lmms_eval_static(answer: str, choices: Mapping[str, str]) -> str | None:
    """lmms-eval `mmbench_en_dev_static`: `infer_option_lmms_eval`, else `extract_mcq_letter` over the options."""
    letter = infer_option_lmms_eval(answer, choices)
    if letter is not None:
        return letter
    return extract_mcq_letter(answer, sorted(choices))


# ----------------------------------------------------------------------------- lmms-eval mcq_extract

_ANSWER_PHRASES: tuple[str, ...] = (
    "the answer is", "answer is", "the correct answer is", "correct answer is", "the best answer is",
    "best answer is", "the correct option is", "correct option is", "the best option is", "best option is",
    "the choice is", "choice is", "the correct choice is", "correct choice is", "i choose", "i select", "i pick",
    "my answer is", "my choice is", "옵션", "정답은", "답은", "답:", "答案是", "答案为", "选", "答えは",
)  # fmt: skip
_EDGE_PUNCTUATION = (",", ".", "!", "?", ";", ":", "'", '"')
# format -> priority (higher wins; within one format the later position wins)
_PRIORITY = {"start": 10, "end": 9, "phrase": 7, "parentheses": 6, "period": 5, "colon": 4, "right_paren": 3,
             "space": 2, "fallback": 0}  # fmt: skip
_PATTERNS: tuple[tuple[str, str], ...] = (
    ("parentheses", "({})"), ("period", "{}."), ("colon", "{}:"), ("right_paren", "{})"), ("space", "{} "),
)  # fmt: skip
_DEFAULT_MCQ_LETTERS = ("A", "B", "C", "D", "E", "F", "G", "H")


def extract_mcq_letter(response: str, letters: Sequence[str] | None = None) -> str | None:
    """lmms-eval `extract_mcq_answer`: the best-ranked letter among several answer formats, None if none occurs.

    Formats from strongest to weakest: a standalone letter at the start, at the end, after an answer phrase
    ("the answer is", ...), "(X)", "X.", "X:", "X)", "X ", and, only when nothing else matched, the letter
    anywhere (even inside a word, as officially). Ties go to the later position.
    """
    if not response or not response.strip():
        return None
    letters = list(letters) if letters else list(_DEFAULT_MCQ_LETTERS)
    text = response.strip()
    for mark in _EDGE_PUNCTUATION:
        text = text.strip(mark)
    text = f" {text} "
    candidates: list[tuple[int, int, str]] = []  # (priority, position, letter)
    for form, pattern in _PATTERNS:
        for letter in letters:
            needle = pattern.format(letter)
            if needle in text:
                candidates.append((_PRIORITY[form], text.rfind(needle), letter))
    lowered = text.lower()
    for phrase in _ANSWER_PHRASES:
        start = lowered.find(phrase)
        if start != -1:
            after = start + len(phrase)
            for letter in letters:
                position = text.find(letter, after)
                if position != -1:
                    candidates.append((_PRIORITY["phrase"], position, letter))
    stripped = text.strip()
    for letter in letters:
        if stripped.startswith(letter) and (len(stripped) == 1 or not stripped[1].isalpha()):
            candidates.append((_PRIORITY["start"], 0, letter))
    for letter in letters:
        if stripped.endswith(letter) and (len(stripped) == 1 or not stripped[-2].isalpha()):
            candidates.append((_PRIORITY["end"], len(text) - 1, letter))
    if not candidates:
        for letter in letters:
            if letter in text:
                candidates.append((_PRIORITY["fallback"], text.rfind(letter), letter))
    if not candidates:
        return None
    # official: a stable sort on (priority, position), descending; equal keys keep the order found above
    best = sorted(candidates, key=lambda c: (c[0], c[1]), reverse=True)[0]
    return best[2]


# ----------------------------------------------------------------------------- lmms-eval SEED-Bench


def first_character_option(answer: str, letters: Collection[str]) -> str | None:
    """lmms-eval SEED-Bench: the first character of the stripped answer, compared case-insensitively.

    Returns that character upper-cased when it is one of `letters`, else None (lmms-eval then compares a
    character that cannot equal the answer, so the question is wrong either way).
    """
    stripped = answer.strip()
    if not stripped:
        return None
    first = stripped[0].upper()
    return first if first in letters else None


# ----------------------------------------------------------------------------- random fallback

LMMS_EVAL_RANDOM_SEED = 2680


def random_option(key: str, letters: Sequence[str], seed: int = LMMS_EVAL_RANDOM_SEED) -> str:
    """A letter drawn uniformly from `letters`, determined by (seed, key) alone.

    lmms-eval draws from one `random` stream seeded with 2680 in processing order; a per-sample draw keeps the
    letter independent of sharding, resuming and order, at the price of other letters than lmms-eval's.
    """
    if not letters:
        raise ValueError("random_option needs at least one letter")
    digest = hashlib.sha256(f"{seed}\x00{key}".encode()).digest()
    return letters[int.from_bytes(digest[:8], "little") % len(letters)]
