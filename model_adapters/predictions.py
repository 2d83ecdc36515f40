"""The `predictions` adapter: replays saved outputs so they can be scored again without a model.

`--model predictions --model-args path=FILE.jsonl`: one JSON object per line with `output` and
either `id` (the task's sample id) or `row` (0-based position of the sample in the loaded split).
A `<task>.samples.jsonl` file written by a run is such a file. `{task}` in the path is replaced by
the task's name, so one argument serves several tasks; a `*` in the file name matches one file.

lmms-eval's `--log_samples` files (`<date>_samples_<task>.jsonl`) are read too: a line with `doc_id` and
`filtered_resps` serves row `doc_id` with the model's raw answer (`resps` when lmms-eval's filters changed
it, else `filtered_resps`), so a run made in lmms-eval is scored by our tasks.
"""

from __future__ import annotations

import glob
import json
from pathlib import Path
from typing import Any, Sequence

from janus_eval.api import (
    ImageOutput,
    ImageRequest,
    ModelAdapter,
    ModelSpec,
    SampleError,
    TextOutput,
    TextRequest,
)
from janus_eval.data.hashing import file_sha256
from janus_eval.data.image_io import decode_image
from janus_eval.errors import UserError
from janus_eval.registry import register_model


class _SavedOutputs:
    """The outputs of one file, by sample id and by row."""

    def __init__(self, path: Path, task: str) -> None:
        self.path = path
        self.by_id: dict[str, Any] = {}
        self.by_row: dict[int, Any] = {}
        with path.open("rb") as handle:
            for number, raw in enumerate(handle, start=1):
                try:
                    line = raw.decode("utf-8")
                except UnicodeDecodeError:
                    raise UserError(f"{path}:{number}: not UTF-8 text (a torn write, or not a predictions file)") from None
                if not line.strip():
                    continue
                try:
                    entry = json.loads(line)
                except json.JSONDecodeError:
                    raise UserError(f"{path}:{number}: not a JSON object") from None
                if isinstance(entry, dict) and "output" not in entry and "doc_id" in entry:
                    entry = _lmms_eval_entry(entry, f"{path}:{number}")
                if not isinstance(entry, dict) or "output" not in entry or ("id" not in entry and "row" not in entry):
                    raise UserError(f"{path}:{number}: each line needs `output` and `id` or `row`")
                if entry.get("task", task) != task or entry["output"] is None:
                    continue
                if "id" in entry:
                    self.by_id[str(entry["id"])] = entry["output"]
                if "row" in entry:
                    if not isinstance(entry["row"], int) or isinstance(entry["row"], bool):
                        raise UserError(f"{path}:{number}: `row` must be an integer, got {entry['row']!r}")
                    self.by_row[entry["row"]] = entry["output"]

    def lookup(self, task: str, sample_id: str, row: int) -> Any:
        if sample_id in self.by_id:
            return self.by_id[sample_id]
        if row in self.by_row:
            return self.by_row[row]
        raise UserError(
            f"{self.path} has no saved output for sample {sample_id!r} (row {row}) of task {task!r}"
        )


def _lmms_eval_entry(entry: dict[str, Any], where: str) -> dict[str, Any]:
    """A line of lmms-eval's `--log_samples` file as a predictions line: row `doc_id`, the raw answer.

    lmms-eval keeps `resps` (the model's answer) only where its filters changed it into `filtered_resps`;
    single answers are unwrapped from their lists.
    """
    if "resps" not in entry and "filtered_resps" not in entry:
        raise UserError(f"{where}: an lmms-eval sample line needs `resps` or `filtered_resps` beside `doc_id`")
    answer = entry.get("resps", entry.get("filtered_resps"))
    while isinstance(answer, list) and len(answer) == 1:
        answer = answer[0]
    if not isinstance(answer, str):
        raise UserError(f"{where}: the lmms-eval answer is {type(answer).__name__}, expected one text")
    return {"row": entry["doc_id"], "output": answer}


def _expand(path: Path) -> Path:
    """The one file a `*` pattern in the path names (lmms-eval prefixes its files with the run's date)."""
    if "*" not in str(path):
        return path
    matches = sorted(glob.glob(str(path)))
    if len(matches) != 1:
        found = ", ".join(matches) if matches else "none"
        raise UserError(f"predictions path {path} must match exactly one file (found: {found}); name the file")
    return Path(matches[0])


@register_model()
class PredictionsAdapter(ModelAdapter):
    """Replays outputs saved in a JSON-lines file (text, or image paths relative to that file)."""

    name = "predictions"
    version = 1
    supports = frozenset({"text", "image"})
    description = "replay saved outputs: --model-args path=FILE.jsonl (`{task}` in FILE is replaced by the task name)"

    def __init__(self, path_template: str, label: str, published_as: str | None = None) -> None:
        self.path_template = path_template
        self._label = label
        self._published_as = published_as
        self._files: dict[str, _SavedOutputs] = {}

    @classmethod
    def from_spec(cls, spec: ModelSpec) -> "PredictionsAdapter":
        unknown = set(spec.args) - {"path", "label", "published_as"}
        if unknown:
            raise UserError(f"unknown --model-args for predictions: {', '.join(sorted(unknown))} (takes path, label)")
        if "path" not in spec.args:
            raise UserError("--model predictions needs --model-args path=FILE.jsonl")
        return cls(spec.args["path"], spec.args.get("label", "predictions"), spec.args.get("published_as"))

    @property
    def label(self) -> str:
        return self._label

    @property
    def reference_key(self) -> str | None:
        """Saved outputs of a published model can be compared with its numbers (--published-as)."""
        return self._published_as

    def _path(self, task: str) -> Path:
        return _expand(Path(self.path_template.replace("{task}", task)).expanduser()).resolve()

    def _outputs(self, task: str) -> _SavedOutputs:
        if task not in self._files:
            path = self._path(task)
            if not path.is_file():
                raise UserError(f"predictions file {path} does not exist")
            self._files[task] = _SavedOutputs(path, task)
        return self._files[task]

    def identity(self) -> dict[str, Any]:
        return {"adapter": self.name, "path": self.path_template}

    def task_identity(self, task: str) -> dict[str, Any]:
        """The file's path and checksum; also reads the file now, before the run touches its output folder
        (replaying a run's own `<task>.samples.jsonl` under the same label moves that file aside)."""
        saved = self._outputs(task)
        return {"path": str(saved.path), "sha256": file_sha256(saved.path)}

    def generate_text(self, requests: Sequence[TextRequest]) -> list[TextOutput]:
        outputs = []
        for request in requests:
            saved = self._outputs(request.task).lookup(request.task, request.sample_id, request.index)
            if not isinstance(saved, str):
                raise UserError(f"saved output of sample {request.sample_id!r} of task {request.task!r} is not text")
            outputs.append(TextOutput(saved))
        return outputs

    def generate_images(self, requests: Sequence[ImageRequest]) -> list[ImageOutput]:
        outputs = []
        for request in requests:
            saved_file = self._outputs(request.task)
            saved = saved_file.lookup(request.task, request.sample_id, request.index)
            if not isinstance(saved, list):
                raise UserError(f"saved output of sample {request.sample_id!r} of task {request.task!r} is not a list of image paths")
            images = []
            for relative in saved:
                path = saved_file.path.parent / relative
                try:
                    images.append(decode_image(str(path), what=f"saved image {path}"))
                except SampleError as exc:
                    raise UserError(str(exc)) from None
            outputs.append(ImageOutput(images))
        return outputs
