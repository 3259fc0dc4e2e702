"""What the refuters add to an audit's run time (issue 13): one zero-run estimate of ``--scores`` scores on the
simulator's covariates (``llm_audit.simulate``), timed in full and in ``run_refuters`` alone (the refits of the
propensity shared by all scores, then each score's cheap statistics), plus the negative-control refuter's score
column so that every refuter runs.

    python benchmarks/refuter_cost.py --n 1000 100000 --scores 8 --bootstrap 200
"""

from __future__ import annotations

import argparse
import os
import platform
import time

import numpy as np

from llm_audit.estimate import estimate
from llm_audit.estimate import zero_run
from llm_audit.simulate import simulate


def time_one(n: int, n_scores: int, bootstrap: int, seed: int = 0) -> tuple[float, float]:
    """(seconds of the whole estimate, seconds inside the refuters) for one simulated audit of ``n`` texts."""
    scores, cov = simulate(n, 1.0, 0.5, seed=seed)
    rng = np.random.default_rng(seed)
    for k in range(1, n_scores):  # more scores: the first plus noise of growing size
        scores[f"score{k}"] = scores["score"] + rng.normal(scale=0.5 * k, size=n)
    cov["negative_control"] = rng.uniform(size=n)  # a control at chance: every refuter runs
    spent = [0.0]
    inner = zero_run.run_refuters

    def timed(ctx):
        t0 = time.perf_counter()
        rows = inner(ctx)
        spent[0] += time.perf_counter() - t0
        return rows

    zero_run.run_refuters = timed
    try:
        t0 = time.perf_counter()
        estimate(scores, cov, n_bootstrap=bootstrap, n_jobs=1, seed=seed)
        total = time.perf_counter() - t0
    finally:
        zero_run.run_refuters = inner
    return total, spent[0]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--n", type=int, nargs="+", default=[1000, 100_000])
    ap.add_argument("--scores", type=int, default=8)
    ap.add_argument("--bootstrap", type=int, default=200)
    args = ap.parse_args()
    print(f"machine: {platform.machine()}, {os.cpu_count()} CPUs, OMP_NUM_THREADS={os.environ.get('OMP_NUM_THREADS')}")
    print("| n | scores | bootstrap | estimate (s) | of which refuters (s) |")
    print("|---|---|---|---|---|")
    for n in args.n:
        total, refuters = time_one(n, args.scores, args.bootstrap)
        print(f"| {n:,} | {args.scores} | {args.bootstrap} | {total:.1f} | {refuters:.1f} |", flush=True)


if __name__ == "__main__":
    main()
