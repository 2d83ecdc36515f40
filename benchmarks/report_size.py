"""Size and build time of the HTML report of a full-size GenEval result (553 prompts x 4 images by default).

The result is synthetic (no model runs): 384x384 images of pure noise, the hardest case for the thumbnail
codecs, with per-image verdicts in GenEval's record format, written through the real result and record
formats; the report is built by the real code.

    python benchmarks/report_size.py                          # 2,212 images, WebP thumbnails of 160 px
    python benchmarks/report_size.py --format jpeg --size 192
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
from PIL import Image

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from janus_eval.reports.html_report import ReportOptions, build_report  # noqa: E402
from janus_eval.reports.results import Headline, Manifest, SampleCounts, TaskResult, write_result  # noqa: E402
from janus_eval.reports.sample_records import SampleRecord  # noqa: E402
from janus_eval.rules.geneval import TASK_TAGS  # noqa: E402


def synthetic_geneval(model_dir: Path, prompts: int, images: int, seed: int = 0) -> None:
    rng = np.random.default_rng(seed)
    records = []
    for index in range(prompts):
        tag = TASK_TAGS[index % len(TASK_TAGS)]
        folder = model_dir / "geneval_images" / f"{index:05d}" / "samples"
        folder.mkdir(parents=True, exist_ok=True)
        paths, verdicts = [], []
        for number in range(images):
            path = folder / f"{number:05d}.png"
            Image.fromarray(rng.integers(0, 256, (384, 384, 3), dtype=np.uint8)).save(path)
            paths.append(str(path.relative_to(model_dir)))
            right = bool(rng.random() < 0.6)
            verdicts.append({"image": number, "correct": right, "reason": "" if right else "expected dog>=1, found 0",
                             "details": {"dog": [{"box": [1, 2, 30, 40], "score": 0.9, "color": None}]}})  # fmt: skip
        meta = {"tag": tag, "prompt_key": json.dumps({"tag": tag, "prompt": f"prompt {index}"})}
        score = {"images": verdicts, "correct": sum(v["correct"] for v in verdicts), "total": images}
        records.append(SampleRecord(config_hash="synthetic", task="geneval", id=f"prompt {index}", row=index,
                                    meta=meta, request={"prompt": f"a photo of prompt {index}"}, output=paths,
                                    score=score))  # fmt: skip
    (model_dir / "geneval.samples.jsonl").write_text("".join(r.model_dump_json() + "\n" for r in records))
    manifest = Manifest(config_hash="synthetic", seed=0, device="cpu", dtype="float32", batch_size=8, limit=None,
                        command=[], packages={}, git=None, platform={}, started="", finished="", wall_seconds=0,
                        generation_seconds=0, samples_per_second=None, peak_accelerator_memory_bytes=None,
                        peak_rss_bytes=0)  # fmt: skip
    result = TaskResult(task="geneval", model=model_dir.name, metrics={"overall": 0.6}, headline=Headline(metric="overall", value=0.6),
                        published=None, protocol={}, options={}, model_identity={}, data={}, samples_file=f"{model_dir.name}/geneval.samples.jsonl",
                        counts=SampleCounts(total=prompts, scored=prompts, failed=0, generated=prompts, reused=0),
                        images_dir=f"{model_dir.name}/geneval_images", manifest=manifest)  # fmt: skip
    write_result(result, model_dir / "geneval.json")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--prompts", type=int, default=553)
    parser.add_argument("--images", type=int, default=4)
    parser.add_argument("--size", type=int, default=160)
    parser.add_argument("--format", choices=["webp", "jpeg"], default="webp")
    parser.add_argument("-o", "--output", type=Path, help="also keep the page here")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as folder:
        results = Path(folder) / "results"
        tick = time.perf_counter()
        synthetic_geneval(results / "synthetic", args.prompts, args.images)
        made = time.perf_counter() - tick
        tick = time.perf_counter()
        page = build_report(results, ReportOptions(thumbnail_size=args.size, thumbnail_format=args.format))
        built = time.perf_counter() - tick
    if args.output is not None:
        args.output.write_text(page, encoding="utf-8")
    size = len(page.encode("utf-8"))
    print(f"{args.prompts * args.images} noise images of 384 px -> {args.format} thumbnails of {args.size} px: "
          f"report {size / 1e6:.1f} MB ({size / (args.prompts * args.images) / 1e3:.1f} kB per image), "
          f"built in {built:.1f} s (synthetic result written in {made:.1f} s)")  # fmt: skip


if __name__ == "__main__":
    main()
