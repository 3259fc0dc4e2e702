"""Validity and speed of the zero-run estimator on simulated data with known truth (issue 3).

Coverage of the 95% intervals of the causal AUC and TPR@1%FPR over many simulated datasets per
setting (target >= 93%), mean absolute error of naive vs IPW vs DR, and the time of one full estimate
(1000 bootstrap replicates) at n = 10k, 100k, 1M. Prints Markdown tables.

    python benchmarks/estimator_validity.py            # 200 datasets per setting, n = 2000
    python benchmarks/estimator_validity.py --quick    # 30 datasets, 200 replicates, timing to 100k
"""

from __future__ import annotations

import argparse
import os
import platform
import time

import numpy as np
from joblib import Parallel, delayed

from llm_audit.estimate import estimate
from llm_audit.simulate import simulate, true_metrics

SETTINGS = {  # name: (design, confounding strength a)
    "randomized (a=0)": ("linear", 0.0),
    "confounded (a=1)": ("linear", 1.0),
    "misspecified propensity (a=1)": ("misspecified", 1.0),
}
METHODS = ("naive", "ipw", "dr")


def one_dataset(design: str, a: float, tau: float, n: int, n_boot: int, seed: int) -> dict:
    s, c = simulate(n, a, tau, design=design, seed=seed)
    est = estimate(s, c, n_bootstrap=n_boot, fpr=(0.01,), seed=seed, n_jobs=1)
    out = {}
    for m in METHODS:
        for metric, fpr in (("auc", None), ("tpr_at_fpr", 0.01), ("mean_diff", None)):
            out[(m, metric)] = (est.value("score", m, metric, fpr), est.interval("score", m, metric, fpr))
    return out


def validity(n: int, datasets: int, n_boot: int, tau: float, jobs: int, settings: list[str]) -> None:
    truth = true_metrics(0.0, tau, n_mc=10**6)  # the ATE truth does not depend on the propensity
    print(f"\ntruth (Monte Carlo, 10^6 draws): AUC {truth['auc']:.4f}, TPR@1%FPR {truth['tpr_at_fpr']:.4f}, "
          f"mean {truth['mean_diff']:.4f}; n = {n} per dataset, {datasets} datasets per setting, "
          f"{n_boot} bootstrap replicates\n")
    print("| setting | method | AUC MAE | AUC coverage | TPR@1% MAE | TPR@1% coverage | mean MAE | mean coverage |")
    print("|---|---|---|---|---|---|---|---|")
    for name, (design, a) in SETTINGS.items():
        if settings and not any(name.startswith(s) for s in settings):
            continue
        t0 = time.perf_counter()
        runs = Parallel(n_jobs=jobs)(
            delayed(one_dataset)(design, a, tau, n, n_boot, 1000 + k) for k in range(datasets)
        )
        for m in METHODS:
            cells = []
            for metric, key in (("auc", "auc"), ("tpr_at_fpr", "tpr_at_fpr"), ("mean_diff", "mean_diff")):
                vals = np.array([r[(m, metric)][0] for r in runs])
                cis = np.array([r[(m, metric)][1] for r in runs])
                cover = np.mean((cis[:, 0] <= truth[key]) & (truth[key] <= cis[:, 1]))
                cells += [f"{np.mean(np.abs(vals - truth[key])):.4f}", f"{cover:.1%}"]
            print(f"| {name} | {m} | " + " | ".join(cells) + " |", flush=True)
        print(f"<!-- {name}: {time.perf_counter() - t0:.0f} s -->", flush=True)


def timing(sizes: list[int], n_boot: int) -> None:
    print(f"\n| n | one full estimate ({n_boot} bootstrap replicates, 1 score) |")
    print("|---|---|")
    for n in sizes:
        s, c = simulate(n, 1.0, 0.5, seed=7)
        t0 = time.perf_counter()
        estimate(s, c, n_bootstrap=n_boot, seed=0)
        print(f"| {n:,} | {time.perf_counter() - t0:.1f} s |", flush=True)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true", help="30 datasets, 200 replicates, timing up to n = 100k")
    ap.add_argument("--datasets", type=int, help="datasets per setting (default 200; quick 30)")
    ap.add_argument("--n", type=int, default=2000, help="units per dataset (default 2000)")
    ap.add_argument("--bootstrap", type=int, help="replicates for the coverage runs (default 1000; quick 200)")
    ap.add_argument("--tau", type=float, default=0.5)
    ap.add_argument("--jobs", type=int, default=2, help="datasets estimated in parallel (default 2)")
    ap.add_argument("--settings", default="", help="comma-separated setting names to run (default all): randomized, confounded, misspecified")
    ap.add_argument("--skip-validity", action="store_true")
    ap.add_argument("--skip-timing", action="store_true")
    args = ap.parse_args()
    datasets = args.datasets or (30 if args.quick else 200)
    n_boot = args.bootstrap or (200 if args.quick else 1000)
    print(f"machine: {platform.processor() or platform.machine()}, {os.cpu_count()} CPU cores, Python {platform.python_version()}")
    if not args.skip_validity:
        validity(args.n, datasets, n_boot, args.tau, args.jobs, [s for s in args.settings.split(",") if s])
    if not args.skip_timing:
        timing([10_000, 100_000] if args.quick else [10_000, 100_000, 1_000_000], 1000)


if __name__ == "__main__":
    main()
