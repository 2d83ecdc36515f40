"""DPG-Bench's VQA scorer: the interface every backend implements, the on-disk answer cache, the factory.

Backends answer yes/no questions about image tiles with the text their model decodes (the rule that only the
exact string `yes` scores is `janus_eval.rules.dpg_bench`'s, never a backend's):

- `mplug`: the official `damo/mplug_visual-question-answering_coco_large_en` through modelscope (optional;
  `janus_eval.scorers.mplug_vqa`);
- `blip`: a transformers BLIP VQA model, a light backend whose numbers are not comparable with the published
  ones (`janus_eval.scorers.blip_vqa`);
- `tiny`: a tiny random BLIP built offline from a config, through the `blip` code path (tests and the demo);
- `judge`: the run's LLM judge (`--judge-*`), any OpenAI-compatible vision chat endpoint, asked through the
  judge client (`janus_eval.scorers.judge_vqa`); its replies are reduced to their first word before the rule.
"""

from __future__ import annotations

import json
import os
import socket
from abc import ABC, abstractmethod
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, ClassVar

from PIL import Image

from janus_eval.api import JudgeSettings, image_digest
from janus_eval.data.cache import cache_root
from janus_eval.data.hashing import canonical_json, hash_json
from janus_eval.errors import UserError

VQA_BACKENDS = ("mplug", "blip", "tiny", "judge")
DEFAULT_BATCH_SIZE = 16


class VqaBackend(ABC):
    """Answers questions about images."""

    # whether its answers measure what the published DPG-Bench numbers measure (only the official mPLUG does)
    comparable: bool = False
    # the name of the rule `reduce` applies to a reply before the official rule scores it (None: as given)
    reduction: ClassVar[str | None] = None
    # whether it takes every pair of a call at once and bounds what runs at once itself (the judge: up to
    # --judge-concurrency requests in flight), instead of batches of `batch_size`
    takes_whole_calls: ClassVar[bool] = False

    @abstractmethod
    def answer(self, pairs: Sequence[tuple[Image.Image, str]]) -> list[str]:
        """One answer per (image, question), as the model decodes it (no normalisation); independent of the
        other pairs in the call."""

    @abstractmethod
    def identity(self) -> dict[str, Any]:
        """Everything that determines the answers (backend, weights and their revision or sha256, decoding
        settings, library versions): the answer cache is keyed by it. JSON."""

    def describe(self) -> dict[str, Any]:
        """What the result file records about the backend."""
        return self.identity()

    def answer_with_usage(self, pairs: Sequence[tuple[Image.Image, str]]) -> list[tuple[str, dict[str, Any] | None]]:
        """`answer`, each with what it cost (JSON, kept beside the answer in the cache; None: nothing to count)."""
        return [(answer, None) for answer in self.answer(pairs)]

    def reduce(self, reply: str) -> str:
        """The answer the official rule scores, from a reply: as given (mPLUG and BLIP answer in one word)."""
        return reply

    def sample_usage(self, answers: Sequence[VqaAnswer]) -> dict[str, Any] | None:
        """What the answers behind one sample's score cost, for its record (None: nothing to count)."""
        return None

    def usage_summary(self, usages: Sequence[dict[str, Any]]) -> dict[str, Any]:
        """The manifest's summary of the records' `sample_usage` (empty: nothing to count)."""
        return {}


@dataclass(frozen=True)
class VqaAnswer:
    """One (image, question)'s answer: the backend's reply, the answer the rule scores (`reduce` of the reply),
    what the reply cost, and whether it is reused (the answer cache, or a pair asked earlier in the call)."""

    reply: str
    answer: str
    usage: dict[str, Any] | None = None
    reused: bool = False


class AnswerCache:
    """Answers of one backend identity, kept on disk: (tile digest, question) -> answer.

    Lives in `<cache>/vqa-answers/<identity digest>/`; each process appends to its own file, so concurrent
    runs (torchrun ranks) never interleave writes, and every file is read when the cache opens.
    """

    def __init__(self, identity: dict[str, Any], root: Path | None = None) -> None:
        self.folder = (root if root is not None else cache_root() / "vqa-answers") / hash_json(identity)[:24]
        self.answers: dict[tuple[str, str], str] = {}
        # what an answer cost, for backends that count it (an endpoint's tokens)
        self.usages: dict[tuple[str, str], dict[str, Any]] = {}
        self._file: Path | None = None
        self._identity = identity
        if self.folder.is_dir():
            for path in sorted(self.folder.glob("answers-*.jsonl")):
                self._read(path)

    def _read(self, path: Path) -> None:
        try:
            lines = path.read_text(encoding="utf-8").splitlines()
        except OSError:
            return
        for line in lines:
            try:
                entry = json.loads(line)
                key = (entry["tile"], entry["question"])
                self.answers[key] = entry["answer"]
                if isinstance(entry.get("usage"), dict):
                    self.usages[key] = entry["usage"]
            except (ValueError, KeyError, TypeError):
                continue  # a line cut short by a killed run: that answer is simply asked again

    def get(self, tile: str, question: str) -> str | None:
        return self.answers.get((tile, question))

    def put(self, entries: Sequence[tuple[str, str, str, dict[str, Any] | None]]) -> None:
        """Adds (tile digest, question, answer, usage or None) entries, in memory and on disk (best effort: an
        unwritable cache only means asking again next time)."""
        for tile, question, answer, usage in entries:
            self.answers[(tile, question)] = answer
            if usage is not None:
                self.usages[(tile, question)] = usage
        try:
            if self._file is None:
                self.folder.mkdir(parents=True, exist_ok=True)
                (self.folder / "identity.json").write_text(canonical_json(self._identity) + "\n", encoding="utf-8")
                self._file = self.folder / f"answers-{socket.gethostname()}-{os.getpid()}.jsonl"
            with self._file.open("a", encoding="utf-8") as out:
                for tile, question, answer, usage in entries:
                    entry = {"tile": tile, "question": question, "answer": answer}
                    out.write(json.dumps(entry if usage is None else {**entry, "usage": usage}) + "\n")
        except OSError:
            pass


class CachedVqa:
    """A backend behind the answer cache: every (tile, question) is asked once, in batches of `batch_size`
    (a backend that `takes_whole_calls` gets all the pairs of a call in one batch)."""

    def __init__(self, backend: VqaBackend, batch_size: int = DEFAULT_BATCH_SIZE, cache_dir: Path | None = None) -> None:
        if batch_size < 1:
            raise UserError(f"The VQA batch size must be at least 1 (got {batch_size}).")
        self.backend = backend
        self.batch_size = batch_size
        self.cache = AnswerCache(backend.identity(), cache_dir)
        self.asked = 0  # questions the backend answered (not the cache), for checks and logs

    def answer(self, pairs: Sequence[tuple[Image.Image, str]]) -> list[VqaAnswer]:
        """The answers to (image, question) pairs; the backend sees only pairs that no earlier call asked."""
        digests: dict[int, str] = {}
        keys = []
        for image, question in pairs:
            if id(image) not in digests:
                digests[id(image)] = image_digest(image)
            keys.append((digests[id(image)], question))
        todo: dict[tuple[str, str], Image.Image] = {}
        for key, (image, _) in zip(keys, pairs):
            if self.cache.get(*key) is None and key not in todo:
                todo[key] = image
        items = list(todo.items())
        step = max(1, len(items)) if self.backend.takes_whole_calls else self.batch_size
        for start in range(0, len(items), step):
            chunk = items[start : start + step]
            answers = self.backend.answer_with_usage([(image, question) for (_, question), image in chunk])
            if len(answers) != len(chunk):
                raise RuntimeError(f"the VQA backend gave {len(answers)} answers for {len(chunk)} questions")
            self.cache.put([(tile, question, answer, usage)
                            for ((tile, question), _), (answer, usage) in zip(chunk, answers)])  # fmt: skip
            self.asked += len(chunk)
        found = []
        for key in keys:
            reply = self.cache.answers[key]
            fresh = todo.pop(key, None) is not None  # asked now: its first occurrence in the call
            found.append(VqaAnswer(reply, self.backend.reduce(reply), self.cache.usages.get(key), reused=not fresh))
        return found

    def describe(self) -> dict[str, Any]:
        if self.backend.takes_whole_calls:  # the batch size does not apply
            return self.backend.describe()
        return {**self.backend.describe(), "batch_size": self.batch_size}


def build_vqa(
    name: str,
    weights: str | None = None,
    device: str = "cpu",
    batch_size: int = DEFAULT_BATCH_SIZE,
    judge: JudgeSettings | None = None,
) -> CachedVqa:
    """The VQA scorer `name` (one of VQA_BACKENDS) behind the answer cache; `weights` overrides its default
    weights (a hub id or a local folder); `judge` is the run's judge (the `judge` backend's endpoint and model).
    Raises UserError for a backend that cannot be had."""
    backend: VqaBackend
    if name == "judge":
        from janus_eval.scorers.judge_vqa import JudgeVqa

        if weights is not None:
            raise UserError(
                "The 'judge' VQA model is the run's judge (--judge-model at --judge-base-url); do not pass VQA weights."
            )
        backend = JudgeVqa(judge)
    elif name == "mplug":
        from janus_eval.scorers.mplug_vqa import MplugVqa

        backend = MplugVqa(weights, device)
    elif name == "blip":
        from janus_eval.scorers.blip_vqa import DEFAULT_BLIP_WEIGHTS, BlipVqa

        backend = BlipVqa(weights or DEFAULT_BLIP_WEIGHTS, device)
    elif name == "tiny":
        from janus_eval.scorers.blip_vqa import BlipVqa
        from janus_eval.scorers.tiny_vqa import TINY_VQA_LABEL, ensure_tiny_vqa

        if weights is not None:
            raise UserError("The 'tiny' VQA model builds its own random weights; do not pass VQA weights.")
        backend = BlipVqa(str(ensure_tiny_vqa()), device, label=TINY_VQA_LABEL)
    else:
        raise UserError(f"Unknown VQA backend '{name}'; choose one of: {', '.join(VQA_BACKENDS)}.")
    return CachedVqa(backend, batch_size)
