"""The input images of recorded samples, read again from the task's data (records keep only their digests).

The report shows a thumbnail next to each understanding failure. The data are loaded as the run loaded
them (demo rows, a local folder, the hub cache), checked against the result's data fingerprint, and each
sample's request is rebuilt; an image is used only when its digest equals the recorded one.
"""

from __future__ import annotations

from pathlib import Path

from PIL import Image

from janus_eval.api import Sample, SampleError, Task, TextRequest, image_digest
from janus_eval.data.loading import load_task_data
from janus_eval.errors import UserError
from janus_eval.registry import TASKS
from janus_eval.reports.results import TaskResult
from janus_eval.reports.sample_records import SampleRecord


class SampleImages:
    """The images of a result's samples (those in `wanted`, or all) by sample id; `problem` says why there are none."""

    def __init__(self, result: TaskResult, data_dir: Path | None = None, wanted: set[str] | None = None) -> None:
        self.problem: str | None = None
        self._samples: dict[str, Sample] = {}
        self._task: Task | None = None
        task_cls = TASKS.get(result.task) if result.task in TASKS.names() else None
        if task_cls is None:
            self.problem = f"task {result.task!r} is not installed here"
            return
        origin = result.data.get("origin")
        task = task_cls(task_cls.Options.model_validate(result.options), demo=origin == "demo")
        try:
            if origin == "demo":
                data = load_task_data(task, "demo")
            elif origin == "local":
                data = load_task_data(task, "hub", data_dir or _data_dir_of(result))
            else:
                data = load_task_data(task, "hub", data_dir)
        except UserError as exc:
            self.problem = f"the data could not be read again ({exc})"
            return
        if data.fingerprint != result.data.get("fingerprint"):
            self.problem = "the data found now differ from the run's (fingerprint): no thumbnails"
            return
        self._task = task
        # the run held every sample too; only the wanted ones (with their undecoded images) are kept
        self._samples = {s.id: s for s in task.samples(data.rows) if wanted is None or s.id in wanted}

    def images(self, record: SampleRecord) -> list[Image.Image]:
        """The record's input images, in request order; none when they cannot be had or do not match."""
        sample = self._samples.get(record.id)
        if self._task is None or sample is None:
            return []
        try:
            request = self._task.build_request(sample)
        except (SampleError, UserError):
            return []
        if not isinstance(request, TextRequest):
            return []
        images = request.images
        recorded = (record.request or {}).get("images")
        if recorded is not None and recorded != [image_digest(image) for image in images]:
            return []
        return images


def _data_dir_of(result: TaskResult) -> Path | None:
    """The --data-dir of a local run: the folder above `<task>/` in the recorded location."""
    location = Path(str(result.data.get("location", "")).split(";")[0].strip())
    for folder in (location, *location.parents):
        if folder.name == result.task:
            return folder.parent
    return None
