"""MMBench v1.0, English dev split: single-image multiple-choice questions, each with rotated-option copies.

The dev split has 4,329 rows (counted for the `cn` config; presumed the same for `en`): every question
(index < 1e6) and its circular copies with the options rotated (index = k * 1e6 + question index). The Janus papers report MMBench_DEV_EN scored *without* circular
evaluation (VLMEvalKit PR #541: "set circular=False in vlmeval/dataset/image_mcq.py"). With that flag
VLMEvalKit's `evaluate` runs `mcq_vanilla_eval` over every row of the predictions file, and inference covers
every row of the TSV, rotated copies included (the TSV holds them, as MMBench's maintainers say in
open-compass/MMBench#8; `mcq_circular_eval` groups them by `index % 1e6`, and `evaluate`'s PRINT_VANILLA check
separates "vanilla_0", the original rows, from "vanilla_all").
So the paper number is the accuracy over all 4,329 rows, each scored on its own; `accuracy_circ0` gives the
original rows alone.
"""

from __future__ import annotations

import numbers
from collections import Counter, defaultdict
from collections.abc import Mapping, Sequence
from typing import Any, ClassVar, Literal

from pydantic import Field, model_validator

from janus_eval.api import (
    DataSource,
    Output,
    RightOrWrong,
    Sample,
    SampleError,
    SampleScore,
    Task,
    TaskOptions,
    TextRequest,
    percent,
)
from janus_eval.data.demo_images import DemoShape, demo_image
from janus_eval.data.image_io import decode_image
from janus_eval.data.sample_ids import occurrence_ids
from janus_eval.errors import UserError
from janus_eval.prompts.multiple_choice import MCQ_SUFFIX, is_missing, paper_mcq_prompt, present_options
from janus_eval.prompts.text_requests import output_text, question_of, single_turn_request
from janus_eval.registry import register_task
from janus_eval.rules.counting_metric import CountingMetric, Statistic, Sums
from janus_eval.rules.option_matching import (
    LETTERS,
    LMMS_EVAL_RANDOM_SEED,
    VLMEVALKIT_EXTRACTORS,
    OptionExtractor,
    VlmEvalKitRules,
    infer_option_lmms_eval,
    infer_option_lmms_eval_static,
    random_option,
)
from janus_eval.scorers.judge.option_matching import (
    JudgeMatching,
    check_judge_matching,
    vlmevalkit_rules,
)

CIRCULAR_OFFSET = 1_000_000
LMMS_EVAL_OPTIONS_HEADER = "There are several options:"
# lmms-eval's random fallback counts the A-D columns of its result rows, which always exist, so it draws
# from A-D plus E ("none of them") whatever the question's options are (official behaviour).
LMMS_EVAL_RANDOM_LETTERS: tuple[str, ...] = ("A", "B", "C", "D", "E")
UNCATEGORIZED = "uncategorized"

EXTRACTORS: dict[str, tuple[OptionExtractor, str]] = {
    **VLMEVALKIT_EXTRACTORS,
    "lmms_eval": (
        infer_option_lmms_eval,
        "lmms-eval MMBench_Evaluator.can_infer: a bare letter A-E (not trusted when an 'A' token stands in an "
        "answer of more than 3 tokens), else letters with punctuation such as 'B.' or '(B)', else option text",
    ),
    "lmms_eval_static": (
        infer_option_lmms_eval_static,
        "lmms-eval mmbench_en_dev_static: lmms_eval, then _task_utils/mcq_extract.py extract_mcq_answer",
    ),
}
UNMATCHED_RULES: dict[str, str] = {
    "wrong": "no option inferred -> wrong (VLMEvalKit exact_matching mode, no LLM judge)",
    "random": (
        f"no option inferred -> a letter drawn from {', '.join(LMMS_EVAL_RANDOM_LETTERS)} (lmms-eval without an "
        f"API key), determined by (seed {LMMS_EVAL_RANDOM_SEED}, sample id)"
    ),
}


class MmbenchOptions(TaskOptions):
    """MMBench options; the defaults are the Janus paper protocol (non-circular, VLMEvalKit prompt and matching)."""

    circular: bool = Field(
        default=False,
        description="a question counts only if every rotated copy is right (VLMEvalKit and lmms-eval default)",
    )
    prompt: Literal["paper", "lmms_eval"] = Field(
        default="paper", description="prompt: Janus/VLMEvalKit recipe or lmms-eval's MMBench prompt"
    )
    extraction: Literal["vlmevalkit", "vlmevalkit_current", "lmms_eval", "lmms_eval_static"] = Field(
        default="vlmevalkit", description="how an answer becomes an option letter"
    )
    unmatched: Literal["wrong", "random"] = Field(
        default="wrong", description="an answer with no inferable option: wrong, or a random letter (lmms-eval)"
    )
    max_new_tokens: int = Field(
        default=512, ge=1, description="generation budget (VLMEvalKit's Janus value at paper time)"
    )
    judge_matching: bool = Field(
        default=False, description="answers the rules cannot match go to the LLM judge (--judge-model), as in VLMEvalKit"
    )

    @model_validator(mode="after")
    def _judge_matching_is_vlmevalkit(self) -> "MmbenchOptions":
        allowed = self.extraction.startswith("vlmevalkit") and self.unmatched == "wrong"
        check_judge_matching(self.judge_matching, allowed, "extraction=vlmevalkit or vlmevalkit_current and unmatched=wrong")
        return self


def lmms_eval_mmbench_prompt(question: str, options: Mapping[str, str], hint: str | None = None) -> str:
    """lmms-eval `mmbench_doc_to_text` with its default post prompt (the hint, if any, joined by a space)."""
    listing = "\n".join([LMMS_EVAL_OPTIONS_HEADER, *(f"{letter}. {text}" for letter, text in options.items())])
    query = f"{question} {listing}" if hint is None else f"{hint} {question} {listing}"
    return f"{query}\n{MCQ_SUFFIX}"


class MmbenchMetric(CountingMetric):
    """Per (category, L2-category): rows, rows right, unmatched rows, original rows and original rows right, and
    (circular) questions and questions right, as keyless sums.

    A question and its rotated copies (one circular group) are one unit. Non-circular: accuracy over rows.
    Circular: accuracy over questions whose original row was scored (VLMEvalKit and lmms-eval iterate over the
    original rows), a question being right when all its loaded rows are right.
    """

    def __init__(self, *, circular: bool) -> None:
        super().__init__(circular=circular)
        self.circular = circular

    def unit_key(self, sample: Sample) -> str:
        return f"{sample.meta['category']}\x00{sample.meta['l2_category']}\x00{sample.meta['group']}"

    def sample_sums(self, sample: Sample, score: Mapping[str, Any]) -> dict[Statistic, int]:
        where = (str(sample.meta["category"]), str(sample.meta["l2_category"]))
        right = int(bool(score["correct"]))
        original = int(bool(sample.meta["original"]))
        return {
            ("rows", *where): 1,
            ("right", *where): right,
            ("unmatched", *where): int(bool(score.get("unmatched"))),
            ("original_rows", *where): original,
            ("original_right", *where): right * original,
        }

    def close_unit(self, unit: Sums) -> Sums:
        closed = Counter(unit)
        for key, rows in unit.items():
            if key[0] == "rows" and unit[("original_rows", *key[1:])]:
                closed[("questions", *key[1:])] += 1
                closed[("questions_right", *key[1:])] += int(unit[("right", *key[1:])] == rows)
        return closed

    def compute_from(self, sums: Sums) -> dict[str, float | None]:
        # (category, L2-category) -> (scored units, units right): rows, or questions when circular
        counted, right = ("questions", "questions_right") if self.circular else ("rows", "right")
        places = [key[1:] for key, value in sums.items() if key[0] == "rows" and value]
        units = [(c, l2, sums[(counted, c, l2)], sums[(right, c, l2)]) for c, l2 in places if sums[(counted, c, l2)]]
        total = sum(n for _, _, n, _ in units)

        def summed(name: str) -> float:
            return float(sum(sums[(name, *place)] for place in places))

        result: dict[str, float | None] = {
            "accuracy": percent(sum(r for _, _, _, r in units), total),
            "unmatched": summed("unmatched"),
            "num_samples": summed("rows"),
        }
        if self.circular:
            result["num_questions"] = float(total)
        else:
            result["accuracy_circ0"] = percent(summed("original_right"), summed("original_rows"))
        for prefix, position in (("category", 0), ("l2_category", 1)):
            groups: dict[str, list[float]] = defaultdict(lambda: [0, 0])
            for unit in units:
                groups[unit[position]][0] += unit[2]
                groups[unit[position]][1] += unit[3]
            for name in sorted(groups):
                result[f"{prefix}.{name}"] = percent(groups[name][1], groups[name][0])
        return result


def _row_index(row: Mapping[str, Any], position: int) -> int:
    """The row's integer `index` (the lmms-lab `en` config has stored it as a string)."""
    value = row.get("index")
    if isinstance(value, numbers.Integral) and not isinstance(value, bool) and value >= 0:
        return int(value)
    if isinstance(value, str) and value.strip().isdigit():
        return int(value.strip())
    raise UserError(
        f"mmbench: dataset row {position} has index {value!r}, expected a non-negative integer; fix the data "
        "(or its local copy) before evaluating"
    )


def _answer_letter(row: Mapping[str, Any], position: int) -> str:
    value = row.get("answer")
    letter = value.strip() if isinstance(value, str) else ""
    if len(letter) != 1 or letter not in LETTERS:
        raise UserError(
            f"mmbench: dataset row {position} has answer {value!r}, expected an option letter; fix the data (or "
            "its local copy) before evaluating"
        )
    return letter


def _label(value: Any) -> str:
    return UNCATEGORIZED if is_missing(value) else str(value)


@register_task
class MmbenchTask(JudgeMatching, Task):
    """MMBench dev (English) with the Janus paper protocol by default (VLMEvalKit MMBench_DEV_EN, non-circular)."""

    name = "mmbench"
    version = 1
    description = "MMBench v1.0 English dev, multiple choice; headline accuracy (%), non-circular over all rows"
    request_kind = "text"
    Options: ClassVar[type[TaskOptions]] = MmbenchOptions
    Score: ClassVar[type[SampleScore]] = RightOrWrong
    published: ClassVar[dict[str, float]] = {
        "janus-1.3b": 69.4,
        "janusflow-1.3b": 74.9,
        "janus-pro-1b": 75.5,
        "janus-pro-7b": 79.2,
    }
    published_source = (
        "MMB column: Janus Tab. 2 (arXiv 2410.13848), JanusFlow Tab. 5 'MMB_dev' (arXiv 2411.07975), Janus-Pro "
        "Tab. 3 (arXiv 2501.17811); MMBench_DEV_EN without circular evaluation (VLMEvalKit PR #541; assumed for "
        "JanusFlow and Janus-Pro)"
    )

    # VLMEvalKit's judge path when a judge is configured: the same recipe, the same measured quantity
    comparable_options = frozenset({"judge_matching"})

    options: MmbenchOptions

    @property
    def headline(self) -> str:
        return "accuracy"

    def data_source(self) -> DataSource:
        return DataSource(
            hf_id="lmms-lab/MMBench",
            config="en",
            split="dev",
            columns=("index", "question", "hint", "A", "B", "C", "D", "answer", "category", "L2-category",
                     "source", "split", "image"),
            image_columns=("image",),
        )  # fmt: skip

    # ------------------------------------------------------------------------- samples

    def samples(self, rows: Sequence[Mapping[str, Any]]) -> list[Sample]:
        """Every row in dataset order (rotated copies too); id = the row's index, group = index % 1e6."""
        indices = [_row_index(row, position) for position, row in enumerate(rows)]
        ids = occurrence_ids(str(index) for index in indices)
        return [
            Sample(
                id=sample_id,
                index=position,
                target=_answer_letter(row, position),
                meta={
                    "category": _label(row.get("category")),
                    "l2_category": _label(row.get("L2-category")),
                    "group": str(index % CIRCULAR_OFFSET),
                    "original": index < CIRCULAR_OFFSET,
                },
                row=row,
            )
            for position, (row, index, sample_id) in enumerate(zip(rows, indices, ids))
        ]

    def resampling_unit(self, sample: Sample) -> str:
        """A question and its rotated copies share image and question (and circular scoring judges them
        together): the bootstrap resamples whole groups."""
        return f"group/{sample.meta['group']}"

    # ------------------------------------------------------------------------- requests

    def prompt_text(self, question: str, options: Mapping[str, str], hint: str | None) -> str:
        """The text after the image under the current `prompt` option."""
        if self.options.prompt == "lmms_eval":
            # Janus's placeholder convention puts "\n" after the image; lmms-eval itself adds none
            return "\n" + lmms_eval_mmbench_prompt(question, options, hint)
        return paper_mcq_prompt(question, options, hint)

    def build_request(self, sample: Sample) -> TextRequest:
        row = sample.row
        question = question_of(sample)
        options = present_options(row)
        if not options:
            raise SampleError(f"sample {sample.id} has no options")
        hint = None if is_missing(row.get("hint")) else str(row.get("hint"))
        image = decode_image(row.get("image"), what=f"image of sample {sample.id}")
        content = [image, self.prompt_text(question, options, hint)]
        return single_turn_request(self.name, sample, content, self.options.max_new_tokens)

    # ------------------------------------------------------------------------- scoring

    def extract(self, text: str, options: Mapping[str, str]) -> str | None:
        """The option letter of an answer under the current `extraction` option (None: no option inferred)."""
        extractor, _ = EXTRACTORS[self.options.extraction]
        return extractor(text, options)

    def matching_rules(self) -> VlmEvalKitRules:
        return vlmevalkit_rules(self.options.extraction)

    def matching_choices(self, sample: Sample) -> tuple[Mapping[str, str], str]:
        return present_options(sample.row), sample.target

    def rule_score(self, sample: Sample, output: Output | None) -> dict[str, Any]:
        """`{"pred", "correct", "unmatched", "random"}` for one row; a failed sample has no prediction and is wrong.

        `unmatched` marks an output from which no option could be inferred; with `unmatched=random` its `pred`
        is the drawn letter and `random` is true.
        """
        text = output_text(self.name, output)
        if text is None:
            return {"pred": None, "correct": False, "unmatched": False, "random": False}
        pred = self.extract(text, present_options(sample.row))
        unmatched = pred is None
        drawn = unmatched and self.options.unmatched == "random"
        if drawn:
            pred = random_option(sample.id, LMMS_EVAL_RANDOM_LETTERS)
        return {"pred": pred, "correct": pred == sample.target, "unmatched": unmatched, "random": drawn}

    def new_metric(self) -> MmbenchMetric:
        return MmbenchMetric(circular=self.options.circular)

    def published_numbers(self) -> dict[str, float]:
        """The papers' numbers are non-circular: circular accuracy measures something else."""
        return {} if self.options.circular else dict(self.published)

    # ------------------------------------------------------------------------- protocol card

    def protocol_card(self) -> dict[str, Any]:
        source = self.data_source()
        template = (
            self.prompt_text("{question}", {"A": "{A}", "B": "{B}"}, "{hint}"),
            self.prompt_text("{question}", {"A": "{A}", "B": "{B}"}, None),
        )
        _, extraction_description = EXTRACTORS[self.options.extraction]
        return {
            "task": self.name,
            "dataset": {
                **source.describe(),
                "columns": list(source.columns),
                "notes": (
                    "4,329 rows (counted for cn, presumed for en): the questions (index < 1e6) and their circular "
                    "copies with rotated options (index % 1e6 = the question); VLMEvalKit reads its own MMBench_DEV_EN.tsv (v1.0, not V11), "
                    "lmms-eval <= 0.7.2 lmms-lab/MMBench, 0.7.3 lmms-lab-encoder/MMBench"
                ),
            },
            "prompt": {
                "variant": self.options.prompt,
                "system_prompt": "",
                "messages_with_hint": [{"role": "user", "content": ["<image>", template[0]]}],
                "messages_without_hint": [{"role": "user", "content": ["<image>", template[1]]}],
                "options_listed": "the present options A, B, C, D in order (missing ones skipped)",
                "hint": (
                    "absent when None, NaN, blank or a string pandas reads as NaN ('nan', 'None', 'NA', ...), as "
                    "VLMEvalKit's TSV loading makes it; options likewise"
                ),
                "roles_note": (
                    "one user turn, no system message (the paper's system prompt is empty); the adapter renders "
                    "roles and the image placeholder (Janus 'deepseek' template)"
                ),
            },
            "generation": {"decoding": "greedy", "temperature": 0.0, "max_new_tokens": self.options.max_new_tokens},
            "extraction": {"rule": self.options.extraction, "description": extraction_description},
            "unmatched": {"rule": self.options.unmatched, "description": UNMATCHED_RULES[self.options.unmatched]},
            **self.judge_matching_card(),
            "scoring": (
                "circular: a question is right only if all its loaded rows (same index % 1e6) are right; questions "
                "whose original row is not loaded are not counted"
                if self.options.circular
                else "non-circular: every row, rotated copies included, is one scored item (PR #541 circular=False)"
            ),
            "metrics": self._metric_card(),
            "options": self.options.model_dump(),
            "deviations": self._deviations(),
        }

    def _metric_card(self) -> dict[str, str]:
        unit = "questions (circular groups)" if self.options.circular else "rows"
        card = {
            "accuracy": f"% of {unit} right (headline)",
            "category.<name> / l2_category.<name>": f"accuracy over the {unit} of one category / L2-category",
            "unmatched": "rows whose output gave no option (counted wrong, or given a random letter)",
            "num_samples": "rows scored",
        }
        if self.options.circular:
            card["num_questions"] = "questions counted (original row loaded)"
        else:
            card["accuracy_circ0"] = "accuracy over the original rows only (VLMEvalKit PRINT_VANILLA 'vanilla_0')"
        return card

    def _deviations(self) -> list[str]:
        deviations = [
            (
                "judge_matching: answers the heuristic cannot match go to the judge given with --judge-model "
                "(VLMEvalKit's matching prompt and loop; the paper's run used chatgpt-0125)"
                if self.options.judge_matching
                else "no LLM judge: the paper's VLMEvalKit run used a ChatGPT judge (chatgpt-0125) for answers the "
                "heuristic cannot match; here such answers are 'unmatched' and wrong (VLMEvalKit exact_matching), "
                "see the 'unmatched' metric (judge_matching=true with --judge-model for VLMEvalKit's judge path)"
            ),
            "max_new_tokens 512 = VLMEvalKit Janus at paper time (now 2048); lmms-eval uses 1024",
            "data: lmms-lab/MMBench (en, dev) stands in for VLMEvalKit's MMBench_DEV_EN.tsv (same rows presumed)",
            (
                "extraction=vlmevalkit omits VLMEvalKit's VERBOSE-only rule that distrusts an 'A' token in long "
                "answers (off by default)"
            ),
        ]
        if self.options.circular:
            deviations.append("circular=true: the papers' numbers are non-circular and do not apply")
        if self.options.prompt == "lmms_eval":
            deviations.append(
                "prompt=lmms_eval still puts '\\n' between image and text (Janus placeholder convention); "
                "lmms-eval itself adds no newline"
            )
        if self.options.extraction.startswith("lmms_eval"):
            deviations.append(
                "lmms-eval builds choices with pd.isna on the parquet strings, so an option stored as the string "
                "'nan' or 'None' would be an option there; here it is absent (VLMEvalKit's reading)"
            )
        if self.options.unmatched == "random":
            deviations.append(
                "unmatched=random draws per sample from sha256(2680, sample id), not from lmms-eval's single "
                "random stream seeded with 2680: the drawn letters differ from lmms-eval's, their distribution "
                "does not"
            )
        return deviations

    # ------------------------------------------------------------------------- demo rows

    def demo_rows(self) -> list[dict[str, Any]]:
        """Four synthetic questions with all their rotated copies (13 rows); hints absent as None and as "nan"."""
        originals: list[dict[str, Any]] = []
        copies: list[dict[str, Any]] = []
        for number, (category, l2_category, shapes, text, question, hint, options, answer) in enumerate(_DEMO_ITEMS):
            image = demo_image(shapes, text=text)
            for rotation in range(len(options)):
                rotated = options[rotation:] + options[:rotation]
                letters = LETTERS[: len(options)]
                row: dict[str, Any] = {
                    "index": rotation * CIRCULAR_OFFSET + number,
                    "question": question,
                    "hint": hint,
                    "answer": letters[(answer - rotation) % len(options)],
                    **{letter: (rotated[i] if i < len(rotated) else None) for i, letter in enumerate("ABCD")},
                    "category": category,
                    "image": image,
                    "source": "janus-eval demo",
                    "L2-category": l2_category,
                    "comment": None,
                    "split": "dev",
                }
                (copies if rotation else originals).append(row)
        copies.sort(key=lambda row: row["index"])
        return originals + copies


# (category, L2-category, shapes, text in the picture, question, hint, options, index of the right option)
_DEMO_ITEMS: tuple[tuple[str, str, tuple[DemoShape, ...], str, str, str | None, tuple[str, ...], int], ...] = (
    ("attribute_recognition", "finegrained_perception (instance-level)", (("circle", "red"),), "",
     "What colour is the circle?", None, ("red", "blue", "green", "yellow"), 0),
    ("spatial_relationship", "finegrained_perception (cross-instance)", (("circle", "red"), ("square", "blue")), "",
     "Which shape is on the left?", "The picture shows two shapes side by side.", ("the square", "the circle"), 1),
    ("OCR", "finegrained_perception (instance-level)", (), "JANUS",
     "What word is written in the image?", "nan", ("HERMES", "JANUS", "ZEUS"), 1),
    ("image_scene", "coarse_perception", (("ground", "green"), ("circle", "yellow")), "",
     "Where could this picture have been taken?", None, ("in a kitchen", "in an office", "in a classroom",
                                                          "in an open field"), 3),
)  # fmt: skip
