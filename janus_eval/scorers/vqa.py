"""DPG-Bench's VQA scorer: the interface every backend implements, the on-disk answer cache, the factory.

Backends answer yes/no questions about image tiles with the text their model decodes (the rule that only the
exact string `yes` scores is `janus_eval.rules.dpg_bench`'s, never a backend's):

- `mplug`: the official `damo/mplug_visual-question-answering_coco_large_en` through modelscope (optional;
  `janus_eval.scorers.mplug_vqa`);
- `blip`: a transformers BLIP VQA model, a light backend whose numbers are not comparable with the published
  ones (`janus_eval.scorers.blip_vqa`);
- `tiny`: a tiny random BLIP built offline from a config, through the `blip` code path (tests and the demo).

An OpenAI-compatible vision endpoint fits the same interface (`answer` over (image, question) pairs, an
`identity` naming the endpoint's model); it is meant to go through the shared judge client once that exists.
"""

from __future__ import annotations

import json
import os
import socket
from abc import ABC, abstractmethod
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from PIL import Image

from janus_eval.api import image_digest
from janus_eval.data.cache import cache_root
from janus_eval.data.hashing import canonical_json, hash_json
from janus_eval.errors import UserError

VQA_BACKENDS = ("mplug", "blip", "tiny")
DEFAULT_BATCH_SIZE = 16


class VqaBackend(ABC):
    """Answers questions about images."""

    # whether its answers measure what the published DPG-Bench numbers measure (only the official mPLUG does)
    comparable: bool = False

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


class AnswerCache:
    """Answers of one backend identity, kept on disk: (tile digest, question) -> answer.

    Lives in `<cache>/vqa-answers/<identity digest>/`; each process appends to its own file, so concurrent
    runs (torchrun ranks) never interleave writes, and every file is read when the cache opens.
    """

    def __init__(self, identity: dict[str, Any], root: Path | None = None) -> None:
        self.folder = (root if root is not None else cache_root() / "vqa-answers") / hash_json(identity)[:24]
        self.answers: dict[tuple[str, str], str] = {}
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
                self.answers[(entry["tile"], entry["question"])] = entry["answer"]
            except (ValueError, KeyError, TypeError):
                continue  # a line cut short by a killed run: that answer is simply asked again

    def get(self, tile: str, question: str) -> str | None:
        return self.answers.get((tile, question))

    def put(self, entries: Sequence[tuple[str, str, str]]) -> None:
        """Adds (tile digest, question, answer) entries, in memory and on disk (best effort: an unwritable
        cache only means asking again next time)."""
        for tile, question, answer in entries:
            self.answers[(tile, question)] = answer
        try:
            if self._file is None:
                self.folder.mkdir(parents=True, exist_ok=True)
                (self.folder / "identity.json").write_text(canonical_json(self._identity) + "\n", encoding="utf-8")
                self._file = self.folder / f"answers-{socket.gethostname()}-{os.getpid()}.jsonl"
            with self._file.open("a", encoding="utf-8") as out:
                for tile, question, answer in entries:
                    out.write(json.dumps({"tile": tile, "question": question, "answer": answer}) + "\n")
        except OSError:
            pass


class CachedVqa:
    """A backend behind the answer cache: every (tile, question) is asked once, in batches of `batch_size`."""

    def __init__(self, backend: VqaBackend, batch_size: int = DEFAULT_BATCH_SIZE, cache_dir: Path | None = None) -> None:
        if batch_size < 1:
            raise UserError(f"The VQA batch size must be at least 1 (got {batch_size}).")
        self.backend = backend
        self.batch_size = batch_size
        self.cache = AnswerCache(backend.identity(), cache_dir)
        self.asked = 0  # questions the backend answered (not the cache), for checks and logs

    def answer(self, pairs: Sequence[tuple[Image.Image, str]]) -> list[str]:
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
        for start in range(0, len(items), self.batch_size):
            chunk = items[start : start + self.batch_size]
            answers = self.backend.answer([(image, question) for (_, question), image in chunk])
            if len(answers) != len(chunk):
                raise RuntimeError(f"the VQA backend gave {len(answers)} answers for {len(chunk)} questions")
            self.cache.put([(tile, question, answer) for ((tile, question), _), answer in zip(chunk, answers)])
            self.asked += len(chunk)
        return [self.cache.answers[key] for key in keys]

    def describe(self) -> dict[str, Any]:
        return {**self.backend.describe(), "batch_size": self.batch_size}


def build_vqa(name: str, weights: str | None = None, device: str = "cpu", batch_size: int = DEFAULT_BATCH_SIZE) -> CachedVqa:
    """The VQA scorer `name` (one of VQA_BACKENDS) behind the answer cache; `weights` overrides its default
    weights (a hub id or a local folder). Raises UserError for a backend that cannot be had."""
    backend: VqaBackend
    if name == "mplug":
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
