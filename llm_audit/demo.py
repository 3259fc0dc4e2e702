"""`llm-audit demo`: train a small LM on a confounded member set of real text, then audit it like any checkpoint.

Offline and CPU-only. The corpus is the shipped ``data/pile_subset.jsonl.gz`` (6 domains of real text).
Membership is drawn with a known, confounded propensity: code and encyclopedia texts and short texts are far
more likely to be members. A model trained from scratch on the members learns their domains, so non-member
texts of the over-represented domains score high too: the naive member / non-member comparison mixes
memorization with domain and length. The audit (the same pipeline as ``llm-audit run``) puts the naive
figures beside the corrected ones.

Ground truth: a second model is trained with the same recipe on a *randomized* member set of the same
expected size; its naive AUC is causal by design (one-run regime). It is not the same model, so it is a
reference for the size of the memorization effect under this recipe, not an exact target.

Tokenizer: trained on documents of the same six domains that are NOT in the audit pool. A tokenizer fitted
to the members would compress them better, so token counts (a covariate) and per-token losses would carry
membership through the tokenizer rather than the weights; one fitted to the whole pool would be fair to both
arms but still tuned to the audited texts, which a real pretrained tokenizer is not.
"""

from __future__ import annotations

import contextlib
import dataclasses
import gzip
import hashlib
import json
import math
import os
import shutil
import time
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Callable, Iterator

import numpy as np
import pandas as pd

from llm_audit.config import AuditConfig, config_from_dict
from llm_audit.errors import AuditError
from llm_audit.paths import user_cache_dir

if TYPE_CHECKING:
    from llm_audit.estimate.results import Estimates
    from llm_audit.report.summary import Summary

DATA_FILE = Path(__file__).parent / "data" / "pile_subset.jsonl.gz"

# Log-odds of membership by domain, and per standard deviation of log(length): the confounded selection.
DOMAIN_LOGIT = {"github": 1.3, "wikipedia": 0.8, "pubmed_abstracts": 0.3, "stackexchange": -0.3,
                "pile_cc": -0.8, "hackernews": -1.3}
LENGTH_LOGIT = -0.8  # shorter texts are more often members


@dataclass(frozen=True)
class DemoSize:
    """How big the demo is: the full demo fits ~5 minutes on 2 cores; ``SMALL`` is the CI size."""

    name: str
    pool_per_domain: int
    tokenizer_per_domain: int
    vocab_size: int
    n_layer: int
    d_model: int
    n_head: int
    context: int
    epochs: float
    batch_size: int
    seq_len: int
    lr: float
    bootstrap: int
    tfidf_k: int


FULL = DemoSize("demo", pool_per_domain=100, tokenizer_per_domain=60, vocab_size=2048, n_layer=2, d_model=128,
                n_head=4, context=256, epochs=10, batch_size=16, seq_len=128, lr=3e-3, bootstrap=200, tfidf_k=16)
SMALL = DemoSize("demo-small", pool_per_domain=30, tokenizer_per_domain=20, vocab_size=1024, n_layer=1, d_model=64,
                 n_head=2, context=128, epochs=8, batch_size=16, seq_len=64, lr=5e-3, bootstrap=100, tfidf_k=8)


@dataclass
class DemoResult:
    run_dir: Path
    truth_run_dir: Path | None
    estimates: Estimates
    truth_estimates: Estimates | None
    within_domain_auc: dict[str, float]
    trained: bool
    seconds: float


def load_demo_corpus(size: DemoSize) -> tuple[pd.DataFrame, pd.DataFrame]:
    """(audit pool, tokenizer texts): the first ``pool_per_domain`` documents of each domain, and the next
    ``tokenizer_per_domain``."""
    rows = []
    with gzip.open(DATA_FILE, "rt", encoding="utf-8") as handle:
        for line in handle:
            rows.append(json.loads(line))
    df = pd.DataFrame(rows)
    df["rank"] = df.groupby("domain").cumcount()
    pool = df[df["rank"] < size.pool_per_domain]
    tok = df[(df["rank"] >= size.pool_per_domain) & (df["rank"] < size.pool_per_domain + size.tokenizer_per_domain)]
    if tok.groupby("domain").size().min() < size.tokenizer_per_domain:
        raise AuditError(f"{DATA_FILE}: too few documents for pool {size.pool_per_domain} + tokenizer {size.tokenizer_per_domain} per domain")
    return pool.drop(columns="rank").reset_index(drop=True), tok.drop(columns="rank").reset_index(drop=True)


def confounded_propensity(pool: pd.DataFrame, strength: float = 1.0) -> np.ndarray:
    """P(member | domain, length) of the demo's selection (known here; the audit must not be told it)."""
    log_len = np.log(pool["text"].str.len().to_numpy(dtype=float))
    z = (log_len - log_len.mean()) / log_len.std()
    logit = strength * (pool["domain"].map(DOMAIN_LOGIT).to_numpy(dtype=float) + LENGTH_LOGIT * z)
    return 1.0 / (1.0 + np.exp(-logit))


def draw_members(p: np.ndarray, seed: int) -> np.ndarray:
    return (np.random.default_rng(seed).random(len(p)) < p).astype(int)


@contextlib.contextmanager
def _single_torch_thread() -> Iterator[None]:
    """One intra-op thread while the demo's tiny models train and score, restored afterwards.

    Models this small gain nothing from intra-op parallelism, and on a busy 2-core machine torch's spinning
    worker threads made each training step 10x slower (measured: 1.48 s vs 0.15 s per step under load).
    Only the demo does this, and only for its own tiny models.
    """
    import torch

    before = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        yield
    finally:
        torch.set_num_threads(before)


def _train(size: DemoSize, tokenizer: Any, texts: list[str], seed: int, out: Path, log: Callable[[str], None]) -> dict:
    """Train one model on ``texts`` and save it (model and tokenizer) with ``save_pretrained``."""
    from llm_audit.training import build_model, train_causal_lm

    n_tokens = sum(len(ids) + 1 for ids in tokenizer(texts)["input_ids"])
    steps = max(20, math.ceil(size.epochs * n_tokens / (size.batch_size * size.seq_len)))
    model = build_model(tokenizer, n_layer=size.n_layer, d_model=size.d_model, n_head=size.n_head,
                        context=size.context, seed=seed)
    n_params = sum(p.numel() for p in model.parameters())
    log(f"training {out.name}: {n_params / 1e6:.2f}M parameters, {len(texts)} texts ({n_tokens} tokens), "
        f"{steps} steps ({size.epochs:g} epochs)")
    t0 = time.perf_counter()
    losses = train_causal_lm(model, tokenizer, texts, steps=steps, batch_size=size.batch_size, seq_len=size.seq_len,
                             lr=size.lr, warmup=max(5, steps // 20), seed=seed)
    # Saved over any older model of that name; only `demo.json`, written last, marks the models as finished.
    shutil.rmtree(out, ignore_errors=True)
    model.save_pretrained(out)
    tokenizer.save_pretrained(out)
    info = {"parameters": n_params, "texts": len(texts), "tokens": n_tokens, "steps": steps,
            "first_loss": losses[0], "final_loss": float(np.mean(losses[-10:])),
            "seconds": round(time.perf_counter() - t0, 1)}
    log(f"  loss {info['first_loss']:.2f} -> {info['final_loss']:.2f} in {info['seconds']} s")
    return info


def _cache_key(size: DemoSize, seed: int) -> str:
    data_hash = hashlib.sha256(DATA_FILE.read_bytes()).hexdigest()
    payload = json.dumps({"size": dataclasses.asdict(size), "seed": seed, "domain": DOMAIN_LOGIT,
                          "length": LENGTH_LOGIT, "data": data_hash, "version": 1}, sort_keys=True)
    return hashlib.sha256(payload.encode()).hexdigest()[:12]


def default_cache_dir() -> Path:
    return user_cache_dir() / "demo"


def prepare_demo(size: DemoSize, cache_dir: Path, seed: int, log: Callable[[str], None]) -> tuple[Path, bool]:
    """Train (or find cached) the demo's two models and write their audit corpora; return (folder, trained)."""
    folder = cache_dir / size.name
    done = folder / "demo.json"
    key = _cache_key(size, seed)
    if done.is_file():
        try:
            cached_key = json.loads(done.read_text()).get("key")
        except (json.JSONDecodeError, OSError):
            cached_key = None
        if cached_key == key:
            log(f"using the cached demo models in {folder}")
            return folder, False
        done.unlink()  # made with another seed, size or data: retrain below
    folder.mkdir(parents=True, exist_ok=True)
    from llm_audit.tables import atomic_write_text
    from llm_audit.training import train_bpe_tokenizer

    pool, tok_texts = load_demo_corpus(size)
    p = confounded_propensity(pool)
    confounded = draw_members(p, seed)
    randomized = draw_members(np.full(len(p), p.mean()), seed + 1)
    tokenizer = train_bpe_tokenizer(tok_texts["text"].tolist(), size.vocab_size)
    info: dict[str, Any] = {"key": key, "size": dataclasses.asdict(size), "seed": seed, "mean_propensity": float(p.mean()),
                            "propensity_range": [float(p.min()), float(p.max())]}
    for name, member in (("confounded", confounded), ("randomized", randomized)):
        corpus = pool.assign(member=member)
        atomic_write_text(folder / f"pool-{name}.jsonl", corpus.to_json(orient="records", lines=True, force_ascii=False))
        texts = corpus.loc[corpus["member"] == 1, "text"].tolist()
        info[name] = _train(size, tokenizer, texts, seed, folder / f"model-{name}", log)
        info[name]["members"] = int(member.sum())
    atomic_write_text(done, json.dumps(info, indent=1))
    return folder, True


def demo_configs(size: DemoSize, folder: Path, mean_p: float, seed: int) -> tuple[AuditConfig, AuditConfig]:
    """The audit configs, built in code exactly as a user would write them in a YAML file kept in ``folder``:
    paths relative to that folder."""
    common = {
        "scoring": {"k": [0.2], "cache_dir": "score_cache"},
        "covariates": {"tfidf_k": size.tfidf_k, "seed": seed},
    }
    confounded = config_from_dict({
        "name": size.name, "corpus": {"path": "pool-confounded.jsonl"},
        "model": {"name": "model-confounded", "device": "cpu"}, **common,
        "estimate": {"bootstrap": size.bootstrap, "seed": seed},
    }, source="demo config", base_dir=folder)
    randomized = config_from_dict({
        "name": f"{size.name}-randomized", "corpus": {"path": "pool-randomized.jsonl"},
        "model": {"name": "model-randomized", "device": "cpu"}, **common,
        "estimate": {"bootstrap": size.bootstrap, "seed": seed, "regime": "one-run", "inclusion_p": round(mean_p, 6)},
    }, source="demo config", base_dir=folder)
    return confounded, randomized


def within_domain_auc(run_dir: Path, score: str = "loss") -> dict[str, float]:
    """Naive AUC of ``score`` inside each domain: members vs non-members of the same domain."""
    from sklearn.metrics import roc_auc_score

    from llm_audit.tables import read_table

    scores = read_table(run_dir / "scores.parquet")
    covs = read_table(run_dir / "covariates.parquet")
    df = scores.merge(covs[["id", "domain"]], on="id")
    out = {}
    for domain, part in df.groupby("domain"):
        if part["member"].nunique() == 2:
            out[str(domain)] = float(roc_auc_score(part["member"], part[score]))
    return out


def run_demo(
    *,
    small: bool = False,
    runs_dir: str | os.PathLike = "runs",
    cache_dir: str | os.PathLike | None = None,
    seed: int = 0,
    truth: bool = True,
    log: Callable[[str], None] = print,
) -> DemoResult:
    """Train (or reuse) the demo models, audit the confounded one and, with ``truth``, the randomized one."""
    from llm_audit.pipeline import recorded_config_hash, run_audit
    from llm_audit.estimate.results import Estimates

    t0 = time.perf_counter()
    size = SMALL if small else FULL
    # Absolute from here on: the run records, configs and messages name the folder, whatever the working dir.
    cache = (Path(cache_dir).expanduser() if cache_dir else default_cache_dir()).resolve()
    with _single_torch_thread():
        folder, trained = prepare_demo(size, cache, seed, log)
    info = json.loads((folder / "demo.json").read_text())
    confounded, randomized = demo_configs(size, folder, info["mean_propensity"], seed)

    def audit(config: AuditConfig) -> Path:
        # The demo owns its run names: a run left by another demo size or cache folder is replaced.
        from llm_audit.pipeline import run_dir_for

        old = recorded_config_hash(run_dir_for(config, runs_dir))
        return run_audit(config, runs_dir=runs_dir, force=old is not None and old != config.hash(),
                         log=lambda m: log(f"{config.name}: {m}"), progress=False)

    with _single_torch_thread():
        run_dir = audit(confounded)
        truth_dir = audit(randomized) if truth else None
    return DemoResult(
        run_dir=run_dir,
        truth_run_dir=truth_dir,
        estimates=Estimates.load(run_dir / "estimates.json"),
        truth_estimates=Estimates.load(truth_dir / "estimates.json") if truth_dir else None,
        within_domain_auc=within_domain_auc(run_dir),
        trained=trained,
        seconds=time.perf_counter() - t0,
    )


def demo_summary(result: DemoResult) -> str:
    """What the demo prints: the design, the naive vs corrected table, the verdict and the ground truth."""
    from llm_audit.report import headline_markdown, summarize

    s = summarize(result.estimates)
    lines = [
        "",
        "Naive vs corrected membership inference on the demo model (higher AUC = the score separates members "
        "from non-members better):",
        "",
        headline_markdown(s),
        "",
        s.verdict_text,
    ]
    wd = result.within_domain_auc
    if wd:
        mean = float(np.mean(list(wd.values())))
        verdict = ("well above 0.5: the training did create memorization" if mean > 0.55 else
                   "close to 0.5: little memorization beyond the domain effect")
        lines += ["", "Within each domain, members vs non-members (naive AUC of `loss`): "
                  + ", ".join(f"{d} {v:.2f}" for d, v in sorted(wd.items())) + f"; mean {mean:.2f}, {verdict}."]
    if result.truth_estimates:
        lines += ["", *reference_lines(s, summarize(result.truth_estimates))]
    lines += ["", f"report: {Path(result.run_dir) / 'report.html'}"]
    if result.truth_run_dir:
        lines.append(f"randomized-inclusion run: {Path(result.truth_run_dir) / 'report.html'}")
    lines.append(f"({result.seconds:.0f} s{', models trained' if result.trained else ', cached models'})")
    return "\n".join(lines)


def reference_lines(confounded: Summary, randomized: Summary) -> list[str]:
    """The comparison with the randomized-inclusion model (two report ``Summary`` objects): a table with each
    corrected figure's distance from the reference, and the mean distances, as measured. The reference is
    another model, so nothing is claimed about where the corrected figures should fall."""
    reference = {r.score: r.auc_naive for r in randomized.rows}
    lines = ["Reference: the same recipe trained on a RANDOM member set of the same expected size (inclusion "
             "randomized, so that model's AUC is causal by design):",
             "", "| score | naive AUC (confounded model) | corrected AUC, DR | randomized-inclusion AUC | "
             "naive - randomized | DR - randomized |", "|---|---|---|---|---|---|"]
    gaps: list[tuple[float, float]] = []
    for r in confounded.rows:
        ref = reference.get(r.score)
        naive_gap = _difference(r.auc_naive.value, ref.value if ref else None)
        dr_gap = _difference(r.auc_dr.value, ref.value if ref else None)
        lines.append(f"| {r.score} | {r.auc_naive.text()} | {r.auc_dr.text()} | {ref.text() if ref else 'n/a'} | "
                     f"{_signed(naive_gap)} | {_signed(dr_gap)} |")
        if naive_gap is not None and dr_gap is not None:
            gaps.append((naive_gap, dr_gap))
    lines += ["", "The randomized model is a different model: trained on other texts, and which texts a model is "
              "trained on moves the AUC of every text (interference). It is a reference for the size of the "
              "effect under this recipe, not the truth for the audited model."]
    if gaps:
        naive_mean = float(np.mean([abs(g[0]) for g in gaps]))
        dr_mean = float(np.mean([abs(g[1]) for g in gaps]))
        closer = sum(abs(d) < abs(n) for n, d in gaps)
        lines.append(f"Measured: mean |AUC - reference| over {len(gaps)} score(s) is {naive_mean:.3f} naive and "
                     f"{dr_mean:.3f} DR; DR is the closer on {closer} of {len(gaps)}.")
    return lines


def _difference(a: float | None, b: float | None) -> float | None:
    return None if a is None or b is None else a - b


def _signed(x: float | None) -> str:
    return "n/a" if x is None else f"{x:+.3f}"
