"""Real text for the benchmark: pile_domains documents split into the audit pool and the base corpus.

The pool is one chunk per document (a prefix of 64-128 tokens at the default size), so no two pool units
share a document; the base corpus (pretraining and the fine-tunes' replay slice) is every other document.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from llm_audit.corpus import load_corpus
from llm_audit.errors import AuditError

DATA_DIR = Path(__file__).resolve().parents[3] / "shared" / "data" / "pile_domains"
DOMAINS = ("wikipedia", "github", "pile_cc", "pubmed_abstracts", "hackernews", "stackexchange")


def load_documents(data_dir: Path = DATA_DIR) -> pd.DataFrame:
    """Every document of the six domains: ``id``, ``domain``, ``text``."""
    frames = []
    for domain in DOMAINS:
        path = Path(data_dir) / f"{domain}.jsonl.gz"
        if not path.exists():
            raise AuditError(f"{path}: not found (the benchmark reads pile_domains; pass --data-dir)")
        frames.append(load_corpus(path, empty="skip")[["id", "domain", "text"]])
    return pd.concat(frames, ignore_index=True)


def split_documents(docs: pd.DataFrame, per_domain: int, seed: int) -> tuple[pd.DataFrame, pd.DataFrame]:
    """(pool candidates, base corpus): a seeded draw of documents per domain, and all the others.

    Twice ``per_domain`` candidates are drawn so that documents too short for a chunk can be skipped.
    """
    rng = np.random.default_rng(seed)
    chosen = []
    for _, group in docs.groupby("domain", sort=True):
        chosen.extend(rng.choice(group.index.to_numpy(), size=min(2 * per_domain, len(group)), replace=False))
    candidates = docs.loc[chosen]
    return candidates.reset_index(drop=True), docs.drop(index=chosen).reset_index(drop=True)


def chunk_pool(candidates: pd.DataFrame, tokenizer, per_domain: int, lengths: tuple[int, int],
               seed: int) -> pd.DataFrame:
    """The audit pool: per domain, ``per_domain`` documents cut to their first L tokens, L uniform in
    ``lengths``, so length varies within every domain (it is a covariate of the zero-run audit)."""
    rng = np.random.default_rng(seed)
    rows = []
    for domain, group in candidates.groupby("domain", sort=True):
        taken = 0
        for doc_id, text in zip(group["id"], group["text"]):
            if taken == per_domain:
                break
            ids = tokenizer(text)["input_ids"]
            want = int(rng.integers(lengths[0], lengths[1] + 1))
            if len(ids) < want:
                continue
            chunk = tokenizer.decode(ids[:want]).strip()
            if chunk:
                rows.append({"id": f"pool-{doc_id}", "domain": domain, "text": chunk})
                taken += 1
        if taken < per_domain:
            raise AuditError(f"pile_domains/{domain}: only {taken} documents have {lengths[1]} tokens; "
                             f"need {per_domain}")
    # Shuffled: a pool sorted by domain would let any unshuffled inner split of the estimator see folds
    # without some domains; real audit corpora come in arbitrary order too.
    return pd.DataFrame(rows).sample(frac=1.0, random_state=seed).reset_index(drop=True)


def replay_slice(base: pd.DataFrame, tokenizer, n: int, lengths: tuple[int, int], seed: int) -> list[str]:
    """A fixed slice of base text mixed into every fine-tune, as many chunks as half the pool, so a
    fine-tune is not only the pool and cross-unit effects (interference) stay small."""
    rng = np.random.default_rng(seed)
    order = rng.permutation(len(base))
    out = []
    for i in order:
        ids = tokenizer(base["text"].iloc[i])["input_ids"]
        want = int(rng.integers(lengths[0], lengths[1] + 1))
        if len(ids) >= want:
            out.append(tokenizer.decode(ids[:want]))
        if len(out) == n:
            break
    return out
