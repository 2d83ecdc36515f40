"""The FID tasks' optional scores: KID (clean-fid's kernel_distance) and the CLIP score (torchmetrics' definition),
both off by default without changing the records' identity."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from cleanfid import fid as cleanfid
from janus_eval.tasks.coco_fid import CocoFidTask
from janus_eval.tasks.frechet_task import FrechetOptions
from PIL import Image

from janus_eval.api import Sample
from janus_eval.data.demo_images import demo_image
from janus_eval.data.image_io import decode_image
from janus_eval.engine.config_hash import _without_prose
from janus_eval.errors import UserError
from janus_eval.reports.compare import compare_task
from janus_eval.rules import fid_metric
from janus_eval.rules import kernel_distance as kd
from janus_eval.rules.fid_metric import FrechetMetric, ReferenceStatistics
from janus_eval.rules.frechet import FeatureStats
from janus_eval.scorers.clip_score import ClipScorer
from janus_eval.scorers.fid_reference import file_statistics
from tests.helpers import read_json, read_jsonl, run_cli

DEMO = ["--model", "janus-tiny", "--data", "demo", "--no-progress", "--tasks", "coco_fid"]
EXTRAS = ["--task-option", "coco_fid.kid=true", "--task-option", "coco_fid.clip_score=true"]


# ----------------------------------------------------------------------------- KID


def _metric(reference: ReferenceStatistics, kid: bool = True, clip: bool = True) -> FrechetMetric:
    return FrechetMetric(lambda: reference, kid=kd.KidSettings(10, 1000, 0) if kid else None, clip_score=clip)


def test_kid_and_clip_score_merge_like_one_pass() -> None:
    rng = np.random.default_rng(5)
    ref_rows = rng.normal(size=(30, 8)).astype(np.float32)
    reference = ReferenceStatistics({"all": FeatureStats.of(ref_rows)}, features={"all": ref_rows})
    rows = rng.normal(size=(24, 8)).astype(np.float32)
    samples = [Sample(id=str(i), index=i, target=None, meta={}) for i in range(24)]
    scores = [{"features": row, "clip_score": float(10 + i)} for i, row in enumerate(rows)]
    whole, first, second = _metric(reference), _metric(reference), _metric(reference)
    for number, (sample, score) in enumerate(zip(samples, scores)):
        whole.update(sample, score)
        (first if number < 10 else second).update(sample, score)
    first.merge(second)
    one_pass = whole.compute()
    assert first.compute() == one_pass
    np.random.seed(0)
    expected = cleanfid.kernel_distance(ref_rows.astype(np.float64), rows.astype(np.float64), num_subsets=10)
    assert one_pass["kid"] == pytest.approx(expected, rel=1e-12)
    assert one_pass["clip_score"] == pytest.approx(np.mean([s["clip_score"] for s in scores]))
    assert one_pass["clip_score_ci_low"] < one_pass["clip_score"] < one_pass["clip_score_ci_high"]
    whole.merge(whole)  # a unit drawn twice counts twice
    assert len(whole.rows) == 48 and len(whole.clip_scores) == 48
    with pytest.raises(ValueError, match="other optional scores"):
        _metric(reference).merge(_metric(reference, kid=False))
    assert set(_metric(reference, kid=False, clip=False).compute()) == {"fid", "num_images", "num_reference"}


# ----------------------------------------------------------------------------- CLIP score


def test_clip_score_equals_a_hand_computation_with_the_models_encoders() -> None:
    scorer = ClipScorer("tiny", None, "cpu", batch_size=2)
    images = [decode_image(demo_image([("circle", "red")])), Image.new("RGB", (40, 30), "green"),
              decode_image(demo_image([("square", "blue")], background="white"))]  # fmt: skip
    captions = ["a red circle", "green", "a blue square on white"]
    model, transform, tokenizer = scorer.loaded.model, scorer.loaded.transform, scorer.loaded.tokenizer
    by_hand = []
    for image, caption in zip(images, captions):
        with torch.no_grad():
            image_emb = model.encode_image(transform(image)[None])[0]
            text_emb = model.encode_text(tokenizer([caption]))[0]
        by_hand.append(100 * max(float(F.cosine_similarity(image_emb, text_emb, dim=0)), 0.0))
    assert scorer.scores(images, captions) == pytest.approx(by_hand, rel=1e-5)
    # a score does not depend on its batch mates (constant-size passes)
    assert scorer.scores(images[2:], captions[2:]) == scorer.scores(images, captions)[2:]
    with pytest.raises(UserError, match="do not set coco_fid.clip_weights"):
        ClipScorer("tiny", "laion2b", "cpu", option="coco_fid.clip_weights")


# ----------------------------------------------------------------------------- the task


def test_off_by_default_keeps_the_identity_and_on_is_recorded() -> None:
    off, on = CocoFidTask(demo=True), CocoFidTask(FrechetOptions(kid=True, clip_score=True), demo=True)
    dumped = off.options.model_dump(mode="json")
    assert not {"kid", "kid_subsets", "kid_seed", "clip_score", "clip_model", "clip_weights"} & set(dumped)
    assert dumped == CocoFidTask(FrechetOptions(kid=False, kid_seed=0), demo=True).options.model_dump(mode="json")
    assert {"kid": True, "clip_score": True}.items() <= on.options.model_dump(mode="json").items()
    off_card, on_card = _without_prose(off.protocol_card()), _without_prose(on.protocol_card())
    assert "kid" not in off_card and "clip_score" not in off_card and "kid" not in off_card["metrics"]
    assert on_card["kid"]["num_subsets"] == 100 and on_card["clip_score"]["model"] == "tiny"
    assert "clip_score" not in off.scorer_info() and on.scorer_info()["clip_score"]["backend"] == "open_clip"
    # outside the demo, the CLIP score's default model is GigaGAN's (OpenAI ViT-B/32)
    real = CocoFidTask(FrechetOptions(clip_score=True))
    assert (real.clip_model, real.clip_weights) == ("ViT-B-32", "openai")


def test_demo_with_kid_and_clip_score_resumes_and_merges_shards_to_one_pass(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    clip_calls: list[int] = []
    original = ClipScorer.scores

    def counting(self: ClipScorer, images: list[Image.Image], captions: list[str]) -> list[float]:
        clip_calls.append(len(images))
        return original(self, images, captions)

    monkeypatch.setattr(ClipScorer, "scores", counting)
    args = [*DEMO, *EXTRAS, "--output-dir", str(tmp_path / "run")]
    assert run_cli([*args, "--limit", "3"], capsys)[0] == 0
    assert run_cli(args, capsys)[0] == 0
    assert sum(clip_calls) == 8  # the resumed run scored only the 5 new images
    model_dir = tmp_path / "run" / "janus-tiny"
    resumed = read_json(model_dir / "coco_fid.json")
    metrics = resumed["metrics"]
    assert metrics["kid"] is not None and metrics["clip_score"] is not None
    assert metrics["clip_score_ci_low"] <= metrics["clip_score"] <= metrics["clip_score_ci_high"]
    assert resumed["protocol"]["kid"]["subset_size"] == "min(n_generated, n_reference, 1000)"
    records = read_jsonl(model_dir / "coco_fid.samples.jsonl")
    assert np.mean([r["score"]["clip_score"] for r in records]) == pytest.approx(metrics["clip_score"])

    assert run_cli([*DEMO, *EXTRAS, "--output-dir", str(tmp_path / "fresh")], capsys)[0] == 0
    assert read_json(tmp_path / "fresh" / "janus-tiny" / "coco_fid.json")["metrics"] == metrics

    lines = (model_dir / "coco_fid.samples.jsonl").read_text().splitlines(keepends=True)
    (model_dir / "coco_fid.samples.rank0.jsonl").write_text("".join(lines[0::2]))
    (model_dir / "coco_fid.samples.rank1.jsonl").write_text("".join(lines[1::2]))
    (model_dir / "coco_fid.samples.jsonl").unlink()
    clip_calls.clear()
    assert run_cli(args, capsys)[0] == 0
    assert clip_calls == [] and read_json(model_dir / "coco_fid.json")["metrics"] == metrics

    # compare's bootstrap recomputes only the FID headline per draw: no KID (a minute each at 30k images)
    def no_kid(*args: object, **kwargs: object) -> float:
        raise AssertionError("KID computed inside the bootstrap")

    monkeypatch.setattr(fid_metric, "kernel_distance", no_kid)
    comparison = compare_task("coco_fid", tmp_path / "fresh" / "janus-tiny", model_dir, resamples=20)
    assert comparison.delta == pytest.approx(0.0)


def test_kid_needs_reference_rows_and_missing_clip_weights_fail_offline(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    # statistics cached without rows: a KID run computes them, and the FID stays the same
    assert run_cli([*DEMO, "--limit", "2", "--output-dir", str(tmp_path / "a")], capsys)[0] == 0
    fid_only = read_json(tmp_path / "a" / "janus-tiny" / "coco_fid.json")
    stats_file = Path(fid_only["protocol"]["reference"]["notes"].split()[2].rstrip(";"))
    for rows in stats_file.parent.glob(f"{stats_file.stem}.*.features.npy"):  # left by another test's KID run
        rows.unlink()
    copy = tmp_path / "fid-only.npz"  # a statistics file without its rows beside it
    copy.write_bytes(stats_file.read_bytes())
    task = CocoFidTask(FrechetOptions(kid=True), demo=True)
    with pytest.raises(UserError, match="KID needs the reference images' feature rows"):
        file_statistics(copy, task.extractor(), with_rows=True)
    kid_args = [*DEMO, "--limit", "2", "--task-option", "coco_fid.kid=true", "--output-dir", str(tmp_path / "b")]
    assert run_cli(kid_args, capsys)[0] == 0
    with_kid = read_json(tmp_path / "b" / "janus-tiny" / "coco_fid.json")
    assert with_kid["metrics"]["fid"] == fid_only["metrics"]["fid"] and with_kid["metrics"]["kid"] is not None
    assert (stats_file.parent / f"{stats_file.stem}.all.features.npy").is_file()

    code, _, err = run_cli([*DEMO, "--task-option", "coco_fid.clip_score=true", "--task-option",
                            "coco_fid.clip_model=ViT-B-32", "--output-dir", str(tmp_path / "c")], capsys)  # fmt: skip
    assert code == 2 and "Traceback" not in err and err.count("error:") == 1
    assert "coco_fid CLIP score (open_clip ViT-B-32, openai weights)" in err and "coco_fid.clip_weights=FILE" in err
