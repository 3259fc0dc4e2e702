"""Semi-synthetic validation of the zero-run verdict: real texts, real covariates, membership drawn from a known
propensity, scores whose causal AUC is known by construction (issue 13).

Two corpora the repository can use: the shipped Pile subset (960 documents, 6 domains) and chunks of the State
of the Union addresses (the `sotu` package; 128-word windows, at most 5 per speech, the speech as ``group``).
Their covariates come from the covariates step once per corpus; only membership changes between datasets:
T ~ Bernoulli(sigmoid(alpha z + beta)), z a standardized index of the text, alpha set so that the true
propensity's AUC (the blind baseline an oracle would get) is a target drawn per dataset in [0.6, 0.97], beta so
that half the texts are members on average. Settings (families of the issue):

- (a) the confounder is among the covariates: ``a_linear`` (Pile: log length and domain), ``a_nonlinear``
  (Pile: U-shaped in length, interacting with domain), ``a_date`` (SOTU: a soft cutoff in the date);
- (b) the confounder lives in the words only: ``b_style`` (Pile: rate of first-person pronouns), ``b_topic``
  (SOTU: rate of war vocabulary);
- (c) a covariate the user forgot: ``c_no_date`` (SOTU: membership by date, the date extractor left out);
- random splits (no confounding): ``null_pile``, ``null_sotu``.

Scores: ``placebo``, the mean unigram log-probability of the text's words under the corpus's own unigram law
(a pure function of the text, like a reference model's loss; causal AUC 0.5), and ``effect`` = placebo + tau(domain)
for members (tau a fixed multiple of the placebo's SD per domain), whose causal AUC over the corpus is computed
here by a plain loop over all pairs of texts. Each dataset is estimated with the package defaults (naive, IPW,
DR; ATE; 5 folds) and ``--bootstrap`` replicates; records are appended to a JSON Lines file (resumable) and the
table is printed from them: per setting, score and method the bias, the coverage of the 95% interval, and the
share printed identified / weak overlap / not identified; then the issue's three targets.

    python benchmarks/semi_synthetic.py --label after             # 200 datasets per setting
    python benchmarks/semi_synthetic.py --label after --table     # the table from the records only
    python benchmarks/semi_synthetic.py --datasets 10 --settings null_pile,c_no_date   # a quick look
    python benchmarks/semi_synthetic.py --label r6 --datasets 25 --first-seed 25      # datasets 25-49
"""

from __future__ import annotations

import argparse
import json
import math
import os
import platform
import re
import sys
import time
from collections import Counter
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Callable

import numpy as np
import pandas as pd
from sklearn.metrics import roc_auc_score

REPO = Path(__file__).resolve().parents[1]
PILE = REPO / "llm_audit" / "data" / "pile_subset.jsonl.gz"
METHODS = ("naive", "ipw", "dr")
SCORES = ("placebo", "effect")
AUC_RANGE = (0.6, 0.97)
_WORD = re.compile(r"[a-z]+")
FIRST_PERSON = {"i", "me", "my", "mine", "we", "us", "our", "ours", "myself", "ourselves"}
WAR = {"war", "wars", "military", "army", "navy", "troops", "enemy", "enemies", "defense", "forces", "soldiers",
       "weapons", "arms", "attack", "attacks", "terror", "terrorists", "veterans", "hostilities", "armed"}
PILE_DOMAIN_Z = {"wikipedia": 0.8, "github": -1.0, "pile_cc": 0.3, "pubmed_abstracts": -0.4, "hackernews": 0.6,
                 "stackexchange": -0.3}
PILE_TAU = {"wikipedia": 0.5, "github": 1.0, "pile_cc": 0.2, "pubmed_abstracts": 0.4, "hackernews": 0.0,
            "stackexchange": 0.7}  # effect on members, in SDs of the placebo
SOTU_TAU = {"Republican": 0.6, "Democratic": 0.3}  # other parties: 0.45


@dataclass
class Corpus:
    """One corpus, prepared once: texts, covariates (with and without the date extractor), the placebo score,
    the effect per text, the domain and the indices membership may depend on."""

    name: str
    frame: pd.DataFrame  # id, text, domain, (group, year)
    covariates: pd.DataFrame
    covariates_no_date: pd.DataFrame
    placebo: np.ndarray
    tau: np.ndarray  # the effect on members, in SDs of the placebo
    groups: np.ndarray | None
    nc_features: object | None  # the negative-control text features, when this llm-audit has them


def zscore(x: np.ndarray) -> np.ndarray:
    x = np.asarray(x, dtype=float)
    return (x - x.mean()) / x.std()


def word_rate(texts: pd.Series, lexicon: set[str]) -> np.ndarray:
    return np.array([np.mean([w in lexicon for w in _WORD.findall(t.lower())] or [0.0]) for t in texts])


def unigram_placebo(texts: pd.Series) -> np.ndarray:
    """Mean log-probability of a text's words under the add-one unigram law of the whole corpus: a pure function
    of the text (it cannot carry memorization), correlated with topic, era, domain and length like a loss."""
    tokens = [_WORD.findall(t.lower()) for t in texts]
    counts = Counter(w for ws in tokens for w in ws)
    total, vocab = sum(counts.values()), len(counts)
    return np.array([np.mean([math.log((counts[w] + 1) / (total + vocab)) for w in ws]) if ws else 0.0 for ws in tokens])


def _has_negative_control() -> bool:
    """Whether this llm-audit computes the negative-control score (not the "before" run's)."""
    import importlib.util

    return importlib.util.find_spec("llm_audit.covariates.negative_control") is not None


def _nc_version() -> str:
    """A tag of the negative-control code the cached features came from: a changed feature set is recomputed."""
    if not _has_negative_control():
        return ""
    import hashlib

    from llm_audit.covariates import negative_control

    return "-nc-" + hashlib.sha256(Path(negative_control.__file__).read_bytes()).hexdigest()[:10]


def _nc_features(texts: list[str]):
    if not _has_negative_control():
        return None
    from llm_audit.covariates.negative_control import text_features

    return text_features(texts)


def _finish(name: str, frame: pd.DataFrame, extract: Callable[[list[str]], pd.DataFrame], tau: np.ndarray) -> Corpus:
    from llm_audit.covariates import DEFAULT_EXTRACTORS

    covariates = [e for e in DEFAULT_EXTRACTORS if e != "negative_control"]  # it needs labels: drawn per dataset
    cov = extract(covariates)
    no_date = extract([e for e in covariates if e != "date"])
    groups = frame["group"].to_numpy() if "group" in frame else None
    return Corpus(name, frame, cov, no_date, unigram_placebo(frame["text"]), tau, groups,
                  _nc_features(frame["text"].tolist()))


def pile_corpus() -> Corpus:
    from llm_audit.covariates import extract_covariates

    frame = pd.read_json(PILE, lines=True, dtype={"id": str})
    tau = frame["domain"].map(PILE_TAU).to_numpy(dtype=float)
    return _finish("pile", frame, lambda ex: extract_covariates(frame, ex), tau)


def sotu_corpus(per_speech: int = 5) -> Corpus:
    from llm_audit.corpora import sotu
    from llm_audit.covariates import extract_covariates

    chunks = sotu.build(words=sotu.DEFAULT_WORDS)
    rng = np.random.default_rng(0)
    keep = np.concatenate([rng.permutation(idx)[:per_speech] for idx in chunks.groupby("speech").indices.values()])
    frame = chunks.iloc[np.sort(keep)].reset_index(drop=True).drop(columns=["member"])
    frame = frame.rename(columns={"speech": "group"})
    frame["year"] = pd.to_datetime(frame["date"]).dt.year + pd.to_datetime(frame["date"]).dt.day_of_year / 366
    frame["domain"] = frame["party"]
    tau = frame["party"].map(SOTU_TAU).fillna(0.45).to_numpy(dtype=float)
    drop = ["year", "domain", "chunk", "president", "sotu_type"]
    return _finish("sotu", frame, lambda ex: extract_covariates(frame.drop(columns=drop), ex, date_column="date",
                                                                domain_column="party"), tau)


def _pile_nonlinear(f: pd.DataFrame) -> np.ndarray:
    length = zscore(np.log(f["text"].str.len()))
    technical = f["domain"].isin(["github", "stackexchange"]).to_numpy()
    return length**2 - 1 + np.where(technical, 1.5, -0.5) * length


SETTINGS: dict[str, tuple[str, str, Callable[[pd.DataFrame], np.ndarray], float, bool]] = {
    # name: (family, corpus, index z of the text, weight of z in the placebo, covariates without the date extractor)
    "null_pile": ("null", "pile", lambda f: np.zeros(len(f)), 0.0, False),
    "null_sotu": ("null", "sotu", lambda f: np.zeros(len(f)), 0.0, False),
    "a_linear": ("a", "pile", lambda f: zscore(np.log(f["text"].str.len())) + f["domain"].map(PILE_DOMAIN_Z).to_numpy(),
                 1.0, False),
    "a_nonlinear": ("a", "pile", _pile_nonlinear, 1.0, False),
    "a_date": ("a", "sotu", lambda f: np.tanh((f["year"].to_numpy() - 1930) / 25), 0.0, False),
    "b_style": ("b", "pile", lambda f: word_rate(f["text"], FIRST_PERSON), 1.0, False),
    "b_topic": ("b", "sotu", lambda f: word_rate(f["text"], WAR), 1.0, False),
    "c_no_date": ("c", "sotu", lambda f: f["year"].to_numpy(), 0.0, True),
}


def placebo_of(setting: str, corpus: Corpus) -> np.ndarray:
    """The setting's placebo: the unigram score plus, where the index is a property of the text itself, that
    index (a score that tracks the confounder, as real scores track length, topic or era)."""
    _, _, index, weight, _ = SETTINGS[setting]
    placebo = zscore(corpus.placebo)
    return placebo + weight * zscore(index(corpus.frame)) if weight else placebo


def oracle_auc(e: np.ndarray) -> float:
    """AUC of the true propensity for T ~ Bernoulli(e): each text is a member with weight e, a non-member with 1-e."""
    return float(roc_auc_score(np.r_[np.ones(len(e)), np.zeros(len(e))], np.r_[e, e], sample_weight=np.r_[e, 1 - e]))


def propensity(z: np.ndarray, alpha: float) -> np.ndarray:
    """sigmoid(alpha z + beta), beta by bisection so that the mean propensity is 1/2."""
    lo, hi = -30.0, 30.0
    for _ in range(60):
        beta = (lo + hi) / 2
        lo, hi = (beta, hi) if np.mean(1 / (1 + np.exp(-(alpha * z + beta)))) < 0.5 else (lo, beta)
    return 1 / (1 + np.exp(-(alpha * z + (lo + hi) / 2)))


def alpha_for(z: np.ndarray, target: float) -> float:
    """The slope alpha whose propensity has oracle AUC ``target`` (bisection; the AUC grows with alpha)."""
    lo, hi = 0.0, 50.0
    for _ in range(40):
        mid = (lo + hi) / 2
        lo, hi = (mid, hi) if oracle_auc(propensity(z, mid)) < target else (lo, mid)
    return (lo + hi) / 2


def true_effect_auc(placebo: np.ndarray, tau: np.ndarray) -> float:
    """Causal AUC of ``effect`` over the corpus: P(S_i(1) > S_j(0)) + 1/2 P(=) over all pairs i != j, by a
    plain comparison of every pair (independent of the estimator's code)."""
    s1, s0 = placebo + tau, placebo
    wins = (s1[:, None] > s0[None, :]).astype(float) + 0.5 * (s1[:, None] == s0[None, :])
    np.fill_diagonal(wins, 0.0)
    n = len(s1)
    return float(wins.sum() / (n * (n - 1)))


# --- one dataset ---------------------------------------------------------------------------------------------------

_CORPORA: dict[str, Corpus] = {}


def load_corpora(cache: Path, names: set[str]) -> dict[str, Corpus]:
    """The prepared corpora, from ``cache`` when there (prepared once, then read by every worker)."""
    import pickle

    for name in sorted(names - set(_CORPORA)):
        path = cache / f"corpus-{name}{_nc_version()}.pkl"
        if not path.exists():
            corpus = {"pile": pile_corpus, "sotu": sotu_corpus}[name]()
            path.parent.mkdir(parents=True, exist_ok=True)
            tmp = path.with_suffix(".tmp")
            tmp.write_bytes(pickle.dumps(asdict(corpus)))  # plain fields: readable whatever module ran this
            tmp.replace(path)
        _CORPORA[name] = Corpus(**pickle.loads(path.read_bytes()))
    return _CORPORA


def _negative_control(corpus: Corpus, member: np.ndarray, seed: int) -> np.ndarray | None:
    if corpus.nc_features is None:
        return None
    from llm_audit.covariates.negative_control import out_of_fold_probability

    return out_of_fold_probability(corpus.nc_features, member, corpus.groups, seed=seed)


def draw(setting: str, seed: int, corpus: Corpus) -> tuple[pd.DataFrame, pd.DataFrame, dict]:
    """One dataset of ``setting``: the scores and covariates tables and what is known about them."""
    family, _, index, _, no_date = SETTINGS[setting]
    rng = np.random.default_rng([seed, sum(map(ord, setting))])
    z = index(corpus.frame)
    if family == "null":
        target, e = 0.5, np.full(len(z), 0.5)
    else:
        target = float(rng.uniform(*AUC_RANGE))
        e = propensity(zscore(z), alpha_for(zscore(z), target))
    t = (rng.uniform(size=len(e)) < e).astype(int)
    ids = corpus.frame["id"].astype(str).to_numpy()
    placebo = placebo_of(setting, corpus)
    effect = placebo + t * corpus.tau * placebo.std()
    scores = pd.DataFrame({"id": ids, "member": t, "placebo": placebo, "effect": effect})
    cov = (corpus.covariates_no_date if no_date else corpus.covariates).copy()
    nc = _negative_control(corpus, t, seed)
    if nc is not None:
        cov["negative_control"] = nc
    known = {"target_auc": target, "oracle_auc": float(roc_auc_score(t, e)) if family != "null" else 0.5,
             "members": int(t.sum()), "n": len(t)}
    return scores, cov, known


_HEAVY = ("propensity_histogram", "slices", "per_score", "thresholds", "uncertainty")


def run_one(setting: str, seed: int, bootstrap: int, cache: str, truths: dict[str, float]) -> dict:
    """Estimate one dataset and keep what the tables need (values, intervals, verdicts, diagnostics)."""
    from threadpoolctl import threadpool_limits

    from llm_audit.estimate import estimate

    corpus = load_corpora(Path(cache), {SETTINGS[setting][1]})[SETTINGS[setting][1]]
    scores, cov, known = draw(setting, seed, corpus)
    t0 = time.perf_counter()
    with threadpool_limits(1):
        est = estimate(scores, cov, n_bootstrap=bootstrap, n_jobs=1, seed=seed, fpr=(0.05,))
    d = est.to_dict()
    diag = d["diagnostics"]
    results = {s: {m: {"value": est.value(s, m, "auc"), "ci": est.interval(s, m, "auc"),
                       "verdict": method_verdict(diag, m)} for m in METHODS} for s in SCORES}
    return {"setting": setting, "seed": seed, "bootstrap": bootstrap, **known, "truth": {"placebo": 0.5, "effect": truths[setting]},
            "results": results, "seconds": time.perf_counter() - t0,
            "diagnostics": {k: v for k, v in diag.items() if k not in _HEAVY}}


def method_verdict(diag: dict, method: str) -> str:
    """The verdict a corrected method's figure is printed under (the audit's, unless the method has its own)."""
    if method == "naive":
        return "naive"
    own = (diag.get("method_verdicts") or {}).get(method) or {}
    return own.get("verdict") or diag["verdict"]


# --- tables --------------------------------------------------------------------------------------------------------

VERDICTS = ("identified", "weak_overlap", "not_identified")


def _covers(r: dict, truth: float) -> bool:
    return r["ci"] is not None and r["ci"][0] <= truth <= r["ci"][1]


def method_rows(records: list[dict], setting: str) -> list[list[str]]:
    """Per score and method: bias and coverage of the printed figures, coverage among those printed
    `identified`, and the share of datasets under each verdict."""
    recs = [r for r in records if r["setting"] == setting]
    rows = []
    for score in SCORES:
        for m in METHODS:
            res = [(r["results"][score][m], r["truth"][score]) for r in recs]
            printed = [(x, tr) for x, tr in res if x["value"] is not None]
            ident = [(x, tr) for x, tr in printed if x["verdict"] in ("identified", "naive")]
            bias = np.mean([x["value"] - tr for x, tr in printed]) if printed else float("nan")
            cov = np.mean([_covers(x, tr) for x, tr in printed]) if printed else float("nan")
            cov_id = np.mean([_covers(x, tr) for x, tr in ident]) if ident else float("nan")
            shares = ["" if m == "naive" else f"{np.mean([x['verdict'] == v for x, _ in res]):.0%}" for v in VERDICTS]
            rows.append([setting, score, m, str(len(recs)), f"{bias:+.3f}", f"{cov:.1%}",
                         "" if m == "naive" else f"{cov_id:.1%} ({len(ident)})", *shares])
    return rows


def refuters_pass(r: dict) -> bool:
    """Every refuter with a pass rule passed (an llm-audit without refuters: the verdict is `identified`)."""
    rows = r["diagnostics"].get("refuters")
    if rows is None:
        return r["diagnostics"]["verdict"] == "identified"
    return all(row.get("passed") is not False for row in rows)


def targets(records: list[dict]) -> list[str]:
    """The issue's three targets, measured."""
    out = []
    fam = {s: SETTINGS[s][0] for s in SETTINGS}
    for m in ("ipw", "dr"):
        pairs = [(r["results"][s][m], r["truth"][s]) for r in records if fam[r["setting"]] == "a" for s in SCORES]
        ident = [_covers(x, tr) for x, tr in pairs if x["verdict"] == "identified" and x["value"] is not None]
        if ident:
            out.append(f"- family (a), {m}: {np.mean(ident):.1%} of the {len(ident)} figures printed `identified` "
                       "cover the truth (target >= 93%)")
    for setting in [s for s in SETTINGS if fam[s] in ("b", "c")]:
        recs = [r for r in records if r["setting"] == setting]
        if not recs:
            continue
        wrong = {m: [r["results"]["placebo"][m]["verdict"] == "identified" and r["results"]["placebo"][m]["ci"] is not None
                     and not _covers(r["results"]["placebo"][m], 0.5) for r in recs] for m in ("ipw", "dr")}
        either = np.mean([a or b for a, b in zip(wrong["ipw"], wrong["dr"])])
        out.append(f"- {setting}: a placebo printed `identified` with an interval excluding 0.5 in "
                   f"{np.mean(wrong['ipw']):.1%} (IPW), {np.mean(wrong['dr']):.1%} (DR), {either:.1%} (either) of "
                   f"{len(recs)} datasets (target < 5%)")
    for setting in [s for s in SETTINGS if fam[s] == "null"]:
        recs = [r for r in records if r["setting"] == setting]
        if recs:
            out.append(f"- {setting}: every refuter passes in {np.mean([refuters_pass(r) for r in recs]):.1%} of "
                       f"{len(recs)} datasets; verdict `identified` in "
                       f"{np.mean([r['diagnostics']['verdict'] == 'identified' for r in recs]):.1%} (target >= 95%)")
    return out


def context_rows(records: list[dict]) -> list[list[str]]:
    """Per setting: the strength of the confounding and what the blind baselines saw."""
    rows = []
    for setting in SETTINGS:
        recs = [r for r in records if r["setting"] == setting]
        if not recs:
            continue
        text = [r["diagnostics"].get("blind_text_auc") for r in recs]
        text = [x for x in text if x is not None]
        rows.append([setting, SETTINGS[setting][0], SETTINGS[setting][1], str(len(recs)),
                     f"{np.median([r['oracle_auc'] for r in recs]):.2f}",
                     f"{np.median([r['diagnostics']['blind_auc'] for r in recs]):.2f}",
                     f"{np.median(text):.2f}" if text else "",
                     f"{np.median([r['seconds'] for r in recs]):.1f}"])
    return rows


def markdown(header: list[str], rows: list[list[str]]) -> str:
    return "\n".join(["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
                     + ["| " + " | ".join(r) + " |" for r in rows])


def print_tables(records: list[dict]) -> None:
    print(markdown(["setting", "family", "corpus", "datasets", "oracle AUC (median)", "covariate blind AUC",
                    "text blind AUC", "s / dataset"], context_rows(records)))
    print()
    rows = [row for s in SETTINGS for row in method_rows(records, s) if row[3] != "0"]
    print(markdown(["setting", "score", "method", "datasets", "bias", "coverage", "coverage if identified (n)",
                    "identified", "weak", "not identified"], rows))
    print()
    print("\n".join(targets(records)))


# --- command line --------------------------------------------------------------------------------------------------

def read_records(path: Path) -> list[dict]:
    if not path.exists():
        return []
    return [json.loads(line) for line in path.read_text().splitlines() if line.strip()]


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--label", default="after", help="name of the records file (.cache/semi_synthetic/<label>.jsonl)")
    ap.add_argument("--settings", default=",".join(SETTINGS), help="comma-separated settings (default all)")
    ap.add_argument("--datasets", type=int, default=200, help="datasets per setting (default 200)")
    ap.add_argument("--first-seed", type=int, default=0,
                    help="seed of the first dataset (default 0): a later block of datasets, e.g. a held-out check")
    ap.add_argument("--bootstrap", type=int, default=200, help="bootstrap replicates per dataset (default 200)")
    ap.add_argument("--jobs", type=int, default=2, help="datasets estimated in parallel (default 2)")
    ap.add_argument("--cache", type=Path, default=REPO / ".cache" / "semi_synthetic")
    ap.add_argument("--table", action="store_true", help="print the table from the records, estimate nothing")
    args = ap.parse_args(argv)
    settings = [s for s in args.settings.split(",") if s]
    unknown = [s for s in settings if s not in SETTINGS]
    if unknown:
        ap.error(f"unknown setting {unknown[0]!r} (known: {', '.join(SETTINGS)})")
    path = args.cache / f"{args.label}.jsonl"
    seeds = range(args.first_seed, args.first_seed + args.datasets)
    if not args.table:
        run(settings, seeds, args.bootstrap, args.jobs, args.cache, path)
    records = [r for r in read_records(path) if r["setting"] in settings and r["seed"] in seeds]
    print(f"machine: {platform.machine()}, {os.cpu_count()} CPU cores, Python {platform.python_version()}; "
          f"records {path.name}")
    print_tables(records)
    return 0


def run(settings: list[str], seeds: range, bootstrap: int, jobs: int, cache: Path, path: Path) -> None:
    """Estimate every (setting, seed) not yet in the records file, appending each record as it finishes."""
    from joblib import Parallel, delayed

    corpora = load_corpora(cache, {SETTINGS[s][1] for s in settings})
    truths = {}
    for s in settings:
        placebo = placebo_of(s, corpora[SETTINGS[s][1]])
        truths[s] = true_effect_auc(placebo, corpora[SETTINGS[s][1]].tau * placebo.std())
    done = {(r["setting"], r["seed"]) for r in read_records(path)}
    todo = [(s, k) for k in seeds for s in settings if (s, k) not in done]
    print(f"{len(todo)} datasets to estimate ({len(done)} already in {path})", file=sys.stderr, flush=True)
    t0 = time.perf_counter()
    jobs_iter = Parallel(n_jobs=jobs, return_as="generator_unordered")(
        delayed(run_one)(s, k, bootstrap, str(cache), truths) for s, k in todo)
    with path.open("a") as fh:
        for i, record in enumerate(jobs_iter, 1):
            fh.write(json.dumps(record) + "\n")
            fh.flush()
            if i % 20 == 0:
                print(f"{i}/{len(todo)} in {time.perf_counter() - t0:.0f} s", file=sys.stderr, flush=True)


if __name__ == "__main__":
    sys.exit(main())
