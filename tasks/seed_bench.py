"""SEED-Bench (v1), image part: four-option multiple-choice questions over 9 image dimensions.

The hub split also holds the video questions (dimensions 10-12, `data_type == "video"`); the papers report
the image part only (VLMEvalKit SEEDBench_IMG, lmms-eval's `seed_image` metric), so only image rows are samples.
"""

from __future__ import annotations

import numbers
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
from janus_eval.prompts.multiple_choice import MCQ_SUFFIX, is_missing, paper_mcq_prompt
from janus_eval.prompts.text_requests import output_text, question_of, single_turn_request
from janus_eval.registry import register_task
from janus_eval.rules.counting_metric import CountingMetric, Statistic, Sums, labels
from janus_eval.rules.option_matching import (
    VLMEVALKIT_EXTRACTORS,
    OptionExtractor,
    VlmEvalKitRules,
    first_character_option,
)
from janus_eval.scorers.judge.option_matching import (
    JudgeMatching,
    check_judge_matching,
    vlmevalkit_rules,
)

IMAGE_DATA_TYPE = "image"
CHOICE_COLUMNS: dict[str, str] = {"A": "choice_a", "B": "choice_b", "C": "choice_c", "D": "choice_d"}
# question_type_id -> evaluation dimension, from the "question_type" table of SEED-Bench.json
# (AILab-CVC/SEED-Bench DATASET.md; ids 3 and 4 were listed swapped until the fix of 2023-08-02)
IMAGE_DIMENSIONS: dict[int, str] = {
    1: "Scene Understanding",
    2: "Instance Identity",
    3: "Instance Attributes",
    4: "Instance Location",
    5: "Instances Counting",
    6: "Spatial Relation",
    7: "Instance Interaction",
    8: "Visual Reasoning",
    9: "Text Understanding",
}

EXTRACTORS: dict[str, tuple[OptionExtractor, str]] = {
    **VLMEVALKIT_EXTRACTORS,
    "lmms_eval": (
        lambda answer, choices: first_character_option(answer, choices),
        "lmms-eval seed_process_result: the first character of the stripped answer, compared case-insensitively",
    ),
}


class SeedBenchOptions(TaskOptions):
    """SEED-Bench options; the defaults are the Janus paper protocol (VLMEvalKit SEEDBench_IMG)."""

    prompt: Literal["paper", "lmms_eval"] = Field(
        default="paper", description="prompt: Janus/VLMEvalKit recipe or lmms-eval's SEED-Bench prompt"
    )
    extraction: Literal["vlmevalkit", "vlmevalkit_current", "lmms_eval"] = Field(
        default="vlmevalkit", description="how an answer becomes an option letter"
    )
    max_new_tokens: int = Field(
        default=512, ge=1, description="generation budget (VLMEvalKit's Janus value at paper time)"
    )
    judge_matching: bool = Field(
        default=False, description="answers the rules cannot match go to the LLM judge (--judge-model), as in VLMEvalKit"
    )

    @model_validator(mode="after")
    def _judge_matching_is_vlmevalkit(self) -> "SeedBenchOptions":
        check_judge_matching(self.judge_matching, self.extraction.startswith("vlmevalkit"), "extraction=vlmevalkit or vlmevalkit_current")
        return self


def lmms_eval_seed_prompt(question: str, options: Mapping[str, str]) -> str:
    """lmms-eval `seed_doc_to_text`: question, the four options, one newline, the answer instruction."""
    return "\n".join([question, *(f"{letter}. {text}" for letter, text in options.items())]) + MCQ_SUFFIX


def dimension_name(question_type_id: int) -> str:
    """The dimension name of a question type id (`type_<id>` for an id outside the 9 image dimensions)."""
    return IMAGE_DIMENSIONS.get(question_type_id, f"type_{question_type_id}")


class SeedBenchMetric(CountingMetric):
    """Per question type: questions, right, unmatched (keyless sums); accuracy overall and per dimension, in percent."""

    def sample_sums(self, sample: Sample, score: Mapping[str, Any]) -> dict[Statistic, int]:
        type_id = str(int(sample.meta["question_type_id"]))
        return {
            ("questions", type_id): 1,
            ("right", type_id): int(bool(score["correct"])),
            ("unmatched", type_id): int(bool(score.get("unmatched"))),
        }

    def compute_from(self, sums: Sums) -> dict[str, float | None]:
        type_ids = sorted(int(type_id) for type_id in labels(sums, "questions"))
        questions = sum(sums[("questions", str(t))] for t in type_ids)
        right = sum(sums[("right", str(t))] for t in type_ids)
        result: dict[str, float | None] = {
            "accuracy": percent(right, questions),
            "unmatched": float(sum(sums[("unmatched", str(t))] for t in type_ids)),
            "num_samples": float(questions),
        }
        for type_id in type_ids:
            key = str(type_id)
            result[f"dimension.{dimension_name(type_id)}"] = percent(sums[("right", key)], sums[("questions", key)])
        return result


def _target(row: Mapping[str, Any], position: int) -> str:
    value = row.get("answer")
    letter = value.strip().upper() if isinstance(value, str) else ""
    if letter not in CHOICE_COLUMNS:
        raise UserError(
            f"seed_bench: dataset row {position} has answer {value!r}, expected A, B, C or D; fix the data (or its "
            "local copy) before evaluating"
        )
    return letter


def _question_type(row: Mapping[str, Any], position: int) -> int:
    value = row.get("question_type_id")
    if isinstance(value, numbers.Integral) and not isinstance(value, bool):
        return int(value)
    if isinstance(value, str) and value.strip().isdigit():
        return int(value.strip())
    raise UserError(f"seed_bench: dataset row {position} has question_type_id {value!r}, expected an integer")


def options_of(row: Mapping[str, Any]) -> dict[str, str]:
    """The row's choices as letter -> text, missing ones skipped (as VLMEvalKit skips NaN options)."""
    return {letter: str(row[column]) for letter, column in CHOICE_COLUMNS.items() if not is_missing(row.get(column))}


@register_task
class SeedBenchTask(JudgeMatching, Task):
    """SEED-Bench image questions with the Janus paper protocol by default (VLMEvalKit SEEDBench_IMG)."""

    name = "seed_bench"
    version = 1
    description = "SEED-Bench (v1) image questions, multiple choice; headline accuracy (%) over 9 image dimensions"
    request_kind = "text"
    Options: ClassVar[type[TaskOptions]] = SeedBenchOptions
    Score: ClassVar[type[SampleScore]] = RightOrWrong
    published: ClassVar[dict[str, float]] = {
        "janus-1.3b": 63.7,
        "janusflow-1.3b": 70.5,
        "janus-pro-1b": 68.3,
        "janus-pro-7b": 72.1,
    }
    published_source = (
        "SEED column: Janus Tab. 2 (arXiv 2410.13848), JanusFlow Tab. 5 (arXiv 2411.07975), Janus-Pro Tab. 3 "
        "(arXiv 2501.17811); SEEDBench_IMG, image questions only (VLMEvalKit PR #541; assumed for JanusFlow and "
        "Janus-Pro)"
    )

    # VLMEvalKit's judge path when a judge is configured: the same recipe, the same measured quantity
    comparable_options = frozenset({"judge_matching"})

    options: SeedBenchOptions

    @property
    def headline(self) -> str:
        return "accuracy"

    def data_source(self) -> DataSource:
        return DataSource(
            hf_id="lmms-lab/SEED-Bench",
            split="test",
            columns=("answer", *CHOICE_COLUMNS.values(), "data_type", "question", "question_id", "question_type_id",
                     "image"),
            image_columns=("image",),
        )  # fmt: skip

    # ------------------------------------------------------------------------- samples

    def samples(self, rows: Sequence[Mapping[str, Any]]) -> list[Sample]:
        """The image rows (`data_type == "image"`) in dataset order; id = question_id."""
        kept = [(position, row) for position, row in enumerate(rows) if row.get("data_type") == IMAGE_DATA_TYPE]
        ids = occurrence_ids(str(row.get("question_id")) for _, row in kept)
        samples = []
        for (position, row), sample_id in zip(kept, ids):
            type_id = _question_type(row, position)
            samples.append(
                Sample(
                    id=sample_id,
                    index=position,
                    target=_target(row, position),
                    meta={"question_type_id": type_id, "dimension": dimension_name(type_id)},
                    row=row,
                )
            )
        return samples

    def resampling_stratum(self, sample: Sample) -> str:
        """Keep each dimension's share of the questions in every bootstrap draw."""
        return str(sample.meta["question_type_id"])

    # ------------------------------------------------------------------------- requests

    def prompt_text(self, question: str, options: Mapping[str, str]) -> str:
        """The text after the image(s) under the current `prompt` option."""
        if self.options.prompt == "lmms_eval":
            # Janus's placeholder convention puts "\n" after the image; lmms-eval itself adds none
            return "\n" + lmms_eval_seed_prompt(question, options)
        return paper_mcq_prompt(question, options)

    def build_request(self, sample: Sample) -> TextRequest:
        row = sample.row
        question = question_of(sample)
        options = options_of(row)
        if not options:
            raise SampleError(f"sample {sample.id} has no options")
        value = row.get("image")
        # the hub column is a list of images (one per image question); a plain image column is accepted too
        values = list(value) if isinstance(value, (list, tuple)) else [value]
        if not values:
            raise SampleError(f"sample {sample.id} has no image")
        images = [decode_image(v, what=f"image {i} of sample {sample.id}") for i, v in enumerate(values)]
        content = [*images, self.prompt_text(question, options)]
        return single_turn_request(self.name, sample, content, self.options.max_new_tokens)

    # ------------------------------------------------------------------------- scoring

    def extract(self, text: str, options: Mapping[str, str]) -> str | None:
        """The option letter of an answer under the current `extraction` option (None: no option inferred)."""
        extractor, _ = EXTRACTORS[self.options.extraction]
        return extractor(text, options)

    def matching_rules(self) -> VlmEvalKitRules:
        return vlmevalkit_rules(self.options.extraction)

    def matching_choices(self, sample: Sample) -> tuple[Mapping[str, str], str]:
        return options_of(sample.row), sample.target

    def rule_score(self, sample: Sample, output: Output | None) -> dict[str, Any]:
        """`{"pred", "correct", "unmatched"}`; an output with no inferable option is wrong, a failed sample too."""
        text = output_text(self.name, output)
        if text is None:
            return {"pred": None, "correct": False, "unmatched": False}
        pred = self.extract(text, options_of(sample.row))
        return {"pred": pred, "correct": pred == sample.target, "unmatched": pred is None}

    def new_metric(self) -> SeedBenchMetric:
        return SeedBenchMetric()

    # ------------------------------------------------------------------------- protocol card

    def protocol_card(self) -> dict[str, Any]:
        source = self.data_source()
        template = {letter: "{" + column + "}" for letter, column in CHOICE_COLUMNS.items()}
        _, extraction_description = EXTRACTORS[self.options.extraction]
        deviations = [
            "judge_matching: answers with no inferable option go to the judge given with --judge-model (VLMEvalKit's "
            "matching prompt and loop)"
            if self.options.judge_matching
            else "no LLM judge (VLMEvalKit exact matching): an answer with no inferable option is 'unmatched' and "
            "wrong (judge_matching=true with --judge-model for VLMEvalKit's judge path)",
            "max_new_tokens 512 = VLMEvalKit Janus at paper time (now 2048); lmms-eval sets none (model default)",
            (
                "data: lmms-lab/SEED-Bench image rows stand in for VLMEvalKit's SEEDBench_IMG.tsv (same questions "
                "presumed, UNVERIFIED); every image in a row's list is given, before the text"
            ),
        ]
        if self.options.prompt == "lmms_eval":
            deviations.append(
                "prompt=lmms_eval still puts '\\n' between image and text (Janus placeholder convention); "
                "lmms-eval itself adds no newline"
            )
        return {
            "task": self.name,
            "dataset": {
                **source.describe(),
                "columns": list(source.columns),
                "filter": f"rows with data_type == {IMAGE_DATA_TYPE!r} (the video rows are dropped)",
                "notes": (
                    "~18k rows incl. video; the image part is commonly quoted as 14,233 questions (UNVERIFIED); "
                    "lmms-eval <= 0.7.2 reads lmms-lab/SEED-Bench, 0.7.3 lmms-lab-encoder/SEED-Bench"
                ),
            },
            "prompt": {
                "variant": self.options.prompt,
                "system_prompt": "",
                "messages": [{"role": "user", "content": ["<image>", self.prompt_text("{question}", template)]}],
                "roles_note": (
                    "one user turn, no system message (the paper's system prompt is empty); the adapter renders "
                    "roles and the image placeholder (Janus 'deepseek' template)"
                ),
            },
            "generation": {"decoding": "greedy", "temperature": 0.0, "max_new_tokens": self.options.max_new_tokens},
            "extraction": {"rule": self.options.extraction, "description": extraction_description},
            **self.judge_matching_card(),
            "metrics": {
                "accuracy": "% of image questions right (headline; lmms-eval's seed_image)",
                "dimension.<name>": "accuracy per evaluation dimension (question_type_id 1-9: "
                + ", ".join(IMAGE_DIMENSIONS.values())
                + ")",
                "unmatched": "questions whose output gave no option (counted wrong)",
                "num_samples": "image questions scored",
            },
            "options": self.options.model_dump(),
            "deviations": deviations,
        }

    # ------------------------------------------------------------------------- demo rows

    def demo_rows(self) -> list[dict[str, Any]]:
        """One synthetic image question per dimension (9 rows) and one video question that is filtered out."""
        rows = [
            {
                "answer": answer,
                **dict(zip(CHOICE_COLUMNS.values(), choices)),
                "data_type": IMAGE_DATA_TYPE,
                "question": question,
                "question_id": f"demo_{type_id}",
                "question_type_id": type_id,
                "image": [demo_image(shapes, text=text)],
            }
            for type_id, shapes, text, question, choices, answer in _DEMO_ITEMS
        ]
        frames = [demo_image((("circle", "red"),), text=f"frame {n}") for n in range(3)]
        rows.append(
            {
                "answer": "B",
                "choice_a": "Pushing the circle to the left",
                "choice_b": "Holding the circle still",
                "choice_c": "Throwing the circle in the air",
                "choice_d": "Cutting the circle in half",
                "data_type": "video",
                "question": "What action is carried out in the video?",
                "question_id": "demo_v10",
                "question_type_id": 10,
                "image": frames,
            }
        )
        return rows


# (question_type_id, shapes, text in the picture, question, (choice_a..choice_d), answer)
_DEMO_ITEMS: tuple[tuple[int, tuple[DemoShape, ...], str, str, tuple[str, str, str, str], str], ...] = (
    (1, (("ground", "green"), ("circle", "yellow")), "", "What is the overall setting of the picture?",
     ("An open field", "An office", "A kitchen", "A swimming pool"), "A"),
    (2, (("circle", "red"),), "", "What object is shown in the image?",
     ("A square", "A circle", "A triangle", "A star"), "B"),
    (3, (("triangle", "green"),), "", "What colour is the triangle?", ("Red", "Blue", "Green", "Yellow"), "C"),
    (4, (("circle", "red"), ("square", "blue")), "", "Where is the circle in the image?",
     ("On the right", "At the bottom", "In the middle", "On the left"), "D"),
    (5, (("square", "blue"), ("square", "blue"), ("square", "blue")), "", "How many squares are in the image?",
     ("One", "Two", "Three", "Four"), "C"),
    (6, (("circle", "red"), ("triangle", "blue")), "", "Where is the triangle relative to the circle?",
     ("To its left", "To its right", "Above it", "Below it"), "B"),
    (7, (("circle", "orange"), ("square", "purple")), "", "How are the two shapes placed relative to each other?",
     ("One is inside the other", "Side by side", "Stacked vertically", "Overlapping"), "B"),
    (8, (("ground", "green"), ("circle", "yellow")), "", "What is the weather most likely to be?",
     ("Sunny", "Snowy", "Rainy", "Foggy"), "A"),
    (9, (), "SEED", "What word is written in the image?", ("SEED", "TREE", "SEAT", "FEED"), "A"),
)  # fmt: skip
