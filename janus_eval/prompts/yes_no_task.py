"""What the yes/no benchmarks (MME, POPE) share: options, prompt, request, scoring, protocol card.

The Janus paper protocol (VLMEvalKit `Janus.build_prompt`, Y/N type) puts the image first and then
`"\\n" + question + "\\nAnswer the question using a single word or phrase."`; the benchmarks differ
only in how the dataset question is rewritten first (`QuestionRule`) and in their metrics.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, ClassVar, Literal

from pydantic import Field

from janus_eval.api import (
    Output,
    RightOrWrong,
    Sample,
    SampleScore,
    Task,
    TaskOptions,
    TextRequest,
)
from janus_eval.data.image_io import decode_image
from janus_eval.errors import UserError
from janus_eval.prompts.text_requests import output_text, question_of, single_turn_request
from janus_eval.rules.yes_no import YesNo, YesNoExtractor, normalise_yes_no_label

ANSWER_HINT = " Please answer yes or no."
SHORT_ANSWER_SUFFIX = "\nAnswer the question using a single word or phrase."
# Janus's VLMEvalKit prompts start the text with "\n" right after the image placeholder.
IMAGE_TEXT_SEPARATOR = "\n"


@dataclass(frozen=True)
class QuestionRule:
    """How a dataset question is rewritten before the short-answer suffix is appended."""

    strip: bool = False
    drop_answer_hint: bool = False

    def apply(self, question: str) -> str:
        if self.strip:
            question = question.strip()
        if self.drop_answer_hint:
            question = question.replace(ANSWER_HINT, "")
        return question

    def describe(self) -> str:
        steps = []
        if self.strip:
            steps.append("strip surrounding whitespace")
        steps.append(f"remove {ANSWER_HINT!r}" if self.drop_answer_hint else f"keep {ANSWER_HINT!r} if present")
        return "; ".join(steps)


def yes_no_prompt(question: str, rule: QuestionRule) -> str:
    """The text that follows the image: `"\\n" + rewritten question + short-answer suffix`."""
    return IMAGE_TEXT_SEPARATOR + rule.apply(question) + SHORT_ANSWER_SUFFIX


class YesNoOptions(TaskOptions):
    """Options shared by the yes/no benchmarks; the defaults are the Janus paper protocol."""

    prompt: Literal["paper", "lmms_eval"] = Field(
        default="paper", description="question rewriting: Janus/VLMEvalKit recipe or lmms-eval's"
    )
    extraction: Literal["word_level", "lmms_eval"] = Field(
        default="word_level", description="yes/no extraction: VLMEvalKit word level or lmms-eval's rule"
    )
    max_new_tokens: int = Field(
        default=512, ge=1, description="generation budget (VLMEvalKit's Janus value at paper time)"
    )


class YesNoTask(Task):
    """Base of the image + yes/no question benchmarks: one user turn, greedy decoding, yes/no scoring."""

    request_kind = "text"
    Options: ClassVar[type[TaskOptions]] = YesNoOptions
    Score: ClassVar[type[SampleScore]] = RightOrWrong
    # prompt option -> how the question is rewritten
    question_rules: ClassVar[Mapping[str, QuestionRule]]
    # extraction option -> (extractor, one-line description)
    extractors: ClassVar[Mapping[str, tuple[YesNoExtractor, str]]]

    options: YesNoOptions

    # ------------------------------------------------------------------------- samples

    def target_of(self, row: Mapping[str, Any], index: int) -> Literal["yes", "no"]:
        """The normalised ground truth of a row.

        Raises:
            UserError: when the answer is not yes/no; such a row cannot be scored, and counting it
                either way would silently change the number.
        """
        label = normalise_yes_no_label(row.get("answer"))
        if label is None:
            raise UserError(
                f"{self.name}: dataset row {index} has answer {row.get('answer')!r}, expected yes or no; "
                "fix the data (or its local copy) before evaluating"
            )
        return label

    # ------------------------------------------------------------------------- requests

    def prompt_text(self, question: str) -> str:
        """The text after the image under the current `prompt` option."""
        return yes_no_prompt(question, self.question_rules[self.options.prompt])

    def build_request(self, sample: Sample) -> TextRequest:
        question = question_of(sample)
        image = decode_image(sample.row.get("image"), what=f"image of sample {sample.id}")
        return single_turn_request(self.name, sample, [image, self.prompt_text(question)], self.options.max_new_tokens)

    # ------------------------------------------------------------------------- scoring

    def extract(self, text: str) -> YesNo:
        """The yes/no/unknown reading of a model output under the current `extraction` option."""
        extractor, _ = self.extractors[self.options.extraction]
        return extractor(text)

    def score(self, sample: Sample, output: Output | None) -> dict[str, Any]:
        """`{"pred": yes|no|unknown, "correct": bool}`; a failed sample (None) is unknown and wrong."""
        text = output_text(self.name, output)
        pred: YesNo = "unknown" if text is None else self.extract(text)
        return {"pred": pred, "correct": pred == sample.target}

    # ------------------------------------------------------------------------- protocol card

    def base_protocol_card(self) -> dict[str, Any]:
        """The card fields every yes/no task shares; tasks add data notes, metrics and deviations."""
        rule = self.question_rules[self.options.prompt]
        _, extraction_description = self.extractors[self.options.extraction]
        source = self.data_source()
        return {
            "task": self.name,
            "dataset": {**source.describe(), "columns": list(source.columns)},
            "prompt": {
                "variant": self.options.prompt,
                "system_prompt": "",
                "messages": [{"role": "user", "content": ["<image>", yes_no_prompt("{question}", QuestionRule())]}],
                "question_rewrite": rule.describe(),
                "roles_note": (
                    "one user turn, no system message (the paper's system prompt is empty); the adapter "
                    "renders roles and the image placeholder (Janus 'deepseek' template: 'User'/'Assistant', "
                    "placeholder directly before the text; Janus-Pro's role names are UNVERIFIED)"
                ),
            },
            "generation": {
                "decoding": "greedy",
                "temperature": 0.0,
                "max_new_tokens": self.options.max_new_tokens,
            },
            "extraction": {"rule": self.options.extraction, "description": extraction_description},
            "options": self.options.model_dump(),
        }
