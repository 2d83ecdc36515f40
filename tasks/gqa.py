"""GQA (testdev-balanced): compositional questions about real images, answered with a word or a phrase.

The questions and the images are two configs of the hub dataset, joined on the image id. The
papers' recipe for GQA is not public; the default is the closest public one, VLMEvalKit's
`GQA_TestDev_Balanced` ("Other VQA" prompt, exact match after strip + lower-case).
"""

from __future__ import annotations

import string
from collections.abc import Mapping, Sequence
from typing import Any, ClassVar, Literal

from pydantic import Field

from janus_eval.api import (
    DataSource,
    Join,
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
from janus_eval.prompts.text_requests import output_text, question_of, single_turn_request
from janus_eval.registry import register_task
from janus_eval.rules.counting_metric import CountingMetric, Statistic, Sums, labels

SHORT_ANSWER_SUFFIX = "\nAnswer the question using a single word or phrase."
_PUNCTUATION_TABLE = str.maketrans("", "", string.punctuation)


def match_strip_lower(prediction: str, answer: str) -> bool:
    """VLMEvalKit `process_line(method='accuracy')`: equal after strip() and lower(); punctuation counts."""
    return prediction.strip().lower() == answer.strip().lower()


def match_ignore_case_punctuation(prediction: str, answer: str) -> bool:
    """lmms-eval GQA: the output is stripped (lmms-eval strips every generate_until output before its metrics),
    then `exact_match` with ignore_case and ignore_punctuation: lower-case, delete every `string.punctuation`
    character, compare exactly (the answer itself is not stripped)."""
    return prediction.strip().lower().translate(_PUNCTUATION_TABLE) == answer.lower().translate(_PUNCTUATION_TABLE)


MATCHERS = {
    "vlmevalkit": (match_strip_lower, "VLMEvalKit process_line(method='accuracy'): strip + lower-case, exact"),
    "lmms_eval": (
        match_ignore_case_punctuation,
        "lmms-eval: output stripped, then exact_match(ignore_case, ignore_punctuation): lower-case, punctuation "
        "deleted, exact",
    ),
}


class GqaOptions(TaskOptions):
    """GQA options; the defaults are the closest public recipe to the paper (VLMEvalKit)."""

    match: Literal["vlmevalkit", "lmms_eval"] = Field(
        default="vlmevalkit", description="answer matching: VLMEvalKit strip+lower or lmms-eval ignore case+punct"
    )
    max_new_tokens: int = Field(
        default=512, ge=1, description="generation budget (VLMEvalKit's Janus value at paper time; lmms-eval: 16)"
    )


class GqaMetric(CountingMetric):
    """Questions and right answers, overall and per GQA structural / semantic question type (keyless sums)."""

    def sample_sums(self, sample: Sample, score: Mapping[str, Any]) -> dict[Statistic, int]:
        keys = ["all"] + [f"{kind}.{sample.meta[kind]}" for kind in ("structural", "semantic") if sample.meta.get(kind)]
        right = int(bool(score["correct"]))
        return {statistic: value for key in keys for statistic, value in ((("questions", key), 1), (("right", key), right))}

    def compute_from(self, sums: Sums) -> dict[str, float | None]:
        result: dict[str, float | None] = {"accuracy": percent(sums[("right", "all")], sums[("questions", "all")])}
        for key in labels(sums, "questions"):
            if key != "all":
                result[f"{key}.accuracy"] = percent(sums[("right", key)], sums[("questions", key)])
        return result


@register_task
class GqaTask(Task):
    """GQA testdev-balanced, one image and one short answer per question."""

    name = "gqa"
    version = 1
    request_kind = "text"
    description = "GQA testdev-balanced short-answer VQA; headline accuracy (exact match)"
    Options: ClassVar[type[TaskOptions]] = GqaOptions
    Score: ClassVar[type[SampleScore]] = RightOrWrong
    published: ClassVar[dict[str, float]] = {
        "janus-1.3b": 59.1,
        "janusflow-1.3b": 60.3,
        "janus-pro-1b": 59.3,
        "janus-pro-7b": 62.0,
    }
    published_source = (
        "GQA column: Janus Tab. 2 (arXiv 2410.13848), JanusFlow Tab. 5 (arXiv 2411.07975), "
        "Janus-Pro Tab. 3 (arXiv 2501.17811); how these were run is not public"
    )

    options: GqaOptions

    @property
    def headline(self) -> str:
        return "accuracy"

    def data_source(self) -> DataSource:
        return DataSource(
            hf_id="lmms-lab/GQA",
            config="testdev_balanced_instructions",
            split="testdev",
            columns=("id", "imageId", "question", "answer"),
            joins=(
                Join(
                    config="testdev_balanced_images",
                    split="testdev",
                    left_on="imageId",
                    right_on="id",
                    columns=("image",),
                    image_columns=("image",),
                ),
            ),
        )

    def samples(self, rows: Sequence[Mapping[str, Any]]) -> list[Sample]:
        """Every question in dataset order; the id is GQA's question id."""
        rows = list(rows)
        ids = occurrence_ids([str(row["id"]) for row in rows])
        samples = []
        for index, (row, sample_id) in enumerate(zip(rows, ids)):
            types = row.get("types") if isinstance(row.get("types"), Mapping) else {}
            samples.append(
                Sample(
                    id=sample_id,
                    index=index,
                    target=str(row["answer"]),
                    meta={
                        "image_id": str(row["imageId"]),
                        "structural": types.get("structural"),
                        "semantic": types.get("semantic"),
                    },
                    row=row,
                )
            )
        return samples

    def prompt_text(self, question: str) -> str:
        """VLMEvalKit's "Other VQA" prompt: the question right after the image (no leading newline), then the
        short-answer suffix. lmms-eval's GQA prompt is the same text."""
        return question + SHORT_ANSWER_SUFFIX

    def build_request(self, sample: Sample) -> TextRequest:
        question = question_of(sample)
        image = sample.row.get("image")
        if image is None:
            raise SampleError(f"sample {sample.id}: image {sample.meta['image_id']!r} is not in the images table")
        content = [decode_image(image, what=f"image of sample {sample.id}"), self.prompt_text(question)]
        return single_turn_request(self.name, sample, content, self.options.max_new_tokens)

    def score(self, sample: Sample, output: Output | None) -> dict[str, Any]:
        """`{"correct": bool}`; a failed sample is wrong."""
        text = output_text(self.name, output)
        matcher, _ = MATCHERS[self.options.match]
        return {"correct": text is not None and matcher(text, sample.target)}

    def new_metric(self) -> GqaMetric:
        return GqaMetric()

    def resampling_unit(self, sample: Sample) -> str:
        """Questions about one image are not independent: resample whole images."""
        return str(sample.meta["image_id"])

    def protocol_card(self) -> dict[str, Any]:
        source = self.data_source()
        _, match_description = MATCHERS[self.options.match]
        return {
            "task": self.name,
            "dataset": {
                **source.describe(),
                "columns": list(source.columns),
                "notes": (
                    "testdev-balanced questions (12,578 in GQA's release) joined to the images config on imageId; "
                    "lmms-eval <= 0.7.2 reads lmms-lab/GQA, 0.7.3 lmms-lab-encoder/GQA; VLMEvalKit replaced its "
                    "GQA_TestDev_Balanced.tsv on 2024-12-29 ('fix gqa tsv', md5 fead7df2... -> 99b62f22...)"
                ),
            },
            "prompt": {
                "system_prompt": "",
                "messages": [{"role": "user", "content": ["<image>", self.prompt_text("{question}")]}],
                "notes": "VLMEvalKit 'Other VQA' default prompt (no leading newline after the image)",
            },
            "generation": {"decoding": "greedy", "temperature": 0.0, "max_new_tokens": self.options.max_new_tokens},
            "scoring": {"match": self.options.match, "description": match_description},
            "metrics": {
                "accuracy": "% of questions whose answer matches (headline)",
                "structural.<type>.accuracy / semantic.<type>.accuracy": "the same per GQA question type, when the "
                "data has the `types` column",
            },
            "deviations": [
                "the papers' GQA recipe is not public (UNVERIFIED): VLMEvalKit GQA_TestDev_Balanced is the default",
                "max_new_tokens 512 = VLMEvalKit Janus at paper time; lmms-eval uses 16",
            ],
            "options": self.options.model_dump(),
        }

    def demo_rows(self) -> list[dict[str, Any]]:
        """Six questions about three synthetic images (two per image)."""
        rows = []
        for number, (image_id, question, answer, structural, semantic) in enumerate(_DEMO_QUESTIONS):
            rows.append(
                {
                    "id": f"demo{number:03d}",
                    "imageId": image_id,
                    "question": question,
                    "answer": answer,
                    "fullAnswer": f"The answer is {answer}.",
                    "types": {"structural": structural, "semantic": semantic, "detailed": f"{semantic}Demo"},
                }
            )
        return rows

    def demo_join_rows(self, join: Join) -> list[dict[str, Any]]:
        return [{"id": image_id, "image": demo_image(shapes)} for image_id, shapes in _DEMO_IMAGES]


_DEMO_IMAGES: tuple[tuple[str, tuple[DemoShape, ...]], ...] = (
    ("n1", (("circle", "red"),)),
    ("n2", (("square", "blue"), ("triangle", "green"))),
    ("n3", (("ground", "green"), ("circle", "yellow"))),
)
_DEMO_QUESTIONS: tuple[tuple[str, str, str, str, str], ...] = (
    ("n1", "What color is the circle?", "red", "query", "attr"),
    ("n1", "Is there a square in the picture?", "no", "verify", "obj"),
    ("n2", "Which shape is on the left, the square or the triangle?", "square", "choose", "rel"),
    ("n2", "What color is the triangle?", "green", "query", "attr"),
    ("n3", "What is the yellow shape?", "circle", "query", "cat"),
    ("n3", "Is the ground green?", "yes", "verify", "attr"),
)
