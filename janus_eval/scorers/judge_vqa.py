"""DPG-Bench's VQA through the run's LLM judge: any OpenAI-compatible vision chat endpoint (`--judge-*`).

Each (tile, question) is one chat completion through the judge client (its key handling, retries, response
cache, concurrency and token accounting): a user message holding the tile as a PNG base64 data URL and the
question text exactly as the official script hands it to mPLUG. A chat model answers in sentences where mPLUG
answers in one word, so the reply is reduced to its first word, lower-cased (`first_word`) before the official
rule (only the exact `yes` scores); the raw reply is kept in the records. Not the official mPLUG: its numbers
are not comparable with the published ones.
"""

from __future__ import annotations

import base64
import io
import re
from collections.abc import Sequence
from typing import Any

from PIL import Image

from janus_eval.api import JudgeSettings, image_digest
from janus_eval.errors import UserError
from janus_eval.scorers.judge.batches import JudgedBatches
from janus_eval.scorers.judge.client import build_judge, endpoint_of
from janus_eval.scorers.judge.usage import UsageTally, summarize_usage
from janus_eval.scorers.vqa import VqaAnswer, VqaBackend

# bumped when the request or the reduction changes (it is part of the identity, hence of the answer cache key)
JUDGE_VQA_VERSION = 1
TEMPERATURE = 0.0
# enough for a one-word answer and the words after it; only the first word is read
MAX_TOKENS = 16
FIRST_WORD = "first_word"
FIRST_WORD_RULE = (
    "the reply's first word (its first run of letters or digits), lower-cased; the punctuation and markup "
    "around it and every word after it are dropped ('Yes, there is.' -> 'yes', '**No**' -> 'no')"
)
MESSAGES_TEMPLATE = [{"role": "user", "content": [
    {"type": "image_url", "image_url": {"url": "data:image/png;base64,<tile>"}},
    {"type": "text", "text": "<question>"},
]}]  # fmt: skip
_WORD = re.compile(r"[^\W_]+")


def first_word(reply: str) -> str:
    """The reply reduced to what mPLUG would answer: its first word, lower-cased (see FIRST_WORD_RULE)."""
    found = _WORD.search(reply)
    return found.group(0).lower() if found is not None else ""


def png_data_url(image: Image.Image) -> str:
    """The image as a PNG (lossless: the tile's exact pixels) in a base64 data URL."""
    buffer = io.BytesIO()
    image.convert("RGB").save(buffer, format="PNG")
    return "data:image/png;base64," + base64.b64encode(buffer.getvalue()).decode("ascii")


def vqa_messages(image_url: str, question: str) -> list[dict[str, Any]]:
    """The chat messages of one (tile, question): one user message, the image then the question as is."""
    return [{"role": "user", "content": [
        {"type": "image_url", "image_url": {"url": image_url}},
        {"type": "text", "text": question},
    ]}]  # fmt: skip


class JudgeVqa(VqaBackend):
    """Asks the run's judge each (tile, question), the pairs of a call concurrently (up to --judge-concurrency)."""

    reduction = FIRST_WORD
    takes_whole_calls = True  # every question on every tile of the engine's batch, --judge-concurrency at once

    def __init__(self, settings: JudgeSettings | None) -> None:
        if settings is None:
            raise UserError(
                "dpg_bench.vqa_model=judge asks the run's LLM judge: pass --judge-model (a vision chat model) and "
                "--judge-base-url for an endpoint other than OpenAI's"
            )
        self.settings = settings
        self.client = build_judge(settings)
        self.client.check()  # a refused key or an unknown model fails now, before the model loads
        self._batches = JudgedBatches("VQA answer", unit="question")

    def identity(self) -> dict[str, Any]:
        return {
            "backend": "judge-vqa",
            "version": JUDGE_VQA_VERSION,
            **self.client.identity(),
            "messages": MESSAGES_TEMPLATE,
            "temperature": TEMPERATURE,
            "max_tokens": MAX_TOKENS,
            "reduction": FIRST_WORD,
        }

    def answer(self, pairs: Sequence[tuple[Image.Image, str]]) -> list[str]:
        return [reply for reply, _ in self.answer_with_usage(pairs)]

    def answer_with_usage(self, pairs: Sequence[tuple[Image.Image, str]]) -> list[tuple[str, dict[str, Any] | None]]:
        """The judge's replies, concurrently, each with its usage (`UsageTally.as_dict`).

        Raises:
            SampleError: a request failed after its retries (the others' replies are in the judge's cache, so
                scoring the samples one by one asks nothing twice, and the failed pair fails at once then).
        """
        urls: dict[int, tuple[str, str]] = {}
        items = []
        for image, question in pairs:
            if id(image) not in urls:
                urls[id(image)] = (png_data_url(image), image_digest(image))
            url, digest = urls[id(image)]
            items.append((f"{question!r} on tile {digest[:12]}", (digest, question), (url, question)))

        def ask(payload: tuple[str, str]) -> tuple[str, dict[str, Any]]:
            tally = UsageTally(self.client)
            reply = tally.ask(vqa_messages(*payload), TEMPERATURE, MAX_TOKENS, 0)
            return reply, tally.as_dict()

        # the engine scores the samples of a batch that raised again one by one, even a batch of one sample:
        # every failure is remembered for that second pass (a batch size above 1)
        return self._batches.run(self.client, ask, items, batch_size=2)

    def reduce(self, reply: str) -> str:
        # deviation: mPLUG answers in one word and the official rule takes only the exact 'yes'
        return first_word(reply)

    def sample_usage(self, answers: Sequence[VqaAnswer]) -> dict[str, Any] | None:
        """The judge's requests, cache hits and tokens behind one sample's answers; an answer reused from the
        answer cache counts as a cache hit with its recorded tokens."""
        tally = UsageTally(self.client)
        for found in answers:
            if found.usage is not None:
                tally.add(found.usage, reused=found.reused)
        return tally.as_dict()

    def usage_summary(self, usages: Sequence[dict[str, Any]]) -> dict[str, Any]:
        return {"judge": summarize_usage(self.settings, usages, used_as="dpg_bench VQA model")}


JUDGE_VQA_DEVIATION = (
    "dpg_bench.vqa_model=judge: an OpenAI-compatible vision chat endpoint answers instead of mPLUG-large, one chat "
    f"completion per (tile, question) (the tile as a PNG data URL, then the official question text; temperature "
    f"{TEMPERATURE:g}, max_tokens {MAX_TOKENS}); its reply is reduced to {FIRST_WORD_RULE} before the official "
    "exact-'yes' rule, since mPLUG answers in one word; the raw replies are recorded per tile (`replies`)"
)


def judge_vqa_card(settings: JudgeSettings | None) -> dict[str, Any]:
    """The protocol card's account of the judge backend: endpoint, model, request and reduction."""
    return {
        "api": "openai-chat-completions",
        "endpoint": endpoint_of(settings) if settings is not None else None,
        "model": settings.model if settings is not None else None,
        "messages": MESSAGES_TEMPLATE,
        "temperature": TEMPERATURE,
        "max_tokens": MAX_TOKENS,
        "answer_reduction": FIRST_WORD,
        "notes": f"answer_reduction {FIRST_WORD}: {FIRST_WORD_RULE}; the question is the CSV's "
        "question_natural_language as is (the official script's mPLUG input); no system message",
    }
