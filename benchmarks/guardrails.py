"""Statistical guardrails at scale (issue 7), on the simulator with known truth: do the corrected numbers
overclaim? Prints Markdown tables for benchmarks/README.md.

1. **Placebo and coverage** (confounding a = 1, n = 1000 texts, default 5 folds, 200 bootstrap replicates):
   a placebo score (a pure function of the covariates, no memorization) must come out at chance after the
   correction, and the 95% intervals of the causal AUC must cover the truth (target >= 93%).
2. **Overlap grid** (a = 0 ... 8, 2 folds): as overlap thins, intervals widen, the verdict moves from
   `identified` to `not_identified`, and an interval that is printed should still cover the truth.

The truth comes from ``llm_audit.simulate.true_metrics`` (Monte Carlo on fresh draws, sklearn's AUC).
`tests/test_guardrails.py` runs a reduced version of both in the test suite.

    python benchmarks/guardrails.py            # 200 datasets; overlap grid 6 strengths x 20 seeds
    python benchmarks/guardrails.py --quick    # 40 datasets; 6 strengths x 4 seeds
"""

from __future__ import annotations

import argparse
import os
import platform
import time

import numpy as np
from joblib import Parallel, delayed
from threadpoolctl import threadpool_limits

from llm_audit.estimate import estimate
from llm_audit.simulate import simulate, true_metrics

N = 1000
BOOTSTRAP = 200
CONFOUNDING = 1.0  # the naive AUC of the placebo is about 0.71 at this strength
OVERLAP_GRID = (0.0, 1.0, 2.0, 3.0, 4.0, 8.0)
METHODS = ("naive", "ipw", "dr")


def placebo_column(covariates):
    """A score that is a pure function of the covariates: it cannot carry memorization."""
    return 0.8 * covariates["x1"] + 0.4 * covariates["x2"] + 0.5 * covariates["x3"]


def coverage_dataset(seed: int, placebo: bool) -> dict:
    """(value, interval) of the AUC for `score` (and `placebo`) by each method, and the verdict."""
    with threadpool_limits(1):
        scores, covariates = simulate(N, CONFOUNDING, 0.5, seed=seed)
        names = ["score"] + (["placebo"] if placebo else [])
        if placebo:
            scores["placebo"] = placebo_column(covariates)
        est = estimate(scores, covariates, n_bootstrap=BOOTSTRAP, n_jobs=1, fpr=(0.05,), seed=seed)
    out = {(s, m): (est.value(s, m, "auc"), est.interval(s, m, "auc")) for s in names for m in METHODS}
    return out | {"verdict": est.verdict}


def overlap_dataset(a: float, seed: int) -> dict:
    with threadpool_limits(1):
        scores, covariates = simulate(N, a, 0.5, seed=seed)
        est = estimate(scores, covariates, n_bootstrap=BOOTSTRAP, n_jobs=1, folds=2, fpr=(0.05,), seed=seed)
    return {"a": a, "verdict": est.verdict, "blind_auc": est.to_dict()["diagnostics"]["blind_auc"],
            "ipw": est.interval("score", "ipw", "auc"), "dr": est.interval("score", "dr", "auc")}


def covers(interval, target: float) -> bool:
    return interval is not None and interval[0] <= target <= interval[1]


def coverage_study(datasets: int, jobs: int) -> None:
    truth = true_metrics(CONFOUNDING, 0.5, n_mc=10**6)["auc"]
    half = datasets // 2
    t0 = time.perf_counter()
    runs = Parallel(n_jobs=jobs)(delayed(coverage_dataset)(seed, seed < half) for seed in range(datasets))
    print(f"\n### Placebo and coverage: a = {CONFOUNDING:g}, n = {N}, {datasets} datasets ({half} with the placebo "
          f"score), {BOOTSTRAP} bootstrap replicates; true causal AUC {truth:.4f}\n")
    print(f"Verdicts: {', '.join(f'{v} {c}' for v, c in zip(*np.unique([r['verdict'] for r in runs], return_counts=True)))}.\n")
    print("| method | placebo: mean AUC | placebo: interval covers 0.5 | score: AUC mean abs. error | "
          "score: interval covers the causal AUC |")
    print("|---|---|---|---|---|")
    with_placebo = runs[:half]
    for m in METHODS:
        placebo = [r[("placebo", m)] for r in with_placebo]
        score = [r[("score", m)] for r in runs]
        print(f"| {m} | {np.mean([v for v, _ in placebo]):.3f} | {np.mean([covers(ci, 0.5) for _, ci in placebo]):.1%} | "
              f"{np.mean([abs(v - truth) for v, _ in score]):.4f} | {np.mean([covers(ci, truth) for _, ci in score]):.1%} |")
    print(f"\n({time.perf_counter() - t0:.0f} s)")


def overlap_study(seeds: int, jobs: int) -> None:
    truth = true_metrics(1.0, 0.5, n_mc=10**6)["auc"]  # the ATE target does not depend on a
    t0 = time.perf_counter()
    runs = Parallel(n_jobs=jobs)(delayed(overlap_dataset)(a, seed) for a in OVERLAP_GRID for seed in range(seeds))
    print(f"\n### Overlap grid: n = {N}, 2 folds, {seeds} datasets per strength a; true causal AUC {truth:.4f}\n")
    print("| a | blind AUC | identified / weak_overlap / not_identified | IPW interval width | "
          "printed IPW intervals covering the truth | printed DR intervals covering the truth |")
    print("|---|---|---|---|---|---|")
    for a in OVERLAP_GRID:
        at = [r for r in runs if r["a"] == a]
        counts = " / ".join(str(sum(r["verdict"] == v for r in at)) for v in ("identified", "weak_overlap", "not_identified"))
        printed = [r for r in at if r["verdict"] != "not_identified"]
        shown = [r["ipw"] for r in printed if r["ipw"] is not None]  # a method can be withheld on its own
        width = f"{np.mean([ci[1] - ci[0] for ci in shown]):.3f}" if shown else "n/a"
        cover = {m: (f"{np.mean([covers(r[m], truth) for r in printed]):.0%} of {len(printed)}" if printed else "none printed")
                 for m in ("ipw", "dr")}
        print(f"| {a:g} | {np.mean([r['blind_auc'] for r in at]):.3f} | {counts} | {width} | {cover['ipw']} | {cover['dr']} |")
    print(f"\n({time.perf_counter() - t0:.0f} s)")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true", help="40 datasets; 4 seeds per strength")
    ap.add_argument("--datasets", type=int, help="datasets of the coverage study (default 200; quick 40)")
    ap.add_argument("--seeds", type=int, help="datasets per strength of the overlap grid (default 20; quick 4)")
    ap.add_argument("--jobs", type=int, default=2, help="datasets estimated in parallel (default 2)")
    args = ap.parse_args()
    print(f"machine: {platform.machine()}, {os.cpu_count()} CPU cores, Python {platform.python_version()}")
    coverage_study(args.datasets or (40 if args.quick else 200), args.jobs)
    overlap_study(args.seeds or (4 if args.quick else 20), args.jobs)


if __name__ == "__main__":
    main()
