"""Loading for the Janus adapter: aliases, hub ids and revisions, local folders, dtype and device.

Every problem a user can cause here ends in a UserError that says what to do.
"""

from __future__ import annotations

import importlib.util
import logging
import os
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import torch
from janus_eval.model_adapters.janus_hub import hub_config, resolve_hub_revision, unreachable_message
from janus_eval.model_adapters.janus_original import (
    CONVERSION_VERSION,
    SOURCE_FORMAT,
    ProcessorSource,
    check_processor_files,
    checkpoint_format,
    hub_original_folder,
    load_original,
    processor_source,
)
from janus_eval.model_adapters.janus_original_config import parse_original_config
from janus_eval.model_adapters.janus_original_processor import read_json
from janus_eval.model_adapters.janus_tiny import BUILDER_VERSION, ensure_tiny_checkpoint

from janus_eval.api import ModelSpec, Resource
from janus_eval.data.checkpoint_files import AGAIN, check_checkpoint_folder, check_json_file
from janus_eval.data.hashing import cached_file_sha256, hash_files
from janus_eval.data.hub_snapshots import cached_checkpoint
from janus_eval.errors import UserError, first_line

if TYPE_CHECKING:
    from transformers import JanusForConditionalGeneration, JanusProcessor

ADAPTER_NAME = "janus_hf"
TINY_ALIAS = "janus-tiny"
# Checkpoints on the Hub: Janus-Pro converted to the transformers format, Janus-1.3B in DeepSeek's
# original format (converted in memory when loaded).
HUB_IDS: dict[str, str] = {
    "janus-pro-1b": "deepseek-community/Janus-Pro-1B",
    "janus-pro-7b": "deepseek-community/Janus-Pro-7B",
    "janus-1.3b": "deepseek-ai/Janus-1.3B",
}
# deepseek-ai/Janus-1.3B main as of 2025-01-27 ("Update processor_config.json", 56c70f4, the last commit in
# its history on huggingface.co). Its tree holds the 2024-10-20 tokenizer_config.json (b238799, "Upload
# tokenizer_config.json": the pad_token that classifier-free guidance needs, announced in the README as
# the 2024-10-20 fix), do_normalize true in preprocessor_config.json (98b20d0, 2024-11-14; false before)
# and sft_format "deepseek_old" (User/Assistant roles) in processor_config.json. The weights are those of
# the first commit. 2cf2f4092e27d56c18860bb21ff910fb54cd77cb is the tree of the paper's evaluation recipe
# (VLMEvalKit PR #541, 2024-10-23): the same files with do_normalize false.
JANUS_13B_REVISION = "56c70f4d34ca802c96254aea598b7d8e58e73840"
PINNED_REVISIONS: dict[str, str] = {"janus-1.3b": JANUS_13B_REVISION}
# The image normalisation is an explicit option where it changed between revisions: Janus-1.3B's
# preprocessor config said do_normalize false when its evaluation recipe was published.
DO_NORMALIZE_DEFAULTS: dict[str, bool] = {"janus-1.3b": False}
DO_NORMALIZE_CHOICES = ("checkpoint", "true", "false")
NEEDS_LOCAL_PATH: tuple[str, ...] = ()  # aliases without weights on the Hub (none left)
REFERENCE_KEYS = ("janus-pro-1b", "janus-pro-7b", "janus-1.3b")
PAD_TAG = "<｜▁pad▁｜>"
# the image placeholder and begin-of-image tags of Janus' processors
IMAGE_TAG = "<image_placeholder>"
BOI_TAG = "<begin_of_image>"

DTYPES: dict[str, torch.dtype] = {
    "bfloat16": torch.bfloat16,
    "float16": torch.float16,
    "float32": torch.float32,
}
KNOWN_ARGS = (
    "model",
    "label",
    "published_as",
    "chat_roles",
    "gen_roles",
    "image_preprocessing",
    "batch_size",
    "image_batch_size",
    "seed",
    "attn_implementation",
    "do_normalize",
    "processor_from",
    "chat_template",
)
WEIGHT_SUFFIXES = (".safetensors", ".bin", ".pt", ".pth")
# one of these makes a tokenizer transformers can load without converting a slow one
TOKENIZER_FILES = ("tokenizer.json", "tokenizer.model", "vocab.json")
PROCESSOR_FILES = ("processor_config.json", "preprocessor_config.json")


@dataclass(frozen=True)
class ModelSource:
    """Where the weights come from: a hub id (with revision) or a local folder."""

    alias: str
    location: str  # hub id or absolute path
    is_local: bool
    is_tiny: bool = False
    revision: str | None = None  # hub revision: the user's, else the alias' pinned one


# ---------------------------------------------------------------------------- option parsing


def parse_choice(args: Mapping[str, str], key: str, default: str, valid: tuple[str, ...]) -> str:
    value = args.get(key, default)
    if value not in valid:
        raise UserError(f"{key}={value!r} is not valid; choose one of: {', '.join(valid)}")
    return value


def parse_int(args: Mapping[str, str], key: str, default: int) -> int:
    value = args.get(key)
    if value is None:
        return default
    try:
        return int(value)
    except (TypeError, ValueError):
        raise UserError(f"{key}={value!r} is not an integer") from None


def parse_positive_int(args: Mapping[str, str], key: str) -> int | None:
    if args.get(key) is None:
        return None
    value = parse_int(args, key, 0)
    if value < 1:
        raise UserError(f"{key} must be a positive integer, got {args[key]!r}")
    return value


def auto_dtype(device: torch.device) -> torch.dtype:
    """bfloat16 on CUDA (DeepSeek's setting), float32 on CPU (bf16 matmuls are slow there)."""
    return torch.bfloat16 if device.type == "cuda" else torch.float32


def resolve_device(device: str) -> torch.device:
    if device == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if device == "cpu":
        return torch.device("cpu")
    if device == "cuda" or (device.startswith("cuda:") and device[5:].isdigit()):
        if not torch.cuda.is_available():
            raise UserError(f"device {device!r} requested but CUDA is not available here; use --device cpu")
        resolved = torch.device(device)
        if resolved.index is not None and resolved.index >= torch.cuda.device_count():
            raise UserError(f"device {device!r} does not exist; {torch.cuda.device_count()} CUDA device(s) visible")
        return resolved
    raise UserError(f"device {device!r} is not supported; choose one of: auto, cpu, cuda, cuda:N")


# ---------------------------------------------------------------------------- loading


@dataclass(frozen=True)
class ModelFamily:
    """How an adapter's names map to checkpoints: its generic name, its tiny offline model, its hub aliases with
    their pinned revisions and reference keys (the same rules serve janus_hf and janusflow)."""

    adapter_name: str
    tiny_alias: str
    hub_ids: Mapping[str, str]
    pinned_revisions: Mapping[str, str]
    reference_keys: tuple[str, ...]
    build_tiny: Callable[[], Path]
    builder_version: int
    folder_kind: str  # what --model-path holds, for the message when no checkpoint is named
    example_hub_id: str

    def source(self, spec: ModelSpec, args: Mapping[str, str]) -> ModelSource:
        """Maps the typed name (+ --model-path / model=) to a hub id or a local folder."""
        alias = spec.name
        if args.get("model") and alias != self.adapter_name:
            raise UserError(
                f"model={args['model']!r} is only accepted by {self.adapter_name}; for {alias!r} use --model-path DIR"
            )
        if spec.model_path:
            return local_source(alias, spec.model_path, spec.revision)
        if alias == self.tiny_alias:
            if spec.revision:
                raise UserError(
                    f"--revision {spec.revision!r} does not apply to {self.tiny_alias}: it is built locally by janus-eval "
                    f"(builder version {self.builder_version}), not downloaded from the Hugging Face Hub; drop --revision"
                )
            return ModelSource(alias, str(self.build_tiny().resolve()), is_local=True, is_tiny=True)
        if alias in self.hub_ids:
            revision = spec.revision or self.pinned_revisions.get(alias)
            return ModelSource(alias, self.hub_ids[alias], is_local=False, revision=revision)
        model = args.get("model")
        if not model:
            raise UserError(
                f"{self.adapter_name} needs a checkpoint: pass --model-path DIR ({self.folder_kind}) or the argument "
                f"model=<hub id> (e.g. model={self.example_hub_id})"
            )
        if os.path.isdir(os.path.expanduser(model)):
            return local_source(alias, model, spec.revision)
        return ModelSource(alias, model, is_local=False, revision=spec.revision)

    def label(self, spec: ModelSpec, source: ModelSource) -> str:
        """The model's folder name in the results: `label=`, else the alias, the folder's name or the repository's."""
        if spec.args.get("label"):
            return spec.args["label"]
        if source.alias != self.adapter_name:
            return source.alias
        if source.is_local:
            return Path(source.location).name
        return source.location.rstrip("/").split("/")[-1]

    def reference_key(self, spec: ModelSpec, source: ModelSource) -> str | None:
        """The published numbers to compare with: `published_as=`, else the alias' own."""
        if spec.args.get("published_as"):
            return spec.args["published_as"]
        return source.alias if source.alias in self.reference_keys else None


JANUS_FAMILY = ModelFamily(
    adapter_name=ADAPTER_NAME,
    tiny_alias=TINY_ALIAS,
    hub_ids=HUB_IDS,
    pinned_revisions=PINNED_REVISIONS,
    reference_keys=REFERENCE_KEYS,
    build_tiny=ensure_tiny_checkpoint,
    builder_version=BUILDER_VERSION,
    folder_kind="a Janus folder in the transformers format or DeepSeek's original one",
    example_hub_id="deepseek-community/Janus-Pro-1B",
)


def resolve_source(spec: ModelSpec, args: Mapping[str, str]) -> ModelSource:
    """Maps the typed name (+ --model-path / model=) to a hub id or a local folder."""
    return JANUS_FAMILY.source(spec, args)


def checkpoint_resources(spec: ModelSpec) -> list[Resource]:
    """The checkpoint `spec` names (hub id and revision, or the local folder), resolved without building or loading
    anything; a spec that `resolve_source` would refuse lists nothing (that error comes when the adapter is built)."""
    purpose = f"model {spec.name}"
    model = spec.args.get("model")
    if spec.model_path:
        return [Resource("local", spec.model_path, purpose)]
    if spec.name == TINY_ALIAS:
        return []  # built locally from a fixed seed
    if spec.name in HUB_IDS:
        hub_id = HUB_IDS[spec.name]
    elif spec.name == ADAPTER_NAME and model:
        if os.path.isdir(os.path.expanduser(model)):
            return [Resource("local", model, purpose)]
        hub_id = model
    else:
        return []
    override = f"--model-path DIR (a copy of the checkpoint folder: `hf download {hub_id} --local-dir DIR`)"
    revision = spec.revision or PINNED_REVISIONS.get(spec.name)
    return [Resource("model", hub_id, purpose, revision=revision, override=override)]


def local_source(alias: str, path: str, revision: str | None) -> ModelSource:
    if revision:
        raise UserError(
            f"--revision {revision!r} only applies to Hugging Face Hub ids, not to the local folder {path!r}"
        )
    folder = Path(path).expanduser().resolve()
    if not folder.is_dir():
        raise UserError(f"--model-path {path!r} is not a directory")
    if not (folder / "config.json").is_file():
        raise UserError(f"--model-path {path!r} has no config.json: it is not a Janus checkpoint folder")
    return ModelSource(alias, str(folder), is_local=True)


@dataclass(frozen=True)
class CheckpointInfo:
    """What is known of a checkpoint before its weights are read: its format, the commit it is read at, and how it
    will be read (the identity and the protocol card need it; loading follows it)."""

    source_format: str
    revision: str | None  # the revision to load (resolved to a commit where the hub could say)
    commit: str | None
    do_normalize: str  # "checkpoint", "true" or "false"
    processor_from: ProcessorSource | None
    provenance: dict[str, Any]


def describe_checkpoint(source: ModelSource, spec: ModelSpec) -> CheckpointInfo:
    """Reads a checkpoint's config.json (from the hub cache, or a small download) to tell its format, without
    touching its weights; UserError for an unknown model_type or a repository that cannot be reached."""
    do_normalize = parse_choice(spec.args, "do_normalize", _default_normalization(source.alias), DO_NORMALIZE_CHOICES)
    processor_from = spec.args.get("processor_from")
    if source.is_local:
        folder: Path | None = Path(source.location)
        check_json_file(folder / "config.json")  # a cut-off file is named with the place where it breaks
        config, revision, commit = read_json(folder / "config.json"), None, None
    else:
        revision, commit = resolve_hub_revision(source.location, source.revision)
        config, folder = hub_config(source.location, revision)
        commit = commit or folder.name
    source_format = checkpoint_format(config, source.location)
    if processor_from and source_format != SOURCE_FORMAT:
        raise UserError(
            f"processor_from only applies to DeepSeek original-format checkpoints; {source.location} is in the "
            "transformers format and brings its own processor"
        )
    processor = processor_source(processor_from) if processor_from else None
    if source_format == SOURCE_FORMAT:  # a config that cannot convert, or missing processor files, fail now
        parse_original_config(config, source.location)
        if processor is not None or source.is_local:  # (a hub snapshot holds only config.json so far)
            check_processor_files(processor.folder if processor is not None else Path(source.location), processor)
    provenance: dict[str, Any] = {"source_format": source_format, "revision": source.revision}
    if source_format == SOURCE_FORMAT:
        provenance["conversion_version"] = CONVERSION_VERSION
    if processor is not None:
        provenance["processor_from"] = processor.provenance
    provenance["image_do_normalize"] = (
        checkpoint_do_normalize(processor.folder if processor else folder)
        if do_normalize == "checkpoint"
        else do_normalize == "true"
    )
    provenance["image_do_normalize_from"] = (
        "checkpoint"
        if do_normalize == "checkpoint"
        else "do_normalize argument"
        if "do_normalize" in spec.args
        else f"{source.alias} default (the value of the paper era)"
    )
    return CheckpointInfo(source_format, revision, commit, do_normalize, processor, provenance)


def checkpoint_do_normalize(folder: Path | None) -> bool | None:
    """The image normalisation a checkpoint's own processor files set (None when they are not at hand)."""
    if folder is None:
        return None
    for name, nested in (("preprocessor_config.json", None), ("processor_config.json", "image_processor")):
        if (folder / name).is_file():
            settings = read_json(folder / name)
            settings = settings.get(nested, {}) if nested else settings
            if isinstance(settings, dict) and "do_normalize" in settings:
                return bool(settings["do_normalize"])
    return None


def load_model(
    source: ModelSource,
    spec: ModelSpec,
    dtype: torch.dtype,
    device: torch.device,
    attn_implementation: str | None,
    checkpoint: CheckpointInfo,
) -> tuple[JanusForConditionalGeneration, JanusProcessor]:
    """Loads model and processor as `checkpoint` describes them, converting DeepSeek's original format in memory.

    A damaged checkpoint (cut-off JSON or safetensors, missing shards, wrong types in config.json, weights of other
    shapes, no tokenizer) ends in a UserError naming the file, never in a library traceback.
    """
    folder = Path(source.location) if source.is_local else cached_checkpoint(source.location, checkpoint.commit or checkpoint.revision)
    where = str(folder) if folder is not None else source.location
    if folder is not None:
        check_checkpoint_folder(folder)
        if checkpoint.source_format != SOURCE_FORMAT:
            check_tokenizer_files(folder)
    if checkpoint.source_format == SOURCE_FORMAT:
        folder = Path(source.location) if source.is_local else hub_original_folder(source.location, checkpoint.revision)
        model, processor, _ = load_original(
            folder,
            dtype=dtype,
            device=device,
            attn_implementation=attn_implementation,
            processor_from=checkpoint.processor_from,
        )
    else:
        model, processor = load_transformers_format(
            source, spec, dtype, device, attn_implementation, checkpoint.revision, where
        )
    if not hasattr(processor, "image_token") or not hasattr(processor.tokenizer, "boi_token"):
        raise UserError(f"{source.location}: the processor is {type(processor).__name__}, expected a JanusProcessor")

    if checkpoint.do_normalize != "checkpoint":
        processor.image_processor.do_normalize = checkpoint.do_normalize == "true"
    # Converted hub processors are saved with True, which prepends DeepSeek's default system
    # prompt in text mode; the paper protocol uses an empty system prompt.
    processor.use_default_system_prompt = False
    processor.tokenizer.padding_side = "left"
    model.to(device)  # type: ignore[arg-type]  # (a decorator in transformers hides the signature)
    model.eval()
    return model, processor


def _default_normalization(alias: str) -> str:
    default = DO_NORMALIZE_DEFAULTS.get(alias)
    return "checkpoint" if default is None else str(default).lower()


def load_weights(location: str, where: str, config: Any, kwargs: dict[str, Any]) -> JanusForConditionalGeneration:
    """The model with its weights; weights of other shapes, or lacking tensors the config needs, are UserErrors.

    transformers would re-initialise such tensors at random (missing ones silently): a model that only
    looks loaded. Its own multi-screen report is kept quiet; the error says what did not fit.
    """
    from safetensors import SafetensorError
    from transformers import JanusForConditionalGeneration

    report_logger = logging.getLogger("transformers.modeling_utils")
    # a filter, not a level: transformers 5 checks `logger.level >= WARNING` to log more (tensor-parallel notes)
    report_logger.addFilter(_drop_load_report)
    try:
        model, info = JanusForConditionalGeneration.from_pretrained(
            location, config=config, ignore_mismatched_sizes=True, output_loading_info=True, **kwargs
        )
    except SafetensorError as exc:
        raise UserError(f"the weights of {where} are damaged ({first_line(exc)}); {AGAIN}") from None
    except RuntimeError as exc:  # load_state_dict's own errors (e.g. a size mismatch it could not skip)
        raise UserError(f"the weights of {where} do not fit its config.json: {first_line(exc)}") from None
    finally:
        report_logger.removeFilter(_drop_load_report)
    problems = weight_problems(info)
    if problems:
        raise UserError(
            f"the weights of {where} do not fit the model its config.json describes: {problems}. The weights "
            "belong to another model or config.json was changed; use the checkpoint's own files"
        )
    return model


def _drop_load_report(record: logging.LogRecord) -> bool:
    return "LOAD REPORT" not in str(record.msg)


def weight_problems(info: Mapping[str, Any], shown: int = 3) -> str:
    """A one-line account of the tensors that did not load (other shapes, missing, unexpected), or "" when all did."""
    parts = []
    mismatched = sorted(info.get("mismatched_keys") or [])
    if mismatched:
        examples = "; ".join(
            f"{key}: weights {tuple(found)}, config {tuple(wanted)}" for key, found, wanted in mismatched[:shown]
        )
        parts.append(f"{len(mismatched)} tensor(s) of another shape (e.g. {examples})")
    missing = sorted(info.get("missing_keys") or [])
    if missing:
        parts.append(f"{len(missing)} tensor(s) missing from the weights (e.g. {', '.join(missing[:shown])})")
    unexpected = sorted(info.get("unexpected_keys") or [])
    if unexpected:
        parts.append(f"{len(unexpected)} tensor(s) the model does not have (e.g. {', '.join(unexpected[:shown])})")
    return "; ".join(parts)


def config_problem(exc: Exception) -> str:
    """The field and the reason of a config validation error, on one line."""
    cause = exc.__cause__
    text = str(cause) if cause is not None and str(cause) else str(exc)
    return " ".join(line.strip() for line in text.strip().splitlines()) or type(exc).__name__


def check_tokenizer_files(folder: Path) -> None:
    """The tokenizer and image-processor files a Janus checkpoint needs; without them transformers fails deep
    inside (for a tokenizer, after trying to convert a slow one)."""
    for what, names in (("tokenizer", TOKENIZER_FILES), ("image processor", PROCESSOR_FILES)):
        if not any((folder / name).is_file() for name in names):
            raise UserError(f"{folder} has no {what} file (one of {', '.join(names)}); {AGAIN}")




def load_transformers_format(
    source: ModelSource,
    spec: ModelSpec,
    dtype: torch.dtype,
    device: torch.device,
    attn_implementation: str | None,
    revision: str | None,
    where: str,
) -> tuple[JanusForConditionalGeneration, JanusProcessor]:
    """A transformers-format checkpoint through from_pretrained. A config.json of wrong types, weights of other
    shapes, missing or unexpected tensors, or an unreadable processor end in a UserError naming the file."""
    from huggingface_hub.errors import StrictDataclassError
    from transformers import AutoConfig, AutoProcessor

    common: dict[str, Any] = {"revision": revision, "trust_remote_code": spec.trust_remote_code}
    try:
        try:
            config = AutoConfig.from_pretrained(source.location, **common)
        except (TypeError, ValueError, StrictDataclassError) as exc:  # strict config dataclasses (transformers 5)
            raise UserError(
                f"{where}/config.json does not describe a valid model: {config_problem(exc)}; fix the file or "
                "download the checkpoint again"
            ) from None
        model_kwargs: dict[str, Any] = {"dtype": dtype, **common}
        if attn_implementation:
            model_kwargs["attn_implementation"] = attn_implementation
        if device.type == "cuda" and importlib.util.find_spec("accelerate") is not None:
            model_kwargs["device_map"] = str(device)  # straight to the GPU, not via host memory
        model = load_weights(source.location, where, config, model_kwargs)
        try:
            processor = AutoProcessor.from_pretrained(source.location, **common)
        except (TypeError, ValueError) as exc:
            raise UserError(
                f"could not load the processor (tokenizer and image processor) of {where}: {first_line(exc)}; "
                f"{AGAIN}"
            ) from None
    except UserError:
        raise
    except OSError as exc:
        if source.is_local:
            raise UserError(
                f"could not load the checkpoint in {source.location}: {type(exc).__name__}: {first_line(exc)}"
            ) from None
        raise UserError(unreachable_message(source.location, source.revision, exc)) from None
    except ValueError as exc:
        raise UserError(f"could not load {source.location}: {first_line(exc)}") from None
    return model, processor


def folder_fingerprint(folder: Path) -> dict[str, Any]:
    """What a local checkpoint holds: sha256 over the names and contents of all non-weight files, and
    the sha256 of each weight file.

    Every file counts, since the processor (e.g. Janus-1.3B's `do_normalize`), tokenizer, chat template
    and generation config change results as much as the weights do. Weight digests come from the
    per-file-version cache, so a multi-GB checkpoint is read in full only when a file changes. Hidden
    entries (e.g. `.cache/` written by `hf download --local-dir`) and subfolders are not read by
    `from_pretrained` and are left out.
    """
    files = sorted(path for path in folder.iterdir() if path.is_file() and not path.name.startswith("."))
    weights = [path for path in files if path.name.endswith(WEIGHT_SUFFIXES)]
    others = [path for path in files if not path.name.endswith(WEIGHT_SUFFIXES)]
    return {
        "files_sha256": hash_files(others, folder),
        "weights": {path.name: cached_file_sha256(path) for path in weights},
    }
