"""The parallel layout (llm_audit/parallel.py) against oversubscription: wall time of one zero-run estimate with
each nuisance model (logistic propensity + linear outcome, gradient boosting for both), at n = 1,000 and
100,000, with jobs 1 and every core, beside the same run under OMP_NUM_THREADS=1 (no OpenMP thread anywhere
beyond the workers'). The layout's promise: the ratio of the two stays within 1.2. Before it, a 282-text
audit with gradient boosting took 299 s on 2 cores, against 6 s under OMP_NUM_THREADS=1.

Inputs: the simulator's confounded design (llm_audit.simulate, a = 1), one score column, 1000 bootstrap
replicates. Every run is a fresh process; runs are interleaved (layout, OMP_NUM_THREADS=1, layout, ...) and
the median of ``--repeat`` is printed. With ``--baseline`` (another llm-audit checkout) the same runs of that
code are added, e.g. the code before the layout.

    python benchmarks/parallel_layout.py                      # both models, n = 1,000 and 100,000
    python benchmarks/parallel_layout.py --sizes 1000 --repeat 3
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
MODELS = {"logistic + linear": ("logistic", "linear"), "hgb + hgb": ("hgb", "hgb")}


def one(n: int, propensity: str, outcome: str, jobs: int) -> None:
    """One estimate in this process; prints its wall time as JSON."""
    from llm_audit.estimate import estimate
    from llm_audit.simulate import simulate

    scores, covariates = simulate(n, 1.0, 0.5, seed=0)
    start = time.perf_counter()
    estimate(scores, covariates, n_bootstrap=1000, seed=0, n_jobs=jobs, propensity=propensity, outcome=outcome)
    print(json.dumps({"wall": time.perf_counter() - start}))


def measure(code: Path, n: int, models: tuple[str, str], jobs: int, omp_one: bool) -> float:
    env = {**os.environ, "PYTHONPATH": str(code)}
    env.pop("OMP_NUM_THREADS", None)
    if omp_one:
        env["OMP_NUM_THREADS"] = "1"
    done = subprocess.run([sys.executable, __file__, "--one", str(n), *models, str(jobs)], env=env,
                          capture_output=True, text=True, check=True)
    return json.loads(done.stdout.strip().splitlines()[-1])["wall"]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--sizes", default="1000,100000")
    parser.add_argument("--models", default=",".join(MODELS), help=f"comma-separated: {', '.join(MODELS)}")
    parser.add_argument("--jobs", default="1,-1", help="jobs values (-1: every core)")
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--baseline", type=Path, help="another llm-audit checkout, measured the same way")
    parser.add_argument("--one", nargs=4, metavar=("N", "PROPENSITY", "OUTCOME", "JOBS"), help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.one:
        one(int(args.one[0]), args.one[1], args.one[2], int(args.one[3]))
        return
    codes = {"this": ROOT, **({"baseline": args.baseline.resolve()} if args.baseline else {})}
    print(f"# {platform.machine()}, {os.cpu_count()} cores visible, load average {os.getloadavg()[0]:.1f} at start; "
          f"median of {args.repeat} interleaved runs")
    print("| n | nuisance models | jobs | code | wall s | wall s, OMP_NUM_THREADS=1 | ratio | load average |")
    print("|---|---|---|---|---|---|---|---|")
    for n in (int(s) for s in args.sizes.split(",")):
        for name in args.models.split(","):
            for jobs in (int(j) for j in args.jobs.split(",")):
                for label, code in codes.items():
                    plain, omp_one, loads = [], [], []
                    for _ in range(args.repeat):
                        loads.append(os.getloadavg()[0])
                        plain.append(measure(code, n, MODELS[name], jobs, omp_one=False))
                        omp_one.append(measure(code, n, MODELS[name], jobs, omp_one=True))
                    a, b = float(np.median(plain)), float(np.median(omp_one))
                    shown = "all" if jobs == -1 else jobs
                    print(f"| {n:,} | {name} | {shown} | {label} | {a:.1f} | {b:.1f} | {a / b:.2f} | "
                          f"{min(loads):.1f}-{max(loads):.1f} |", flush=True)


if __name__ == "__main__":
    main()
