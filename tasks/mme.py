"""MME: 14 categories of image + yes/no questions, two questions per image, scored as acc + acc+.

The papers report MME-Perception (the sum of the 10 perception category scores, max 2000).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any, ClassVar

from janus_eval.api import DataSource, Sample, TaskOptions
from janus_eval.data.demo_images import DemoShape, demo_image
from janus_eval.data.sample_ids import occurrence_ids
from janus_eval.prompts.yes_no_task import QuestionRule, YesNoOptions, YesNoTask
from janus_eval.registry import register_task
from janus_eval.rules.counting_metric import CountingMetric, Statistic, Sums, labels
from janus_eval.rules.yes_no import YesNoExtractor, extract_yes_no_prefix, extract_yes_no_word_level

PERCEPTION_CATEGORIES: tuple[str, ...] = (
    "existence", "count", "position", "color", "posters",
    "celebrity", "scene", "landmark", "artwork", "OCR",
)  # fmt: skip
COGNITION_CATEGORIES: tuple[str, ...] = (
    "commonsense_reasoning", "numerical_calculation", "text_translation", "code_reasoning",
)  # fmt: skip


class MmeOptions(YesNoOptions):
    """MME options; the defaults are the Janus paper protocol."""


class MmeMetric(CountingMetric):
    """Per category: questions, questions right, images, images with every question right; score = acc + acc+.

    acc = % of questions right, acc+ = % of images whose questions are all right (VLMEvalKit
    `MME_rating`; equal to lmms-eval's per-pair mean when every image has its two questions). An image's
    questions are one unit: they are counted into the keyless per-category sums when the unit closes.
    """

    def unit_key(self, sample: Sample) -> str:
        return f"{sample.meta['category']}/{sample.meta['image_key']}"

    def sample_sums(self, sample: Sample, score: Mapping[str, Any]) -> dict[Statistic, int]:
        category = str(sample.meta["category"])
        return {("questions", category): 1, ("right", category): int(bool(score["correct"]))}

    def close_unit(self, unit: Sums) -> dict[Statistic, int]:
        (category,) = labels(unit, "questions")
        questions, right = unit[("questions", category)], unit[("right", category)]
        return {
            ("questions", category): questions,
            ("right", category): right,
            ("images", category): 1,
            ("images_all_right", category): int(right == questions),
        }

    def category_scores(self, sums: Sums | None = None) -> dict[str, tuple[float, float]]:
        """Category -> (acc, acc+) in percent, for the categories seen."""
        sums = self.final_sums() if sums is None else sums
        scores = {}
        for category in labels(sums, "images"):
            acc = 100.0 * sums[("right", category)] / sums[("questions", category)]
            scores[category] = (acc, 100.0 * sums[("images_all_right", category)] / sums[("images", category)])
        return scores

    def compute_from(self, sums: Sums) -> dict[str, float | None]:
        scores = self.category_scores(sums)
        perception = [c for c in PERCEPTION_CATEGORIES if c in scores]
        cognition = [c for c in COGNITION_CATEGORIES if c in scores]
        result: dict[str, float | None] = {
            # no category, no sum: None rather than a 0 that reads like a score
            "perception": sum(sum(scores[c]) for c in perception) if perception else None,
            "cognition": sum(sum(scores[c]) for c in cognition) if cognition else None,
            "perception_categories": float(len(perception)),
            "cognition_categories": float(len(cognition)),
        }
        others = sorted(c for c in scores if c not in PERCEPTION_CATEGORIES + COGNITION_CATEGORIES)
        for category in [*perception, *cognition, *others]:
            acc, acc_plus = scores[category]
            result[category] = acc + acc_plus
            result[f"{category}.acc"] = acc
            result[f"{category}.acc_plus"] = acc_plus
        return result


@register_task
class MmeTask(YesNoTask):
    """MME with the Janus paper protocol by default (VLMEvalKit `MME`), lmms-eval's as options."""

    name = "mme"
    version = 1
    description = "MME yes/no benchmark; headline MME-Perception (sum of 10 category scores, max 2000)"
    Options: ClassVar[type[TaskOptions]] = MmeOptions
    published: ClassVar[dict[str, float]] = {
        "janus-1.3b": 1338.0,
        "janusflow-1.3b": 1333.1,
        "janus-pro-1b": 1444.0,
        "janus-pro-7b": 1567.1,
    }
    published_source = (
        "MME-P column: Janus Tab. 2 (arXiv 2410.13848), JanusFlow Tab. 5 (arXiv 2411.07975), "
        "Janus-Pro Tab. 3 (arXiv 2501.17811)"
    )
    question_rules: ClassVar[Mapping[str, QuestionRule]] = {
        # VLMEvalKit Janus.build_prompt keeps " Please answer yes or no." for MME (only POPE drops it)
        "paper": QuestionRule(),
        # lmms-eval mme_doc_to_text: strip, then drop the hint when a post_prompt is set
        "lmms_eval": QuestionRule(strip=True, drop_answer_hint=True),
    }
    extractors: ClassVar[Mapping[str, tuple[YesNoExtractor, str]]] = {
        "word_level": (
            extract_yes_no_word_level,
            (
                "VLMEvalKit YOrN_Extraction: lower-case, VQA punctuation rule, split on whitespace; "
                "'yes' without 'no' -> yes, 'no' without 'yes' -> no, else unknown (no LLM judge)"
            ),
        ),
        "lmms_eval": (
            extract_yes_no_prefix,
            (
                "lmms-eval parse_pred_ans: lower, strip, drop '.'; exact yes/no, else lone y/n, "
                "else yes/no within the first 4 characters, else unknown"
            ),
        ),
    }

    options: MmeOptions

    @property
    def headline(self) -> str:
        return "perception"

    def data_source(self) -> DataSource:
        return DataSource(
            hf_id="lmms-lab/MME",
            split="test",
            columns=("question_id", "image", "question", "answer", "category"),
            image_columns=("image",),
        )

    def samples(self, rows: Sequence[Mapping[str, Any]]) -> list[Sample]:
        """All rows in dataset order; id `{question_id}#{k}` (question_id is the image path)."""
        image_keys = [str(row["question_id"]) for row in rows]
        ids = occurrence_ids(image_keys, number_all=True)
        return [
            Sample(
                id=sample_id,
                index=index,
                target=self.target_of(row, index),
                meta={"category": str(row["category"]), "image_key": image_key},
                row=row,
            )
            for index, (row, sample_id, image_key) in enumerate(zip(rows, ids, image_keys))
        ]

    def resampling_stratum(self, sample: Sample) -> str:
        """Perception and cognition sum category scores: keep every category in every draw."""
        return str(sample.meta["category"])

    def resampling_unit(self, sample: Sample) -> str:
        """acc+ scores the questions of one image together: resample whole images."""
        return f"{sample.meta['category']}/{sample.meta['image_key']}"

    def new_metric(self) -> MmeMetric:
        return MmeMetric()

    def protocol_card(self) -> dict[str, Any]:
        card = self.base_protocol_card()
        card["dataset"]["notes"] = (
            "2,374 questions, two per image (question_id = image path); lmms-eval <= 0.7.2 reads "
            "lmms-lab/MME, 0.7.3 lmms-lab-encoder/MME, VLMEvalKit its own MME.tsv"
        )
        card["metrics"] = {
            "<category>.acc": "% of the category's questions answered right",
            "<category>.acc_plus": "% of the category's images (question_id) whose questions are all right",
            "<category>": "acc + acc_plus (max 200)",
            "perception": "sum of the scores of the perception categories present: " + ", ".join(PERCEPTION_CATEGORIES),
            "cognition": "sum of the scores of the cognition categories present: " + ", ".join(COGNITION_CATEGORIES),
            "perception_categories / cognition_categories": "how many categories the sums cover (10 / 4 on full data)",
            "headline": "perception (the papers' MME-P column)",
        }
        card["deviations"] = [
            (
                "paper prompt keeps ' Please answer yes or no.' in the question (VLMEvalKit Janus); "
                "lmms-eval removes it (prompt=lmms_eval)"
            ),
            (
                "prompt=lmms_eval still puts '\\n' between image and question (Janus placeholder convention); "
                "lmms-eval itself adds no newline"
            ),
            "max_new_tokens 512 = VLMEvalKit Janus at paper time (now 2048); lmms-eval uses 16",
            "no LLM judge for unknown answers (VLMEvalKit 'exact_matching' mode): unknown counts as wrong",
            (
                "acc+ = all questions of the image right; VLMEvalKit multiplies the first two scores and "
                "lmms-eval asserts exactly two questions per image: identical on the full data"
            ),
            (
                "with --limit, sums cover only the categories present (see *_categories); "
                "VLMEvalKit calls cognition 'reasoning'"
            ),
        ]
        return card

    def demo_rows(self) -> list[dict[str, Any]]:
        """One synthetic image per category with a true ("Yes") and a false ("No") question (28 rows)."""
        rows: list[dict[str, Any]] = []
        for category, shapes, text, true_question, false_question in _DEMO_ITEMS:
            image = demo_image(shapes, text=text)
            for question, answer in ((true_question, "Yes"), (false_question, "No")):
                rows.append(
                    {
                        "question_id": f"{category}/demo.png",
                        "image": image,
                        "question": question + " Please answer yes or no.",
                        "answer": answer,
                        "category": category,
                    }
                )
        return rows


_DEMO_ITEMS: tuple[tuple[str, tuple[DemoShape, ...], str, str, str], ...] = (
    ("existence", (("circle", "red"),), "",
     "Is there a red circle in this image?", "Is there a green triangle in this image?"),
    ("count", (("square", "blue"), ("square", "blue")), "",
     "Are there two squares in this image?", "Are there three squares in this image?"),
    ("position", (("circle", "red"), ("square", "blue")), "",
     "Is the circle on the left of the square?", "Is the circle on the right of the square?"),
    ("color", (("triangle", "green"),), "",
     "Is the triangle green?", "Is the triangle red?"),
    ("posters", (("circle", "orange"), ("triangle", "purple")), "THE SHAPES",
     "Is this a poster of the movie 'The Shapes'?", "Is this a poster of the movie 'The Lines'?"),
    ("celebrity", (("circle", "peachpuff"),), "ADA",
     "Is the person in the picture labelled Ada?", "Is the person in the picture labelled Bob?"),
    ("scene", (("ground", "green"), ("circle", "yellow")), "",
     "Is this picture showing an outdoor field?", "Is this picture showing a kitchen?"),
    ("landmark", (("ground", "khaki"), ("triangle", "goldenrod")), "",
     "Is this a picture of a pyramid?", "Is this a picture of a lighthouse?"),
    ("artwork", (("circle", "red"), ("square", "yellow"), ("triangle", "blue")), "",
     "Is this artwork made of geometric shapes?", "Is this artwork a portrait of a person?"),
    ("OCR", (), "JANUS",
     "Is the word in the image 'JANUS'?", "Is the word in the image 'HERMES'?"),
    ("commonsense_reasoning", (("circle", "yellow"), ("ground", "green")), "",
     "Is the sun shining in this picture?", "Is it snowing in this picture?"),
    ("numerical_calculation", (), "2 + 3 = ?",
     "Is the answer to the arithmetic question in the image 5?",
     "Is the answer to the arithmetic question in the image 6?"),
    ("text_translation", (), "bonjour",
     "Is it appropriate to translate the French word in the image into English as 'hello'?",
     "Is it appropriate to translate the French word in the image into English as 'goodbye'?"),
    ("code_reasoning", (), "print(2 * 3)",
     "The image shows a python code. Is the output of the code '6'?",
     "The image shows a python code. Is the output of the code '5'?"),
)  # fmt: skip
