"""The benchmark's steps, each cached under the run folder: base model, pool, multi-run truth, one-run,
zero-run at each confounding strength, and the estimates of every regime."""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any, Callable

import numpy as np
import pandas as pd

from llm_audit.covariates import extract_covariates
from llm_audit.estimate import estimate
from llm_audit.estimate.regimes import multi_run, one_run
from llm_audit.tables import atomic_write_text

from benchmarks.ground_truth import data, models
from benchmarks.ground_truth.sizes import Size
from benchmarks.run_folder import RunFolder

ZERO_RUN_COVARIATES = ("length", "domain", "lexical", "tfidf")


@dataclass
class Context(RunFolder):
    size: Size
    seed: int
    folder: Path
    documents: pd.DataFrame  # id, domain, text: from data.load_documents
    design_matched: bool = False
    log: Callable[[str], None] = print


def confounded_propensity(pool: pd.DataFrame, base_scores: pd.Series, a: float) -> np.ndarray:
    """P(member | domain, length) = sigmoid(a z): z is the standardized best linear prediction of the base
    model's loss score from domain and length, so members are the texts any model finds easy, and the naive
    comparison credits that to memorization. It depends on covariates only: unconfounded given X."""
    design = pd.get_dummies(pool["domain"], dtype=float)
    design["n_tokens"] = pool["n_tokens"].to_numpy(dtype=float)
    x = design.to_numpy()
    coef, *_ = np.linalg.lstsq(x, base_scores.to_numpy(dtype=float), rcond=None)
    z = x @ coef
    z = (z - z.mean()) / z.std()
    return 1.0 / (1.0 + np.exp(-a * z))


def run_benchmark(ctx: Context) -> dict[str, Any]:
    size, seed = ctx.size, ctx.seed
    ctx.folder.mkdir(parents=True, exist_ok=True)

    candidates, base_docs = data.split_documents(ctx.documents, size.pool_per_domain, seed)
    base_dir = ctx.folder / "base_model"
    if not base_dir.exists():
        with ctx.timed("pretrain"):
            models.pretrain_base(base_dir, base_docs["text"].tolist(), size, seed)
    model, tokenizer = models.load_base(base_dir)

    def make_pool() -> pd.DataFrame:
        pool = data.chunk_pool(candidates, tokenizer, size.pool_per_domain, size.chunk_tokens, seed)
        base = models.score_pool(model, tokenizer, pool)
        return pool.assign(n_tokens=base["n_tokens"].to_numpy(), base_loss=base["loss"].to_numpy())

    pool = ctx.cached("pool", make_pool)
    replay = data.replay_slice(base_docs, tokenizer, len(pool) // 2, size.chunk_tokens, seed)
    texts = dict(zip(pool["id"], pool["text"]))

    def fine_tune(member: np.ndarray, run_seed: int) -> pd.DataFrame:
        chosen = [texts[i] for i in pool["id"][member == 1]]
        scores = models.finetune_and_score(base_dir, chosen + replay, pool, size, run_seed)
        return scores.assign(member=member)

    # Multi-run truth: R fine-tunes, each on its own Bernoulli(1/2) half of the pool.
    runs = []
    for r in range(size.runs):
        member = (np.random.default_rng([seed, 1, r]).random(len(pool)) < 0.5).astype(int)
        runs.append(ctx.cached(f"multi_run_{r:02d}", lambda m=member, r=r: fine_tune(m, 1000 * seed + r)))
    long = pd.concat([df.assign(run=r) for r, df in enumerate(runs)], ignore_index=True)
    truth = multi_run(long, n_bootstrap=size.n_bootstrap, seed=seed)

    # One-run: one more fine-tune with Bernoulli(1/2) inclusion.
    member = (np.random.default_rng([seed, 2]).random(len(pool)) < 0.5).astype(int)
    one = one_run(ctx.cached("one_run", lambda: fine_tune(member, 1000 * seed + 500)), p=0.5,
                  n_bootstrap=size.n_bootstrap, seed=seed)

    # Zero-run: inclusion confounded by domain and length with strength a; audited with covariates only.
    covariates = ctx.cached("covariates", lambda: extract_covariates(
        pool[["id", "domain", "text"]], ZERO_RUN_COVARIATES, tokenizer=tokenizer, domain_column="domain",
        tfidf_k=size.tfidf_k, seed=seed))
    zero = {}
    for k, a in enumerate(size.strengths):
        p = confounded_propensity(pool, pool["base_loss"], a)
        member = (np.random.default_rng([seed, 3, k]).random(len(pool)) < p).astype(int)
        scores = ctx.cached(f"zero_run_a{a:g}", lambda m=member, k=k: fine_tune(m, 1000 * seed + 600 + k))
        with ctx.timed(f"estimate_a{a:g}"):
            est = estimate(scores, covariates, n_bootstrap=size.n_bootstrap, seed=seed, n_jobs=1)
        zero[format(a, "g")] = est.to_dict()

    # Design-matched truth: R runs drawn with the strongest confounded propensity, pooled with the known
    # p_i (Horvitz-Thompson). Its gap to the truth is interference (a skewed member set shifts every
    # unit's score); the zero-run gap to it is what confounding and its correction leave.
    design = None
    if ctx.design_matched:
        a = max(size.strengths)
        p = confounded_propensity(pool, pool["base_loss"], a)
        runs = []
        for r in range(size.runs):
            member = (np.random.default_rng([seed, 4, r]).random(len(pool)) < p).astype(int)
            runs.append(ctx.cached(f"design_a{a:g}_{r:02d}", lambda m=member, r=r: fine_tune(m, 1000 * seed + 700 + r)))
        long = pd.concat([df.assign(run=r) for r, df in enumerate(runs)], ignore_index=True)
        design = {"a": a, **multi_run(long, p=pd.Series(p, index=pool["id"].astype(str)),
                                      n_bootstrap=size.n_bootstrap, seed=seed).to_dict()}

    results = {
        "size": asdict(size),
        "seed": seed,
        "truth": truth.to_dict(),
        "one_run": one.to_dict(),
        "zero_run": zero,
        "design_matched_truth": design,
        "timings_s": ctx.timings(),
    }
    atomic_write_text(ctx.folder / "results.json", json.dumps(results, indent=1, default=str) + "\n")
    return results
