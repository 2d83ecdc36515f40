"""What every understanding protocol here shares: one user turn (images and text in order), greedy decoding.

Tasks build their content; these helpers check the question, wrap the turn into a request and read
the text back out of an output.
"""

from __future__ import annotations

from collections.abc import Sequence

from janus_eval.api import ChatMessage, ContentPart, Output, Sample, SampleError, TextOutput, TextRequest


def question_of(sample: Sample) -> str:
    """The sample's `question`; SampleError when it is missing or blank."""
    question = sample.row.get("question")
    if not isinstance(question, str) or not question.strip():
        raise SampleError(f"sample {sample.id} has no question")
    return question


def single_turn_request(task: str, sample: Sample, content: Sequence[ContentPart], max_new_tokens: int) -> TextRequest:
    """One user turn with `content` (images where they stand), no system message, greedy decoding."""
    return TextRequest(
        task=task,
        sample_id=sample.id,
        index=sample.index,
        messages=[ChatMessage(role="user", content=list(content))],
        max_new_tokens=max_new_tokens,
        temperature=0.0,
    )


def output_text(task: str, output: Output | None) -> str | None:
    """The text of an output (None for a failed sample); TypeError for an image output."""
    if output is None:
        return None
    if not isinstance(output, TextOutput):
        raise TypeError(f"{task} scores text outputs, got {type(output).__name__}")
    return output.text
