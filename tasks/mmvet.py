"""MM-Vet: 218 open questions on images needing integrated capabilities; long answers graded in [0, 1] by an
LLM judge with MM-Vet's few-shot grader, total = mean x 100, plus per-capability scores.

Without a judge the answers are generated and saved and the result says it is ungraded (never a 0); a later
run with `--judge-model` grades the saved answers without generating them again.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any, ClassVar, Literal

from pydantic import Field

from janus_eval.api import (
    ChatMessage,
    DataSource,
    Output,
    Sample,
    Task,
    TaskOptions,
    TextRequest,
)
from janus_eval.data.demo_images import DemoShape, demo_image
from janus_eval.data.image_io import decode_image
from janus_eval.data.sample_ids import occurrence_ids
from janus_eval.prompts.text_requests import output_text, question_of
from janus_eval.registry import register_task
from janus_eval.rules.mmvet import CAPABILITIES, GRADERS, Grader, MmvetMetric, capabilities_of, grade_answer
from janus_eval.scorers.judge import JudgeClient, JudgeError, build_judge
from janus_eval.scorers.judge.batches import JudgedBatches
from janus_eval.scorers.judge.client import endpoint_of
from janus_eval.scorers.judge.usage import UsageTally, summarize_usage

# VLMEvalKit Janus.build_prompt: the only dataset with a system prompt (understanding.md §1).
MMVET_SYSTEM_PROMPT = (
    "You are a helpful assistant. Please answer truthfully and write out your thinking step by step to be sure "
    "you get the right answer."
)
# lmms-eval mmvet.yaml lmms_eval_specific_kwargs.default.pre_prompt
LMMS_EVAL_PRE_PROMPT = (
    "First please perform reasoning, and think step by step to provide best answer to the following question: \n\n"
)
IMAGE_TEXT_SEPARATOR = "\n"  # Janus's VLMEvalKit prompts: "\n" + question right after the image placeholder


class MmvetOptions(TaskOptions):
    """MM-Vet options; the defaults are the Janus paper protocol (the official MM-Vet evaluator)."""

    prompt: Literal["paper", "lmms_eval"] = Field(
        default="paper", description="paper: MMVet system prompt + '\\n' + question; lmms_eval: its pre-prompt"
    )
    grader: Literal["official", "vlmevalkit", "lmms_eval"] = Field(
        default="official", description="grading protocol: the official MM-Vet evaluator, VLMEvalKit's or lmms-eval's"
    )
    unparsable: Literal["protocol", "fail"] = Field(
        default="protocol",
        description="an answer without a parsable grade after the grader's tries: 0.0 (as every grader) or failed",
    )
    max_new_tokens: int = Field(default=512, ge=1, description="generation budget (VLMEvalKit's Janus value at paper time)")


def _judge_family_is_gpt4(model: str) -> bool:
    return model.startswith("gpt-4") and not model.startswith(("gpt-4o", "gpt-4.1", "gpt-4.5"))


@register_task
class MmvetTask(Task):
    """MM-Vet with the Janus paper prompt, graded by the official MM-Vet evaluator's protocol by default."""

    name = "mmvet"
    version = 1
    request_kind = "text"
    description = "MM-Vet open questions graded by an LLM judge (--judge-model); headline total (mean grade x 100)"
    Options: ClassVar[type[TaskOptions]] = MmvetOptions
    published: ClassVar[dict[str, float]] = {
        "janus-1.3b": 34.3,
        "janusflow-1.3b": 30.9,
        "janus-pro-1b": 39.8,
        "janus-pro-7b": 50.0,
    }
    published_source = (
        "MM-Vet column: Janus Tab. 2 (arXiv 2410.13848), JanusFlow Tab. 5 (arXiv 2411.07975), Janus-Pro Tab. 3 "
        "(arXiv 2501.17811); graded by GPT-4 through the official MM-Vet evaluator"
    )

    options: MmvetOptions

    def __init__(self, options: TaskOptions | None = None, seed: int = 0, demo: bool = False) -> None:
        super().__init__(options, seed=seed, demo=demo)
        self._judge: JudgeClient | None = None
        self._batches = JudgedBatches("grading")

    @property
    def headline(self) -> str:
        return "total"

    @property
    def grader(self) -> Grader:
        return GRADERS[self.options.grader]

    def data_source(self) -> DataSource:
        return DataSource(
            hf_id="lmms-lab/MMVet",
            split="test",
            columns=("question_id", "image", "question", "answer", "capability"),
            image_columns=("image",),
        )

    # ------------------------------------------------------------------------- samples and requests

    def samples(self, rows: Sequence[Mapping[str, Any]]) -> list[Sample]:
        """Every question in dataset order; the id is MM-Vet's question id (v1_0 ... v1_217)."""
        ids = occurrence_ids([str(row["question_id"]) for row in rows])
        return [
            Sample(
                id=sample_id,
                index=index,
                target=str(row["answer"]),
                meta={"capabilities": capabilities_of(row["capability"])},
                row=row,
            )
            for index, (row, sample_id) in enumerate(zip(rows, ids))
        ]

    def prompt_text(self, question: str) -> str:
        """The text after the image under the `prompt` option."""
        if self.options.prompt == "lmms_eval":
            return IMAGE_TEXT_SEPARATOR + LMMS_EVAL_PRE_PROMPT + question
        return IMAGE_TEXT_SEPARATOR + question

    def build_request(self, sample: Sample) -> TextRequest:
        question = question_of(sample)
        image = decode_image(sample.row.get("image"), what=f"image of sample {sample.id}")
        messages = [ChatMessage(role="user", content=[image, self.prompt_text(question)])]
        if self.options.prompt == "paper":
            messages.insert(0, ChatMessage(role="system", content=[MMVET_SYSTEM_PROMPT]))
        return TextRequest(
            task=self.name,
            sample_id=sample.id,
            index=sample.index,
            messages=messages,
            max_new_tokens=self.options.max_new_tokens,
            temperature=0.0,
        )

    # ------------------------------------------------------------------------- the judge

    def judge(self) -> JudgeClient | None:
        """The judge client, built on first use from the run's judge settings (None: no judge, ungraded)."""
        if self._judge is None and self.judge_settings is not None:
            self._judge = build_judge(self.judge_settings)
        return self._judge

    def scorer_info(self) -> dict[str, Any]:
        """The judge's identity and the grader's: in the record key, so another judge grades the saved answers
        again. The first call checks the endpoint (before the model loads)."""
        judge = self.judge()
        if judge is None:
            return {"judge": None}
        judge.check()
        return {"judge": judge.identity(), "grader": self.grader.identity(), "unparsable": self.options.unparsable}

    # ------------------------------------------------------------------------- scoring

    def score(self, sample: Sample, output: Output | None) -> dict[str, Any]:
        """One answer's grade (see `score_batch`); raises SampleError when its grading fails."""
        return self.score_batch([sample], [output])[0]

    def score_batch(self, samples: Sequence[Sample], outputs: Sequence[Output | None]) -> list[dict[str, Any]]:
        """Grades the batch's answers concurrently (up to --judge-concurrency requests at a time).

        Score: {"grade": float in [0, 1] | None, "parsed", "status", "tries", "judge": usage}; status is
        "graded", "unparsed" (the grader's 0.0 after its tries), "ungraded" (no judge) or "failed".

        Raises:
            SampleError: a grading failed after the judge's retries; the message names the first one. The
                others are graded (and cached), so scoring the samples one by one asks nothing twice.
        """
        texts = [output_text(self.name, output) for output in outputs]
        judge = self.judge()
        if judge is None:
            return [{"grade": None, "status": "ungraded" if text is not None else "failed"} for text in texts]
        pending = [(sample.id, (sample.id, text), (sample, text)) for sample, text in zip(samples, texts) if text is not None]
        graded = iter(self._batches.run(judge, lambda pair: self._grade(judge, *pair), pending, len(samples)))
        return [next(graded) if text is not None else {"grade": None, "status": "failed"} for text in texts]

    def _grade(self, judge: JudgeClient, sample: Sample, text: str) -> dict[str, Any]:
        tally = UsageTally(judge)
        outcome = grade_answer(self.grader, question_of(sample), sample.target, text, tally.ask)
        if not outcome.parsed and self.options.unparsable == "fail":
            last = outcome.tries[-1]["reply"] if outcome.tries else ""
            raise JudgeError(f"no parsable grade in {len(outcome.tries)} replies (last: {last[:80]!r})")
        return {
            "grade": outcome.grade,
            "parsed": outcome.parsed,
            "status": "graded" if outcome.parsed else "unparsed",
            "tries": list(outcome.tries),
            "judge": tally.as_dict(),
        }

    def new_metric(self) -> MmvetMetric:
        return MmvetMetric()

    def scoring_usage(self, scores: Sequence[Mapping[str, Any]]) -> dict[str, Any]:
        """The judge's requests, tokens and cost over the recorded grades (for the manifest)."""
        if self.judge_settings is None:
            return {"judge": None}
        usages = [score["judge"] for score in scores if isinstance(score.get("judge"), Mapping)]
        return {
            "judge": summarize_usage(
                self.judge_settings, usages, grader=self.grader.name, grader_source=self.grader.source
            )
        }

    # ------------------------------------------------------------------------- reading the result

    def result_notes(self, metrics: Mapping[str, float | None]) -> list[str]:
        notes = []
        settings = self.judge_settings
        if settings is None:
            notes.append(
                f"ungraded: no judge was configured; the {int(metrics.get('ungraded') or 0)} answers are saved, and "
                "rerunning the same command with --judge-model (and --judge-base-url for an endpoint other than "
                "OpenAI's) grades them without generating again"
            )
            return notes
        unparsed = int(metrics.get("unparsed") or 0)
        if unparsed:
            notes.append(
                f"{unparsed} answer(s) got no parsable grade in the {self.grader.name} grader's tries and count 0.0, "
                "as that grader gives them (mmvet.unparsable=fail fails them instead)"
            )
        if not _judge_family_is_gpt4(settings.model):
            notes.append(
                f"judge {settings.model!r}: the published numbers were graded by GPT-4 through the official MM-Vet "
                "evaluator, and MM-Vet totals move with the judge (a Janus-Pro-1B reproduction: 36.7 with GPT-4.1, "
                "35.3 to 37.5 with GPT-4o, against the published 39.8)"
            )
        return notes

    def protocol_card(self) -> dict[str, Any]:
        source = self.data_source()
        grader = self.grader
        settings = self.judge_settings
        messages: list[dict[str, Any]] = [{"role": "user", "content": ["<image>", self.prompt_text("{question}")]}]
        if self.options.prompt == "paper":
            messages.insert(0, {"role": "system", "content": [MMVET_SYSTEM_PROMPT]})
        return {
            "task": self.name,
            "dataset": {
                **source.describe(),
                "columns": list(source.columns),
                "notes": (
                    "218 questions; capability is a comma-separated list of rec, ocr, know, gen, spat, math; "
                    "lmms-eval <= 0.7.2 reads lmms-lab/MMVet, 0.7.3 lmms-lab-encoder/MMVet, VLMEvalKit its MMVet.tsv"
                ),
            },
            "prompt": {
                "variant": self.options.prompt,
                "system_prompt": MMVET_SYSTEM_PROMPT if self.options.prompt == "paper" else "",
                "messages": messages,
            },
            "generation": {"decoding": "greedy", "temperature": 0.0, "max_new_tokens": self.options.max_new_tokens},
            "grading": {
                "grader": grader.name,
                "grader_version": grader.source,
                "prompt_sha256": grader.identity()["prompt_sha256"],
                "judge_model": settings.model if settings is not None else None,
                "judge_endpoint": endpoint_of(settings) if settings is not None else None,
                "max_tokens": grader.max_tokens,
                "tries": [{"retry_prompt": retry, "temperature": t} for retry, t in grader.schedule],
                "unparsable": self.options.unparsable,
                "notes": (
                    "the user message is the grader prompt + '\\n' + 'question | ground truth | answer | ' (<AND>/<OR> "
                    "spaced out); a reply is a grade when it parses to a number in [0, 1]; otherwise the next try, and "
                    "after the last one 0.0 (unparsable=protocol); judge replies are cached, so nothing is paid twice"
                ),
            },
            "metrics": {
                "total": "mean grade x 100 over the graded answers (headline; the papers' MM-Vet column)",
                "<capability>": "mean grade x 100 over the questions needing it (one question counts for each of its "
                "capabilities): " + ", ".join(CAPABILITIES),
                "integration.<a_b>": "the same per capability integration (the exact set of a question's capabilities)",
                "graded / unparsed / ungraded / failed": "answers graded, given 0.0 after unparsable replies, not "
                "graded (no judge), failed (no output or the judge failed after its retries)",
            },
            "deviations": [
                (
                    "the papers name the official evaluator's HF Space (GPT-4); its GPT-4 version is unknown "
                    "(UNVERIFIED; the evaluator's default is gpt-4-0613); the judge is chosen with --judge-model"
                ),
                (
                    "the official and lmms-eval loops send one last request whose reply they never read before "
                    "giving 0.0; it is not sent here (the grade is the same)"
                ),
                (
                    "a grade must be a finite number (the official range check lets 'nan' through); lmms-eval asks again "
                    "forever at the same temperature after an out-of-range grade, here it is an unparsable try"
                ),
                (
                    "a judge request that still fails after the retries fails its sample (left out of the score and "
                    "counted; a rerun grades it again); the official loop waits and retries forever on rate limits, "
                    "lmms-eval gives 0.0"
                ),
                "per-capability scores are not rounded (the official evaluator rounds to 1 decimal); one run (num_run 1)",
                "max_new_tokens 512 = VLMEvalKit Janus at paper time (now 2048); lmms-eval uses 1024",
                "prompt=lmms_eval keeps '\\n' between image and text (Janus placeholder convention) and has no system "
                "message",
            ],
            "options": self.options.model_dump(),
        }

    def demo_rows(self) -> list[dict[str, Any]]:
        """Six questions on synthetic images, in the hub schema (ground truths use <AND> / <OR>)."""
        return [
            {
                "question_id": f"v1_{number}",
                "image": demo_image(shapes, text=text),
                "question": question,
                "answer": answer,
                "capability": capability,
            }
            for number, (shapes, text, question, answer, capability) in enumerate(_DEMO_ITEMS)
        ]


_DEMO_ITEMS: tuple[tuple[tuple[DemoShape, ...], str, str, str, str], ...] = (
    ((("circle", "red"),), "", "What shape is in the image and what colour is it?", "circle<AND>red", "rec"),
    ((), "JANUS", "What word is written in the image?", "JANUS", "ocr"),
    ((), "2 + 3 = ?", "What is the answer to the question in the image?", "5<OR>five", "ocr,math"),
    ((("square", "blue"), ("triangle", "green")), "", "Which shape is on the left?", "square<OR>the blue square",
     "rec,spat"),
    ((("ground", "green"), ("circle", "yellow")), "", "Describe the scene in one sentence.",
     "A yellow sun above a green field.", "rec,gen"),
    ((("circle", "orange"),), "STOP", "What should a driver do when seeing this sign?", "stop", "ocr,know"),
)  # fmt: skip
