"""Validity of the cutoff design (docs/cutoff.md) and of the bounds where overlap fails, on simulated data with
known truth (issue 16).

Cutoff design: dated corpora from ``llm_audit.simulate_cutoff`` (n texts over d0 +- 10 years, members
before d0, a smooth trend in the date, a length covariate). Per setting: bias, RMSE and coverage of the RD
mean (robust bias-corrected 95% interval) and of the local AUC (percentile bootstrap, with the quadratic
"robust" detrending in the replicates and with the linear one), beside the naive figures, and how often
each check fires (covariate jump; density test; placebo cutoff at the median member date; 5% level).

Bounds: the corpus-wide ATE AUC with X ~ N(0, 1), e(X) = expit(a X), S(0) = X + N(0, 1),
S(1) = S(0) + 0.5 (truth Phi(0.5 / 2)); the true propensity is passed, eta = 0.05. Per a: the unidentified
share, the width, and how often the truth lies in the point bounds and in the bootstrap interval.

    python benchmarks/cutoff_design.py               # 200 datasets per setting, n = 2000
    python benchmarks/cutoff_design.py --quick       # 20 datasets per setting
"""

from __future__ import annotations

import argparse
import os
import platform
import time

import numpy as np
from joblib import Parallel, delayed
from scipy.stats import norm

from llm_audit.estimate.bounds import auc_bounds
from llm_audit.estimate.cutoff.rd import local_auc, rd_jump
from llm_audit.estimate.cutoff.checks import density_test, placebo_jumps
from llm_audit.estimate.metrics import weighted_auc
from llm_audit.simulate_cutoff import simulate_dated, true_local_auc

D0 = 2010.0
SETTINGS = {  # name: (jump, trend, covariate jump)
    "jump 0.5, linear trend": (0.5, "linear", 0.0),
    "jump 0.5, nonlinear trend": (0.5, "nonlinear", 0.0),
    "no jump, nonlinear trend": (0.0, "nonlinear", 0.0),
    "covariate jumps 0.8, no memorization": (0.0, "linear", 0.8),
}
OVERLAP = (1.0, 3.0, 8.0)  # a in e(X) = expit(a X): from wide overlap to nearly separable


def one_cutoff_dataset(jump: float, trend: str, cov_jump: float, n: int, n_boot: int, seed: int) -> dict:
    df = simulate_dated(n, jump=jump, trend_kind=trend, covariate_jump=cov_jump, d0=D0, seed=seed)
    mean = rd_jump(df["score"], df["date"], D0)
    robust = local_auc(df["score"], df["date"], D0, mean.h, b=mean.b, fpr=(0.05,), n_bootstrap=n_boot, seed=seed)
    conventional = local_auc(df["score"], df["date"], D0, mean.h, fpr=(0.05,), n_bootstrap=n_boot, seed=seed,
                             robust=False)
    cov = rd_jump(df["length"], df["date"], D0)
    placebo = next(iter(placebo_jumps(df["score"], df["date"], D0, quantiles=(0.5,)).values()))
    return {
        "mean": mean.value, "mean_bc": mean.bias_corrected, "mean_ci": mean.ci, "h": mean.h,
        "auc": robust.auc["value"], "auc_bc": robust.auc["bias_corrected"], "auc_ci": robust.auc["ci"],
        "auc_ci_conventional": conventional.auc["ci"],
        "naive_auc": weighted_auc(df["score"], df["member"]),
        "naive_mean": df.loc[df.member == 1, "score"].mean() - df.loc[df.member == 0, "score"].mean(),
        "covariate_flag": cov.p_value < 0.05,
        "density_flag": density_test(df["date"], D0).p_value < 0.05,
        "placebo_flag": not (placebo.ci[0] <= 0.0 <= placebo.ci[1]),
    }


def one_bounds_dataset(a: float, n: int, n_boot: int, seed: int) -> dict:
    rng = np.random.default_rng(seed)
    x = rng.normal(size=n)
    e = 1.0 / (1.0 + np.exp(-a * x))
    t = rng.random(n) < e
    s = x + 0.5 * t + rng.normal(size=n)
    b = auc_bounds(s, t, e, eta=0.05, n_bootstrap=n_boot, seed=seed)
    return {"lower": b.lower, "upper": b.upper, "ci": b.ci, "unidentified": b.unidentified_share}


def _coverage(cis, truth) -> tuple[float, float]:
    """Share of intervals containing the truth (in %) and their mean width."""
    return 100 * np.mean([lo <= truth <= hi for lo, hi in cis]), np.mean([hi - lo for lo, hi in cis])


def _bias_rmse(values, truth) -> tuple[float, float]:
    v = np.asarray(values, dtype=float)
    return v.mean() - truth, np.sqrt(np.mean((v - truth) ** 2))


def cutoff_table(n: int, datasets: int, n_boot: int, jobs: int) -> None:
    print(f"\nCutoff design: n = {n} texts over d0 +- 10 years, {datasets} datasets per setting, "
          f"{n_boot} bootstrap replicates for the local AUC")
    results = {}
    for k, (name, (jump, trend, cov_jump)) in enumerate(SETTINGS.items()):
        results[name] = Parallel(n_jobs=jobs)(delayed(one_cutoff_dataset)(jump, trend, cov_jump, n, n_boot, 10_000 * k + seed)
                                              for seed in range(datasets))
    print("\nRD mean (members' side minus non-members' side at d0; robust bias-corrected 95% interval):\n")
    print("| setting | truth | naive mean diff | bias | RMSE | bias (bias-corrected point) | coverage | CI width | median h |")
    print("|---|---|---|---|---|---|---|---|---|")
    for name, rows in results.items():
        jump = SETTINGS[name][0]
        bias, rmse = _bias_rmse([r["mean"] for r in rows], jump)
        cov, width = _coverage([r["mean_ci"] for r in rows], jump)
        print(f"| {name} | {jump:.2f} | {np.mean([r['naive_mean'] for r in rows]):+.3f} | {bias:+.3f} | {rmse:.3f} | "
              f"{_bias_rmse([r['mean_bc'] for r in rows], jump)[0]:+.3f} | {cov:.1f}% | {width:.2f} | "
              f"{np.median([r['h'] for r in rows]):.2f} |")
    print("\nLocal AUC at d0 (percentile bootstrap; robust: quadratic detrending in the replicates, conventional: linear):\n")
    print("| setting | truth | naive AUC | bias | RMSE | bias (bias-corrected point) | coverage, robust | CI width | "
          "coverage, conventional | CI width |")
    print("|---|---|---|---|---|---|---|---|---|---|")
    for name, rows in results.items():
        truth = true_local_auc(SETTINGS[name][0])
        bias, rmse = _bias_rmse([r["auc"] for r in rows], truth)
        cov, width = _coverage([r["auc_ci"] for r in rows], truth)
        cov_c, width_c = _coverage([r["auc_ci_conventional"] for r in rows], truth)
        print(f"| {name} | {truth:.3f} | {np.mean([r['naive_auc'] for r in rows]):.3f} | {bias:+.3f} | {rmse:.3f} | "
              f"{_bias_rmse([r['auc_bc'] for r in rows], truth)[0]:+.3f} | {cov:.1f}% | {width:.3f} | {cov_c:.1f}% | "
              f"{width_c:.3f} |")
    print("\nChecks (share of datasets where each fires at the 5% level):\n")
    print("| setting | covariate jump | density jump | placebo jump (median member date) |")
    print("|---|---|---|---|")
    for name, rows in results.items():
        rates = [100 * np.mean([r[k] for r in rows]) for k in ("covariate_flag", "density_flag", "placebo_flag")]
        print(f"| {name} | {rates[0]:.1f}% | {rates[1]:.1f}% | {rates[2]:.1f}% |")


def bounds_table(n: int, datasets: int, n_boot: int, jobs: int) -> None:
    truth = float(norm.cdf(0.5 / 2.0))
    print(f"\nBounds on the ATE AUC (truth {truth:.4f}): n = {n}, eta = 0.05, {datasets} datasets per a, "
          f"{n_boot} bootstrap replicates\n")
    print("| a | unidentified share | mean bounds | truth in point bounds | truth in 95% interval | interval width |")
    print("|---|---|---|---|---|---|")
    for k, a in enumerate(OVERLAP):
        rows = Parallel(n_jobs=jobs)(delayed(one_bounds_dataset)(a, n, n_boot, 10_000 * k + seed)
                                     for seed in range(datasets))
        lower = np.mean([r["lower"] for r in rows])
        upper = np.mean([r["upper"] for r in rows])
        in_point = np.mean([r["lower"] <= truth <= r["upper"] for r in rows])
        in_ci = np.mean([r["ci"][0] <= truth <= r["ci"][1] for r in rows])
        width = np.mean([r["ci"][1] - r["ci"][0] for r in rows])
        print(f"| {a:g} | {np.mean([r['unidentified'] for r in rows]):.3f} | [{lower:.3f}, {upper:.3f}] | "
              f"{100 * in_point:.1f}% | {100 * in_ci:.1f}% | {width:.3f} |")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--datasets", type=int, default=200)
    parser.add_argument("--n", type=int, default=2000)
    parser.add_argument("--bootstrap", type=int, default=200)
    parser.add_argument("--jobs", type=int, default=2)
    args = parser.parse_args()
    datasets = 20 if args.quick else args.datasets
    start = time.perf_counter()
    cutoff_table(args.n, datasets, args.bootstrap, args.jobs)
    bounds_table(args.n, datasets, args.bootstrap, args.jobs)
    print(f"\n{time.perf_counter() - start:.0f} s on {platform.processor() or platform.machine()}, "
          f"{os.cpu_count()} CPUs, {args.jobs} jobs")


if __name__ == "__main__":
    main()
