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

    OMP_NUM_THREADS=2 python benchmarks/sotu_cutoff.py      # ~460 chunks, ~80k tokens: 20-40 min on 2 cores
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


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--cache-dir", default="/tmp/llm_audit_sotu_cutoff_cache")
    args = parser.parse_args()
    start = time.perf_counter()
    data = scored_chunks(args.cache_dir)
    print(f"{len(data)} chunks from {data['speech'].nunique()} speeches scored in "
          f"{time.perf_counter() - start:.0f} s on {platform.processor() or platform.machine()}, "
          f"{os.cpu_count()} CPUs")


if __name__ == "__main__":
    main()
