"""The family statement across scores (llm_audit/estimate/inference.py) on data with known truth: do the max-t
simultaneous intervals cover every score's AUC at once in 95% of datasets, and how much narrower are they than
Bonferroni's? Prints a Markdown table for benchmarks/README.md.

Each dataset: n texts, membership drawn at random (p = 1/2, so every method targets the same AUC), covariates
x1-x3, and four scores that share most of their noise, as loss, Min-K% and Min-K%++ do:

    S_j = 0.5 x1 + rho Z + sqrt(1 - rho^2) E_j + tau_j T,    Z, E_j ~ N(0, 1),  rho = 0.8,

so the causal AUC of score j is Phi(tau_j / sqrt(2.5)) (two independent texts: the difference of their
non-effect parts has variance 2 (0.25 + 1)). tau = (0.5, 0.3, 0, 0): two real effects, two scores at chance.

    python benchmarks/familywise.py                 # 120 datasets, 16 minutes on 2 busy cores
    python benchmarks/familywise.py --datasets 40
"""

from __future__ import annotations

import argparse
import os
import platform
import time

import numpy as np
import pandas as pd
from joblib import Parallel, delayed
from scipy.stats import norm
from threadpoolctl import threadpool_limits

from llm_audit.estimate import estimate

N = 500
BOOTSTRAP = 300
RHO = 0.8
TAU = {"s_effect": 0.5, "s_small": 0.3, "s_null_a": 0.0, "s_null_b": 0.0}
METHODS = ("naive", "ipw", "dr")


def truth() -> dict[str, float]:
    return {name: float(norm.cdf(tau / np.sqrt(2.5))) for name, tau in TAU.items()}


def dataset(seed: int) -> dict:
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(N, 3))
    t = rng.integers(0, 2, N)
    z = rng.normal(size=N)
    ids = [f"u{i}" for i in range(N)]
    scores = pd.DataFrame({"id": ids, "member": t})
    for name, tau in TAU.items():
        scores[name] = 0.5 * x[:, 0] + RHO * z + np.sqrt(1 - RHO**2) * rng.normal(size=N) + tau * t
    covs = pd.DataFrame({"id": ids, "x1": x[:, 0], "x2": x[:, 1], "x3": x[:, 2]})
    with threadpool_limits(1):
        est = estimate(scores, covs, n_bootstrap=BOOTSTRAP, n_jobs=1, fpr=(0.05,), seed=seed).to_dict()
    return est["diagnostics"]["inference"]["families"]


def summarize(runs: list[dict]) -> list[list[str]]:
    true = truth()
    k = len(TAU)
    c_bonf = norm.ppf(1 - 0.05 / (2 * k))
    rows = []
    for method in METHODS:
        fams = [r[method] for r in runs if method in r and len(r[method]["scores"]) == k]
        cover = {"max-t": [], "Bonferroni": [], "unadjusted": []}
        fwer, crit, width_ratio = [], [], []
        for fam in fams:
            sc = fam["scores"]
            for label, c in (("max-t", fam["critical_value"]), ("Bonferroni", c_bonf), ("unadjusted", 1.959964)):
                cover[label].append(all(abs(sc[n]["auc"] - true[n]) <= c * sc[n]["se"] for n in TAU))
            fwer.append(any(sc[n]["p_adjusted"] < 0.05 for n in TAU if TAU[n] == 0))
            crit.append(fam["critical_value"])
            width_ratio.append(fam["critical_value"] / c_bonf)
        power = np.mean([fam["scores"]["s_small"]["p_adjusted"] < 0.05 for fam in fams])
        rows.append([method, str(len(fams)), *(f"{100 * np.mean(cover[c]):.1f}%" for c in cover),
                     f"{100 * np.mean(fwer):.1f}%", f"{np.mean(crit):.2f} (Bonferroni {c_bonf:.2f})",
                     f"{np.mean(width_ratio):.2f}", f"{100 * power:.0f}%"])
    return rows


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--datasets", type=int, default=120)
    ap.add_argument("--jobs", type=int, default=2)
    args = ap.parse_args()
    n_sets = args.datasets
    t0 = time.time()
    runs = Parallel(n_jobs=args.jobs)(delayed(dataset)(seed) for seed in range(n_sets))
    header = ["method", "datasets", "all 4 covered: max-t", "Bonferroni", "unadjusted 1.96 SE",
              "FWER at 5% (null scores)", "critical value", "max-t / Bonferroni width", "power, AUC 0.57"]
    print("| " + " | ".join(header) + " |\n|" + "---|" * len(header))
    for row in summarize(runs):
        print("| " + " | ".join(row) + " |")
    print(f"\ntruth: {', '.join(f'{k} {v:.3f}' for k, v in truth().items())}; n = {N}, {BOOTSTRAP} bootstrap "
          f"replicates, rho = {RHO}; {time.time() - t0:.0f} s on {os.cpu_count()} cores ({platform.processor() or platform.machine()})")


if __name__ == "__main__":
    main()
