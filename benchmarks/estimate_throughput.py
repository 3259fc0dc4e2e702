"""Throughput of `llm-audit estimate` on realistic inputs: wall time, CPU time and peak memory of one full
zero-run estimate (1000 bootstrap replicates, every diagnostic the data allow) at 10k / 100k / 1M texts with
1 and 8 score columns.

Inputs: the simulator's confounded design (llm_audit.simulate, a = 1, tau = 0.5; covariates x1-x3 and domain)
plus a date covariate (2015-2023, 10% missing: slices by date bucket) and, for 8 columns, seven more scores
(the first plus noise of growing scale, every third rounded to 0.1 so that it has ties, as scores read off
token counts do). Diagnostics: the placebo, the sensitivity search (to the naive AUC and to chance), the slices
by domain and date, the DP bound (``dp_epsilon`` 8). Not on: the refit bootstrap of the propensity (an option,
slow by design) and the cutoff analysis (the date does not separate the arms here).

Each estimate runs in a fresh process (peak memory is the process's maximum resident set). With ``--baseline``
(a checkout of another version of llm-audit, e.g. ``git worktree add /tmp/base <commit>``) each configuration
runs under both, interleaved, and the estimates.json files are compared byte for byte.

    python benchmarks/estimate_throughput.py                                   # 10k, 100k, 1M x 1, 8 columns
    python benchmarks/estimate_throughput.py --sizes 100000 --columns 8 --repeat 3 --baseline /tmp/base
"""

from __future__ import annotations

import argparse
import filecmp
import json
import os
import platform
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]


def tables(n: int, columns: int, seed: int = 0):
    """(scores, covariates) of ``n`` texts with ``columns`` score columns (see the module docstring)."""
    from llm_audit.simulate import simulate

    scores, covariates = simulate(n, 1.0, 0.5, seed=seed)
    rng = np.random.default_rng(seed + 1)
    base = scores["score"].to_numpy()
    for k in range(1, columns):
        column = base + rng.normal(scale=0.3 * k, size=n)
        scores[f"score{k}"] = np.round(column, 1) if k % 3 == 0 else column
    covariates["date"] = 2015 + 8 * rng.uniform(size=n)
    covariates.loc[rng.uniform(size=n) < 0.1, "date"] = np.nan
    return scores, covariates


def one(n: int, columns: int, jobs: int, out: str) -> None:
    """Run one estimate in this process and print its figures as a JSON line."""
    from llm_audit.estimate import estimate

    scores, covariates = tables(n, columns)
    start, cpu = time.perf_counter(), time.process_time()
    estimate(scores, covariates, n_bootstrap=1000, seed=0, n_jobs=jobs, dp_epsilon=8.0).save(out)
    print(json.dumps({"wall": time.perf_counter() - start, "cpu": time.process_time() - cpu,
                      "peak_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024}))


def measure(code: Path, n: int, columns: int, jobs: int, out: Path) -> dict:
    """One estimate in a fresh process importing llm_audit from ``code``."""
    env = {**os.environ, "PYTHONPATH": str(code)}
    load = os.getloadavg()[0]
    done = subprocess.run([sys.executable, __file__, "--one", str(n), str(columns), str(jobs), str(out)], env=env,
                          capture_output=True, text=True, check=True)
    return {**json.loads(done.stdout.strip().splitlines()[-1]), "load": load}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--sizes", default="10000,100000,1000000")
    parser.add_argument("--columns", default="1,8")
    parser.add_argument("--jobs", type=int, default=-1)
    parser.add_argument("--repeat", type=int, default=1, help="runs per configuration (the median is printed)")
    parser.add_argument("--baseline", type=Path, help="another llm-audit checkout to compare with, interleaved")
    parser.add_argument("--one", nargs=4, metavar=("N", "COLUMNS", "JOBS", "OUT"), help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.one:
        one(int(args.one[0]), int(args.one[1]), int(args.one[2]), args.one[3])
        return
    codes = {"this": ROOT, **({"baseline": args.baseline.resolve()} if args.baseline else {})}
    print(f"# {platform.machine()}, {os.cpu_count()} cores visible, jobs {args.jobs}, load average "
          f"{os.getloadavg()[0]:.1f} at start; median of {args.repeat}")
    print("| texts | score columns | code | wall s | CPU s | peak MB | load average | estimates.json |")
    print("|---|---|---|---|---|---|---|---|")
    with tempfile.TemporaryDirectory() as tmp:
        for n in (int(s) for s in args.sizes.split(",")):
            for columns in (int(c) for c in args.columns.split(",")):
                runs: dict[str, list[dict]] = {name: [] for name in codes}
                for k in range(args.repeat):
                    for name, code in codes.items():  # interleaved: a change of load hits both
                        runs[name].append(measure(code, n, columns, args.jobs, Path(tmp) / f"{name}{k}.json"))
                same = ("same bytes" if filecmp.cmp(Path(tmp) / "this0.json", Path(tmp) / "baseline0.json", shallow=False)
                        else "DIFFERENT") if args.baseline else ""
                for name, rows in runs.items():
                    med = {key: float(np.median([r[key] for r in rows])) for key in ("wall", "cpu", "peak_mb")}
                    loads = [r["load"] for r in rows]
                    print(f"| {n:,} | {columns} | {name} | {med['wall']:.1f} | {med['cpu']:.1f} | {med['peak_mb']:,.0f} | "
                          f"{min(loads):.1f}-{max(loads):.1f} | {same} |", flush=True)


if __name__ == "__main__":
    main()
