"""MMMU (validation): 900 college-level questions over 30 subjects in 6 disciplines, 1-7 images each.

Multiple-choice and open questions; the papers report the instance-weighted accuracy (x100).
"""

from __future__ import annotations

import ast
import re
from collections.abc import Mapping, Sequence
from typing import Any, ClassVar, Literal

from PIL import Image
from pydantic import Field, model_validator

from janus_eval.api import (
    ContentPart,
    DataSource,
    Output,
    RightOrWrong,
    Sample,
    SampleError,
    SampleScore,
    Task,
    TaskOptions,
    TextRequest,
)
from janus_eval.data.demo_images import DemoShape, demo_image
from janus_eval.data.image_io import decode_image
from janus_eval.data.sample_ids import occurrence_ids
from janus_eval.errors import UserError
from janus_eval.prompts.multiple_choice import MCQ_SUFFIX, OPEN_SUFFIX, is_missing, paper_mcq_prompt
from janus_eval.prompts.text_requests import output_text, question_of, single_turn_request
from janus_eval.registry import register_task
from janus_eval.rules.mmmu import (
    FALLBACK_SEEDS,
    MULTIPLE_CHOICE,
    SUBJECT_DISCIPLINE,
    MmmuMetric,
    option_letters,
    score_response,
    subject_of,
    vlmevalkit_choices,
)
from janus_eval.scorers.judge.option_matching import JudgeMatching, check_judge_matching

MAX_IMAGES = 7
IMAGE_COLUMNS: tuple[str, ...] = tuple(f"image_{n}" for n in range(1, MAX_IMAGES + 1))
IMAGE_REFERENCE = re.compile(r"<image (\d+)>")
# lmms-eval 0.7.3 `mmmu_val.yaml` (lmms_eval_specific_kwargs.default)
LMMS_MCQ_PROMPT = "Answer with the option's letter from the given choices directly."
LMMS_OPEN_PROMPT = "Answer the question using a single word or phrase."
# Janus placeholder convention: a newline follows each image (VLMEvalKit's Janus prompts start with it)
IMAGE_TEXT_SEPARATOR = "\n"

_PARSING_DESCRIPTIONS: dict[str, str] = {
    "official": (
        "MMMU eval_utils: multiple choice = '(X)', else ' X ', else (responses of > 5 words) option text "
        "contained in the response; several candidates -> the one occurring last; none -> random letter. "
        "Open = key-response extraction + numbers, normalised (numbers rounded to 2 decimals), eval_open "
        "against every gold answer (a list literal is parsed into several accepted answers)"
    ),
    "lmms_eval": (
        "lmms-eval 0.7.3: multiple choice = '(X)', else 'X ' (no leading space), else 'X.', else (> 5 words) "
        "option text; ties and fallback as official. Open = official parse_open_response with the full "
        "candidate list (PR #1471), compared against the raw answer string (a list literal never matches); "
        "the output is stripped first, as lmms-eval strips every generated text"
    ),
    "vlmevalkit": (
        "VLMEvalKit MMMU_DEV_VAL in exact-matching mode (the papers' recipe, VLMEvalKit PR #541): multiple choice "
        "= can_infer (as of Oct 2024) over the options; open = the pseudo-MCQ built after inference (MMMU_preproc: "
        "A = the ground truth, B = 'Other Answers', right answer A), so a prediction containing the answer text "
        "counts; no option inferred -> wrong ('unmatched' in the record), never random"
    ),
}


class MmmuOptions(TaskOptions):
    """MMMU options; the defaults are the Janus paper protocol with the official MMMU scoring rules."""

    prompt: Literal["paper", "lmms_eval"] = Field(
        default="paper", description="prompt and image layout: VLMEvalKit Janus (images first) or lmms-eval's"
    )
    parsing: Literal["official", "lmms_eval", "vlmevalkit"] = Field(
        default="official",
        description="answer parsing: MMMU eval_utils rules, lmms-eval 0.7.3's variant, or VLMEvalKit's (the paper's)",
    )
    max_new_tokens: int = Field(
        default=512, ge=1, description="generation budget (VLMEvalKit's Janus value at paper time; lmms-eval: 128)"
    )
    random_fallback: Literal["stream", "per_sample"] = Field(
        default="stream",
        description=(
            "letter of an unparsable multiple-choice answer: the official evaluator's one random.Random stream, "
            "drawn at aggregation in MMMU's processing order (stream), or one seeded draw per sample (per_sample)"
        ),
    )
    judge_matching: bool = Field(
        default=False, description="parsing=vlmevalkit: unmatched answers go to the LLM judge (--judge-model)"
    )

    @model_validator(mode="after")
    def _judge_matching_is_vlmevalkit(self) -> "MmmuOptions":
        check_judge_matching(self.judge_matching, self.parsing == "vlmevalkit", "parsing=vlmevalkit")
        return self


def parse_options(value: Any, question_type: str) -> list[str]:
    """The options of a row (a Python list literal in a string, e.g. "['1', '2']"); [] for open questions
    without options.

    Raises:
        SampleError: the value is not a list literal, or a multiple-choice question has no options.
    """
    if is_missing(value) and question_type != MULTIPLE_CHOICE:
        return []
    if isinstance(value, (list, tuple)):
        parsed: Any = value
    else:
        try:
            parsed = ast.literal_eval(str(value).strip())
        except (ValueError, TypeError, SyntaxError, MemoryError, RecursionError):
            raise SampleError(f"options {value!r} are not a Python list literal") from None
    if not isinstance(parsed, (list, tuple)):
        raise SampleError(f"options {value!r} are not a list")
    if question_type == MULTIPLE_CHOICE and not parsed:
        raise SampleError("a multiple-choice question without options")
    try:
        option_letters(len(parsed))
    except ValueError as exc:
        raise SampleError(str(exc)) from None
    return [str(option) for option in parsed]


def referenced_images(text: str) -> list[int]:
    """The image numbers a text refers to with `<image n>`, ascending and without repeats."""
    return sorted({int(number) for number in IMAGE_REFERENCE.findall(text)})


def _has_image(value: Any) -> bool:
    if isinstance(value, Image.Image):
        return True
    if isinstance(value, dict):
        return value.get("bytes") is not None or bool(value.get("path"))
    return not is_missing(value)


def lmms_eval_text(question: str, options: Sequence[str], question_type: str) -> str:
    """lmms-eval 0.7.3 `construct_prompt`: question, lettered options and the instruction."""
    if question_type == MULTIPLE_CHOICE:
        lines = "\n".join(f"{letter}. {option}" for letter, option in zip(option_letters(len(options)), options))
        return f"{question}\n{lines}\n\n{LMMS_MCQ_PROMPT}"
    return f"{question}\n\n{LMMS_OPEN_PROMPT}"


def lmms_eval_layout(text: str, images: Mapping[int, Image.Image]) -> list[ContentPart]:
    """lmms-eval 0.7.3 `mmmu_doc_to_messages`: the text cut at its image references, images in between.

    `images` holds the referenced images by number. Reproduced on purpose: the images are taken in
    ascending number order and fill the references in text order (so for "<image 2> ... <image 1>"
    image 1 stands first); text pieces are stripped, empty ones dropped, and when an image is
    referenced twice the pieces between the last image and the final piece are lost. Each image is
    followed by a newline (Janus placeholder convention, not lmms-eval).
    """
    visuals = [images[number] for number in sorted(images)]
    for number in range(1, MAX_IMAGES + 1):  # lmms-eval replaces only <image 1> .. <image 7>
        text = text.replace(f"<image {number}>", "<image>")
    pieces = text.split("<image>")
    content: list[ContentPart] = []
    for position, image in enumerate(visuals):
        if position < len(pieces) - 1 and pieces[position].strip():
            content.append(pieces[position].strip())
        content += [image, IMAGE_TEXT_SEPARATOR]
    content.append(pieces[-1].strip())
    # adjacent text pieces joined, empty ones dropped
    merged: list[ContentPart] = []
    for part in content:
        if isinstance(part, str) and merged and isinstance(merged[-1], str):
            merged[-1] += part
        elif not (isinstance(part, str) and not part):
            merged.append(part)
    return merged


@register_task
class MmmuTask(JudgeMatching, Task):
    """MMMU validation with the Janus paper prompt (VLMEvalKit `Janus.build_prompt`) and the official MMMU
    scoring rules by default; lmms-eval's prompt, layout and parsing as options."""

    name = "mmmu"
    version = 2  # 2: the official random stream for unparsable answers
    request_kind = "text"
    description = "MMMU validation (900 questions, 30 subjects); headline instance-weighted accuracy (%)"
    Options: ClassVar[type[TaskOptions]] = MmmuOptions
    Score: ClassVar[type[SampleScore]] = RightOrWrong
    published: ClassVar[dict[str, float]] = {
        "janus-1.3b": 30.5,
        "janusflow-1.3b": 29.3,
        "janus-pro-1b": 36.3,
        "janus-pro-7b": 41.0,
    }
    published_source = (
        "MMMU column: Janus Tab. 2 (arXiv 2410.13848), JanusFlow Tab. 5 (arXiv 2411.07975), "
        "Janus-Pro Tab. 3 (arXiv 2501.17811); validation part of VLMEvalKit MMMU_DEV_VAL (VLMEvalKit PR #541 "
        "thread; for JanusFlow and Janus-Pro UNVERIFIED)"
    )

    # VLMEvalKit's scoring (the papers') and the official MMMU scorer both measure the published quantity; the
    # per-sample fallback draws its letters from the same distribution as the official stream
    comparable_options = frozenset({"parsing", "random_fallback", "judge_matching"})

    options: MmmuOptions

    def published_numbers(self) -> dict[str, float]:
        """lmms-eval's parsing compares open answers with the raw answer string: not the papers' scoring."""
        return {} if self.options.parsing == "lmms_eval" else dict(self.published)

    @property
    def headline(self) -> str:
        return "accuracy"

    def data_source(self) -> DataSource:
        return DataSource(
            hf_id="lmms-lab/MMMU",
            split="validation",
            columns=("id", "question", "options", "answer", "question_type", "subfield", *IMAGE_COLUMNS),
            image_columns=IMAGE_COLUMNS,
        )

    # ------------------------------------------------------------------------- samples

    def samples(self, rows: Sequence[Mapping[str, Any]]) -> list[Sample]:
        """All rows in dataset order; id = the row's `id`, subject and discipline read from it.

        Raises:
            UserError: a row whose id names no MMMU subject, or without an answer: it cannot be scored
                or counted in its subject, so the data must be fixed.
        """
        ids = occurrence_ids(str(row["id"]) for row in rows)
        samples = []
        for index, (row, sample_id) in enumerate(zip(rows, ids)):
            subject = subject_of(str(row["id"]))
            if subject not in SUBJECT_DISCIPLINE:
                raise UserError(
                    f"{self.name}: dataset row {index} has id {row['id']!r}; expected '<split>_<Subject>_<n>' "
                    f"with one of the 30 MMMU subjects (e.g. validation_Art_Theory_3)"
                )
            if is_missing(row.get("answer")):
                raise UserError(f"{self.name}: dataset row {index} ({row['id']}) has no answer")
            question_type = str(row.get("question_type"))
            try:
                options: list[str] | None = parse_options(row.get("options"), question_type)
            except SampleError:
                options = None  # build_request reports it; the sample fails alone
            samples.append(
                Sample(
                    id=sample_id,
                    index=index,
                    target=str(row["answer"]),
                    meta={
                        "subject": subject,
                        "discipline": SUBJECT_DISCIPLINE[subject],
                        "question_type": question_type,
                        "subfield": None if is_missing(row.get("subfield")) else str(row.get("subfield")),
                        "options": options,
                    },
                    row=row,
                )
            )
        return samples

    def resampling_stratum(self, sample: Sample) -> str:
        """The papers' overall accuracy pools 30 subjects of fixed size: keep them in every draw."""
        return str(sample.meta["subject"])

    # ------------------------------------------------------------------------- requests

    def _image(self, sample: Sample, number: int) -> Image.Image:
        column = f"image_{number}"
        value = sample.row.get(column) if 1 <= number <= MAX_IMAGES else None
        if not _has_image(value):
            raise SampleError(f"sample {sample.id} refers to <image {number}> but {column} is empty")
        return decode_image(value, what=f"{column} of sample {sample.id}")

    def prompt_content(self, sample: Sample) -> list[ContentPart]:
        """The user turn's content (images and text) under the current `prompt` option.

        Raises:
            SampleError: no question, bad options, a referenced image missing or unreadable.
        """
        question = question_of(sample)
        question_type = sample.meta["question_type"]
        try:
            options = parse_options(sample.row.get("options"), question_type)
        except SampleError as exc:
            raise SampleError(f"sample {sample.id}: {exc}") from None
        if self.options.prompt == "lmms_eval":
            text = lmms_eval_text(question, options, question_type)
            return lmms_eval_layout(text, {n: self._image(sample, n) for n in referenced_images(text)})

        # VLMEvalKit Janus: every image of the question first (its MMMU TSV lists image_1.. image_k,
        # indexed by number in MMMUDataset.split_MMMU), then the MCQ text with <image n> kept
        present = [n for n in range(1, MAX_IMAGES + 1) if _has_image(sample.row.get(f"image_{n}"))]
        for number in referenced_images("\n".join([question, *options])):
            if number not in present:
                raise SampleError(f"sample {sample.id} refers to <image {number}> but image_{number} is empty")
        if not present:
            raise SampleError(f"sample {sample.id} has no image")
        lettered = dict(zip(option_letters(len(options)), options))
        return [*(self._image(sample, n) for n in present), paper_mcq_prompt(question, lettered)]

    def build_request(self, sample: Sample) -> TextRequest:
        return single_turn_request(self.name, sample, self.prompt_content(sample), self.options.max_new_tokens)

    # ------------------------------------------------------------------------- scoring

    def matching_choices(self, sample: Sample) -> tuple[Mapping[str, str], str]:
        """parsing=vlmevalkit: the options VLMEvalKit matches against (an open question's pseudo-MCQ)."""
        return vlmevalkit_choices(sample.meta["question_type"], sample.meta["options"] or [], sample.target)

    def rule_score(self, sample: Sample, output: Output | None) -> dict[str, Any]:
        """The parsed prediction, how it was found, `random_fallback` and `correct`; a failed sample is wrong."""
        question_type = sample.meta["question_type"]
        text = output_text(self.name, output)
        if text is None:
            return {"question_type": question_type, "pred": None, "random_fallback": False, "correct": False}
        return score_response(
            text,
            sample_id=sample.id,
            question_type=question_type,
            options=sample.meta["options"] or [],
            answer=sample.target,
            variant=self.options.parsing,
            fallback=self.options.random_fallback,
        )

    def new_metric(self) -> MmmuMetric:
        return MmmuMetric()

    def _fallback_card(self) -> str:
        parsing = self.options.parsing
        if parsing not in FALLBACK_SEEDS:
            return "none: an answer with no inferable option is wrong"
        seed = FALLBACK_SEEDS[parsing]
        if self.options.random_fallback == "per_sample":
            return (
                f"an unparsable multiple-choice answer gets a letter drawn from random.Random seeded by ({seed}, "
                "sample id) when it is scored; recorded as random_fallback"
            )
        return (
            f"official stream: one random.Random({seed}) for the whole run, one choice(letters) per unparsable "
            "multiple-choice answer in MMMU's processing order (subjects in CAT_SHORT2LONG order, questions in "
            "dataset order), drawn when the metrics are computed over all recorded samples (rank 0), so the letters "
            "do not depend on the world size or the resume history; the record holds pred None and the draw's "
            "inputs (stream_fallback)"
        )

    # ------------------------------------------------------------------------- protocol card

    def protocol_card(self) -> dict[str, Any]:
        source = self.data_source()
        if self.options.prompt == "paper":
            text = paper_mcq_prompt("{question}", {"A": "{option A}", "B": "{option B}"})
            messages = [{"role": "user", "content": ["<image 1>", "...", "<image k>", text]}]
            layout = (
                "every non-empty image column (image_1..image_7) first, in number order, then the text; "
                "<image n> stays in the text; open questions end with " + repr(OPEN_SUFFIX)
            )
        else:
            messages = [{"role": "user", "content": ["{text before <image a>}", "<image a>", "\n{text ...}"]}]
            layout = (
                "lmms-eval doc_to_messages: the referenced images (ascending number) replace the <image n> "
                "references in text order; text pieces stripped; a newline after each image"
            )
        return {
            "task": self.name,
            "dataset": {
                **source.describe(),
                "columns": list(source.columns),
                "notes": (
                    "900 validation questions (30 subjects x 30), 1-7 images each; options are a Python list "
                    "literal in a string; 3 open answers are list literals (several accepted answers); "
                    "lmms-eval <= 0.7.2 reads lmms-lab/MMMU, 0.7.3 lmms-lab-encoder/MMMU; the paper's VLMEvalKit "
                    "reads its own MMMU_DEV_VAL.tsv (dev + validation; the papers report validation), replaced on "
                    "2024-12-30 (md5 521afc0f... -> 585e8ad7...), after Janus-1.3B's numbers"
                ),
            },
            "prompt": {
                "variant": self.options.prompt,
                "system_prompt": "",
                "messages": messages,
                "image_layout": layout,
                "multiple_choice_suffix": MCQ_SUFFIX if self.options.prompt == "paper" else LMMS_MCQ_PROMPT,
                "open_suffix": OPEN_SUFFIX if self.options.prompt == "paper" else LMMS_OPEN_PROMPT,
                "roles_note": (
                    "one user turn, no system message; the adapter renders roles and one image placeholder per "
                    "image where it stands (Janus 'deepseek' template)"
                ),
            },
            "generation": {"decoding": "greedy", "temperature": 0.0, "max_new_tokens": self.options.max_new_tokens},
            **self.judge_matching_card(),
            "parsing": {
                "rule": self.options.parsing,
                "description": _PARSING_DESCRIPTIONS[self.options.parsing],
                "random_fallback": self._fallback_card(),
            },
            "metrics": {
                "accuracy": "% of questions right, pooled over all subjects (instance-weighted; the headline)",
                "count": "questions scored",
                "random_fallbacks": "multiple-choice answers that fell back to a random letter",
                "multiple_choice_accuracy / open_accuracy": "% right per question kind (with *_count)",
                "discipline.<Discipline>.accuracy": "% right pooled over the discipline's subjects (with .count)",
                "subject.<Subject>.accuracy": "% right in the subject (with .count)",
            },
            "deviations": [
                (
                    "by default scoring follows the official MMMU eval_utils rules (the benchmark's own scorer); "
                    "the papers' VLMEvalKit run scored multiple choice with can_infer (plus an LLM judge for "
                    "unmatched answers) and open questions as a pseudo-MCQ (A = ground truth, B = 'Other Answers'): "
                    "parsing=vlmevalkit reproduces that, with the judge when judge_matching=true (--judge-model); "
                    "the two can differ by a few points"
                ),
                (
                    "random_fallback=per_sample draws each fallback letter from random.Random(seed, sample id); the "
                    "official script draws from one stream seeded 42 in its processing order, which "
                    "random_fallback=stream (the default) reproduces: same distribution, other letters"
                ),
                (
                    "with parsing=lmms_eval the stream is seeded 0 and drawn in the same order; lmms-eval itself draws "
                    "in its own document order from Python's global random, which other code may also draw from "
                    "(its letters are not reproduced exactly: UNVERIFIED)"
                ),
                "a failed sample (no output) counts as wrong; the official scripts assume every response exists",
                "max_new_tokens 512 = VLMEvalKit Janus at paper time (now 2048); lmms-eval uses 128",
                (
                    "which images VLMEvalKit's MMMU TSV holds per question is inferred from split_MMMU indexing "
                    "images by number (UNVERIFIED); its question texts may differ from lmms-lab/MMMU (UNVERIFIED)"
                ),
                (
                    "prompt=lmms_eval follows lmms-eval's chat-model path (doc_to_messages, interleaved) and adds "
                    "a newline after each image (Janus convention); lmms-eval's simple-model path instead leaves "
                    "<image n> in the text and lets the model place the images"
                ),
                "parsing=lmms_eval compares open answers with the raw answer string, as lmms-eval 0.7.3 does",
            ],
            "options": self.options.model_dump(),
        }

    # ------------------------------------------------------------------------- demo rows

    def demo_rows(self) -> list[dict[str, Any]]:
        """Seven synthetic questions in the lmms-lab/MMMU schema, 1-3 drawn images each, both question types."""
        rows = []
        for item in _DEMO_ITEMS:
            sample_id, question, options, answer, question_type, subfield, pictures = item
            images: list[dict[str, Any] | None] = [demo_image(shapes, text=text) for shapes, text in pictures]
            images += [None] * (MAX_IMAGES - len(images))
            rows.append(
                {
                    "id": sample_id,
                    "question": question,
                    "options": options,
                    "explanation": "",
                    **dict(zip(IMAGE_COLUMNS, images)),
                    "img_type": "['Diagrams']",
                    "answer": answer,
                    "topic_difficulty": "Easy",
                    "question_type": question_type,
                    "subfield": subfield,
                }
            )
        return rows


_Picture = tuple[tuple[DemoShape, ...], str]
# id, question, options literal, answer, question type, subfield, pictures (shapes, text) for image_1..
_DEMO_ITEMS: tuple[tuple[str, str, str, str, str, str, tuple[_Picture, ...]], ...] = (
    ("validation_Art_1", "<image 1> Which shape is drawn in the picture?",
     "['A circle', 'A square', 'A triangle', 'A star']", "A", MULTIPLE_CHOICE, "Drawing",
     (((("circle", "red"),), ""),)),
    ("validation_Math_1", "How many squares are there in <image 1>?", "[]", "2", "open", "Arithmetic",
     (((("square", "blue"), ("square", "blue")), ""),)),
    ("validation_Biology_1", "Which picture shows a green triangle?",
     "['<image 1>', '<image 2>', '<image 3>']", "B", MULTIPLE_CHOICE, "Morphology",
     (((("circle", "red"),), ""), ((("triangle", "green"),), ""), ((("square", "blue"),), ""))),
    ("validation_Computer_Science_1", "Compare <image 2> with <image 1>: how many more circles does "
     "<image 2> show?", "[]", "['1', 'one']", "open", "Data Structure",
     (((("circle", "orange"),), ""), ((("circle", "orange"), ("circle", "orange")), ""))),
    ("validation_Economics_1", "<image 1> shows the price and <image 2> the quantity. What is the revenue?",
     "['$6', '$5', '$8', '$9']", "A", MULTIPLE_CHOICE, "Microeconomics",
     (((), "PRICE 2"), ((), "QTY 3"))),
    ("validation_Psychology_1", "What colour is the shape in <image 1>?", "[]", "green", "open", "Perception",
     (((("circle", "green"),), ""),)),
    ("validation_Clinical_Medicine_1", "The chart in <image 1> reads a temperature. Is it a fever?",
     "['Yes', 'No']", "A", MULTIPLE_CHOICE, "Internal Medicine", (((), "39.5 C"),)),
)  # fmt: skip
