"""The small types that tasks, adapters and the runner share.

Tasks never import adapters and adapters never import tasks: both speak only these types.
"""

from __future__ import annotations

import hashlib
from abc import ABC, abstractmethod
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, ClassVar, Literal, Mapping, Sequence, Union

from PIL import Image
from pydantic import BaseModel, ConfigDict

RequestKind = Literal["text", "image"]
Role = Literal["system", "user", "assistant"]
ContentPart = Union[str, Image.Image]


# ----------------------------------------------------------------------------- requests


@dataclass
class ChatMessage:
    """One chat turn; `content` is an ordered list of text pieces and PIL images.

    An adapter renders each image where it stands in the list (Janus: one `<image_placeholder>`).
    """

    role: Role
    content: list[ContentPart]

    @property
    def images(self) -> list[Image.Image]:
        return [part for part in self.content if isinstance(part, Image.Image)]

    @property
    def text(self) -> str:
        """The text of the turn with each image shown as `<image>` (for logs)."""
        return "".join(part if isinstance(part, str) else "<image>" for part in self.content)


@dataclass
class TextRequest:
    """Chat messages with images in, text out (understanding benchmarks).

    `messages` holds the whole conversation the protocol prescribes, including a system message
    when the protocol has one (an empty system prompt is simply no system message). Decoding is
    greedy when `temperature == 0`.
    """

    task: str
    sample_id: str
    index: int
    messages: list[ChatMessage]
    max_new_tokens: int
    temperature: float = 0.0

    kind: ClassVar[RequestKind] = "text"

    @property
    def images(self) -> list[Image.Image]:
        return [img for message in self.messages for img in message.images]

    @property
    def length_hint(self) -> int:
        """Rough prompt size used to sort requests into batches of similar length."""
        return sum(len(m.text) for m in self.messages) + 10_000 * len(self.images)

    def log_view(self) -> dict[str, Any]:
        """The request as recorded: texts with `<image>` markers, a digest of every image (in order), settings.

        Two requests with equal log views give the same output under one model, so a recorded output can
        be scored again under another scoring rule without running the model (see the runner).
        """
        return {
            "messages": [{"role": m.role, "content": m.text} for m in self.messages],
            "images": [image_digest(image) for image in self.images],
            "max_new_tokens": self.max_new_tokens,
            "temperature": self.temperature,
        }


def image_digest(image: Image.Image) -> str:
    """A short content digest of a decoded image (mode, size and pixels)."""
    digest = hashlib.sha256(f"{image.mode}:{image.size[0]}x{image.size[1]}:".encode())
    digest.update(image.tobytes())
    return digest.hexdigest()[:16]


@dataclass
class ImageRequest:
    """A prompt in, `len(seeds)` images out (generation benchmarks).

    One seed per image, derived from (base seed, prompt, image index) by `image_seeds`, so an
    image never depends on the batch it was generated in.
    """

    task: str
    sample_id: str
    index: int
    prompt: str
    seeds: list[int]
    # None: the model's own paper setting (Janus: 5, JanusFlow: 2), which its adapter applies and records
    cfg_weight: float | None = None
    temperature: float = 1.0
    top_k: int | None = None
    top_p: float | None = None

    kind: ClassVar[RequestKind] = "image"

    @property
    def num_images(self) -> int:
        return len(self.seeds)

    @property
    def length_hint(self) -> int:
        return len(self.prompt)

    def log_view(self) -> dict[str, Any]:
        return {
            "prompt": self.prompt,
            "seeds": self.seeds,
            "cfg_weight": self.cfg_weight,
            "temperature": self.temperature,
            "top_k": self.top_k,
            "top_p": self.top_p,
        }


Request = Union[TextRequest, ImageRequest]


def image_seeds(base_seed: int, prompt: str, num_images: int) -> list[int]:
    """Per-image seeds derived from (base seed, prompt, image index); stable across runs and batches."""
    seeds = []
    for index in range(num_images):
        digest = hashlib.sha256(f"{base_seed}\x00{prompt}\x00{index}".encode()).digest()
        seeds.append(int.from_bytes(digest[:8], "little") & 0x7FFF_FFFF_FFFF_FFFF)
    return seeds


# ----------------------------------------------------------------------------- outputs


@dataclass
class TextOutput:
    text: str


@dataclass
class ImageOutput:
    images: list[Image.Image]


Output = Union[TextOutput, ImageOutput]


# ----------------------------------------------------------------------------- samples & data


@dataclass
class Sample:
    """One benchmark item: a stable id, its position in the loaded split, ground truth and metadata.

    `row` is the raw dataset row (images undecoded); it is never persisted. `target` and `meta`
    must be JSON-serialisable: they go into the per-sample records.
    """

    id: str
    index: int
    target: Any
    meta: dict[str, Any] = field(default_factory=dict)
    row: Mapping[str, Any] = field(default_factory=dict, repr=False)


@dataclass(frozen=True)
class Join:
    """Columns taken from another config of the same dataset, matched by key.

    GQA stores its questions and its images in two configs: each question row gets the `image` of
    the image row whose `right_on` ("id") equals the question's `left_on` ("imageId"). A row without
    a match gets None in those columns (its sample then fails with a clear error).
    """

    config: str
    split: str
    left_on: str
    right_on: str
    columns: tuple[str, ...]
    image_columns: tuple[str, ...] = ()

    def describe(self) -> dict[str, Any]:
        return {"config": self.config, "split": self.split, "on": [self.left_on, self.right_on], "columns": list(self.columns)}


@dataclass(frozen=True)
class DataSource:
    """Where a task's data lives: a Hugging Face dataset (id, config, split, revision).

    `columns` are the columns the task reads (checked on load); `image_columns` are read
    undecoded and decoded per sample so that one unreadable image fails one sample only.
    `joins` add columns from other configs of the same dataset (see `Join`).
    """

    hf_id: str
    split: str
    config: str | None = None
    revision: str | None = None
    columns: tuple[str, ...] = ()
    image_columns: tuple[str, ...] = ()
    joins: tuple[Join, ...] = ()

    def describe(self) -> dict[str, Any]:
        described: dict[str, Any] = {
            "hf_id": self.hf_id,
            "config": self.config,
            "split": self.split,
            "revision": self.revision,
        }
        if self.joins:
            described["joins"] = [join.describe() for join in self.joins]
        return described

    def joined(self, join: Join) -> "DataSource":
        """The source of a join's table (same dataset and revision, the join's config and split)."""
        return DataSource(
            hf_id=self.hf_id,
            split=join.split,
            config=join.config,
            revision=self.revision,
            columns=(join.right_on, *join.columns),
            image_columns=join.image_columns,
        )


@dataclass(frozen=True)
class RemoteFile:
    """A benchmark file at its canonical URL, verified by its sha256 after download.

    A file whose sha256 could not be computed from a copy gives its git blob id instead (`git hash-object`, the id
    its repository's tree names it by). `unpinned=True` (and no checksum) marks a file whose checksum no primary
    source publishes (MJHQ-30K's metadata): it is used unverified, and the sha256 of the copy read goes into the data
    fingerprint instead; it must be said, never implied by a missing checksum. `name` may hold a folder
    (`prompts/a.txt`).
    """

    name: str
    url: str
    sha256: str | None = None
    git_blob: str | None = None
    unpinned: bool = False

    def __post_init__(self) -> None:
        if bool(self.sha256 or self.git_blob) == self.unpinned:
            raise ValueError(f"remote file {self.name} needs a sha256 or a git blob id, or unpinned=True (not both)")

    @property
    def checksum(self) -> str | None:
        """The checksum it is verified by: its sha256, else `git-blob:<id>`; None for an unpinned file."""
        if self.sha256:
            return self.sha256
        return f"git-blob:{self.git_blob}" if self.git_blob else None


@dataclass(frozen=True)
class FileSource:
    """Benchmark data published as files (e.g. a prompt list in a git repository) rather than a hub dataset.

    The files are downloaded once, cached and verified; `--data-dir DIR` reads `DIR/<task>/<name>`
    instead (verified the same way). The task turns them into rows with `Task.rows_from_files`.
    """

    files: tuple[RemoteFile, ...]
    columns: tuple[str, ...] = ()
    image_columns: tuple[str, ...] = ()

    def describe(self) -> dict[str, Any]:
        return {"files": [{"name": f.name, "url": f.url, "sha256": f.sha256}
                          | ({"git_blob": f.git_blob} if f.git_blob else {}) for f in self.files]}


# ----------------------------------------------------------------------------- resources


ResourceKind = Literal["dataset", "model", "hub_file", "file", "url", "local"]


@dataclass(frozen=True)
class Resource:
    """Something a command needs from outside before it runs: listed by tasks and adapters without loading
    anything, checked offline by the preflight and downloaded by `janus-eval prefetch`.

    Kinds: "dataset" (a hub dataset loaded with `datasets`: `id`, `config`, `split`, `revision`), "model" (a hub
    checkpoint snapshot; `files` = allow patterns, empty for all), "hub_file" (the first of `files` that the hub
    repository `id` has), "file" (a canonical file at a URL with its sha256: `remote`), "url" (a file at the URL
    `id` that a library caches at `files[0]`), "local" (a path the user gave, `id`).
    `override` says how to provide it locally instead (e.g. "--model-path DIR").
    """

    kind: ResourceKind
    id: str
    purpose: str  # who needs it, e.g. "task 'mme'", "model janus-pro-7b", "GenEval detector"
    revision: str | None = None
    config: str | None = None
    split: str | None = None
    files: tuple[str, ...] = ()
    remote: RemoteFile | None = None
    override: str = ""
    role: Literal["data", "weights"] = "weights"


def data_resources(task_name: str, source: DataSource | FileSource) -> list[Resource]:
    """What a task's data source needs: a hub dataset (and the configs it joins), or its canonical files."""
    purpose = f"task {task_name!r}"
    if isinstance(source, FileSource):
        return [
            Resource("file", f.url, purpose, remote=f, role="data", override=f"--data-dir DIR with DIR/{task_name}/{f.name}")
            for f in source.files
        ]
    override = (
        f"--data-dir DIR with the files in DIR/{task_name}/ "
        f"(`hf download {source.hf_id} --repo-type dataset --local-dir DIR/{task_name}`)"
    )
    parts = [(source.config, source.split), *((join.config, join.split) for join in source.joins)]
    return [
        Resource("dataset", source.hf_id, purpose, source.revision, config, split, role="data", override=override)
        for config, split in parts
    ]


class SampleError(Exception):
    """A problem with one sample's data (for instance an unreadable image): that sample fails, the run goes on."""


# ----------------------------------------------------------------------------- metrics


class Metric(ABC):
    """Accumulates mergeable sufficient statistics over scored samples (update/merge/compute)."""

    @abstractmethod
    def update(self, sample: Sample, score: Mapping[str, Any]) -> None:
        """Adds one scored sample."""

    @abstractmethod
    def merge(self, other: "Metric") -> None:
        """Adds the statistics of another instance (another shard or another part of the run)."""

    @abstractmethod
    def compute(self) -> dict[str, float | None]:
        """Metric name -> value, in the papers' units (None when the data cannot give it)."""


def percent(part: int, whole: int) -> float | None:
    """`part / whole` in percent, None when there is nothing to divide (no samples is not a score of 0)."""
    return 100.0 * part / whole if whole else None


# ----------------------------------------------------------------------------- per-sample scores


class SampleScore(BaseModel):
    """A sample's recorded score, typed per task (`Task.Score`) and validated before it is written.

    `value` puts the score on the task's own per-sample scale (compare counts a sample as improved or
    regressed when its value moved); None when the task declares no such scale.
    """

    model_config = ConfigDict(extra="allow")
    # whether `value` gives a per-sample scale (False: this base type, which declares none)
    has_scale: ClassVar[bool] = False

    @property
    def value(self) -> float | None:
        return None


class RightOrWrong(SampleScore):
    """A sample that is right or wrong (`correct`); its value is 1 or 0."""

    correct: bool
    has_scale: ClassVar[bool] = True

    @property
    def value(self) -> float | None:
        return 1.0 if self.correct else 0.0


class ScoredImage(BaseModel):
    """One generated image's verdict: its number in the sample, right or wrong, and why."""

    model_config = ConfigDict(extra="allow")

    image: int
    correct: bool
    reason: str = ""


class ImagesScore(SampleScore):
    """Per-image verdicts of a generation sample; its value is the share of right images (None without images,
    e.g. a failed generation)."""

    images: list[ScoredImage]
    has_scale: ClassVar[bool] = True

    @property
    def value(self) -> float | None:
        return sum(image.correct for image in self.images) / len(self.images) if self.images else None


# ----------------------------------------------------------------------------- tasks


class TaskOptions(BaseModel):
    """Base of every task's typed options; unknown keys are errors."""

    model_config = ConfigDict(extra="forbid", frozen=True)


class Task(ABC):
    """A benchmark: data source, request building, scoring, metrics, protocol card, published numbers.

    Protocol variants are typed options (`Options`), never copies of the task.
    """

    name: ClassVar[str]
    request_kind: ClassVar[RequestKind]
    # Bumped whenever a change to the task (its prompts, requests, scoring or metrics, or the shared rules and
    # prompt pieces it uses) would change an output or a score: it is part of the record keys, so the records
    # of the earlier behaviour are never reused. tests/test_versions.py fails when the code changes without it.
    version: ClassVar[int] = 1
    description: ClassVar[str] = ""
    Options: ClassVar[type[TaskOptions]] = TaskOptions
    # the type of `score(...)`'s result, checked before a record is written (see SampleScore)
    Score: ClassVar[type[SampleScore]] = SampleScore
    # reference model key (e.g. "janus-pro-7b") -> headline value as printed in the paper
    published: ClassVar[dict[str, float]] = {}
    # where each published number comes from
    published_source: ClassVar[str] = ""
    # direction of the headline metric (False for distances such as FID)
    higher_is_better: ClassVar[bool] = True
    # options that may differ from their defaults while the published numbers still apply
    # (published_numbers() decides for those); any other non-default option is another protocol
    comparable_options: ClassVar[frozenset[str]] = frozenset()

    def __init__(self, options: TaskOptions | None = None, seed: int = 0, demo: bool = False) -> None:
        if options is not None and not isinstance(options, self.Options):
            raise TypeError(f"{self.name} takes {self.Options.__name__}, not {type(options).__name__}")
        self.options = options if options is not None else self.Options()
        # the run's base seed: generation tasks derive per-image seeds from it (image_seeds)
        self.seed = seed
        # running on the built-in demo rows (tasks with scorer models then default to tiny offline ones)
        self.demo = demo

    @property
    @abstractmethod
    def headline(self) -> str:
        """The metric the paper table shows."""

    @abstractmethod
    def data_source(self) -> DataSource | FileSource:
        """The dataset (or the published files) this task reads under the current options."""

    def rows_from_files(self, paths: Mapping[str, Path]) -> list[dict[str, Any]]:
        """Rows from the verified local copies of a FileSource's files (file name -> path)."""
        raise NotImplementedError(f"{self.name} does not read files")

    @abstractmethod
    def demo_rows(self) -> list[dict[str, Any]]:
        """A few synthetic rows in the real schema (images as PNG bytes), generated in code."""

    def demo_join_rows(self, join: Join) -> list[dict[str, Any]]:
        """The demo rows of a joined table (tasks whose DataSource has joins override this)."""
        raise NotImplementedError(f"{self.name} has no demo rows for the join on {join.config!r}")

    @abstractmethod
    def samples(self, rows: Sequence[Mapping[str, Any]]) -> list[Sample]:
        """Turns the loaded rows into samples (filtering by the options where the protocol says so)."""

    @abstractmethod
    def build_request(self, sample: Sample) -> Request:
        """The request the protocol prescribes for a sample; raises SampleError for bad sample data."""

    @abstractmethod
    def score(self, sample: Sample, output: Output | None) -> dict[str, Any]:
        """Scores one output (None = the sample failed); JSON-serialisable."""

    def image_generation_key(self) -> dict[str, Any]:
        """The options that change generated images. Besides model, data and seed, they decide whether the
        images in `<task>_images/` belong to this run (see the runner); by default every option does."""
        return self.options.model_dump(mode="json")

    def result_notes(self, metrics: Mapping[str, float | None]) -> list[str]:
        """Warnings for the result file about how to read its numbers (e.g. a mean over only some categories)."""
        return []

    def image_files(self, sample: Sample, images: Sequence[Image.Image]) -> dict[str, Image.Image] | None:
        """How a sample's generated images are saved, as PNG files by path relative to `<task>_images/`; None
        keeps GenEval's layout (`<index:05d>/samples/<n:05d>.png`). DPG-Bench saves one 2x2 grid `<item_id>.png`.
        Reading a saved output back gives these files' images, in this order."""
        return None

    def image_folder_files(self, sample: Sample) -> dict[str, str]:
        """Extra text files written next to a sample's images (`<task>_images/<index>/<name>`); GenEval's
        official evaluator reads the prompt's metadata from `metadata.jsonl` there."""
        return {}

    def score_batch(self, samples: Sequence[Sample], outputs: Sequence[Output | None]) -> list[dict[str, Any]]:
        """Scores a batch of outputs; tasks whose scorers are models (detectors, CLIP) override this to batch
        them. Must equal `score` applied one by one."""
        return [self.score(sample, output) for sample, output in zip(samples, outputs)]

    def published_numbers(self) -> dict[str, float]:
        """The published headline numbers that apply under the current options (none when a variant
        changes what the headline measures)."""
        return dict(self.published)

    @abstractmethod
    def new_metric(self) -> Metric:
        """A fresh aggregator for this task's scores."""

    def resampling_unit(self, sample: Sample) -> str:
        """The unit a bootstrap resamples: samples the metric scores together (e.g. the questions of one
        image in MME) must share a unit."""
        return sample.id

    def resampling_stratum(self, sample: Sample) -> str:
        """Units are resampled within strata (e.g. MME's categories, whose scores are summed), so that every
        bootstrap draw keeps the composition of the data."""
        return ""

    def scorer_info(self) -> dict[str, Any]:
        """Scorer backends that produced the scores (detector, CLIP, judge), their versions and weights."""
        return {}

    def resources(self) -> list[Resource]:
        """What the task needs from outside under its options (data, scorer weights), without loading any of it.

        The data part is derived from `data_source()`; tasks with scorer models add their weights."""
        return data_resources(self.name, self.data_source())

    # an LLM judge for the tasks that grade with one (set by the runner from the command line; None = no judge)
    judge_settings: JudgeSettings | None = None

    def scoring_usage(self, scores: Sequence[Mapping[str, Any]]) -> dict[str, Any]:
        """What scoring these recorded scores cost (an LLM judge's requests, tokens, price), for the manifest."""
        return {}

    @abstractmethod
    def protocol_card(self) -> dict[str, Any]:
        """What a reader needs to know how the number was produced (prompt, settings, rules)."""


# ----------------------------------------------------------------------------- LLM judge settings


@dataclass(frozen=True)
class JudgeSettings:
    """How to reach an LLM judge: any OpenAI-compatible chat-completions endpoint.

    Holds the *name* of the environment variable with the API key, never the key itself, so that
    settings can be logged and recorded. Only `model` and the endpoint change grades; the rest
    (concurrency, timeout, retries, prices, cache folder) change how, or at what cost, they are obtained.
    """

    model: str
    # None: OpenAI's API (https://api.openai.com/v1)
    base_url: str | None = None
    api_key_env: str = "OPENAI_API_KEY"
    # a stable name for the endpoint in record keys and the cache (default: "openai" or the base URL)
    endpoint_name: str | None = None
    concurrency: int = 4
    timeout: float = 60.0
    max_retries: int = 5
    # model -> (USD per million input tokens, USD per million output tokens), over the built-in table
    prices: Mapping[str, tuple[float, float]] = field(default_factory=dict)
    # the persistent response cache (default: `<janus-eval cache>/judge`)
    cache_dir: str | None = None


# ----------------------------------------------------------------------------- model adapters


@dataclass(frozen=True)
class ModelSpec:
    """What the user asked for on the command line, before an adapter is built."""

    name: str
    model_path: str | None = None
    revision: str | None = None
    dtype: str = "auto"
    device: str = "auto"
    trust_remote_code: bool = False
    args: Mapping[str, str] = field(default_factory=dict)


class ModelAdapter(ABC):
    """Wraps a model family; receives lists of requests and batches internally as the hardware allows."""

    name: ClassVar[str]
    supports: ClassVar[frozenset[RequestKind]] = frozenset()
    description: ClassVar[str] = ""
    # Bumped whenever a change to the adapter would change an output for the same model identity (prompt
    # rendering, preprocessing, decoding, sampling); it is part of the record keys (see Task.version).
    version: ClassVar[int] = 1

    @classmethod
    @abstractmethod
    def from_spec(cls, spec: ModelSpec) -> "ModelAdapter":
        """Builds the adapter cheaply: validates the arguments and resolves which weights it means (for its
        label and identity), without loading them; raises UserError for bad arguments or unknown weights."""

    def load(self) -> None:  # noqa: B027 (an optional hook: adapters without weights need none)
        """Loads the weights (idempotent). The engine calls it only when something must be generated, so a
        rerun whose samples are all recorded, or a rescoring of recorded outputs, never pays for it; raises
        UserError for weights that cannot be had or read."""

    @classmethod
    def resources(cls, spec: ModelSpec) -> list[Resource]:
        """The checkpoint(s) `spec` names, resolved without loading anything (cheap: no weights are read)."""
        return []

    @property
    @abstractmethod
    def label(self) -> str:
        """The model's name in output folders and the leaderboard."""

    @property
    def reference_key(self) -> str | None:
        """Key of the published numbers this model should reproduce (e.g. "janus-pro-7b"), if any."""
        return None

    @abstractmethod
    def identity(self) -> dict[str, Any]:
        """Everything about the model that determines its outputs (id, revision, dtype, ...); JSON. Known
        without loading the weights: it keys the records that decide whether anything must be generated."""

    def protocol_card(self) -> dict[str, Any]:
        """Model-side protocol settings (e.g. the image normalisation), shown under `model` in each result's protocol
        card; a `provenance` entry (checkpoint, revision) is shown too but not compared between runs. Empty by default."""
        return {}

    def task_identity(self, task: str) -> dict[str, Any]:
        """Task-specific parts of the identity (e.g. which saved-outputs file serves this task)."""
        return {}

    def generate_text(self, requests: Sequence[TextRequest]) -> list[TextOutput]:
        raise NotImplementedError(f"{self.name} does not generate text")

    def generate_images(self, requests: Sequence[ImageRequest]) -> list[ImageOutput]:
        raise NotImplementedError(f"{self.name} does not generate images")

    def peak_memory_bytes(self) -> int | None:
        """Peak accelerator memory, when the adapter can tell."""
        return None

    def prompt_template(self, kind: RequestKind) -> dict[str, Any] | None:
        """How this model renders a request of `kind` (template text, roles and why): recorded in the protocol
        card, since a task's prompt reaches the model only through the adapter's template."""
        return None
