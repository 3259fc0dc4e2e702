"""The cutoff design on a real model: SmolLM2-135M on State of the Union chunks (issue 16), offline.

Two cutoffs on the same scored chunks:
  * a placebo cutoff inside the model's training era (d0 = 2001-01-01: speeches before vs after 2000,
    all delivered long before SmolLM2's data cutoff, so both arms were available for training). Older
    prose is harder for a modern model, so the naive AUC of "before" vs "after" is far from 0.5; the
    regression discontinuity, which compares only speeches near d0 after removing each side's trend, should
    find no jump.
  * the real cutoff (SmolLM2's release, 2024-11-01): members = speeches before it, non-members = the one
    address after it (2026-02-24). One speech on one side is one date: the local-linear fit on that side is
    not possible, and the design says so instead of giving a number.

Chunks: 128-word windows (``llm_audit.corpora.sotu.build``), a random sample of windows per speech, denser
near the placebo cutoff and the real one. Scores are cached under ``--cache-dir`` (a rerun is free).

    OMP_NUM_THREADS=2 python benchmarks/sotu_cutoff.py      # 464 chunks, 74k tokens: 14 min on 2 shared cores
"""

from __future__ import annotations

import argparse
import os
import platform
import time

import numpy as np
import pandas as pd

from llm_audit.corpora.smollm2 import smollm2_gguf
from llm_audit.corpora.sotu import SMOLLM2_CUTOFF, build
from llm_audit.covariates import extract_covariates
from llm_audit.estimate.cutoff.analysis import analyse_cutoff
from llm_audit.estimate.metrics import weighted_auc

PLACEBO_CUTOFF = "2001-01-01"
SCORES = ("loss", "zlib", "mink_0.2", "minkpp_0.2")
# (first year, last year, chunks drawn per speech): dense around the placebo cutoff (2001) and around the
# real one (2024-11), sparse elsewhere so each side's trend is still seen.
SAMPLING = ((1961, 1987, 4), (1988, 2013, 10), (2014, 2024, 8), (2025, 2026, 40))


def select_chunks(seed: int = 0) -> pd.DataFrame:
    """The chunks to score: every 128-word window of every address, then ``SAMPLING`` per speech."""
    corpus = build(cutoff=SMOLLM2_CUTOFF, words=128)
    year = corpus["date"].str[:4].astype(int)
    rng = np.random.default_rng(seed)
    keep = []
    for first, last, per_speech in SAMPLING:
        span = corpus[(year >= first) & (year <= last)]
        for _, rows in span.groupby("speech", sort=True):
            take = min(per_speech, len(rows))
            keep.extend(rng.choice(rows.index.to_numpy(), size=take, replace=False).tolist())
    return corpus.loc[sorted(keep)].reset_index(drop=True)


def scored_chunks(cache_dir: str) -> pd.DataFrame:
    """``select_chunks`` with their SmolLM2 scores (columns of ``SCORES``)."""
    from llm_audit.scoring import load_model, score_corpus

    chunks = select_chunks()
    model = load_model(smollm2_gguf(), dtype="float32", device="cpu")
    scores = score_corpus(chunks[["id", "text", "member"]], model, scores=["loss", "zlib", "mink", "minkpp"],
                          k_grid=(0.2,), cache_dir=cache_dir, progress=False)
    return chunks.merge(scores[["id", *SCORES]], on="id", validate="one_to_one")


def _interval(entry: dict, fmt: str = "+.3g") -> str:
    if entry.get("value") is None:
        return "no number"
    lo, hi = entry["ci"]
    return f"{entry['value']:{fmt}} [{lo:{fmt}}, {hi:{fmt}}]"


def analyse(data: pd.DataFrame, d0: str, label: pd.Series, window: tuple[int, int], n_bootstrap: int) -> None:
    """Print the naive AUC and the cutoff analysis at ``d0`` of ``data`` labelled by ``label``."""
    covariates = extract_covariates(data[["id", "text"]], ["lexical"]).drop(columns="id")
    result = analyse_cutoff(data[list(SCORES)], data["date"], label, d0=d0, covariates=covariates,
                            cluster=data["speech"], n_bootstrap=n_bootstrap, fpr=(0.05,))
    design = result.design
    year = data["date"].str[:4].astype(int)
    near = (year >= window[0]) & (year <= window[1])
    print(f"\n### d0 = {d0}: {design.describe()}")
    print(f"{int(label.sum())} chunks before d0 ({data.loc[label == 1, 'speech'].nunique()} speeches), "
          f"{int((label == 0).sum())} after ({data.loc[label == 0, 'speech'].nunique()} speeches); "
          f"{int(near.sum())} chunks dated {window[0]}-{window[1]}\n")
    print(f"| score | naive AUC, all | naive AUC, {window[0]}-{window[1]} | RD mean at d0 [95% robust CI] | "
          "local AUC at d0 [95% CI] | h (years) | chunks within h (before / after) | placebo jumps |")
    print("|---|---|---|---|---|---|---|---|")
    for name in SCORES:
        score = result.scores[name]
        mean, auc = score.mean, score.local_auc
        within = "-" if mean.value is None else f"{mean.n_member_side} / {mean.n_nonmember_side}"
        placebos = [e for e in score.placebos.values() if e.ci is not None]
        jumps = sum(not (e.ci[0] <= 0 <= e.ci[1]) for e in placebos)
        print(f"| {name} | {weighted_auc(data[name], label):.3f} | {weighted_auc(data.loc[near, name], label[near]):.3f} | "
              f"{_interval(mean.to_dict())} | {_interval(auc.auc, '.3f')} | "
              f"{'-' if mean.h is None else f'{mean.h:.2f}'} | {within} | {jumps} of {len(placebos)} |")
        if mean.reason:
            print(f"|  | {mean.reason} |||||||")
    if result.covariates is not None:
        jumping = result.covariates.jumping
        print(f"\nCovariates tested at d0: {result.covariates.n_tested}, jumping (Bonferroni 5%): "
              f"{', '.join(jumping) if jumping else 'none'}; skipped: {len(result.covariates.skipped)}")
    density = result.density
    print("Density of the dates at d0: " + (density.reason if density.reason else
                                            f"t = {density.t:.2f}, p = {density.p_value:.3f}"))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--cache-dir", default="/tmp/llm_audit_sotu_cutoff_cache")
    parser.add_argument("--bootstrap", type=int, default=1000)
    args = parser.parse_args()
    start = time.perf_counter()
    data = scored_chunks(args.cache_dir)
    print(f"{len(data)} chunks from {data['speech'].nunique()} speeches scored (SmolLM2-135M-Instruct, Q4_1 "
          f"GGUF as float32) in {time.perf_counter() - start:.0f} s on {platform.processor() or platform.machine()}, "
          f"{os.cpu_count()} CPUs")
    era = data[data["member"] == 1].reset_index(drop=True)  # every speech before SmolLM2's cutoff
    analyse(era, PLACEBO_CUTOFF, (era["date"] < PLACEBO_CUTOFF).astype(int), (1990, 2010), args.bootstrap)
    analyse(data, SMOLLM2_CUTOFF, data["member"], (2018, 2026), args.bootstrap)


if __name__ == "__main__":
    main()
