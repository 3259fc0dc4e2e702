"""Real text for the benchmark: Pile documents split into the audit pool and the base corpus.

The pool is one chunk per document (a prefix of 64-128 tokens at the default size), so no two pool units
share a document; the base corpus (pretraining and the fine-tunes' replay slice) is every other document.

The documents come from the Pile subset the package ships (960 documents, 160 per domain), enough for the
`small` size; the larger sizes need the `pile_domains` folder it was cut from (6 domains x 1000 documents,
one ``<domain>.jsonl.gz`` each), named by ``--data-dir`` or the environment variable ``LLM_AUDIT_PILE_DOMAINS``.
"""

from __future__ import annotations

import hashlib
import os
from pathlib import Path

import numpy as np
import pandas as pd

from llm_audit.corpus import load_corpus
from llm_audit.demo import DATA_FILE as SHIPPED_SUBSET
from llm_audit.errors import AuditError

from benchmarks.ground_truth.sizes import Size

DATA_ENV = "LLM_AUDIT_PILE_DOMAINS"
DOMAINS = ("wikipedia", "github", "pile_cc", "pubmed_abstracts", "hackernews", "stackexchange")


def default_source() -> Path:
    """The pile_domains folder that ``LLM_AUDIT_PILE_DOMAINS`` names, else the shipped subset."""
    return Path(os.environ[DATA_ENV]) if os.environ.get(DATA_ENV) else SHIPPED_SUBSET


def load_documents(source: Path) -> pd.DataFrame:
    """Every document of the six domains (``id``, ``domain``, ``text``) from ``source``: a pile_domains folder
    (one ``<domain>.jsonl.gz`` per domain) or one corpus file with a ``domain`` column (the shipped subset)."""
    source = Path(source)
    if source.is_file():
        docs = load_corpus(source, empty="skip")
        if "domain" not in docs.columns:
            raise AuditError(f"{source}: no 'domain' column (the benchmark needs the six Pile domains)")
        docs = docs[docs["domain"].isin(DOMAINS)][["id", "domain", "text"]]
        missing = sorted(set(DOMAINS) - set(docs["domain"]))
        if missing:
            raise AuditError(f"{source}: no document of domain {missing[0]}")
        return docs.reset_index(drop=True)
    frames = []
    for domain in DOMAINS:
        path = source / f"{domain}.jsonl.gz"
        if not path.exists():
            raise AuditError(f"{path}: not found (the benchmark reads pile_domains; pass --data-dir or set {DATA_ENV})")
        frames.append(load_corpus(path, empty="skip")[["id", "domain", "text"]])
    return pd.concat(frames, ignore_index=True)


def check_fits(docs: pd.DataFrame, size: Size, source: Path) -> None:
    """Refuse a size that needs more documents than ``source`` holds: per domain, twice the pool (candidates)
    plus a sixth of the base corpus (the tokenizer's and the pretraining's documents come from it)."""
    base_needed = max(size.tokenizer_docs, size.pretrain_docs)
    per_domain = 2 * size.pool_per_domain + -(-base_needed // len(DOMAINS))
    have = int(docs.groupby("domain").size().min())
    if have < per_domain:
        raise AuditError(f"{source}: {have} documents per domain; size {size.name} needs {per_domain} "
                         f"(set {DATA_ENV} or --data-dir to the full pile_domains folder)")


def fingerprint(docs: pd.DataFrame) -> str:
    """A short hash of the documents, so that cached steps are never reused across data sources."""
    h = hashlib.sha256()
    for ident, text in zip(docs["id"], docs["text"]):
        h.update(f"{ident}\t{text}\n".encode("utf-8"))
    return h.hexdigest()[:8]


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
