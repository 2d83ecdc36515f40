"""DPG-Bench task: files and checksums, the 2x2 grid layout, the pipeline on janus-tiny, rescoring, errors, import."""

from __future__ import annotations

import hashlib
import io
import tarfile
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest
from janus_eval.tasks.dpg_bench import CSV_FILE, DpgBenchOptions, DpgBenchTask, prompt_files
from PIL import Image

from janus_eval.api import ImageOutput, RemoteFile, image_digest
from janus_eval.data.cache import cache_root
from janus_eval.data.image_grid import crop_tiles, grid_boxes, make_grid
from janus_eval.data.loading import load_task_data
from janus_eval.data.remote_files import fetch
from janus_eval.errors import UserError
from janus_eval.rules.dpg_bench import CSV_COLUMNS, DpgRules, ItemQuestions, score_image
from janus_eval.rules.dpg_summary import DpgMetric
from tests.helpers import read_json, read_jsonl, run_cli

SHARED_PROMPTS = Path(__file__).resolve().parents[2] / "shared" / "data" / "dpg_bench" / "prompts.tar.gz"


def _tiles(size: int = 8) -> list[Image.Image]:
    rng = np.random.default_rng(3)
    return [Image.fromarray(rng.integers(0, 256, (size, size, 3), dtype=np.uint8)) for _ in range(4)]


# ----------------------------------------------------------------------------- files


def test_the_canonical_files_are_pinned_and_checksummed() -> None:
    files = prompt_files()
    assert len(files) == 1065 and len({f.name for f in files}) == 1065
    assert all(f.url.startswith("https://raw.githubusercontent.com/TencentQQGYLab/ELLA/3c228f1d") for f in files)
    assert all(f.name.startswith("prompts/") and len(f.sha256 or "") == 64 for f in files)
    assert CSV_FILE.git_blob == "98457fc9901943f51ff9a30367250fc292533bed" and CSV_FILE.sha256 is None


@pytest.mark.skipif(not SHARED_PROMPTS.is_file(), reason="../shared/data/dpg_bench is not beside the checkout")
def test_the_manifest_matches_the_official_prompt_files() -> None:
    with tarfile.open(SHARED_PROMPTS) as archive:
        found = {Path(m.name).stem: hashlib.sha256(archive.extractfile(m).read()).hexdigest()  # type: ignore[union-attr]
                 for m in archive.getmembers() if m.isfile()}  # fmt: skip
    assert found == {Path(f.name).stem: f.sha256 for f in prompt_files()}


def test_a_file_known_by_its_git_blob_id_is_verified(tmp_path: Path) -> None:
    content = b"item_id,text\n"
    blob = hashlib.sha1(b"blob %d\x00" % len(content) + content).hexdigest()
    (tmp_path / "dpg_bench.csv").write_bytes(content)
    file = RemoteFile("dpg_bench.csv", "https://example.invalid/dpg_bench.csv", git_blob=blob)
    assert fetch(file, local_dir=tmp_path) == tmp_path / "dpg_bench.csv"
    (tmp_path / "dpg_bench.csv").write_bytes(content + b"x\n")
    with pytest.raises(UserError, match="git blob id"):
        fetch(file, local_dir=tmp_path)
    with pytest.raises(ValueError):
        RemoteFile("x", "https://example.invalid/x")


def _data_dir(tmp_path: Path, csv: bytes, prompts: int | None = None) -> Path:
    folder = tmp_path / "data" / "dpg_bench"
    (folder / "prompts").mkdir(parents=True)
    (folder / "dpg_bench.csv").write_bytes(csv)
    for file in prompt_files()[:prompts]:
        (folder / file.name).write_text("a prompt")
    return tmp_path / "data"


def test_a_modified_csv_and_a_missing_prompt_file_are_refused(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    args = ["--model", "janus-tiny", "--tasks", "dpg_bench", "--no-progress", "--output-dir", str(tmp_path / "out")]
    data = _data_dir(tmp_path / "a", b"item_id,text\nedited,1\n")
    code, _, err = run_cli([*args, "--data-dir", str(data)], capsys)
    assert code == 2 and "dpg_bench.csv has git blob id" in err and "Traceback" not in err
    data = _data_dir(tmp_path / "b", b"item_id,text\n", prompts=1064)
    code, _, err = run_cli([*args, "--data-dir", str(data)], capsys)
    assert code == 2 and "1 thing this command needs is not available" in err and "task 'dpg_bench'" in err
    assert "prompts/whoops9.txt" in err and err.count("janus-eval: error:") == 1
    data = _data_dir(tmp_path / "c", b"item_id,text\n", prompts=1000)  # 65 missing: a few named, the rest counted
    code, _, err = run_cli([*args, "--data-dir", str(data)], capsys)
    assert code == 2 and "65 things this command needs are not available" in err and "and 62 more files" in err
    assert len(err.splitlines()) < 10
    assert not (tmp_path / "out" / "janus-tiny").exists()


def test_rows_join_the_prompt_files_and_the_csv(tmp_path: Path) -> None:
    base = {"text": "t", "keywords": "", "category_broad": "entity", "category_detailed": "whole"}
    csv = tmp_path / "dpg_bench.csv"
    pd.DataFrame([{**base, "item_id": "7", "proposition_id": 1, "dependency": "0", "tuple": "entity - whole (a)",
                   "question_natural_language": "Is there a?"},
                  {**base, "item_id": "7", "proposition_id": 2, "dependency": "1", "tuple": "entity - whole (b)",
                   "question_natural_language": "Is there b?"}], columns=list(CSV_COLUMNS)).to_csv(csv, index=False)  # fmt: skip
    (tmp_path / "7.txt").write_text(" A dense prompt.\n")
    (tmp_path / "8.txt").write_text("No questions.")
    task = DpgBenchTask(DpgBenchOptions(skip_first_row=False))
    rows = task.rows_from_files({"dpg_bench.csv": csv, "prompts/7.txt": tmp_path / "7.txt", "prompts/8.txt": tmp_path / "8.txt"})
    samples = task.samples(rows)
    assert [(s.id, s.row["prompt"], s.meta["questions"]) for s in samples] == [("7", "A dense prompt.", 2), ("8", "No questions.", 0)]
    assert samples[0].target["dependency"] == {"1": [0], "2": [1]} and samples[1].target is None
    official = DpgBenchTask().samples(rows)  # the first data row (7's proposition 1) is skipped
    assert official[0].target["questions"] == {"2": "Is there b?"}


# ----------------------------------------------------------------------------- grid


def test_the_grid_layout_and_its_tile_crops() -> None:
    assert grid_boxes(384) == [(0, 0, 384, 384), (384, 0, 768, 384), (0, 384, 384, 768), (384, 384, 768, 768)]
    tiles = _tiles()
    grid = make_grid(tiles)
    assert grid.size == (16, 16)
    for tile, box in zip(tiles, grid_boxes(8)):
        assert grid.crop(box).tobytes() == tile.tobytes()
    assert [t.tobytes() for t in crop_tiles(grid, 4)] == [t.tobytes() for t in tiles]
    two = make_grid(tiles[:2])
    assert two.size == (16, 16) and two.crop((0, 8, 16, 16)).getextrema() == ((0, 0), (0, 0), (0, 0))  # black
    with pytest.raises(ValueError):
        make_grid([tiles[0], tiles[1].resize((4, 4))])


def test_fresh_tiles_and_a_grid_read_back_give_the_same_tiles() -> None:
    task = DpgBenchTask(demo=True)
    (sample,) = [s for s in task.samples(task.demo_rows()) if s.id == "demo_cat"]
    tiles = _tiles()
    (name, grid), = task.image_files(sample, tiles).items()
    assert name == "demo_cat.png"
    buffer = io.BytesIO()
    grid.save(buffer, format="PNG")
    saved = Image.open(io.BytesIO(buffer.getvalue())).convert("RGB")
    fresh, read_back = task.tiles(ImageOutput(tiles)), task.tiles(ImageOutput([saved]))
    assert [image_digest(t) for t in fresh] == [image_digest(t) for t in read_back] == [image_digest(t) for t in tiles]
    one = DpgBenchTask(DpgBenchOptions(images_per_prompt=1), demo=True)
    assert one.image_files(sample, tiles[:1])["demo_cat.png"] is tiles[0]


# ----------------------------------------------------------------------------- pipeline


def _answer_lines() -> int:
    return sum(len(p.read_text().splitlines()) for p in (cache_root() / "vqa-answers").rglob("answers-*.jsonl"))


def _recomputed(records: list[dict[str, Any]], rules: DpgRules) -> dict[str, float | None]:
    """The metrics from the records' own answers and questions, through the rules (not the task)."""
    metric = DpgMetric()
    for record in records:
        target = record["target"]
        if target is None:
            metric.add({"score": None})
            continue
        item = ItemQuestions(record["id"], {int(q): t for q, t in target["questions"].items()},
                             {int(q): tuple(p) for q, p in target["dependency"].items()},
                             {int(q): t for q, t in target["tuples"].items()})  # fmt: skip
        answers = [{int(q): a for q, a in tile["answers"].items()} for tile in record["score"]["tiles"]]
        scored = score_image(item, answers, rules)
        metric.add({"score": scored.score, "categories": scored.categories})
    return metric.compute()


def test_the_demo_runs_end_to_end_and_rescoring_asks_nothing_twice(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    args = ["--model", "janus-tiny", "--tasks", "dpg_bench", "--data", "demo", "--output-dir", str(tmp_path), "--no-progress"]
    code, out, err = run_cli(args, capsys)
    assert code == 0, err
    model_dir = tmp_path / "janus-tiny"
    result = read_json(model_dir / "dpg_bench.json")
    records = read_jsonl(model_dir / "dpg_bench.samples.jsonl")
    images = model_dir / "dpg_bench_images"
    assert sorted(p.name for p in images.glob("*.png")) == ["demo_cat.png", "demo_garden.png", "demo_sign.png", "demo_street.png"]
    tile = Image.open(images / "demo_cat.png")
    assert tile.size[0] == tile.size[1] and tile.size[0] % 2 == 0
    assert result["scorers"]["vqa"]["weights"].startswith("janus-eval tiny BLIP")
    assert result["protocol"]["scoring"]["vqa_model"] == "tiny" and result["published"] is None
    by_id = {r["id"]: r for r in records}
    # the demo's first CSV row is demo_street's proposition 1: the official skip leaves its children orphaned
    assert "depends on proposition 1" in by_id["demo_street"]["score"]["dropped"]
    assert all(len(by_id[i]["score"]["tiles"]) == 4 for i in by_id)
    assert set(by_id["demo_cat"]["score"]["tiles"][0]) == {"answers", "raw", "scores", "score"}
    metrics = result["metrics"]
    assert metrics == pytest.approx(_recomputed(records, DpgRules()))
    assert (metrics["scored_images"], metrics["dropped_images"]) == (3, 1)
    assert any("left out of every mean" in note for note in result["notes"])
    assert any("not comparable" in note for note in result["notes"])
    asked = _answer_lines()
    stamp = hashlib.sha256((images / "demo_cat.png").read_bytes()).hexdigest()

    code, _, err = run_cli([*args, "--task-option", "dpg_bench.dependency_rule=dsg", "--task-option",
                            "dpg_bench.categories=all_tiles"], capsys)  # fmt: skip
    assert code == 0, err
    again = read_json(model_dir / "dpg_bench.json")
    assert (again["counts"]["generated"], again["counts"]["rescored"]) == (0, 4)
    assert _answer_lines() == asked  # every (tile, question) came from the answer cache
    assert again["metrics"] == pytest.approx(_recomputed(read_jsonl(model_dir / "dpg_bench.samples.jsonl"),
                                                         DpgRules(dependency="dsg", categories="all_tiles")))  # fmt: skip

    code, _, err = run_cli([*args, "--task-option", "dpg_bench.skip_first_row=false"], capsys)
    assert code == 0, err
    kept = read_json(model_dir / "dpg_bench.json")
    assert kept["counts"]["generated"] == 0 and kept["metrics"]["dropped_images"] == 0
    assert _answer_lines() == asked + 4  # only demo_street's proposition 1, on its 4 tiles, was new
    assert hashlib.sha256((images / "demo_cat.png").read_bytes()).hexdigest() == stamp


def test_a_missing_vqa_backend_fails_before_the_model_loads(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    try:
        import modelscope  # noqa: F401
    except ImportError:
        pass
    else:
        pytest.skip("modelscope is installed here")
    args = ["--model", "janus-tiny", "--tasks", "dpg_bench", "--data", "demo", "--output-dir", str(tmp_path),
            "--no-progress", "--task-option", "dpg_bench.vqa_model=mplug"]
    code, _, err = run_cli(args, capsys)
    assert code == 2 and "needs modelscope" in err and "pip install" in err and "Traceback" not in err
    assert not [p for p in (tmp_path / "janus-tiny").glob("*") if not p.name.endswith(".lock")]  # nothing generated


def test_failed_generations_are_excluded_and_counted() -> None:
    task = DpgBenchTask(demo=True)
    samples = task.samples(task.demo_rows())
    (score,) = task.score_batch(samples[:1], [None])
    assert score["failed"] and score["score"] is None
    metric = task.new_metric()
    metric.update(samples[0], score)
    assert metric.compute()["failed_generations"] == 1 and metric.compute()["overall"] is None
    assert any("failed generation" in n for n in task.result_notes(metric.compute()))


def test_published_numbers_apply_only_to_the_official_vqa_model() -> None:
    assert DpgBenchTask().published_numbers()["janus-pro-7b"] == 84.19
    assert DpgBenchTask(DpgBenchOptions(vqa_model="blip")).published_numbers() == {}
    assert DpgBenchTask(demo=True).published_numbers() == {}


# ----------------------------------------------------------------------------- import


def test_dpg_import_summarises_and_rescores_an_official_run(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    args = ["--model", "janus-tiny", "--tasks", "dpg_bench", "--data", "demo", "--output-dir", str(tmp_path), "--no-progress"]
    assert run_cli(args, capsys)[0] == 0
    ours = read_json(tmp_path / "janus-tiny" / "dpg_bench.json")["metrics"]
    records = read_jsonl(tmp_path / "janus-tiny" / "dpg_bench.samples.jsonl")
    # the files compute_dpg_bench.py writes, from our run's answers; the dropped image has no results line
    boxes = [str(box) for box in grid_boxes(16)]
    results, details = [], []
    for record in records:
        path = f"/imgs/{record['id']}.png"
        for box, tile in zip(boxes, record["score"]["tiles"]):
            details += [f"{path}, {box}, q, {answer}" for answer in tile["answers"].values()]
        if record["score"]["score"] is not None:
            tile_scores = [str(tile["score"]) for tile in record["score"]["tiles"]]
            results.append(f"{path}, {', '.join(tile_scores)}, {record['score']['score']}")
    summary = ["Model: imgs", "L1 category scores:", *(f"\t{c}: {ours[c]}" for c in ("entity", "other")),
               "L2 category scores:", "\tentity - whole: 40.0", "Image path: /imgs", "Save results to: r.txt",
               f"DPG-Bench score: {ours['overall']}"]  # fmt: skip
    (tmp_path / "r.txt").write_text("\n".join(results + summary) + "\n")
    (tmp_path / "r_detail.txt").write_text("\n".join(details) + "\n")
    task = DpgBenchTask(demo=True)
    questions = sorted((q for row in task.demo_rows() for q in row["questions"]), key=lambda q: q["row"])  # CSV order
    frame = pd.DataFrame([{"item_id": q["item_id"], "text": "", "keywords": "", "proposition_id": q["proposition_id"],
                           "dependency": ",".join(map(str, q["dependency"])), "category_broad": "",
                           "category_detailed": "", "tuple": q["tuple"], "question_natural_language": q["question"]}
                          for q in questions])  # fmt: skip
    frame.to_csv(tmp_path / "dpg.csv", index=False)
    code, out, err = run_cli(["dpg-import", str(tmp_path / "r.txt"), "--details", str(tmp_path / "r_detail.txt"),
                              "--csv", str(tmp_path / "dpg.csv"), "--output", str(tmp_path / "s.json")], capsys)  # fmt: skip
    assert code == 0, err
    summary_json = read_json(tmp_path / "s.json")
    assert summary_json["images"] == 3
    assert summary_json["overall_from_image_lines"] == pytest.approx(ours["overall"])
    assert summary_json["official"]["columns"]["entity"] == pytest.approx(ours["entity"])
    assert summary_json["rescored"]["metrics"] == pytest.approx(ours)
    assert summary_json["rescored"]["dropped_items"] == ["demo_street"]
    (tmp_path / "bad.txt").write_text("what is this\n")
    code, _, err = run_cli(["dpg-import", str(tmp_path / "bad.txt")], capsys)
    assert code == 2 and "bad.txt:1" in err


def test_local_demo_data_loads_without_files() -> None:
    task = DpgBenchTask(demo=True)
    data = load_task_data(task, "demo")
    assert [row["item_id"] for row in data.rows] == ["demo_cat", "demo_garden", "demo_sign", "demo_street"]
    with pytest.raises(UserError, match="dpg_bench.vqa_model=mplug"):
        DpgBenchTask(DpgBenchOptions(vqa_weights="/somewhere"), demo=True).vqa()


def test_the_files_download_verified_from_their_urls(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import http.server
    import threading
    from functools import partial

    from janus_eval.tasks import dpg_bench

    root = tmp_path / "www"
    (root / "prompts").mkdir(parents=True)
    csv = root / "dpg_bench.csv"
    pd.DataFrame([{"item_id": "a", "text": "", "keywords": "", "proposition_id": 1, "dependency": "0,0",
                   "category_broad": "", "category_detailed": "", "tuple": "entity - whole (a)",
                   "question_natural_language": "Is there a?"}], columns=list(CSV_COLUMNS)).to_csv(csv, index=False)  # fmt: skip
    texts = {"a": "Prompt a.", "b": "Prompt b.", "c": "Prompt c."}
    for item, text in texts.items():
        (root / "prompts" / f"{item}.txt").write_text(text)

    class Quiet(http.server.SimpleHTTPRequestHandler):
        def log_message(self, *args: Any) -> None:
            pass

    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), partial(Quiet, directory=str(root)))
    threading.Thread(target=httpd.serve_forever, daemon=True).start()
    base = f"http://127.0.0.1:{httpd.server_address[1]}"
    blob = hashlib.sha1(b"blob %d\x00" % csv.stat().st_size + csv.read_bytes()).hexdigest()
    files = tuple(RemoteFile(f"prompts/{item}.txt", f"{base}/prompts/{item}.txt",
                             hashlib.sha256(text.encode()).hexdigest()) for item, text in texts.items())  # fmt: skip
    monkeypatch.setattr(dpg_bench, "CSV_FILE", RemoteFile("dpg_bench.csv", f"{base}/dpg_bench.csv", git_blob=blob))
    monkeypatch.setattr(dpg_bench, "prompt_files", lambda: files)
    try:
        data = load_task_data(DpgBenchTask(DpgBenchOptions(skip_first_row=False)), "hub")
        assert [(r["item_id"], r["prompt"], len(r["questions"])) for r in data.rows] == [
            ("a", "Prompt a.", 1), ("b", "Prompt b.", 0), ("c", "Prompt c.", 0)]
        gone = RemoteFile("prompts/d.txt", f"{base}/prompts/d.txt", "0" * 64)
        monkeypatch.setattr(dpg_bench, "prompt_files", lambda: (*files, gone))
        with pytest.raises(UserError, match="cannot download .*prompts/d.txt"):
            load_task_data(DpgBenchTask(), "hub")
    finally:
        httpd.shutdown()
        httpd.server_close()
