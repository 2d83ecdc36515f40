"""MJHQ-30K FID: images generated from MJHQ-30K's 30,000 prompts against its Midjourney images, overall and per
category (10 categories x 3,000).

MJHQ-30K (playgroundai/MJHQ-30K, Playground v2.5, arXiv 2402.17245) ships `meta_data.json` (image id ->
{prompt, category}) and `mjhq30k_imgs.zip` (`<category>/<id>.jpg`). JanusFlow (arXiv 2411.07975 §4.3) computes
its FID "following the implementation from GigaGAN": the default protocol here (clean-fid Inception, centre
crop and LANCZOS to 256 on both sides).
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any, ClassVar

from janus_eval.tasks.frechet_task import FrechetTask
from PIL import Image

from janus_eval.api import FileSource, RemoteFile, Sample
from janus_eval.data.demo_images import demo_image
from janus_eval.data.image_io import decode_image
from janus_eval.errors import UserError
from janus_eval.registry import register_task
from janus_eval.scorers.fid_reference import ReferenceFolder, grouped_reference

MJHQ_REPO = "https://huggingface.co/datasets/playgroundai/MJHQ-30K"
# no primary source publishes a checksum of the metadata: the copy's sha256 is recorded as the data fingerprint
METADATA_FILE = RemoteFile(name="meta_data.json", url=f"{MJHQ_REPO}/resolve/main/meta_data.json", unpinned=True)
IMAGES_ARCHIVE = f"{MJHQ_REPO}/resolve/main/mjhq30k_imgs.zip"
MJHQ_CATEGORIES = ("animals", "art", "fashion", "food", "indoor", "landscape", "logo", "people", "plants", "vehicles")
MJHQ_IMAGES = 30_000
DEMO_CATEGORIES = ("animals", "food")


def rows_from_metadata(data: Any, where: str) -> list[dict[str, Any]]:
    """One row per image id (sorted): its prompt and category.

    Raises:
        UserError: not MJHQ's `{id: {"prompt", "category"}}` mapping, or a category outside MJHQ's 10.
    """
    if not isinstance(data, dict):
        raise UserError(f"{where} is not MJHQ-30K's metadata (a JSON object of image id -> prompt and category)")
    rows = []
    for image_id, entry in sorted(data.items()):
        if not isinstance(entry, dict) or not isinstance(entry.get("prompt"), str) or "category" not in entry:
            raise UserError(f"{where}: entry {image_id!r} lacks a prompt or a category")
        if entry["category"] not in MJHQ_CATEGORIES:
            raise UserError(
                f"{where}: entry {image_id!r} has category {entry['category']!r}; MJHQ's: {', '.join(MJHQ_CATEGORIES)}"
            )
        rows.append({"id": str(image_id), "prompt": entry["prompt"], "category": entry["category"]})
    return rows


@register_task
class MjhqFidTask(FrechetTask):
    """MJHQ-30K FID (overall and per category) under the GigaGAN protocol."""

    name = "mjhq_fid"
    version = 1
    description = "MJHQ-30K FID: its 30k prompts, clean-fid Inception vs its images, overall and per category"
    published: ClassVar[dict[str, float]] = {"janus-1.3b": 10.10, "janusflow-1.3b": 9.51}
    published_source = (
        "MJHQ-30K FID: Janus Tab. 4 (arXiv 2410.13848, protocol not stated); JanusFlow Tab. 4 (arXiv 2411.07975: "
        "CFG 2, 30 Euler steps, GigaGAN's implementation)"
    )
    # JanusFlow's 30 sampling steps are its adapter's default (no image-token temperature there)
    paper_settings: ClassVar[dict[str, tuple[float, float]]] = {"janus-1.3b": (5.0, 1.0), "janusflow-1.3b": (2.0, 1.0)}
    paper_reference_images = MJHQ_IMAGES
    group_key = "category"

    def data_source(self) -> FileSource:
        return FileSource(files=(METADATA_FILE,), columns=("id", "prompt", "category"))

    def rows_from_files(self, paths: Mapping[str, Path]) -> list[dict[str, Any]]:
        path = paths[METADATA_FILE.name]
        try:
            data = json.loads(path.read_text(encoding="utf-8"))
        except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
            raise UserError(f"cannot read {path}: {exc}") from None
        return rows_from_metadata(data, str(path))

    def samples(self, rows: Sequence[Mapping[str, Any]]) -> list[Sample]:
        """Every prompt (the first `num_images` in the seeded order); the sample id is MJHQ's image id."""
        return self.ordered_samples(
            [(str(row["id"]), str(row["prompt"]), {"category": row["category"]}) for row in rows]
        )

    def reference_groups(self) -> tuple[str, ...]:
        return DEMO_CATEGORIES if self.demo and self.options.reference is None else MJHQ_CATEGORIES

    def reference_folder(self, root: Path) -> ReferenceFolder:
        return grouped_reference(root, self.reference_groups(), what=f"{self.name} reference folder")

    def missing_reference(self) -> str:
        return (
            f"{self.name} needs its reference images: --task-option {self.name}.reference=DIR, the unzipped "
            f"{IMAGES_ARCHIVE} (DIR/<category>/<id>.jpg for its {len(MJHQ_CATEGORIES)} categories), or "
            f"{self.name}.reference_stats=FILE.npz with statistics janus-eval computed from them"
        )

    def reference_card(self) -> dict[str, Any]:
        return {
            "set": f"MJHQ-30K's images ({IMAGES_ARCHIVE}): {MJHQ_IMAGES:,}, {len(MJHQ_CATEGORIES)} categories x 3,000",
            "expected_count": MJHQ_IMAGES,
            "grouping": "by category sub-folder; per-category FID against that category's images",
        }

    def protocol_card(self) -> dict[str, Any]:
        card = self.frechet_card()
        card["metrics"]["fid_<category>"] = "FID of a category's generated images against its reference images"
        return {
            "task": self.name,
            "dataset": {
                **self.data_source().describe(),
                "prompts": "every prompt of meta_data.json, verbatim, one image each",
            },
            **card,
            "deviations": [
                "MJHQ-30K's card computes FID at 1024x1024; JanusFlow follows GigaGAN, whose evaluation resolution for "
                "MJHQ is not stated: eval_res=256 is GigaGAN's text-to-image default (UNVERIFIED for MJHQ)",
                "meta_data.json has no published checksum: the copy read is recorded by its sha256, not verified",
                "the Janus paper does not state its MJHQ-30K protocol; JanusFlow's 30 Euler steps belong to its adapter",
            ],
            "options": self.options.model_dump(),
        }

    def demo_rows(self) -> list[dict[str, Any]]:
        """Eight prompts of two categories, in the metadata's schema."""
        prompts = [
            ("animals", "a red fox in the snow"), ("animals", "a blue bird on a branch"),
            ("animals", "a green frog on a leaf"), ("animals", "an orange cat asleep"),
            ("food", "a bowl of red cherries"), ("food", "a yellow lemon tart"),
            ("food", "a plate of green salad"), ("food", "a purple plum on a table"),
        ]  # fmt: skip
        return [
            {"id": f"{number:040x}"[-12:], "prompt": prompt, "category": category}
            for number, (category, prompt) in enumerate(prompts, start=1)
        ]

    def demo_reference_images(self) -> dict[str, list[Image.Image]]:
        """Five drawn pictures per demo category (its stand-in for MJHQ's images)."""
        palette = {
            "animals": ["orange", "brown", "green", "blue", "red"],
            "food": ["red", "yellow", "green", "purple", "pink"],
        }
        kinds = ["circle", "square", "triangle", "circle", "square"]
        return {
            category: [
                decode_image(demo_image([(kind, colour)], background="white")) for kind, colour in zip(kinds, colours)
            ]
            for category, colours in palette.items()
        }
