"""COCO-30K FID: images generated from 30,000 sampled COCO 2014 val captions against the val2014 images.

The default protocol is GigaGAN's (mingukkang/GigaGAN b2d3716, `evaluation/scripts/evaluate_GigaGAN_t2i_coco256.sh`),
which JanusFlow names for its FID: clean-fid's Inception features, both sides centre-cropped and LANCZOS-resized
to 256, the reference being all 40,504 val2014 images. The Janus paper (Tab. 4, COCO-30K 8.53) does not state
its protocol.
"""

from __future__ import annotations

import json
import zipfile
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any, ClassVar

from janus_eval.tasks.frechet_task import FrechetTask, seeded_choice
from PIL import Image

from janus_eval.api import FileSource, RemoteFile, Sample
from janus_eval.data.demo_images import demo_image
from janus_eval.data.image_io import decode_image
from janus_eval.errors import UserError
from janus_eval.registry import register_task
from janus_eval.rules.fid_metric import OVERALL
from janus_eval.scorers.fid_reference import ReferenceFolder, flat_reference

# sha256 and size as recorded by TensorFlow Datasets (tensorflow_datasets/url_checksums/coco.txt)
ANNOTATIONS_FILE = RemoteFile(
    name="annotations_trainval2014.zip",
    url="http://images.cocodataset.org/annotations/annotations_trainval2014.zip",
    sha256="031296bbc80c45a1d1f76bf9a90ead27e94e99ec629208449507a4917a3bf009",
)
CAPTIONS_MEMBER = "annotations/captions_val2014.json"
VAL2014_URL = "http://images.cocodataset.org/zips/val2014.zip"
VAL2014_SHA256 = "fe9be816052049c34717e077d9e34aa60814a55679f804cd043e3cbee3b9fde0"
VAL2014_IMAGES = 40_504


def rows_from_captions(data: Mapping[str, Any], where: str) -> list[dict[str, Any]]:
    """One row per val2014 image: its id, file name and captions (sorted by annotation id).

    Raises:
        UserError: the file is not a COCO captions file (images and annotations lists).
    """
    try:
        images = {int(image["id"]): str(image["file_name"]) for image in data["images"]}
        captions: dict[int, list[dict[str, Any]]] = {image_id: [] for image_id in images}
        for annotation in data["annotations"]:
            captions[int(annotation["image_id"])].append(
                {"id": int(annotation["id"]), "caption": str(annotation["caption"])}
            )
    except (KeyError, TypeError, ValueError) as exc:
        raise UserError(
            f"{where} is not a COCO captions file (images, annotations with image_id and caption): {exc!r}"
        ) from None
    return [
        {"image_id": image_id, "file_name": images[image_id], "captions": sorted(found, key=lambda c: c["id"])}
        for image_id, found in sorted(captions.items())
        if found
    ]


@register_task
class CocoFidTask(FrechetTask):
    """COCO-30K FID under the GigaGAN protocol."""

    name = "coco_fid"
    version = 1
    description = "COCO-30K FID: 30k sampled COCO 2014 val captions, clean-fid Inception vs val2014 (GigaGAN protocol)"
    published: ClassVar[dict[str, float]] = {"janus-1.3b": 8.53}
    published_source = "COCO-30K FID: Janus Tab. 4 (arXiv 2410.13848); its FID protocol is not stated"
    paper_settings: ClassVar[dict[str, tuple[float, float]]] = {"janus-1.3b": (5.0, 1.0)}
    paper_reference_images = VAL2014_IMAGES

    def data_source(self) -> FileSource:
        return FileSource(files=(ANNOTATIONS_FILE,), columns=("image_id", "file_name", "captions"))

    def rows_from_files(self, paths: Mapping[str, Path]) -> list[dict[str, Any]]:
        path = paths[ANNOTATIONS_FILE.name]
        try:
            with zipfile.ZipFile(path) as archive, archive.open(CAPTIONS_MEMBER) as member:
                data = json.load(member)
        except (OSError, KeyError, zipfile.BadZipFile, json.JSONDecodeError) as exc:
            raise UserError(f"cannot read {CAPTIONS_MEMBER} from {path}: {exc}") from None
        return rows_from_captions(data, f"{path}:{CAPTIONS_MEMBER}")

    def samples(self, rows: Sequence[Mapping[str, Any]]) -> list[Sample]:
        """`num_images` images in the seeded order, one of each image's captions chosen by the same seed; the
        sample id is the COCO image id."""
        items = []
        for row in rows:
            image_id = str(row["image_id"])
            captions = list(row["captions"])
            chosen = captions[seeded_choice(image_id, self.options.sample_seed, len(captions))]
            meta = {"image_id": row["image_id"], "file_name": row["file_name"], "caption_id": chosen["id"]}
            items.append((image_id, str(chosen["caption"]).strip(), meta))
        return self.ordered_samples(items)

    def reference_folder(self, root: Path) -> ReferenceFolder:
        return flat_reference(root, what=f"{self.name} reference folder")

    def missing_reference(self) -> str:
        return (
            f"{self.name} needs its reference images: --task-option {self.name}.reference=DIR with all {VAL2014_IMAGES:,} "
            f"COCO val2014 images (download {VAL2014_URL}, sha256 {VAL2014_SHA256}, and unzip it), or "
            f"{self.name}.reference_stats=FILE.npz with statistics janus-eval computed from them"
        )

    def reference_card(self) -> dict[str, Any]:
        return {
            "set": f"COCO 2014 val images ({VAL2014_URL}): all {VAL2014_IMAGES:,}, as GigaGAN's script (not a 30K subset)",
            "expected_count": VAL2014_IMAGES,
        }

    def protocol_card(self) -> dict[str, Any]:
        card = self.frechet_card()
        return {
            "task": self.name,
            "dataset": {
                **self.data_source().describe(),
                "member": CAPTIONS_MEMBER,
                "captions": "one caption per sampled image: the seeded choice among the image's captions (sorted by "
                "annotation id), whitespace stripped",
            },
            **card,
            "deviations": [
                "the Janus paper does not state its COCO-30K protocol (caption sampling, resolution, reference set, "
                "FID library); this is GigaGAN's clean-fid protocol, which JanusFlow follows for MJHQ-30K",
                "GigaGAN generates from the captions of its own captions.txt (not published with the protocol); these "
                "30,000 images and captions are a seeded sample of val2014 (sha256 order), one caption per image",
            ],
            "options": self.options.model_dump(),
        }

    def demo_rows(self) -> list[dict[str, Any]]:
        """Eight images with one or two captions each, in the captions file's schema."""
        captions = [
            ["a red circle on a white background", "a round red shape"], ["a blue square and a yellow circle"],
            ["a green triangle next to a red square"], ["an orange circle above green grass", "a sun over a field"],
            ["two purple squares"], ["a black triangle on grey"], ["a white circle on a blue background"],
            ["a yellow square beside a blue triangle", "two shapes side by side"],
        ]  # fmt: skip
        rows, annotation = [], 1
        for number, texts in enumerate(captions):
            found = []
            for text in texts:
                found.append({"id": annotation, "caption": text})
                annotation += 1
            rows.append(
                {"image_id": 1000 + number, "file_name": f"COCO_val2014_{1000 + number:012d}.jpg", "captions": found}
            )
        return rows

    def demo_reference_images(self) -> dict[str, list[Image.Image]]:
        """Ten drawn pictures of coloured shapes (the demo's stand-in for val2014)."""
        shapes = [
            ("circle", "red"),
            ("square", "blue"),
            ("triangle", "green"),
            ("circle", "orange"),
            ("square", "purple"),
        ]
        backgrounds = ["white", "lightgrey"]
        pictures = [
            decode_image(demo_image([shape, shapes[(i + 2) % len(shapes)]], background=backgrounds[i % 2]))
            for i, shape in enumerate(shapes * 2)
        ]
        return {OVERALL: pictures}
