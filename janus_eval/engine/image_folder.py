"""Generated images on disk: GenEval's official folder layout, one generation configuration per folder.

`<task>_images/<index:05d>/samples/<n:05d>.png`, with the task's extra files (GenEval's `metadata.jsonl`)
beside `samples/`, so an official evaluator can score the folder as it is. A task that lays out its own files
(`Task.image_files`: DPG-Bench's `<item_id>.png` grids) has them saved and recorded the same way.
"""

from __future__ import annotations

import json
import logging
from pathlib import Path
from typing import Any

from PIL import Image

from janus_eval.api import ImageOutput, Output, Request, Sample, SampleError, Task, TextOutput
from janus_eval.data.file_writes import write_atomically, writing
from janus_eval.data.hashing import file_sha256
from janus_eval.data.image_io import decode_image
from janus_eval.reports.sample_records import SampleRecord

log = logging.getLogger(__name__)

IMAGES_MARKER = ".janus-eval-images.json"


def save_output(output: Output, sample: Sample, images_dir: Path, task: Task) -> tuple[Any, list[str] | None]:
    """The output as recorded: text stays text; images are saved as PNG in GenEval's folder layout and
    recorded by path relative to the model folder, with the sha256 of each file."""
    if isinstance(output, TextOutput):
        return output.text, None
    if isinstance(output, ImageOutput):
        files = task.image_files(sample, output.images)
        if files is not None:  # the task's own layout (DPG-Bench: one 2x2 grid per prompt)
            return _save_task_files(files, images_dir)
        folder = images_dir / f"{sample.index:05d}" / "samples"
        paths, digests = [], []
        with writing(f"the images of sample {sample.id!r}", folder):
            folder.mkdir(parents=True, exist_ok=True)
            for name, text in task.image_folder_files(sample).items():
                (folder.parent / name).write_text(text, encoding="utf-8")
            for number, image in enumerate(output.images):
                path = folder / f"{number:05d}.png"
                image.save(path, format="PNG")
                paths.append(str(path.relative_to(images_dir.parent)))
                digests.append(file_sha256(path))
        for stale in folder.glob("*.png"):  # an earlier attempt's extra images must not be scored with these
            if str(stale.relative_to(images_dir.parent)) not in paths:
                stale.unlink()
        return paths, digests
    raise TypeError(f"unknown output type {type(output).__name__}")


def _save_task_files(files: dict[str, Image.Image], images_dir: Path) -> tuple[list[str], list[str]]:
    """Saves the images a task laid out itself (relative paths inside `images_dir`), recorded like GenEval's."""
    paths, digests = [], []
    for relative, image in files.items():
        path = images_dir / relative
        if images_dir.resolve() not in path.resolve().parents:
            raise ValueError(f"image path {relative!r} leaves {images_dir}")
        path.parent.mkdir(parents=True, exist_ok=True)
        image.save(path, format="PNG")
        paths.append(str(path.relative_to(images_dir.parent)))
        digests.append(file_sha256(path))
    return paths, digests


def claim_images_dir(images_dir: Path, key: str) -> None:
    """Makes `images_dir` hold only images of the generation configuration `key`.

    The folder is GenEval's official layout, which an evaluator scores as a whole: images of another
    configuration (model, data, seed or generation options) are moved aside to `<dir>.<key12>`, and
    moved back when that configuration runs again, so its recorded outputs stay valid.
    """
    marker = images_dir / IMAGES_MARKER
    current = None
    if marker.is_file():
        try:
            current = json.loads(marker.read_text(encoding="utf-8")).get("key")
        except (OSError, ValueError):
            current = None
    if current == key:
        return
    with writing(f"the image folder {images_dir.name}", images_dir):
        if images_dir.exists() and any(images_dir.iterdir()):
            aside = images_dir.with_name(f"{images_dir.name}.{(current or 'unmarked')[:12]}")
            counter = 1
            while aside.exists():
                aside = images_dir.with_name(f"{images_dir.name}.{(current or 'unmarked')[:12]}.{counter}")
                counter += 1
            images_dir.rename(aside)
            log.info("moved the images of another generation configuration aside to %s", aside)
        earlier = images_dir.with_name(f"{images_dir.name}.{key[:12]}")
        if earlier.is_dir() and not (images_dir.exists() and any(images_dir.iterdir())):
            if images_dir.exists():  # left empty by a switch that could not finish (a full disk)
                images_dir.rmdir()
            earlier.rename(images_dir)
        images_dir.mkdir(parents=True, exist_ok=True)
    # whole or not at all: a torn marker would have the next run move these images aside as unmarked
    write_atomically(marker, json.dumps({"key": key}) + "\n", f"the image folder marker of {images_dir.name}")


def recorded_output(record: SampleRecord, request: Request, model_dir: Path) -> Output | None:
    """The output of an earlier record, if it answered exactly this request and (images) its files are intact."""
    if record.request != request.log_view():
        return None
    if request.kind == "text":
        return TextOutput(record.output) if isinstance(record.output, str) else None
    paths = record.output
    if not isinstance(paths, list) or record.output_sha256 is None or len(record.output_sha256) != len(paths):
        return None
    images = []
    for relative, digest in zip(paths, record.output_sha256):
        path = model_dir / relative
        if not path.is_file() or file_sha256(path) != digest:
            return None  # overwritten by another generation configuration since
        try:
            images.append(decode_image(str(path), what=f"saved image {path}"))
        except SampleError:
            return None
    return ImageOutput(images)
