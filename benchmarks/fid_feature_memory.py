#!/usr/bin/env python
"""Memory and speed of FID feature extraction: peak RSS stays flat from 1k to 5k images; images/s printed.

Each count runs in a fresh process (peak RSS only grows within a process), through the code a run uses:
the FID task's batched `score_batch` on synthetic 384x384 images (GigaGAN crop + LANCZOS to 256, clean-fid's
resize to 299, the feature network), every image's features written to its sidecar file, then the metric
folding the sidecars back into running sums one sample at a time and computing FID against a small reference
folder. The default network is the tiny offline one; pass a local Inception file to measure the real one.

    python benchmarks/fid_feature_memory.py
    python benchmarks/fid_feature_memory.py --counts 1000,5000 --extractor inception --inception-weights inception-2015-12-05.pt --device cuda
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

os.environ.setdefault("HF_HUB_OFFLINE", "1")
_ROOT = Path(__file__).resolve().parent.parent
if str(_ROOT) not in sys.path:
    sys.path.insert(0, str(_ROOT))


def _image(number: int, side: int):
    """A deterministic synthetic picture: a smooth random field, different for every number."""
    import numpy as np
    from PIL import Image

    rng = np.random.default_rng(number)
    coarse = rng.integers(0, 256, size=(side // 32, side // 32, 3), dtype=np.uint8)
    return Image.fromarray(coarse).resize((side, side), Image.BILINEAR)


def child(args: argparse.Namespace) -> None:
    """One measurement in this process; prints one JSON line."""
    from janus_eval.tasks.coco_fid import CocoFidTask
    from janus_eval.tasks.frechet_task import FrechetOptions

    from janus_eval.api import ImageOutput, Sample
    from janus_eval.data.sidecars import read_sidecars, write_sidecars
    from janus_eval.engine.manifest import peak_rss_bytes

    if args.threads:
        import torch

        torch.set_num_threads(args.threads)
    work = Path(tempfile.mkdtemp(prefix="fid-memory-"))
    reference = work / "reference"
    reference.mkdir()
    for number in range(64):
        _image(10_000_000 + number, args.side).save(reference / f"{number:03d}.png")
    options = FrechetOptions(
        feature_extractor=args.extractor, inception_weights=args.inception_weights, reference=str(reference),
        scorer_device=args.device, feature_batch_size=args.feature_batch_size, feature_workers=0,
    )  # fmt: skip
    task = CocoFidTask(options)
    task.reference()  # builds the extractor and the (small) reference statistics before timing
    baseline = peak_rss_bytes()

    recorded = []  # what the records keep: small dicts with the sidecar's path and sha256
    tick = time.perf_counter()
    for start in range(0, args.count, args.batch_size):
        numbers = range(start, min(start + args.batch_size, args.count))
        samples = [Sample(id=str(n), index=n, target=None) for n in numbers]
        outputs = [ImageOutput([_image(n, args.side)]) for n in numbers]
        for sample, score in zip(samples, task.score_batch(samples, outputs)):
            recorded.append((sample, write_sidecars(score, work / "images" / f"{sample.index:05d}", "bench", work)))
    extraction = time.perf_counter() - tick

    tick = time.perf_counter()
    metric = task.new_metric()
    for sample, score in recorded:
        metric.update(sample, read_sidecars(score, work))
    fid = metric.compute()["fid"]
    folding = time.perf_counter() - tick
    shutil.rmtree(work, ignore_errors=True)
    print(json.dumps({
        "count": args.count, "extraction_seconds": extraction, "images_per_second": args.count / extraction,
        "folding_seconds": folding, "fid": fid, "peak_rss": peak_rss_bytes(), "rss_after_setup": baseline,
    }))  # fmt: skip


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--counts", default="1000,2000,3000,4000,5000", help="image counts, one process each")
    parser.add_argument("--extractor", choices=["tiny", "inception"], default="tiny")
    parser.add_argument("--inception-weights", help="local inception-2015-12-05.pt (with --extractor inception)")
    parser.add_argument("--device", default="cpu")
    parser.add_argument(
        "--batch-size", type=int, default=8, help="images per score_batch call (the run's --batch-size)"
    )
    parser.add_argument("--feature-batch-size", type=int, default=32)
    parser.add_argument("--side", type=int, default=384, help="generated image side (Janus: 384)")
    parser.add_argument("--threads", type=int, help="torch CPU threads (e.g. 1 on a shared machine)")
    parser.add_argument("--count", type=int, help=argparse.SUPPRESS)  # child mode
    args = parser.parse_args()
    if args.count is not None:
        child(args)
        return

    forwarded = ["--extractor", args.extractor, "--device", args.device, "--batch-size", str(args.batch_size),
                 "--feature-batch-size", str(args.feature_batch_size), "--side", str(args.side)]  # fmt: skip
    if args.inception_weights:
        forwarded += ["--inception-weights", args.inception_weights]
    if args.threads:
        forwarded += ["--threads", str(args.threads)]
    rows = []
    for count in (int(c) for c in args.counts.split(",")):
        done = subprocess.run(
            [sys.executable, __file__, "--count", str(count), *forwarded], capture_output=True, text=True, check=True
        )
        rows.append(json.loads(done.stdout.strip().splitlines()[-1]))
        row = rows[-1]
        print(
            f"{row['count']:>6} images: peak RSS {row['peak_rss'] / 2**20:7.1f} MiB (after setup "
            f"{row['rss_after_setup'] / 2**20:7.1f} MiB), extraction {row['images_per_second']:6.1f} images/s, "
            f"folding the sidecars into sums {row['folding_seconds']:5.2f} s, FID {row['fid']:.3g}",
            flush=True,
        )
    first, last = rows[0], rows[-1]
    print(
        f"peak RSS {last['count']} vs {first['count']} images: {last['peak_rss'] / first['peak_rss']:.3f}x "
        f"(images x{last['count'] / first['count']:.0f}); extractor {args.extractor} on {args.device}"
    )


if __name__ == "__main__":
    main()
