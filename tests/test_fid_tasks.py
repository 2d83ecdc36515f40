"""COCO-30K and MJHQ-30K FID tasks: the demo end to end, resume and shards without extracting twice, data,
errors, and when the published numbers apply."""

from __future__ import annotations

import hashlib
import json
import tempfile
import zipfile
from pathlib import Path

import numpy as np
import pytest
from janus_eval.tasks.coco_fid import ANNOTATIONS_FILE, CAPTIONS_MEMBER, CocoFidTask
from janus_eval.tasks.frechet_task import FrechetOptions
from janus_eval.tasks.mjhq_fid import MJHQ_CATEGORIES, MjhqFidTask, rows_from_metadata
from PIL import Image

from janus_eval.data.hashing import hash_json
from janus_eval.errors import UserError
from janus_eval.rules.fid_metric import ReferenceStatistics
from janus_eval.rules.frechet import STATS_FORMAT, FeatureStats
from janus_eval.scorers.fid_features import FeatureExtractor
from janus_eval.scorers.fid_reference import protocol_key, save_statistics
from janus_eval.scorers.tiny_scorers import ensure_tiny_fid_network
from tests.helpers import read_json, read_jsonl, run_cli

DEMO = ["--model", "janus-tiny", "--data", "demo", "--no-progress"]


@pytest.fixture
def extracted(monkeypatch: pytest.MonkeyPatch) -> list[int]:
    """How many generated images each feature extraction got (the real extractor runs; this only counts)."""
    calls: list[int] = []
    original = FeatureExtractor.features

    def counting(self: FeatureExtractor, images: list[Image.Image]) -> np.ndarray:
        calls.append(len(images))
        return original(self, images)

    monkeypatch.setattr(FeatureExtractor, "features", counting)
    return calls


def _run(args: list[str], capsys: pytest.CaptureFixture[str]) -> str:
    code, out, err = run_cli(args, capsys)
    assert code == 0, err
    return out


# ----------------------------------------------------------------------------- the demo, resume, shards


def test_coco_demo_resumes_without_extracting_an_image_twice(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], extracted: list[int]
) -> None:
    args = [*DEMO, "--tasks", "coco_fid", "--output-dir", str(tmp_path / "run")]
    _run([*args, "--limit", "3"], capsys)
    assert sum(extracted) == 3
    out = _run(args, capsys)  # the rest of the demo's 8 captions
    assert sum(extracted) == 8
    model_dir = tmp_path / "run" / "janus-tiny"
    result = read_json(model_dir / "coco_fid.json")
    assert result["counts"] == {"total": 8, "scored": 8, "failed": 0, "generated": 5, "reused": 3, "rescored": 0,
                                "scoring_failed": 0}
    assert result["headline"]["metric"] == "fid" and result["metrics"]["num_images"] == 8
    assert result["published"] is None and "FID is biased upward at small N" in out
    assert result["scorers"]["feature_extractor"]["extractor"] == "tiny"
    assert result["protocol"]["features"]["preprocessing"]["eval_res"] == 256
    assert result["protocol"]["reference"]["count"] == 10

    # each record holds its image's path and its features' sidecar, whose sha256 matches the file
    for record in read_jsonl(model_dir / "coco_fid.samples.jsonl"):
        (image,) = record["output"]
        assert (model_dir / image).is_file() and image.endswith("samples/00000.png")
        features = record["score"]["features"]
        data = (model_dir / features["sidecar"]).read_bytes()
        assert hashlib.sha256(data).hexdigest() == features["sha256"] and features["shape"] == [32]
        assert Path(features["sidecar"]).parent == Path(image).parent.parent

    # the same metrics as one uninterrupted run, to the last bit
    _run([*DEMO, "--tasks", "coco_fid", "--output-dir", str(tmp_path / "fresh")], capsys)
    assert read_json(tmp_path / "fresh" / "janus-tiny" / "coco_fid.json")["metrics"] == result["metrics"]


def test_lost_features_are_extracted_again_from_the_saved_image_and_shards_merge(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], extracted: list[int]
) -> None:
    args = [*DEMO, "--tasks", "mjhq_fid", "--output-dir", str(tmp_path)]
    _run(args, capsys)
    model_dir = tmp_path / "janus-tiny"
    first = read_json(model_dir / "mjhq_fid.json")
    assert set(first["metrics"]) == {"fid", "fid_animals", "fid_food", "num_images", "num_reference"}
    assert all(first["metrics"][key] is not None for key in ("fid", "fid_animals", "fid_food"))
    records = read_jsonl(model_dir / "mjhq_fid.samples.jsonl")
    (model_dir / records[2]["score"]["features"]["sidecar"]).unlink()
    extracted.clear()
    _run(args, capsys)
    again = read_json(model_dir / "mjhq_fid.json")
    assert extracted == [1] and (again["counts"]["generated"], again["counts"]["rescored"]) == (0, 1)
    assert again["metrics"] == first["metrics"]

    # the record files of an interrupted two-process run: merged, nothing extracted, the same FID
    lines = (model_dir / "mjhq_fid.samples.jsonl").read_text().splitlines(keepends=True)
    (model_dir / "mjhq_fid.samples.rank0.jsonl").write_text("".join(lines[0::2]))
    (model_dir / "mjhq_fid.samples.rank1.jsonl").write_text("".join(lines[1::2]))
    (model_dir / "mjhq_fid.samples.jsonl").unlink()
    extracted.clear()
    _run(args, capsys)
    assert extracted == [] and read_json(model_dir / "mjhq_fid.json")["metrics"] == first["metrics"]


# ----------------------------------------------------------------------------- local data


def _write_mjhq_copy(root: Path, per_category: int) -> tuple[Path, Path]:
    """A local copy in MJHQ-30K's layout: DIR/mjhq_fid/meta_data.json and the images' <category>/<id>.png."""
    metadata, rng = {}, np.random.default_rng(0)
    images = root / "mjhq30k_imgs"
    for category in MJHQ_CATEGORIES:
        (images / category).mkdir(parents=True)
        for number in range(per_category):
            image_id = hashlib.sha1(f"{category}{number}".encode()).hexdigest()
            metadata[image_id] = {"prompt": f"a {category} picture number {number}", "category": category}
            Image.fromarray(rng.integers(0, 255, size=(24, 24, 3), dtype=np.uint8)).save(
                images / category / f"{image_id}.png"
            )
    (root / "data" / "mjhq_fid").mkdir(parents=True)
    (root / "data" / "mjhq_fid" / "meta_data.json").write_text(json.dumps(metadata))
    return root / "data", images


def test_mjhq_from_a_local_copy_with_per_category_fid(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    data_dir, images = _write_mjhq_copy(tmp_path, per_category=2)
    out = _run(["--model", "janus-tiny", "--tasks", "mjhq_fid", "--no-progress", "--data-dir", str(data_dir),
                "--output-dir", str(tmp_path / "out"), "--task-option", "mjhq_fid.feature_extractor=tiny",
                "--task-option", f"mjhq_fid.reference={images}", "--task-option", "mjhq_fid.eval_res=64"], capsys)  # fmt: skip
    result = read_json(tmp_path / "out" / "janus-tiny" / "mjhq_fid.json")
    assert result["counts"]["total"] == 20 and result["metrics"]["num_reference"] == 20
    assert all(result["metrics"][f"fid_{category}"] is not None for category in MJHQ_CATEGORIES)
    meta = (data_dir / "mjhq_fid" / "meta_data.json").read_bytes()
    assert result["data"]["origin"] == "local"
    # no published checksum: the copy read is fingerprinted by its content
    assert result["data"]["fingerprint"] == hash_json({"meta_data.json": hashlib.sha256(meta).hexdigest()})
    assert result["scorers"]["reference"]["groups"] == dict.fromkeys(MJHQ_CATEGORIES, 2)
    assert "the reference set has 20 images" in out
    categories = {r["meta"]["category"] for r in read_jsonl(tmp_path / "out" / "janus-tiny" / "mjhq_fid.samples.jsonl")}
    assert categories == set(MJHQ_CATEGORIES)


def test_mjhq_metadata_is_checked() -> None:
    rows = rows_from_metadata({"b": {"prompt": "x", "category": "food"}, "a": {"prompt": "y", "category": "art"}}, "m")
    assert [r["id"] for r in rows] == ["a", "b"]
    with pytest.raises(UserError, match="category 'cars'"):
        rows_from_metadata({"a": {"prompt": "y", "category": "cars"}}, "m")
    with pytest.raises(UserError, match="lacks a prompt"):
        rows_from_metadata({"a": {"category": "art"}}, "m")
    with pytest.raises(UserError, match="not MJHQ-30K's metadata"):
        rows_from_metadata([1, 2], "m")


def test_coco_captions_are_a_seeded_sample_one_caption_per_image(tmp_path: Path) -> None:
    images = [{"id": i, "file_name": f"COCO_val2014_{i:012d}.jpg"} for i in range(1, 41)]
    annotations = [
        {"id": 100 * i + k, "image_id": i, "caption": f" caption {k} of {i}\n"} for i in range(1, 41) for k in range(5)
    ]
    archive = tmp_path / ANNOTATIONS_FILE.name
    with zipfile.ZipFile(archive, "w") as handle:
        handle.writestr(CAPTIONS_MEMBER, json.dumps({"images": images, "annotations": annotations}))
    task = CocoFidTask(FrechetOptions(num_images=25, sample_seed=3))
    rows = task.rows_from_files({ANNOTATIONS_FILE.name: archive})
    samples = task.samples(rows)
    assert len(rows) == 40 and len(samples) == 25 and len({s.id for s in samples}) == 25
    for sample in samples:
        assert sample.meta["prompt"] == f"caption {sample.meta['caption_id'] % 100} of {sample.id}"  # stripped
    # every prefix is the smaller sample of the same seed; another seed samples other images
    smaller = CocoFidTask(FrechetOptions(num_images=10, sample_seed=3)).samples(rows)
    assert [s.id for s in smaller] == [s.id for s in samples[:10]]
    other = CocoFidTask(FrechetOptions(num_images=25, sample_seed=4)).samples(rows)
    assert {s.id for s in other} != {s.id for s in samples}
    request = task.build_request(samples[0])
    assert (request.num_images, request.cfg_weight, request.temperature) == (1, None, 1.0)  # None: the model's own
    (archive).write_bytes(b"not a zip")
    with pytest.raises(UserError, match="cannot read annotations/captions_val2014.json"):
        task.rows_from_files({ANNOTATIONS_FILE.name: archive})


# ----------------------------------------------------------------------------- errors


def _fails(args: list[str], capsys: pytest.CaptureFixture[str], tmp_path: Path) -> str:
    code, _, err = run_cli([*args, "--output-dir", str(tmp_path / "out")], capsys)
    assert code == 2 and "Traceback" not in err and err.count("error:") == 1
    # before the model loads: nothing generated or recorded (at most the run's lock files were taken)
    assert not [p for p in (tmp_path / "out" / "janus-tiny").glob("*") if not p.name.endswith(".lock")]
    return err


def test_bad_references_and_missing_weights_fail_with_one_message(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    err = _fails(
        [*DEMO, "--tasks", "coco_fid", "--task-option", f"coco_fid.reference={tmp_path / 'nowhere'}"], capsys, tmp_path
    )
    assert "nowhere is not a folder of images" in err

    # statistics made from the demo's reference, offered for another reference folder
    _run([*DEMO, "--tasks", "mjhq_fid", "--limit", "2", "--output-dir", str(tmp_path / "first")], capsys)
    stats_file = (
        read_json(tmp_path / "first" / "janus-tiny" / "mjhq_fid.json")["protocol"]["reference"]["notes"]
        .split()[2]
        .rstrip(";")
    )
    _, images = _write_mjhq_copy(tmp_path / "copy", per_category=2)
    err = _fails([*DEMO, "--tasks", "mjhq_fid", "--task-option", f"mjhq_fid.reference={images}",
                  "--task-option", f"mjhq_fid.reference_stats={stats_file}"], capsys, tmp_path)  # fmt: skip
    assert "were made from another reference set" in err
    err = _fails([*DEMO, "--tasks", "mjhq_fid", "--task-option", "mjhq_fid.eval_res=128",
                  "--task-option", f"mjhq_fid.reference_stats={stats_file}"], capsys, tmp_path)  # fmt: skip
    assert "another feature protocol" in err and "preprocessing" in err

    monkeypatch.setenv("JANUS_EVAL_OFFLINE", "1")
    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path))  # no copy where clean-fid downloads it either
    err = _fails(
        [*DEMO, "--tasks", "coco_fid", "--task-option", "coco_fid.feature_extractor=inception"], capsys, tmp_path
    )
    assert (
        "inception-2015-12-05.pt is not cached and JANUS_EVAL_OFFLINE=1" in err
        and "coco_fid.inception_weights=PATH" in err
    )

    with pytest.raises(UserError, match="all 40,504 COCO val2014 images"):
        CocoFidTask().reference()


# ----------------------------------------------------------------------------- published numbers


def _paper_sized_reference(task: MjhqFidTask | CocoFidTask, path: Path, groups: dict[str, int]) -> None:
    """A statistics file of the papers' image count for the task's extractor (made-up sums: only counts matter)."""
    rng = np.random.default_rng(0)
    stats = {}
    for group, count in groups.items():
        feats = rng.normal(size=(40, 32))
        stats[group] = FeatureStats(count, feats.sum(0) * count / 40, feats.T @ feats * count / 40)
    metadata = {"format": STATS_FORMAT, "fingerprint": "synthetic", "protocol": protocol_key(task.extractor()),
                "groups": groups, "made_from": "synthetic"}  # fmt: skip
    save_statistics(path, ReferenceStatistics(stats), metadata)


def test_published_numbers_apply_only_under_their_papers_settings(tmp_path: Path) -> None:
    stand_in = str(ensure_tiny_fid_network())  # any TorchScript file in clean-fid's convention loads as "inception"
    options = {
        "feature_extractor": "inception",
        "inception_weights": stand_in,
        "reference_stats": str(tmp_path / "mjhq.npz"),
    }
    janus = MjhqFidTask(FrechetOptions(**options))
    _paper_sized_reference(janus, tmp_path / "mjhq.npz", dict.fromkeys(MJHQ_CATEGORIES, 3000))
    # unset, the weight is each model's own paper setting: both papers' numbers apply
    assert janus.published_numbers() == {"janus-1.3b": 10.10, "janusflow-1.3b": 9.51}
    assert MjhqFidTask(FrechetOptions(**options, cfg_weight=5.0)).published_numbers() == {"janus-1.3b": 10.10}
    assert MjhqFidTask(FrechetOptions(**options, cfg_weight=2.0)).published_numbers() == {"janusflow-1.3b": 9.51}
    assert MjhqFidTask(FrechetOptions(**options, cfg_weight=3.0)).published_numbers() == {}
    assert MjhqFidTask(FrechetOptions(**{**options, "feature_extractor": "tiny"}), demo=True).published_numbers() == {}

    coco = {**options, "reference_stats": str(tmp_path / "coco.npz")}
    _paper_sized_reference(CocoFidTask(FrechetOptions(**coco)), tmp_path / "coco.npz", {"all": 5000})
    assert CocoFidTask(FrechetOptions(**coco)).published_numbers() == {}  # a 5,000-image reference is not val2014
    _paper_sized_reference(CocoFidTask(FrechetOptions(**coco)), tmp_path / "coco.npz", {"all": 40_504})
    assert CocoFidTask(FrechetOptions(**coco)).published_numbers() == {"janus-1.3b": 8.53}
