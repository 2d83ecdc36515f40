"""MMMU answer parsing, scoring and aggregation: the official rules and lmms-eval 0.7.3's variant.

Official = MMMU-Benchmark/MMMU `mmmu/utils/eval_utils.py` (`parse_multi_choice_response`,
`parse_open_response`, `eval_multi_choice`, `eval_open`) with the gold answers of its
`answer_dict_val.json`, where a question with several accepted answers holds a list.
lmms-eval 0.7.3 = `lmms_eval/tasks/_task_utils/mmmu_mcq_utils.py` (multiple choice) and
`lmms_eval/tasks/mmmu/utils.py` (open questions, with the fix that keeps the full candidate list).
"""

from __future__ import annotations

import ast
import math
import random
import re
from collections import defaultdict
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Literal, Union

from janus_eval.api import Metric, Sample, percent
from janus_eval.rules.option_matching import LETTERS

Variant = Literal["official", "lmms_eval", "vlmevalkit"]
Fallback = Literal["stream", "per_sample"]
Candidate = Union[str, float]
MULTIPLE_CHOICE = "multiple-choice"

# The official 6 disciplines x 30 subjects (MMMU `mmmu/utils/data_utils.py`, DOMAIN_CAT2SUB_CAT), in its order.
DISCIPLINES: dict[str, tuple[str, ...]] = {
    "Art and Design": ("Art", "Art_Theory", "Design", "Music"),
    "Business": ("Accounting", "Economics", "Finance", "Manage", "Marketing"),
    "Science": ("Biology", "Chemistry", "Geography", "Math", "Physics"),
    "Health and Medicine": (
        "Basic_Medical_Science", "Clinical_Medicine", "Diagnostics_and_Laboratory_Medicine", "Pharmacy",
        "Public_Health",
    ),
    "Humanities and Social Science": ("History", "Literature", "Sociology", "Psychology"),
    "Tech and Engineering": (
        "Agriculture", "Architecture_and_Engineering", "Computer_Science", "Electronics", "Energy_and_Power",
        "Materials", "Mechanical_Engineering",
    ),
}  # fmt: skip
SUBJECT_DISCIPLINE: dict[str, str] = {
    subject: discipline for discipline, subjects in DISCIPLINES.items() for subject in subjects
}

# Seed of the random letter for unparsable multiple-choice answers: the official eval_utils calls
# random.seed(42) at import; lmms-eval seeds Python's random with its `--seed` default, 0.
FALLBACK_SEEDS: dict[str, int] = {"official": 42, "lmms_eval": 0}
# The official processing order of the subjects: `CAT_SHORT2LONG` of MMMU's `mmmu/utils/data_utils.py`, which
# run_llava.py (parsing during inference) and main_parse_and_eval.py (`--subject ALL`) walk in this order,
# each subject's questions in dataset order, drawing every fallback letter from Python's one global stream.
OFFICIAL_SUBJECT_ORDER: tuple[str, ...] = (
    "Accounting", "Agriculture", "Architecture_and_Engineering", "Art", "Art_Theory", "Basic_Medical_Science",
    "Biology", "Chemistry", "Clinical_Medicine", "Computer_Science", "Design", "Diagnostics_and_Laboratory_Medicine",
    "Economics", "Electronics", "Energy_and_Power", "Finance", "Geography", "History", "Literature", "Manage",
    "Marketing", "Materials", "Math", "Mechanical_Engineering", "Music", "Pharmacy", "Physics", "Psychology",
    "Public_Health", "Sociology",
)  # fmt: skip
# VLMEvalKit's pseudo-option for open questions (MMMU_preproc: A = the ground truth, B = this)
OTHER_ANSWERS = "Other Answers"


def subject_of(sample_id: str) -> str | None:
    """The subject in an MMMU id `<split>_<Subject>_<n>` (e.g. "Art_Theory"), None if the id has another form.

    Same reading as the official `"_".join(id.split("_")[1:-1])` and lmms-eval's `extract_subset_name`.
    """
    parts = sample_id.split("_")
    if len(parts) < 3 or not parts[-1].isdigit():
        return None
    return "_".join(parts[1:-1])


def option_letters(count: int) -> list[str]:
    """The letters of `count` options, A first (MMMU `get_multi_choice_info`)."""
    if count > len(LETTERS):
        raise ValueError(f"{count} options exceed the {len(LETTERS)} option letters")
    return list(LETTERS[:count])


# ----------------------------------------------------------------------------- multiple choice

# Stripped from both ends, one mark after the other in this order (official `parse_multi_choice_response`).
_EDGE_MARKS = (",", ".", "!", "?", ";", ":", "'")
# Letter passes tried in order until one finds a candidate: (rule name, how a letter appears).
_LETTER_PASSES: dict[Variant, tuple[tuple[str, Callable[[str], str]], ...]] = {
    "official": (
        ("parenthesised", lambda letter: f"({letter})"),
        ("spaced_letter", lambda letter: f" {letter} "),
    ),
    # lmms-eval 0.7.3: "X " without the leading space (so "PCB is" yields B), then "X." as a third pass
    "lmms_eval": (
        ("parenthesised", lambda letter: f"({letter})"),
        ("letter_space", lambda letter: f"{letter} "),
        ("letter_period", lambda letter: f"{letter}."),
    ),
}
# Option texts are matched only in responses of more than this many whitespace-separated words.
_MIN_WORDS_FOR_OPTION_TEXT = 5


@dataclass(frozen=True)
class ChoiceParse:
    """A multiple-choice reading: the letter, the candidates it was chosen from, and how they were found.

    `rule` is the pass that found the candidates (parenthesised, spaced_letter, letter_space,
    letter_period, option_text), "random" when none did and a letter was drawn (or is left to be drawn:
    `pred` None), "none" without options.
    """

    pred: str | None
    candidates: tuple[str, ...]
    rule: str
    random_fallback: bool


def parse_multi_choice(
    response: str, options: Sequence[str], rng: random.Random | None, variant: Variant = "official"
) -> ChoiceParse:
    """The option letter a free-form response picks, by the official MMMU rules or lmms-eval's variant.

    Letters in parentheses first, then bare letters, then (responses of more than 5 words only)
    option texts contained in the response; several candidates -> the one occurring last; none ->
    a letter drawn from `rng` (with `rng` None the draw is left to the caller: `pred` None).
    """
    letters = option_letters(len(options))
    text = response
    for mark in _EDGE_MARKS:
        text = text.strip(mark)
    text = f" {text} "  # so that a letter at either end is still delimited by spaces

    candidates: list[str] = []
    rule = "none"
    for name, shape in _LETTER_PASSES[variant]:
        candidates = [letter for letter in letters if shape(letter) in text]
        if candidates:
            rule = name
            break
    lowered = text.lower()
    if not candidates and len(text.split()) > _MIN_WORDS_FOR_OPTION_TEXT:
        candidates = [letter for letter, option in zip(letters, options) if option.lower() in lowered]
        if candidates:
            rule = "option_text"

    if not candidates:
        if not letters:
            return ChoiceParse(None, (), "none", False)
        return ChoiceParse(rng.choice(letters) if rng is not None else None, (), "random", True)
    if len(candidates) == 1:
        return ChoiceParse(candidates[0], tuple(candidates), rule, False)

    def last_position(letter: str) -> int:
        if rule == "parenthesised":
            return text.rfind(f"({letter})")
        if rule == "option_text":
            return lowered.rfind(options[letters.index(letter)].lower())
        # Official behaviour kept in lmms-eval: candidates of the "X " and "X." passes are still
        # ranked by where " X " occurs last (-1 when it does not, so the first such letter wins).
        return text.rfind(f" {letter} ")

    # max() keeps the first of equal positions, as the official np.argmax does
    return ChoiceParse(max(candidates, key=last_position), tuple(candidates), rule, False)


def eval_multi_choice(gold: str | Sequence[str], pred: str | None) -> bool:
    """Official `eval_multi_choice`: the letter equals the gold letter (or one of a gold list)."""
    if isinstance(gold, str):
        return pred == gold
    return pred in gold


# ----------------------------------------------------------------------------- open questions

# Official `extract_numbers` patterns: thousands with commas, scientific notation, plain numbers.
_NUMBER_WITH_COMMAS = re.compile(r"-?\b\d{1,3}(?:,\d{3})+\b")
_NUMBER_SCIENTIFIC = re.compile(r"-?\d+(?:\.\d+)?[eE][+-]?\d+")
_NUMBER_PLAIN = re.compile(r"-?(?:\d+\.\d+|\.\d+|\d+\b)(?![eE][+-]?\d+)(?![,\d])")
# Words after which the answer is expected; "=" counts too, in the last line only.
_KEY_INDICATORS = ("could be ", "so ", "is ", "thus ", "therefore ", "final ", "answer ", "result ")
_TRIVIAL_KEYS = frozenset({":", ",", ".", "!", "?", ";", "'"})


def is_number(text: str) -> bool:
    """Official `check_is_number`: Python's float() accepts the text once commas are removed."""
    try:
        float(text.replace(",", ""))
    except ValueError:
        return False
    return True


def normalize_answer(text: str) -> list[Candidate]:
    """Official `normalize_str`: a number -> [its value rounded to 2 decimals]; else the lower-cased text.

    A one-character text becomes [" x", "x "] so that it only matches as a separate character.
    """
    text = text.strip()
    if is_number(text):
        return [round(float(text.replace(",", "")), 2)]
    text = text.lower()
    if len(text) == 1:
        return [" " + text, text + " "]
    return [text]


def extract_numbers(text: str) -> list[str]:
    """Official `extract_numbers`: every number written with commas, in scientific notation, or plainly."""
    return [
        *_NUMBER_WITH_COMMAS.findall(text),
        *_NUMBER_SCIENTIFIC.findall(text),
        *_NUMBER_PLAIN.findall(text),
    ]


def key_responses(response: str) -> list[str]:
    """The parts of a response likely to hold the answer (official `get_key_subresponses`).

    Per line, the shortest tail after an indicator ("is ", "so ", "answer ", ..., and "=" in the
    last line); the whole lower-cased response when no line has one.
    """
    text = response.strip().strip(".").lower()
    # The official split pattern also cuts at ". " before an upper-case letter, but it runs on the
    # lower-cased text, where that never occurs: only newlines split (reproduced on purpose).
    lines = text.split("\n")
    found: list[str] = []
    for number, line in enumerate(lines):
        indicators = _KEY_INDICATORS + (("=",) if number == len(lines) - 1 else ())
        shortest: str | None = None
        for indicator in indicators:
            if indicator in line:
                tail = line.split(indicator)[-1].strip()
                # official: an empty tail found first is replaced by the next one, even a longer one
                if not shortest or len(tail) < len(shortest):
                    shortest = tail
        if shortest and shortest.strip() not in _TRIVIAL_KEYS:
            found.append(shortest)
    return found or [text]


def parse_open_response(response: str) -> list[Candidate]:
    """Official `parse_open_response`: the key responses and the numbers in them, normalised, deduplicated.

    The official code deduplicates through a set; this keeps the first occurrence of each value,
    which holds the same values in a stable order.
    """
    keys = key_responses(response)
    raw = [*keys, *(number for key in keys for number in extract_numbers(key))]
    normalised = [value for text in raw for value in normalize_answer(text)]
    return list(dict.fromkeys(normalised))


def eval_open(gold: str | Sequence[str], candidates: Sequence[Candidate]) -> bool:
    """Official `eval_open`: right if a text candidate contains a normalised text gold answer, or a number
    candidate equals a normalised number gold answer (every gold answer of a list counts)."""
    answers = [gold] if isinstance(gold, str) else list(gold)
    golds = [value for answer in answers for value in normalize_answer(answer)]
    for candidate in candidates:
        if isinstance(candidate, str):
            if any(isinstance(value, str) and value in candidate for value in golds):
                return True
        elif candidate in golds:
            return True
    return False


def parse_gold(answer: str) -> str | list[str]:
    """A gold answer as the official answer file holds it: a list for "['$MgS$', 'MgS']", else the string.

    The hub dataset stores several accepted answers as a Python list literal in a string; a text
    that only looks like one (unbalanced quotes) stays a plain string.
    """
    if not answer.strip().startswith("["):
        return answer
    try:
        value = ast.literal_eval(answer.strip())
    except (ValueError, TypeError, SyntaxError, MemoryError, RecursionError):
        return answer
    if isinstance(value, (list, tuple)):
        return [str(item) for item in value]
    return answer


# ----------------------------------------------------------------------------- one response


def fallback_rng(variant: Variant, sample_id: str) -> random.Random:
    """The random stream of one sample's fallback letter: seeded by (the variant's seed, sample id), so the
    letter does not depend on the order or the shard in which samples are scored."""
    return random.Random(f"{FALLBACK_SEEDS[variant]}:{sample_id}")


def _jsonable(value: Candidate) -> str | float:
    """A candidate as strict JSON allows it (inf and nan as text)."""
    if isinstance(value, float) and not math.isfinite(value):
        return repr(value)
    return value


def score_response(
    response: str,
    *,
    sample_id: str,
    question_type: str,
    options: Sequence[str],
    answer: str,
    variant: Variant = "official",
    fallback: Fallback = "per_sample",
) -> dict[str, Any]:
    """Scores one MMMU response; the per-sample score record (JSON-serialisable).

    Multiple choice (question_type "multiple-choice"): `pred` letter, `candidates`, `rule`,
    `random_fallback`. Any other type is open: `pred` = the normalised candidate list. Official
    gold answers that are list literals are parsed; lmms-eval compares against the raw string.
    An unparsable multiple-choice answer draws its letter now (`fallback="per_sample"`, seeded by the
    sample id) or leaves it to `MmmuMetric` (`"stream"`): `pred` None, `correct` False until then, and
    `stream_fallback` holds what the draw needs (seed, letters, gold answer).
    """
    if variant == "vlmevalkit":
        return _score_vlmevalkit(response, question_type, options, answer)
    if variant == "lmms_eval":
        response = response.strip()  # lmms-eval strips every generate_until output before process_results
    gold: str | list[str] = parse_gold(answer) if variant == "official" else answer
    if question_type == MULTIPLE_CHOICE:
        rng = fallback_rng(variant, sample_id) if fallback == "per_sample" else None
        choice = parse_multi_choice(response, options, rng, variant)
        score: dict[str, Any] = {
            "question_type": question_type,
            "pred": choice.pred,
            "candidates": list(choice.candidates),
            "rule": choice.rule,
            "random_fallback": choice.random_fallback,
            "correct": eval_multi_choice(gold, choice.pred) if choice.pred is not None else False,
        }
        if choice.random_fallback and choice.pred is None:
            score["stream_fallback"] = {
                "seed": FALLBACK_SEEDS[variant],
                "letters": option_letters(len(options)),
                "gold": gold,
            }
        return score
    candidates = parse_open_response(response)
    return {
        "question_type": question_type,
        "pred": [_jsonable(candidate) for candidate in candidates],
        "random_fallback": False,
        "correct": eval_open(gold, candidates),
    }


def vlmevalkit_choices(question_type: str, options: Sequence[str], answer: str) -> tuple[dict[str, str], str]:
    """The options VLMEvalKit matches an answer against, and the right letter: a multiple-choice question's own,
    or for an open question the pseudo-MCQ of MMMU_preproc (A = the ground truth, B = "Other Answers", right A)."""
    if question_type == MULTIPLE_CHOICE:
        return dict(zip(option_letters(len(options)), options)), answer.strip()
    return {"A": answer, "B": OTHER_ANSWERS}, "A"


def _score_vlmevalkit(response: str, question_type: str, options: Sequence[str], answer: str) -> dict[str, Any]:
    """VLMEvalKit MMMU_DEV_VAL (the paper's recipe), exact-matching mode: `can_infer` over the options; an open
    question becomes a two-option question after inference (MMMU_preproc: A = the ground truth, B = "Other
    Answers", right answer A); no option inferred -> wrong (no LLM judge, no random letter)."""
    from janus_eval.rules.option_matching import infer_option

    choices, target = vlmevalkit_choices(question_type, options, answer)
    pred = infer_option(response, choices, rules="2024")
    return {
        "question_type": question_type,
        "pred": pred,
        "unmatched": pred is None,
        "random_fallback": False,
        "correct": pred == target,
    }


# ----------------------------------------------------------------------------- aggregation


def _key(name: str) -> str:
    return name.replace(" ", "_")


@dataclass(frozen=True)
class PendingFallback:
    """A multiple-choice answer whose random letter is drawn at aggregation, from the official stream."""

    order: tuple[int, int]  # (subject in the official order, position in the dataset)
    subject: str
    seed: int
    letters: tuple[str, ...]
    gold: str | tuple[str, ...]


def draw_stream(pending: Sequence[PendingFallback]) -> list[tuple[PendingFallback, str, bool]]:
    """Each pending answer's letter and whether it is right, drawn as the official evaluator draws them.

    Official behaviour (MMMU eval_utils `random.seed(42)` and `random.choice(all_choices)`): one stream per
    seed, drawn in the official processing order (subjects in `OFFICIAL_SUBJECT_ORDER`, questions in dataset
    order), one `choice` per unparsable answer; so the letters depend on which answers fell back before.
    """
    drawn = []
    for seed in sorted({item.seed for item in pending}):
        rng = random.Random(seed)
        for item in sorted((item for item in pending if item.seed == seed), key=lambda item: item.order):
            letter = rng.choice(list(item.letters))
            gold = item.gold if isinstance(item.gold, str) else list(item.gold)
            drawn.append((item, letter, eval_multi_choice(gold, letter)))
    return drawn


def _subject_rank(subject: str) -> int:
    if subject in OFFICIAL_SUBJECT_ORDER:
        return OFFICIAL_SUBJECT_ORDER.index(subject)
    return len(OFFICIAL_SUBJECT_ORDER)


class MmmuMetric(Metric):
    """Per subject and question kind: (questions, right, random fallbacks); accuracies are instance-weighted.

    Overall and per-discipline accuracy pool the questions (official `calculate_ins_level_acc`). Answers
    scored with `fallback="stream"` that fell back are kept as `pending` and drawn in `compute`, over all
    samples the metric holds: the same letters whatever the world size, the shard or the resume history.
    """

    def __init__(self) -> None:
        # subject -> "multiple_choice" | "open" -> [questions, right, random fallbacks]
        self.counts: dict[str, dict[str, list[int]]] = defaultdict(dict)
        self.pending: list[PendingFallback] = []

    def update(self, sample: Sample, score: Mapping[str, Any]) -> None:
        kind = "multiple_choice" if sample.meta["question_type"] == MULTIPLE_CHOICE else "open"
        subject = sample.meta["subject"]
        counts = self.counts[subject].setdefault(kind, [0, 0, 0])
        counts[0] += 1
        counts[1] += int(bool(score["correct"]))
        counts[2] += int(bool(score.get("random_fallback")))
        stream = score.get("stream_fallback")
        if stream:
            gold = stream["gold"]
            self.pending.append(
                PendingFallback(
                    order=(_subject_rank(subject), sample.index),
                    subject=subject,
                    seed=int(stream["seed"]),
                    letters=tuple(stream["letters"]),
                    gold=gold if isinstance(gold, str) else tuple(gold),
                )
            )

    def merge(self, other: Metric) -> None:
        if not isinstance(other, MmmuMetric):
            raise TypeError(f"cannot merge {type(other).__name__} into MmmuMetric")
        for subject, kinds in other.counts.items():
            for kind, values in kinds.items():
                mine = self.counts[subject].setdefault(kind, [0, 0, 0])
                for position, value in enumerate(values):
                    mine[position] += value
        self.pending.extend(other.pending)

    def _with_stream_draws(self) -> tuple[dict[str, dict[str, list[int]]], int]:
        """The counts with the pending answers' drawn letters added, and how many of those were right."""
        counts = {subject: {kind: list(values) for kind, values in kinds.items()} for subject, kinds in self.counts.items()}
        right = 0
        for item, _, correct in draw_stream(self.pending):
            if correct:
                counts[item.subject]["multiple_choice"][1] += 1
                right += 1
        return counts, right

    def compute(self) -> dict[str, float | None]:
        counts, stream_right = self._with_stream_draws()
        seen = [subject for subject, kinds in counts.items() if kinds]
        questions, right, fallbacks = _totals(counts, seen)
        result: dict[str, float | None] = {
            "accuracy": percent(right, questions),
            "count": float(questions),
            "random_fallbacks": float(fallbacks),
            "random_fallbacks_drawn_at_aggregation": float(len(self.pending)),
            "random_fallbacks_drawn_right": float(stream_right),
        }
        for kind in ("multiple_choice", "open"):
            kind_questions, kind_right, _ = _totals(counts, seen, kind)
            result[f"{kind}_accuracy"] = percent(kind_right, kind_questions)
            result[f"{kind}_count"] = float(kind_questions)
        for discipline, subjects in DISCIPLINES.items():
            present = [subject for subject in subjects if subject in seen]
            if present:
                discipline_questions, discipline_right, _ = _totals(counts, present)
                result[f"discipline.{_key(discipline)}.accuracy"] = percent(discipline_right, discipline_questions)
                result[f"discipline.{_key(discipline)}.count"] = float(discipline_questions)
        ordered = [s for subjects in DISCIPLINES.values() for s in subjects if s in seen]
        for subject in [*ordered, *sorted(set(seen) - set(ordered))]:
            subject_questions, subject_right, _ = _totals(counts, [subject])
            result[f"subject.{subject}.accuracy"] = percent(subject_right, subject_questions)
            result[f"subject.{subject}.count"] = float(subject_questions)
        return result


def _totals(
    counts: Mapping[str, Mapping[str, list[int]]], subjects: Sequence[str], kind: str | None = None
) -> tuple[int, int, int]:
    """(questions, right, fallbacks) summed over `subjects` (and one question kind)."""
    totals = [0, 0, 0]
    for subject in subjects:
        for name, values in counts.get(subject, {}).items():
            if kind is None or name == kind:
                totals = [a + b for a, b in zip(totals, values)]
    return totals[0], totals[1], totals[2]
