"""What the FID tasks (COCO-30K, MJHQ-30K) share: options, seeded sampling, requests, streaming features, the
reference statistics, the metric and most of the protocol card.

Each generated image's features are extracted as its batch finishes (`score_batch`) and kept in a binary
sidecar next to its PNG (`features.<config>.npy`, its sha256 in the sample's record); the metric folds them
into running sums (n, Σx, Σxxᵀ) one sample at a time, so memory stays constant in the number of images and
a resumed or sharded run extracts nothing twice.
"""

from __future__ import annotations

import hashlib
from abc import abstractmethod
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any, ClassVar, Literal

from PIL import Image
from pydantic import ConfigDict, Field, field_validator

from janus_eval.api import (
    ImageOutput,
    ImageRequest,
    Output,
    Sample,
    SampleError,
    SampleScore,
    Task,
    TaskOptions,
    image_seeds,
)
from janus_eval.data.cache import cache_root, ensure_built
from janus_eval.data.sidecars import ArraySidecar
from janus_eval.errors import UserError
from janus_eval.prompts.image_requests import CFG_WEIGHT_HELP, cfg_weight_card
from janus_eval.rules.fid_metric import FrechetMetric
from janus_eval.scorers.device import scorer_device
from janus_eval.scorers.fid_features import FEATURE_BATCH_SIZE, FeatureExtractor, build_feature_extractor
from janus_eval.scorers.fid_preprocess import FidPreprocessing
from janus_eval.scorers.fid_reference import LoadedReference, ReferenceFolder, file_statistics, folder_statistics

# the papers' image count: FID is biased upward at small N, so only runs of this many images meet them
PAPER_IMAGES = 30_000
DEMO_REFERENCE_VERSION = 1


class FeatureScore(SampleScore):
    """A generated image's feature vector (kept in a sidecar file beside its PNG; None for a failed sample). It
    has no per-sample scale: FID is a distance between two distributions, not a mean of sample scores."""

    model_config = ConfigDict(extra="forbid", arbitrary_types_allowed=True)

    features: Any = None


class FrechetOptions(TaskOptions):
    """FID options: sampling, generation, the feature protocol, the reference, then scorer resources."""

    num_images: int = Field(default=PAPER_IMAGES, ge=2, description="captions sampled, one image each (papers: 30,000)")
    sample_seed: int = Field(default=0, description="seed of the caption sample and its order")
    cfg_weight: float | None = Field(default=None, ge=0, description=CFG_WEIGHT_HELP)
    temperature: float = Field(default=1.0, ge=0, description="sampling temperature of image tokens (Janus: 1)")
    eval_res: int | None = Field(default=256, ge=8, description="GigaGAN's LANCZOS evaluation resolution (None: skip)")
    center_crop: bool = Field(default=True, description="centre crop to the short side first (GigaGAN)")
    mode: Literal["clean", "legacy_tensorflow"] = Field(default="clean", description="clean-fid's resize mode")
    feature_extractor: Literal["auto", "inception", "tiny"] = Field(
        default="auto",
        description="feature network: clean-fid's Inception, or a tiny random one; auto = tiny on demo rows",
    )
    inception_weights: str | None = Field(default=None, description="local inception-2015-12-05.pt (TorchScript)")
    reference: str | None = Field(default=None, description="folder of the real reference images")
    reference_stats: str | None = Field(
        default=None, description="precomputed reference statistics (.npz of janus-eval)"
    )
    feature_batch_size: int = Field(default=FEATURE_BATCH_SIZE, ge=1, description="images per feature forward pass")
    feature_workers: int | None = Field(default=None, ge=0, description="reference decoding processes (None: auto)")
    scorer_device: str = Field(default="auto", description="device of the feature network (auto: the local GPU)")

    @field_validator("eval_res", "feature_workers", "inception_weights", "reference", "reference_stats", mode="before")
    @classmethod
    def _none_from_the_command_line(cls, value: Any) -> Any:
        """`--task-option coco_fid.eval_res=none` (or null, or empty) unsets an optional value."""
        return None if isinstance(value, str) and value.strip().lower() in ("", "none", "null") else value


def seeded_order(keys: Sequence[str], seed: int) -> list[int]:
    """Positions of `keys` ordered by sha256(seed, key): a seeded random order that any tool can reproduce and
    whose every prefix is itself a seeded random sample (so `--limit N` takes a random N)."""
    return sorted(range(len(keys)), key=lambda i: hashlib.sha256(f"{seed}\x00{keys[i]}".encode()).hexdigest())


def seeded_choice(key: str, seed: int, count: int) -> int:
    """A seeded choice among `count` items, from sha256(seed, key, "choice")."""
    return int(hashlib.sha256(f"{seed}\x00{key}\x00choice".encode()).hexdigest(), 16) % count


class FrechetTask(Task):
    """A text-to-image FID benchmark: one image per sampled caption, features streamed, FID against a reference."""

    request_kind = "image"
    higher_is_better = False
    Options: ClassVar[type[TaskOptions]] = FrechetOptions
    Score: ClassVar[type[SampleScore]] = FeatureScore
    # the published numbers' sampling settings, per reference key: (cfg_weight, temperature)
    paper_settings: ClassVar[dict[str, tuple[float, float]]] = {}
    # the reference set the papers' numbers used, in images (COCO: all of val2014)
    paper_reference_images: ClassVar[int] = 0
    # `sample.meta` key of the groups with their own FID (MJHQ's categories), or None
    group_key: ClassVar[str | None] = None
    comparable_options = frozenset(
        {"sample_seed", "cfg_weight", "temperature", "feature_extractor", "inception_weights", "reference",
         "reference_stats", "feature_batch_size", "feature_workers", "scorer_device"}
    )  # fmt: skip

    options: FrechetOptions

    def __init__(self, options: TaskOptions | None = None, seed: int = 0, demo: bool = False) -> None:
        super().__init__(options, seed=seed, demo=demo)
        self._extractor: FeatureExtractor | None = None
        self._reference: LoadedReference | None = None

    @property
    def headline(self) -> str:
        return "fid"

    # ------------------------------------------------------------------------- what the tasks define

    @abstractmethod
    def reference_folder(self, root: Path) -> ReferenceFolder:
        """The reference set in a folder of real images, grouped as the task groups its samples."""

    @abstractmethod
    def demo_reference_images(self) -> dict[str, list[Image.Image]]:
        """A few synthetic reference images per group for `--data demo` (drawn in code)."""

    @abstractmethod
    def missing_reference(self) -> str:
        """What to pass when no reference is given (the UserError's message)."""

    @abstractmethod
    def reference_card(self) -> dict[str, Any]:
        """The reference part of the protocol card (what the papers' reference set is)."""

    # ------------------------------------------------------------------------- samples and requests

    def ordered_samples(self, items: Sequence[tuple[str, str, dict[str, Any]]]) -> list[Sample]:
        """Samples of (id, prompt, meta) items in the seeded order, the first `num_images` of them."""
        order = seeded_order([item[0] for item in items], self.options.sample_seed)[: self.options.num_images]
        samples = []
        for index, position in enumerate(order):
            sample_id, prompt, meta = items[position]
            samples.append(Sample(id=sample_id, index=index, target=None, meta={**meta, "prompt": prompt}))
        return samples

    def build_request(self, sample: Sample) -> ImageRequest:
        prompt = sample.meta.get("prompt")
        if not isinstance(prompt, str) or not prompt.strip():
            raise SampleError(f"sample {sample.id} has no caption")
        return ImageRequest(
            task=self.name,
            sample_id=sample.id,
            index=sample.index,
            prompt=prompt,
            # keyed by the sample, not the caption: two images with equal captions still get their own seed
            seeds=image_seeds(self.seed, sample.id, 1),
            cfg_weight=self.options.cfg_weight,
            temperature=self.options.temperature,
        )

    def image_generation_key(self) -> dict[str, Any]:
        """Only these options change the images (and which sample sits in which folder); the feature protocol
        and the reference do not (changing them re-extracts features from the saved images)."""
        options = self.options
        return {
            "cfg_weight": options.cfg_weight,
            "temperature": options.temperature,
            "sample_seed": options.sample_seed,
        }

    # ------------------------------------------------------------------------- features

    @property
    def extractor_name(self) -> Literal["inception", "tiny"]:
        """The feature network (`auto` resolved: tiny on the demo rows, else clean-fid's Inception)."""
        if self.options.feature_extractor == "auto":
            return "tiny" if self.demo else "inception"
        return self.options.feature_extractor

    def preprocessing(self) -> FidPreprocessing:
        return FidPreprocessing(
            mode=self.options.mode, eval_res=self.options.eval_res, center_crop=self.options.center_crop
        )

    def extractor(self) -> FeatureExtractor:
        """The feature network, built on first use (UserError when the Inception weights cannot be had)."""
        if self._extractor is None:
            if self.options.feature_extractor == "auto" and self.demo and self.options.inception_weights is not None:
                raise UserError(
                    f"on the built-in demo rows {self.name}.feature_extractor=auto uses the tiny random network; set "
                    f"--task-option {self.name}.feature_extractor=inception to use {self.name}.inception_weights"
                )
            self._extractor = build_feature_extractor(
                self.extractor_name,
                self.options.inception_weights,
                self.preprocessing(),
                scorer_device(self.options.scorer_device),
                self.options.feature_batch_size,
                option=f"{self.name}.inception_weights",
            )
        return self._extractor

    def score(self, sample: Sample, output: Output | None) -> dict[str, Any]:
        return self.score_batch([sample], [output])[0]

    def score_batch(self, samples: Sequence[Sample], outputs: Sequence[Output | None]) -> list[dict[str, Any]]:
        """The features of every image of the batch in `feature_batch_size` forward passes.

        Score: {"features": the image's feature vector as a sidecar array}; a failed sample has None.
        """
        images: list[tuple[int, Image.Image]] = []
        for position, output in enumerate(outputs):
            if output is None:
                continue
            if not isinstance(output, ImageOutput) or len(output.images) != 1:
                raise TypeError(f"{self.name} scores one generated image per sample, got {output!r}")
            images.append((position, output.images[0]))
        scores: list[dict[str, Any]] = [{"features": None} for _ in samples]
        if images:
            features = self.extractor().features([image for _, image in images])
            for (position, _), row in zip(images, features):
                scores[position] = {"features": ArraySidecar(row)}
        return scores

    # ------------------------------------------------------------------------- reference

    def demo_reference_dir(self) -> Path:
        """The demo reference images written once into the cache (read back like any reference folder)."""
        target = cache_root() / "data" / f"{self.name}-demo-reference-v{DEMO_REFERENCE_VERSION}"

        def build(folder: Path) -> None:
            for group, pictures in self.demo_reference_images().items():
                (folder / group).mkdir(parents=True, exist_ok=True)
                for number, picture in enumerate(pictures):
                    picture.save(folder / group / f"{number:03d}.png", format="PNG")
            (folder / "DEMO.txt").write_text("synthetic demo reference images drawn by janus-eval\n")

        return ensure_built(target, build, marker="DEMO.txt")

    def reference(self) -> LoadedReference:
        """The reference statistics: a given statistics file (checked against the protocol and, with a folder,
        its fingerprint), else those of the reference folder (cached), else the demo's; built on first use."""
        if self._reference is None:
            options = self.options
            folder = None
            if options.reference is not None:
                folder = self.reference_folder(Path(options.reference).expanduser())
            elif self.demo and options.reference_stats is None:
                folder = self.reference_folder(self.demo_reference_dir())
            if options.reference_stats is not None:
                self._reference = file_statistics(Path(options.reference_stats).expanduser(), self.extractor(), folder)
            elif folder is not None:
                self._reference = folder_statistics(folder, self.extractor(), options.feature_workers)
            else:
                raise UserError(self.missing_reference())
        return self._reference

    def new_metric(self) -> FrechetMetric:
        return FrechetMetric(lambda: self.reference().statistics, group_key=self.group_key)

    def scorer_info(self) -> dict[str, Any]:
        """The feature network and the reference set's identity (fingerprint, counts): what the FID depends on."""
        extractor, reference = self.extractor(), self.reference()
        info = reference.info
        return {
            "feature_extractor": extractor.describe(),
            "reference": {key: info[key] for key in ("source", "fingerprint", "groups", "count")},
        }

    # ------------------------------------------------------------------------- comparison with the papers

    def published_numbers(self) -> dict[str, float]:
        """Numbers whose paper settings (CFG, temperature) are this run's, with clean-fid's Inception and the
        papers' reference set; none for the tiny network."""
        if self.extractor_name == "tiny" or self.reference().info["count"] != self.paper_reference_images:
            return {}
        def paper_settings_hold(key: str) -> bool:
            if key not in self.paper_settings:
                return False
            cfg_weight, temperature = self.paper_settings[key]
            # an unset weight is the model's own paper setting, which its adapter applies
            return self.options.cfg_weight in (None, cfg_weight) and self.options.temperature == temperature

        return {key: value for key, value in self.published.items() if paper_settings_hold(key)}

    def result_notes(self, metrics: Mapping[str, float | None]) -> list[str]:
        notes = []
        count = int(metrics.get("num_images") or 0)
        if count < PAPER_IMAGES:
            notes.append(
                f"FID over {count} generated images: FID is biased upward at small N (the papers use {PAPER_IMAGES:,}); "
                "compare it only with runs of the same N, never with the published numbers"
            )
        reference = self.reference().info
        if reference["count"] != self.paper_reference_images and self.paper_reference_images:
            notes.append(
                f"the reference set has {reference['count']} images; the papers' protocol uses "
                f"{self.paper_reference_images:,}: not comparable with the published numbers"
            )
        if self.extractor_name == "tiny":
            notes.append("features of the tiny random network (demo): the FID measures nothing")
        return notes

    # ------------------------------------------------------------------------- protocol card

    def frechet_card(self) -> dict[str, Any]:
        """The protocol card parts every FID task shares."""
        options = self.options
        reference = self.reference()
        return {
            "sampling": {
                "num_images": options.num_images,
                "sample_seed": options.sample_seed,
                "order": "sha256(sample_seed, id) ascending; the first num_images (every prefix is a seeded sample)",
            },
            "generation": {
                "images_per_prompt": 1,
                "cfg_weight": cfg_weight_card(options.cfg_weight),
                "temperature": options.temperature,
                "top_k": None,
                "top_p": None,
                "seeds": "per image: sha256(base seed, sample id, 0) -> 63-bit seed (--seed sets the base)",
                "image_size": "the model's native size (Janus: 384x384), saved as PNG without resizing",
                "layout": "<task>_images/<index:05d>/samples/00000.png, features beside it in features.<config>.npy",
            },
            "features": {
                "extractor": self.extractor_name,
                "network": "clean-fid's TorchScript Inception (inception-2015-12-05.pt), 2048 pool features"
                if self.extractor_name == "inception"
                else "tiny random TorchScript network (demo and tests)",
                "preprocessing": self.preprocessing().describe(),
                "applied_to": "generated and reference images alike (GigaGAN)",
            },
            "reference": {
                **self.reference_card(),
                "source": reference.info["source"],
                "fingerprint": reference.info["fingerprint"],
                "groups": reference.info["groups"],
                "count": reference.info["count"],
                "notes": f"statistics file {reference.info['statistics_file']}; images from {reference.info['images_from']}",
            },
            "published_settings": {
                key: {"cfg_weight": cfg, "temperature": temperature, "published": self.published.get(key)}
                for key, (cfg, temperature) in self.paper_settings.items()
            },
            "metrics": {
                "fid": "Fréchet distance of Inception features, generated vs reference (headline; lower is better)",
                "num_images": "generated images in the FID",
                "num_reference": "reference images in the statistics",
                "statistics": "running sums n, Σx, Σxxᵀ in float64; covariance with n - 1 (np.cov); "
                "tr((Σ₁Σ₂)^½) from the eigenvalues of Σ₁^½Σ₂Σ₁^½ (matches clean-fid's sqrtm to 1e-6 relative)",
            },
        }
