"""Intervals on clustered texts (a `group` column): do they cover the causal AUC when a document's chunks share
its membership and its score level? Prints a Markdown table for benchmarks/README.md.

Design (100 documents x 8 chunks by default): a document covariate x ~ N(0, 1) drives membership,
P(member) = sigmoid(x), shared by the document's chunks; each chunk's score is S = x + 0.5 T + u + e with a
document effect u ~ N(0, 1) and chunk noise e ~ N(0, 0.5^2). The causal AUC over chunks, P(S(1) > S(0)) for
two independent draws, is Phi(0.5 / sqrt(2 (1 + 1 + 0.25))) = 0.5932. Run it on two checkouts to compare:

    python benchmarks/cluster_bootstrap.py --datasets 40
    PYTHONPATH=/path/to/older/checkout python benchmarks/cluster_bootstrap.py --datasets 40
"""

from __future__ import annotations

import argparse
import platform
import time

import numpy as np
import pandas as pd
from joblib import Parallel, delayed
from scipy.stats import norm
from threadpoolctl import threadpool_limits

from llm_audit.estimate import estimate

TRUE_AUC = float(norm.cdf(0.5 / np.sqrt(2 * (1 + 1 + 0.25))))


def corpus(seed: int, docs: int, chunks: int) -> tuple[pd.DataFrame, pd.DataFrame]:
    """The scores and covariates tables of one simulated clustered audit."""
    rng = np.random.default_rng(seed)
    x = rng.normal(size=docs)
    t = (rng.uniform(size=docs) < 1 / (1 + np.exp(-x))).astype(int)
    u = rng.normal(size=docs)
    doc = np.repeat(np.arange(docs), chunks)
    s = x[doc] + 0.5 * t[doc] + u[doc] + 0.5 * rng.normal(size=docs * chunks)
    ids = [f"c{i}" for i in range(docs * chunks)]
    return (pd.DataFrame({"id": ids, "member": t[doc], "score": s}),
            pd.DataFrame({"id": ids, "x": x[doc], "group": [f"d{d}" for d in doc]}))


def one(seed: int, docs: int, chunks: int, n_boot: int) -> dict[str, tuple[float, float, float]]:
    scores, cov = corpus(seed, docs, chunks)
    with threadpool_limits(1):
        est = estimate(scores, cov, n_bootstrap=n_boot, seed=seed, n_jobs=1, estimands=[])
    out = {}
    for method, r in est.results("score").items():
        if r.auc.value is not None and r.auc.ci is not None:
            out[method] = (r.auc.value, r.auc.ci[0], r.auc.ci[1])
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--datasets", type=int, default=40)
    ap.add_argument("--docs", type=int, default=100)
    ap.add_argument("--chunks", type=int, default=8)
    ap.add_argument("--bootstrap", type=int, default=200)
    ap.add_argument("--jobs", type=int, default=2)
    args = ap.parse_args()
    start = time.time()
    runs = Parallel(n_jobs=args.jobs)(delayed(one)(1000 + k, args.docs, args.chunks, args.bootstrap)
                                      for k in range(args.datasets))
    print(f"{args.datasets} datasets of {args.docs} documents x {args.chunks} chunks, {args.bootstrap} bootstrap "
          f"replicates; true causal AUC {TRUE_AUC:.4f}; {platform.machine()}, {time.time() - start:.0f} s\n")
    print("| method | datasets | bias | SD of the estimates | mean interval width / 3.92 | coverage |")
    print("|---|---|---|---|---|---|")
    for method in sorted({m for r in runs for m in r}):
        v = np.array([r[method] for r in runs if method in r])
        cover = np.mean((v[:, 1] <= TRUE_AUC) & (TRUE_AUC <= v[:, 2]))
        print(f"| {method} | {len(v)} | {v[:, 0].mean() - TRUE_AUC:+.4f} | {v[:, 0].std(ddof=1):.4f} | "
              f"{np.mean(v[:, 2] - v[:, 1]) / 3.92:.4f} | {cover:.1%} |")


if __name__ == "__main__":
    main()
