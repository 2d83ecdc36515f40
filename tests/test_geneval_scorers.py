"""GenEval scorer models: detector post-processing, label checks, tiny models, colour crops and zero-shot CLIP."""

from __future__ import annotations

import hashlib
import json
import math
import shutil
import sys
import warnings
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image, ImageDraw

from janus_eval.data.cache import ensure_built
from janus_eval.data.hashing import file_sha256
from janus_eval.errors import UserError, first_line
from janus_eval.rules.detections import Detection
from janus_eval.scorers import color_classifier as cc
from janus_eval.scorers import detector as dt
from janus_eval.scorers import mmdet_detector as md
from janus_eval.scorers import tiny_scorers as ts

SMALL_SCALE = (192, 128)  # keeps the tiny detector's input small; the default (1333, 800) is tested once
OBJECT_NAMES_SHA256 = "608f6a0e5c8ca1c7a92b818430141fe268c85b7930b50f4160f1d65893b5bacd"  # generation.md


def drawn_image(width: int, height: int, colour: str = "red") -> Image.Image:
    image = Image.new("RGB", (width, height), "white")
    draw = ImageDraw.Draw(image)
    draw.ellipse((width // 8, height // 8, width // 2, height // 2), fill=colour)
    draw.rectangle((width // 2 + 4, height // 3, width - 6, height - 6), fill="blue")
    return image


def tight_box(mask: np.ndarray) -> tuple[float, float, float, float]:
    if not mask.any():
        return (0.0, 0.0, 0.0, 0.0)
    rows, cols = np.nonzero(mask)
    return (float(cols.min()), float(rows.min()), float(cols.max() + 1), float(rows.max() + 1))


@pytest.fixture(scope="module")
def tiny_detector() -> dt.Detector:
    return dt.build_detector("tiny", None, "cpu", scale=SMALL_SCALE)


@pytest.fixture(scope="module")
def tiny_clip() -> cc.ColorClassifier:
    return cc.ColorClassifier("tiny", device="cpu")


# ----------------------------------------------------------------------------- class names


def test_class_names_are_the_official_object_names_file() -> None:
    text = "\n".join(dt.GENEVAL_CLASSES) + "\n"
    assert hashlib.sha256(text.encode()).hexdigest() == OBJECT_NAMES_SHA256
    assert dt.GENEVAL_CLASSES[64:67] == ("computer mouse", "tv remote", "computer keyboard")
    assert cc.GENEVAL_COLORS == (
        "red",
        "orange",
        "yellow",
        "green",
        "blue",
        "purple",
        "pink",
        "brown",
        "black",
        "white",
    )


def test_coco_spellings_are_accepted_and_recorded() -> None:
    coco = list(dt.GENEVAL_CLASSES)
    coco[62], coco[64], coco[65], coco[66], coco[78] = "tvmonitor", "mouse", "remote", "keyboard", "hair_dryer"
    aliases = dt.check_labels({str(i): name for i, name in enumerate(coco)}, "test")
    assert aliases == {
        "tvmonitor": "tv",
        "mouse": "computer mouse",
        "remote": "tv remote",
        "keyboard": "computer keyboard",
        "hair_dryer": "hair drier",
    }


def test_label_check_names_the_mismatch() -> None:
    swapped = list(dt.GENEVAL_CLASSES)
    swapped[15], swapped[16] = swapped[16], swapped[15]
    with pytest.raises(UserError, match="2 labels differ: 15: 'dog' \\(expected 'cat'\\); 16: 'cat'"):
        dt.check_labels(dict(enumerate(swapped)), "test")
    with pytest.raises(UserError, match="has 81 class labels"):
        dt.check_labels(dict(enumerate([*dt.GENEVAL_CLASSES, "extra"])), "test")


def test_checkpoint_with_wrong_labels_is_rejected_on_load(tmp_path: Path, tiny_detector: dt.Detector) -> None:
    checkpoint = shutil.copytree(ts.tiny_detector_dir(), tmp_path / "relabelled")
    config = json.loads((checkpoint / "config.json").read_text())
    config["id2label"]["0"] = "pedestrian"
    (checkpoint / "config.json").write_text(json.dumps(config))
    with pytest.raises(UserError, match="0: 'pedestrian' \\(expected 'person'\\)"):
        dt.Mask2FormerDetector(str(checkpoint), "cpu")


# ----------------------------------------------------------------------------- post-processing arithmetic


def test_mask2bbox_convention_is_exclusive_and_empty_is_zero() -> None:
    masks = torch.zeros(3, 5, 6, dtype=torch.bool)
    masks[0, 2, 3] = True
    masks[1, 1:4, 0:6] = True
    boxes = dt.masks_to_boxes(masks)
    assert boxes.tolist() == [[3, 2, 4, 3], [0, 1, 6, 4], [0, 0, 0, 0]]


def test_instance_postprocess_matches_hand_computation() -> None:
    # 2 queries, classes a/b/c + no-object; query 1's mask is empty
    class_logits = torch.tensor([[2.0, 0.0, 0.0, 0.0], [0.0, 1.0, 0.0, 3.0]])
    mask_logits = torch.full((2, 4, 5), -2.0)
    mask_logits[0, 1, 1] = 1.0
    mask_logits[0, 2, 3] = 3.0
    results = dt.instance_postprocess(class_logits, mask_logits, max_per_image=4)

    z0 = math.exp(2) + 3
    z1 = 2 + math.e + math.exp(3)
    probs = {
        (0, 0): math.exp(2) / z0,
        (0, 1): 1 / z0,
        (0, 2): 1 / z0,
        (1, 0): 1 / z1,
        (1, 1): math.e / z1,
        (1, 2): 1 / z1,
    }
    sigmoid = lambda x: 1 / (1 + math.exp(-x))  # noqa: E731
    mask_score = {0: (sigmoid(1.0) + sigmoid(3.0)) / (2 + 1e-6), 1: 0.0}
    top = sorted(probs, key=probs.get, reverse=True)[:4]  # (0,0), (1,1), (0,1)/(0,2) tie at 1/z0 > 1/z1
    assert top[:2] == [(0, 0), (1, 1)]
    got = {(q, c): s for q, c, s in zip(results.queries.tolist(), results.labels.tolist(), results.scores.tolist())}
    assert set(got) == set(top)
    for pair in top:
        assert got[pair] == pytest.approx(probs[pair] * mask_score[pair[0]], rel=1e-6)
    boxes = {q: b for q, b in zip(results.queries.tolist(), results.boxes.tolist())}
    assert boxes == {0: [1, 1, 4, 3], 1: [0, 0, 0, 0]}

    detections = dt.to_detections(results, ("a", "b", "c"))
    assert [len(detections[name]) for name in "abc"] == [1, 2, 1]
    assert detections["b"][0].score == pytest.approx(probs[(0, 1)] * mask_score[0], rel=1e-6)
    assert detections["b"][1].score == 0.0  # the empty mask's pair sorts last
    assert detections["a"][0].box == (1.0, 1.0, 4.0, 3.0)
    assert detections["a"][0].mask.tolist() == (mask_logits[0] > 0).tolist()


def test_mask_logits_are_upsampled_unpadded_then_resized() -> None:
    logits = torch.tensor([[[1.0, -1.0], [1.0, -1.0]]])  # (Q=1, 2, 2) at 1/2 of a 4x4 padded input
    out = dt.resize_mask_logits(logits, input_size=(4, 4), valid_size=(4, 2), image_size=(4, 2))
    # bilinear (half-pixel) 2 -> 4 gives columns 1, 0.5, -0.5, -1; the last two are padding
    assert out.shape == (1, 4, 2)
    assert out[0].tolist() == [[1.0, 0.5]] * 4


def test_mmdet_keep_ratio_rescale() -> None:
    assert dt.mmdet_rescale_size(384, 384, (1333, 800)) == (800, 800)
    assert dt.mmdet_rescale_size(640, 480, (1333, 800)) == (1067, 800)
    assert dt.mmdet_rescale_size(2000, 500, (1333, 800)) == (1333, 333)


# ----------------------------------------------------------------------------- tiny detector


def _assert_well_formed(image: Image.Image, detections: dict[str, list[Detection]]) -> None:
    assert list(detections) == list(dt.GENEVAL_CLASSES)
    assert sum(len(found) for found in detections.values()) == 100  # top-100 (query, class) pairs
    for found in detections.values():
        scores = [d.score for d in found]
        assert scores == sorted(scores, reverse=True)
        for detection in found:
            assert 0.0 <= detection.score <= 1.0
            assert detection.mask.shape == (image.height, image.width) and detection.mask.dtype == bool
            x1, y1, x2, y2 = detection.box
            assert 0 <= x1 <= x2 <= image.width and 0 <= y1 <= y2 <= image.height
            assert detection.box == tight_box(detection.mask)
            assert (detection.score == 0.0) == (not detection.mask.any())


def test_tiny_detector_returns_well_formed_detections(tiny_detector: dt.Detector) -> None:
    images = [drawn_image(96, 64), drawn_image(60, 80, "green")]
    results = tiny_detector.detect(images)
    assert len(results) == 2
    for image, detections in zip(images, results):
        _assert_well_formed(image, detections)


def test_default_input_size_is_mmdets_test_scale() -> None:
    detector = dt.build_detector("tiny", None, "cpu")  # (1333, 800) keep-ratio: 48x32 -> 1200x800
    image = drawn_image(48, 32)
    _assert_well_formed(image, detector.detect([image])[0])
    info = detector.describe()
    assert info["backend"] == "transformers-mask2former" and "1333x800" in info["input_resize"]
    assert info["weights_sha256"] == file_sha256(ts.tiny_detector_dir() / "model.safetensors")


def test_tiny_detector_is_batch_independent(tiny_detector: dt.Detector) -> None:
    images = [drawn_image(96, 64), drawn_image(96, 64, "black"), drawn_image(70, 50)]
    together = tiny_detector.detect(images)
    alone = [tiny_detector.detect([image])[0] for image in images]
    for a, b in zip(together, alone):
        assert a.keys() == b.keys()
        for label in a:
            assert [d.score for d in a[label]] == pytest.approx([d.score for d in b[label]], abs=1e-5), label
    assert tiny_detector.detect([]) == []


def test_tiny_random_detector_passes_genevals_threshold_sometimes(tiny_detector: dt.Detector) -> None:
    # the demo needs some detections above 0.3 to reach the colour check
    detections = tiny_detector.detect([drawn_image(96, 64)])[0]
    assert max(d.score for found in detections.values() for d in found) > 0.3


def test_tiny_models_are_rebuilt_identically(tmp_path: Path) -> None:
    detector_dir = ts.ensure_tiny_detector(tmp_path)
    clip_dir = ts.ensure_tiny_clip(tmp_path)
    first = {p.name: file_sha256(p) for p in [*detector_dir.iterdir(), *clip_dir.iterdir()]}
    shutil.rmtree(tmp_path / "models")
    assert ts.ensure_tiny_detector(tmp_path) == detector_dir and ts.ensure_tiny_clip(tmp_path) == clip_dir
    again = {p.name: file_sha256(p) for p in [*detector_dir.iterdir(), *clip_dir.iterdir()]}
    assert again == first
    assert {"model.safetensors", ts.TINY_CLIP_WEIGHTS, "preprocessor_config.json"} <= set(first)
    assert sorted(p.name for p in (tmp_path / "models").iterdir()) == [ts.TINY_CLIP_DIR, ts.TINY_DETECTOR_DIR]


def test_a_failed_build_leaves_no_folder_behind(tmp_path: Path) -> None:
    def build_half(out_dir: Path) -> None:
        (out_dir / "open_clip_model.safetensors").write_text("half")
        raise RuntimeError("builder crashed")

    with pytest.raises(RuntimeError, match="builder crashed"):
        ensure_built(tmp_path / "models" / "tiny", build_half, marker="open_clip_model.safetensors")
    assert list((tmp_path / "models").iterdir()) == []


# ----------------------------------------------------------------------------- errors a user can cause


def test_hub_weights_unreachable_offline_explain_the_remedy() -> None:
    with pytest.raises(UserError, match="local checkpoint folder") as caught:
        dt.build_detector("mask2former", None, "cpu")
    assert "`--task-option geneval.detector_weights=PATH`" in str(caught.value)
    with pytest.raises(UserError, match="not a checkpoint folder"):
        dt.build_detector("mask2former", "/no/such/folder", "cpu")
    with pytest.raises(UserError, match="Unknown detector 'yolo'"):
        dt.build_detector("yolo")
    with pytest.raises(UserError, match="builds its own random weights"):
        dt.build_detector("tiny", "/some/weights")


def test_download_errors_are_reported_in_one_line(monkeypatch: pytest.MonkeyPatch) -> None:
    import huggingface_hub
    import open_clip

    def fail(*args: object, **kwargs: object) -> None:
        raise OSError("Got: ConnectError: no network\nAn error happened while trying to locate the files.")

    monkeypatch.setattr(huggingface_hub, "snapshot_download", fail)
    monkeypatch.setattr(open_clip, "download_pretrained", fail)
    with pytest.raises(UserError) as detector_error:
        dt.build_detector("mask2former", None, "cpu")
    with pytest.raises(UserError) as clip_error:
        cc.ColorClassifier("ViT-L-14", "openai", "cpu")
    for caught in (detector_error, clip_error):
        message = str(caught.value)
        assert "\n" not in message and "(OSError: Got: ConnectError: no network)" in message
        assert "locate the files" not in message
    assert first_line(OSError("\n  first\nsecond")) == "first" and first_line(OSError()) == ""


def test_mmdet_missing_says_how_to_install(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "mmdet", None)  # import mmdet -> ImportError, installed or not
    with pytest.raises(UserError, match="mim install 'mmcv-full==1.7.2'"):
        dt.build_detector("mmdet", None, "cpu")


def test_mmdet_results_become_sorted_detections() -> None:
    bboxes = [np.zeros((0, 5), dtype=np.float32) for _ in dt.GENEVAL_CLASSES]
    segms: list[list[np.ndarray]] = [[] for _ in dt.GENEVAL_CLASSES]
    bboxes[16] = np.array([[1, 2, 3, 4, 0.2], [5, 6, 7, 8, 0.9]], dtype=np.float32)
    segms[16] = [np.eye(4, dtype=bool), np.ones((4, 4), dtype=bool)]
    detections = md.mmdet_result_to_detections((bboxes, segms))
    assert [(d.box, round(d.score, 6)) for d in detections["dog"]] == [((5, 6, 7, 8), 0.9), ((1, 2, 3, 4), 0.2)]
    assert detections["dog"][0].mask.all() and detections["cat"] == []


def test_clip_weights_unreachable_offline_explain_the_remedy() -> None:
    with pytest.raises(UserError, match="pass the local checkpoint file") as caught:
        cc.ColorClassifier("ViT-L-14", "openai", "cpu")
    assert "`--task-option geneval.clip_weights=PATH`" in str(caught.value)
    with pytest.raises(UserError, match="does not exist"):
        cc.ColorClassifier("ViT-L-14", "/no/such/clip.pt", "cpu")
    with pytest.raises(UserError, match="neither a colour"):
        cc.build_color_classifier("tiny", device="cpu", bgcolor="not-a-colour")
    with pytest.raises(UserError, match="builds its own random weights"):
        cc.build_color_classifier("tiny", "/some/clip.pt", "cpu")


# ----------------------------------------------------------------------------- colour crops and CLIP


def _object(width: int = 20, height: int = 16) -> tuple[Image.Image, Detection]:
    rng = np.random.default_rng(0)
    image = Image.fromarray(rng.integers(0, 256, size=(height, width, 3), dtype=np.uint8))
    mask = np.zeros((height, width), dtype=bool)
    mask[4:10, 5:12] = True
    mask[6, 14] = True
    return image, Detection(box=tight_box(mask), score=0.9, mask=mask)


def test_crop_puts_grey_outside_the_mask() -> None:
    image, detection = _object()
    crop = np.asarray(cc.crop_for_classification(image, detection))
    assert crop.shape == (6, 10, 3)  # box (5, 4, 15, 10)
    inside = detection.mask[4:10, 5:15]
    original = np.asarray(image)[4:10, 5:15]
    assert (crop[inside] == original[inside]).all()
    assert (crop[~inside] == 153).all()  # "#999"
    assert (np.asarray(cc.crop_for_classification(image, detection, bgcolor="original")) == original).all()
    uncropped = np.asarray(cc.crop_for_classification(image, detection, crop=False))
    assert uncropped.shape == (16, 20, 3) and (uncropped[~detection.mask] == 153).all()


def test_zero_shot_weights_equal_a_hand_computation(tiny_clip: cc.ColorClassifier) -> None:
    weights = tiny_clip.text_weights("fire hydrant").numpy()
    assert weights.shape == (ts.TINY_CLIP_CONFIG["embed_dim"], 10)
    for column, colour in enumerate(cc.GENEVAL_COLORS):
        prompts = [f"a photo of a {colour} fire hydrant", f"a photo of a {colour}-colored fire hydrant"]
        prompts.append(f"a photo of a {colour} object")
        with torch.no_grad():
            embeddings = tiny_clip.model.encode_text(tiny_clip.tokenizer(prompts)).numpy().astype(np.float64)
        mean = (embeddings / np.linalg.norm(embeddings, axis=1, keepdims=True)).mean(axis=0)
        np.testing.assert_allclose(weights[:, column], mean / np.linalg.norm(mean), rtol=1e-4, atol=1e-6)


def test_colour_classifier_decides_by_argmax_and_is_batch_independent(tiny_clip: cc.ColorClassifier) -> None:
    image, detection = _object(48, 40)
    images = [drawn_image(48, 40, colour) for colour in ("red", "green", "yellow", "black", "purple")]
    items = [(image, detection, "apple"), *[(im, Detection((4, 4, 30, 30), 0.5), "bench") for im in images]]
    one_by_one = cc.ColorClassifier("tiny", device="cpu", batch_size=1).classify(items)
    assert tiny_clip.classify(items) == one_by_one
    assert all(colour in cc.GENEVAL_COLORS for colour in one_by_one)

    pixels = tiny_clip.transform(cc.crop_for_classification(image, detection))[None]
    with torch.no_grad():
        features = tiny_clip.model.encode_image(pixels)[0].numpy().astype(np.float64)
    logits = 100 * features / np.linalg.norm(features) @ tiny_clip.text_weights("apple").numpy()
    assert one_by_one[0] == cc.GENEVAL_COLORS[int(np.argmax(logits))]
    info = tiny_clip.describe()
    assert info["precision"] == "fp32" and info["bgcolor"] == "#999" and info["crop"] is True
    assert info["weights_sha256"] == file_sha256(ts.tiny_clip_dir() / ts.TINY_CLIP_WEIGHTS)


# ----------------------------------------------------------------------------- OpenAI's TorchScript CLIP file


class _OpenAIArchive(torch.nn.Module):
    """A CLIP's tensors under OpenAI's key names, plus the three integer buffers OpenAI's archives carry."""

    def __init__(self, clip: torch.nn.Module) -> None:
        super().__init__()
        for name, child in clip.named_children():
            self.add_module(name, child)
        for name, parameter in clip.named_parameters(recurse=False):
            self.register_parameter(name, parameter)
        config = ts.TINY_CLIP_CONFIG
        self.register_buffer("input_resolution", torch.tensor(config["vision_cfg"]["image_size"]))
        self.register_buffer("context_length", torch.tensor(config["text_cfg"]["context_length"]))
        self.register_buffer("vocab_size", torch.tensor(config["text_cfg"]["vocab_size"]))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x + 1


def _register_config(folder: Path, name: str, **changes: object) -> str:
    import open_clip

    config = {**ts.TINY_CLIP_CONFIG, **changes}
    config = {key: value for key, value in config.items() if value is not None}
    (folder / f"{name}.json").write_text(json.dumps(config))
    open_clip.add_model_config(folder / f"{name}.json")
    return name


@pytest.fixture(scope="module")
def openai_archive(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, dict[str, torch.Tensor]]:
    """A tiny CLIP saved as OpenAI's clip package saves ViT-L-14.pt (TorchScript, fp16), and its fp32 values."""
    from open_clip.model import CLIP

    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(7)
        clip = CLIP(**ts.TINY_CLIP_CONFIG).eval()
    values = {name: tensor.half().float() for name, tensor in clip.state_dict().items()}
    path = tmp_path_factory.mktemp("openai-clip") / "ViT-tiny.pt"
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", FutureWarning)  # torch.jit is deprecated; OpenAI's files use it
        traced = torch.jit.trace(_OpenAIArchive(clip), torch.zeros(1))
        for parameter in traced.parameters():
            parameter.data = parameter.data.half()
        torch.jit.save(traced, str(path))
    return path, values


def test_openai_torchscript_weights_load_with_quick_gelu(
    openai_archive: tuple[Path, dict[str, torch.Tensor]], tmp_path: Path, recwarn: pytest.WarningsRecorder
) -> None:
    from open_clip.model import CLIP

    path, values = openai_archive
    # an architecture whose config says GELU: OpenAI weights must still get QuickGELU, as load_openai_model gave
    arch = _register_config(tmp_path, "janus-eval-test-gelu-clip", quick_gelu=None)
    classifier = cc.ColorClassifier(arch, str(path), "cpu")
    assert not [w for w in recwarn if "TorchScript" in str(w.message) or "jit.load" in str(w.message)]

    reference = CLIP(**ts.TINY_CLIP_CONFIG).eval()  # QuickGELU
    reference.load_state_dict(values)
    plain_gelu = CLIP(**{**ts.TINY_CLIP_CONFIG, "quick_gelu": False}).eval()
    plain_gelu.load_state_dict(values)
    pixels = torch.randn(2, 3, 32, 32, generator=torch.Generator().manual_seed(0))
    tokens = classifier.tokenizer(["a photo of a red car", "a photo of a blue object"])
    with torch.no_grad():
        for encode in ("encode_image", "encode_text"):
            argument = pixels if encode == "encode_image" else tokens
            loaded = getattr(classifier.model, encode)(argument)
            torch.testing.assert_close(loaded, getattr(reference, encode)(argument), rtol=0, atol=0)
            assert not torch.allclose(loaded, getattr(plain_gelu, encode)(argument), atol=1e-4)
    info = classifier.describe()
    assert info["weights_format"].startswith("TorchScript archive") and info["quick_gelu"] is True
    assert info["weights_file"] == str(path) and info["weights_sha256"] == file_sha256(path)


def test_torchscript_archives_are_told_from_state_dicts(
    openai_archive: tuple[Path, dict[str, torch.Tensor]], tmp_path: Path
) -> None:
    path, values = openai_archive
    pickled = tmp_path / "state_dict.pt"
    torch.save(values, pickled)
    assert cc.is_torchscript_archive(path)
    assert not cc.is_torchscript_archive(pickled)
    assert not cc.is_torchscript_archive(ts.ensure_tiny_clip() / ts.TINY_CLIP_WEIGHTS)
    # a plain state dict still goes through open_clip's weights_only loader
    classifier = cc.ColorClassifier(ts.register_tiny_clip()[0], str(pickled), "cpu")
    assert classifier.describe()["weights_format"] == "state dict"
    torch.testing.assert_close(classifier.model.state_dict()["text_projection"], values["text_projection"])


def test_clip_file_of_another_architecture_is_a_user_error(
    openai_archive: tuple[Path, dict[str, torch.Tensor]], tmp_path: Path
) -> None:
    path, _ = openai_archive
    arch = _register_config(tmp_path, "janus-eval-test-narrow-clip", embed_dim=16)
    with pytest.raises(
        UserError, match="into open_clip's janus-eval-test-narrow-clip \\(its tensors do not fit"
    ) as caught:
        cc.ColorClassifier(arch, str(path), "cpu")
    assert "timm/vit_large_patch14_clip_224.openai" in str(caught.value) and "\n" not in str(caught.value)
    garbage = tmp_path / "clip.pt"
    garbage.write_text("not a checkpoint")
    with pytest.raises(UserError, match="Cannot load the CLIP weights file"):
        cc.ColorClassifier(ts.register_tiny_clip()[0], str(garbage), "cpu")


def test_unknown_clip_architecture_lists_known_ones() -> None:
    import open_clip

    with pytest.raises(UserError, match="Unknown CLIP architecture 'ViT-X'") as caught:
        cc.build_color_classifier("ViT-X", device="cpu")
    message = str(caught.value)
    assert "ViT-L-14" in message and open_clip.list_models()[0] in message and "neither" not in message


# ----------------------------------------------------------------------------- devices and batch sizes


def test_check_device_rejects_devices_this_machine_lacks() -> None:
    assert dt.check_device("cpu") == "cpu"
    with pytest.raises(UserError, match="'tpu' is not a torch device"):
        dt.check_device("tpu")
    with pytest.raises(UserError, match="'cuda:99' is not available on this machine; available: cpu"):
        dt.check_device("cuda:99")
    with pytest.raises(UserError, match="'cuda:99' is not available"):
        dt.build_detector("tiny", None, "cuda:99")
    with pytest.raises(UserError, match="'tpu' is not a torch device"):
        cc.build_color_classifier("tiny", device="tpu")


def _count_calls(monkeypatch: pytest.MonkeyPatch, owner: object, method: str) -> list[int]:
    sizes: list[int] = []
    original = getattr(owner, method)

    def counted(*args: torch.Tensor, **kwargs: torch.Tensor) -> object:
        batch = args[0] if args else next(iter(kwargs.values()))
        sizes.append(int(batch.shape[0]))
        return original(*args, **kwargs)

    monkeypatch.setattr(owner, method, counted)
    return sizes


def test_scorer_batch_size_reaches_the_models(monkeypatch: pytest.MonkeyPatch) -> None:
    assert dt.build_detector("tiny", None, "cpu", scale=SMALL_SCALE).describe()["batch_size"] == 8
    assert cc.build_color_classifier("tiny", device="cpu").describe()["batch_size"] == 16
    with pytest.raises(UserError, match="batch size must be at least 1"):
        dt.build_detector("tiny", None, "cpu", batch_size=0)
    with pytest.raises(UserError, match="batch size must be at least 1"):
        cc.build_color_classifier("tiny", device="cpu", batch_size=0)

    detector = dt.build_detector("tiny", None, "cpu", scale=SMALL_SCALE, batch_size=2)
    assert isinstance(detector, dt.Mask2FormerDetector) and detector.describe()["batch_size"] == 2
    passes = _count_calls(monkeypatch, detector.model, "forward")
    detector.detect([drawn_image(40, 30, colour) for colour in ("red", "green", "blue", "black", "purple")])
    assert passes == [2, 2, 1]

    classifier = cc.build_color_classifier("tiny", device="cpu", batch_size=3)
    image, detection = _object()
    crops = _count_calls(monkeypatch, classifier.model, "encode_image")
    classifier.classify([(image, detection, "apple")] * 7)
    assert crops == [3, 3, 1] and classifier.describe()["batch_size"] == 3
