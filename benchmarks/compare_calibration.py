"""Calibration of compare's paired bootstrap on simulated MME runs: interval width, false alarms, power, coverage.

Each seed draws `--images` MME images (one category, two questions each) with a difficulty d ~ Beta(4, 1.5);
a run answers each question right with probability d (base) or d - effect (candidate). The bootstrap is the
real one (`janus_eval.reports.compare.paired_bootstrap` over the task's own metric); "keyed by image" repeats
the earlier behaviour, where a resampled image drawn k times counted once in acc+ (emulated with numpy).

    python benchmarks/compare_calibration.py                      # about a minute on 2 cores
    python benchmarks/compare_calibration.py --seeds 400 --resamples 500
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from janus_eval.tasks.mme import MmeTask  # noqa: E402

from janus_eval.api import Sample  # noqa: E402
from janus_eval.reports.compare import paired_bootstrap  # noqa: E402
from janus_eval.reports.sample_records import SampleRecord  # noqa: E402


def simulate(rng: np.random.Generator, images: int, effect: float) -> tuple[list[Sample], np.ndarray, np.ndarray]:
    """Samples of `images` images and the (images, 2) right/wrong answers of the base and candidate runs."""
    difficulty = rng.beta(4.0, 1.5, size=images)
    base = rng.random((images, 2)) < difficulty[:, None]
    cand = rng.random((images, 2)) < np.clip(difficulty - effect, 0, 1)[:, None]
    samples = [
        Sample(id=f"img{i}#{q}", index=2 * i + q, target="yes", meta={"category": "existence", "image_key": f"img{i}"})
        for i in range(images)
        for q in range(2)
    ]
    return samples, base, cand


def records(samples: list[Sample], right: np.ndarray) -> dict[str, SampleRecord]:
    flat = right.reshape(-1)
    return {
        s.id: SampleRecord(config_hash="sim", task="mme", id=s.id, row=s.index, meta=s.meta,
                           score={"pred": "yes" if r else "no", "correct": bool(r)})
        for s, r in zip(samples, flat)
    }  # fmt: skip


def keyed_interval(rng: np.random.Generator, base: np.ndarray, cand: np.ndarray, resamples: int) -> tuple[float, float]:
    """The earlier behaviour: an image drawn k times had its questions counted k times but its acc+ once."""

    def score(right: np.ndarray, weights: np.ndarray) -> np.ndarray:
        acc = 100 * (weights @ right.sum(1)) / (2 * weights.sum(1))
        present = (weights > 0).astype(float)
        acc_plus = 100 * (present @ right.all(1)) / present.sum(1)
        return acc + acc_plus

    n = len(base)
    weights = np.stack([np.bincount(rng.integers(0, n, n), minlength=n) for _ in range(resamples)]).astype(float)
    deltas = score(cand, weights) - score(base, weights)
    low, high = np.quantile(deltas, [0.025, 0.975])
    return float(low), float(high)


def population_delta(effect: float) -> float:
    """MME score (acc + acc+) of the candidate minus the base over the population of images (Monte Carlo)."""
    d = np.random.default_rng(12345).beta(4.0, 1.5, size=2_000_000)
    e = np.clip(d - effect, 0, 1)
    return float(100 * (e.mean() - d.mean()) + 100 * ((e**2).mean() - (d**2).mean()))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--images", type=int, default=300)
    parser.add_argument("--seeds", type=int, default=200)
    parser.add_argument("--resamples", type=int, default=300)
    parser.add_argument("--effect", type=float, default=0.05, help="drop of the candidate's per-question accuracy")
    args = parser.parse_args()
    task = MmeTask()

    rng = np.random.default_rng(0)
    samples, base, _ = simulate(rng, args.images, 0.0)
    # bootstrap SD of one run's headline: the same run as base and as an all-wrong candidate gives -headline
    zero = np.zeros_like(base)
    low_high = []
    for seed in range(3):
        width = paired_bootstrap(task, samples, records(samples, zero), records(samples, base), resamples=1000, seed=seed)
        low_high.append(width[1] - width[0])
    keyed = [np.subtract(*keyed_interval(np.random.default_rng(s), zero, base, 1000)[::-1]) for s in range(3)]
    print(f"{args.images} images, one run's MME score (acc + acc+): 95% bootstrap interval width "
          f"{np.mean(low_high):.2f} (units counted as drawn) vs {np.mean(keyed):.2f} (keyed by image, before)")

    truth = population_delta(args.effect)
    for effect in (0.0, args.effect):
        tick = time.perf_counter()
        alarms = keyed_alarms = covered = regressions = 0
        for seed in range(args.seeds):
            rng = np.random.default_rng(1000 + seed)
            samples, base, cand = simulate(rng, args.images, effect)
            low, high, _ = paired_bootstrap(
                task, samples, records(samples, base), records(samples, cand), resamples=args.resamples, seed=seed
            )
            k_low, k_high = keyed_interval(rng, base, cand, args.resamples)
            alarms += not (low <= 0 <= high)
            keyed_alarms += not (k_low <= 0 <= k_high)
            regressions += high < 0
            covered += low <= (truth if effect else 0.0) <= high
        seconds = time.perf_counter() - tick
        what = "no effect" if effect == 0 else f"effect -{effect:.2f} per question (true delta {truth:.2f} points)"
        print(f"{what}: over {args.seeds} seeds x {args.resamples} resamples ({seconds:.0f} s)")
        print(f"  interval excludes 0: {alarms / args.seeds:.1%} (keyed by image, before: {keyed_alarms / args.seeds:.1%});"
              f" verdict 'regression': {regressions / args.seeds:.1%}; interval covers the true delta: "
              f"{covered / args.seeds:.1%} (nominal 95%)")


if __name__ == "__main__":
    main()
