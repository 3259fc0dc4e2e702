"""Which corrected method, outcome model and intervals the zero-run estimator defaults to (issue 14), and what
the new methods cost.

Validity: simulated audits with known truth (``llm_audit.simulate``) where the score depends on the covariates
linearly, with a bend, with an unequal spread, or as an exact function of them (a placebo: truth AUC 0.5), at
overlap from good (a = 1) to weak (a = 3), plus a propensity a logistic model gets wrong. Per dataset: the
estimator with every method and ``outcome: auto``; the DR methods again with the linear outcome model; an
oracle IPW with the true propensity (clipped like the estimator's); on the placebo settings, the DR intervals
again without the per-fold floor. Per setting and method: bias, MAE, coverage and mean width of the 95%
intervals of the AUC and TPR@5%FPR, the width against the oracle IPW's, the coverage of the TPR read off the
ROC band, and the share of datasets printed as identified / weak / not identified.

Speed: one full estimate with the new defaults against the estimator restricted to the methods of issue 3
(naive, IPW, DR with the linear outcome model, no ATO), interleaved in one run, with peak memory.

    python benchmarks/corrections_validity.py --jobs 2 --records /tmp/records.json   # validity and timing
    python benchmarks/corrections_validity.py --quick                                 # a smoke run
    python benchmarks/corrections_validity.py --skip-validity --sizes 100000,1000000  # timing only
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import subprocess
import sys
import time

import numpy as np
from joblib import Parallel, delayed

from llm_audit.estimate import ZeroRunEstimator, intervals
from llm_audit.estimate.bootstrap import bootstrap_replicates, percentile_interval
from llm_audit.estimate.estimands import ESTIMANDS
from llm_audit.estimate.methods import METHODS, Problem
from llm_audit.estimate.weights import hajek
from llm_audit.simulate import DOMAINS, propensity, simulate, true_metrics

SETTINGS = {  # name: (propensity design, outcome shape, confounding strength a)
    "linear, a=1": ("linear", "linear", 1.0),
    "bend+spread, a=1": ("linear", "nonlinear_spread", 1.0),
    "bend+spread, a=2": ("linear", "nonlinear_spread", 2.0),
    "bend+spread, a=3 (weak)": ("linear", "nonlinear_spread", 3.0),
    "bend+spread, misspecified propensity": ("misspecified", "nonlinear_spread", 1.0),
    "placebo f(X), a=1": ("linear", "function", 1.0),
    "placebo f(X), a=2": ("linear", "function", 2.0),
}
FPR = 0.05
ETA = 0.02
ALL_METHODS = ("naive", "ipw", "dr", "ebal", "dr_ebal")


def _oracle_ipw(s, c, design: str, a: float, n_boot: int, seed: int) -> dict:
    """IPW with the true propensity (clipped to [eta, 1 - eta]) and a bootstrap interval."""
    dom = c["domain"].map({d: k for k, d in enumerate(DOMAINS)}).to_numpy()
    pop = {"x1": c["x1"].to_numpy(), "x3": c["x3"].to_numpy(), "dom": dom}
    e = np.clip(propensity(pop, a, design), ETA, 1 - ETA)
    score, t = s["score"].to_numpy(), s["member"].to_numpy()
    problem = Problem(score, t, (FPR,), ESTIMANDS["ate"], e=e)
    fit = METHODS["ipw"].fit(problem)
    assert np.allclose(fit.weight, hajek(ESTIMANDS["ate"].residual_weights(e, t), t))
    reps = bootstrap_replicates({"ipw": fit}, t, n_boot=n_boot, seed=seed)["ipw"]
    return {"auc": (fit.point.auc, percentile_interval(reps["auc"])),
            "tpr": (fit.point.tpr[FPR], percentile_interval(reps["tpr_at_fpr"][FPR]))}


def _entries(est, keys) -> dict:
    out = {}
    for key in keys:
        block = est.to_dict()["scores"]["score"].get(key)
        if block is None:
            continue
        tpr = block["tpr_at_fpr"][format(FPR, "g")]
        out[key] = {"auc": (block["auc"]["value"], block["auc"]["ci"]), "tpr": (tpr["value"], tpr["ci"]),
                    "tpr_band": tpr.get("band"), "widened": "widened" in (block["auc"]["ci_method"] or ""),
                    "tpr_n_eff": tpr.get("n_eff"), "tpr_unreliable": "unreliable" in (tpr.get("flags") or [])}
    return out


def one_dataset(name: str, n: int, n_boot: int, seed: int) -> dict:
    design, outcome, a = SETTINGS[name]
    s, c = simulate(n, a, 0.5, design=design, outcome=outcome, seed=seed)
    common = dict(bootstrap=n_boot, fpr=[FPR], seed=seed, jobs=1, eta=ETA)
    est = ZeroRunEstimator(methods=ALL_METHODS, outcome="auto", **common).fit(s, c).estimates_
    d = est.to_dict()
    rec = {"verdict": d["diagnostics"]["verdict"], "blind_auc": d["diagnostics"]["blind_auc"],
           "outcome_model": (d["diagnostics"]["per_score"]["score"].get("outcome_model") or {}).get("chosen"),
           "results": _entries(est, list(d["scores"]["score"]))}
    lin = ZeroRunEstimator(methods=("naive", "dr", "dr_ebal"), outcome="linear", **common).fit(s, c).estimates_
    rec["results"].update({f"{k} (linear outcome)": v for k, v in _entries(lin, ["dr", "dr_ebal", "dr_ato"]).items()})
    if outcome == "function":  # the DR intervals without the per-fold floor (ablation)
        intervals.FOLD_FLOOR = False
        try:
            raw = ZeroRunEstimator(methods=("naive", "dr"), outcome="auto", **common).fit(s, c).estimates_
        finally:
            intervals.FOLD_FLOOR = True
        rec["results"].update({f"{k} (no fold floor)": v for k, v in _entries(raw, ["dr", "dr_ato"]).items()})
    rec["results"]["oracle ipw"] = _oracle_ipw(s, c, design, a, n_boot, seed)
    return rec


def _truths(name: str) -> dict:
    design, outcome, a = SETTINGS[name]
    if outcome == "function":  # S(1) = S(0) = g(X): AUC 1/2 and TPR = FPR exactly, for every population
        return {t: {"auc": 0.5, "tpr": FPR} for t in ("ate", "ato")}
    out = {}
    for target in ("ate", "ato"):
        tr = true_metrics(a, 0.5, design=design, outcome=outcome, target=target, fpr=FPR, n_mc=10**6)
        out[target] = {"auc": tr["auc"], "tpr": tr["tpr_at_fpr"]}
    return out


def summarize(name: str, records: list[dict], truth: dict) -> list[str]:
    """One Markdown row per method of a setting."""
    keys = sorted({k for r in records for k in r["results"]}, key=lambda k: (k.split(" ")[0].split("_")[0], k))
    oracle_w = {m: np.mean([np.diff(r["results"]["oracle ipw"][m][1])[0] for r in records]) for m in ("auc", "tpr")}
    rows = []
    for key in keys:
        tr = truth["ato" if "_ato" in key else "ate"]
        cells = []
        got = [r["results"][key] for r in records if key in r["results"] and r["results"][key]["auc"][0] is not None]
        if not got:
            continue
        for m in ("auc", "tpr"):
            v = np.array([g[m][0] for g in got])
            ci = np.array([g[m][1] if g[m][1] is not None else [np.nan, np.nan] for g in got], dtype=float)
            cover = np.mean((ci[:, 0] <= tr[m]) & (tr[m] <= ci[:, 1]))
            width = np.nanmean(ci[:, 1] - ci[:, 0])
            cells += [f"{np.mean(v - tr[m]):+.4f}", f"{np.mean(np.abs(v - tr[m])):.4f}", f"{cover:.1%}",
                      f"{width:.3f}", f"{width / oracle_w[m]:.2f}"]
        bands = [g["tpr_band"] for g in got if g.get("tpr_band")]
        band_cover = np.mean([b[0] <= tr["tpr"] <= b[1] for b in bands]) if bands else float("nan")
        cells.append(f"{band_cover:.1%}" if bands else "")
        rows.append(f"| {name} | {key} | {len(got)} | " + " | ".join(cells) + " |")
    return rows


def target_line(name: str, records: list[dict], truth: dict) -> str:
    """The issue's target for the default method (dr), on the datasets printed `identified`: coverage of the AUC,
    and of TPR@5%FPR split by whether the estimate flagged it unreliable (fewer than 10 effective non-members
    above its threshold; records without the flag count as unflagged)."""
    got = [r["results"]["dr"] for r in records if r["verdict"] == "identified" and "dr" in r["results"]
           and r["results"]["dr"]["auc"][1] is not None]

    def cover(entries: list[dict], m: str) -> str:
        hits = [e[m][1] is not None and e[m][1][0] <= truth[m] <= e[m][1][1] for e in entries]
        return f"{np.mean(hits):.1%} of {len(hits)}" if hits else "none"

    flagged = [g for g in got if g.get("tpr_unreliable")]
    plain = [g for g in got if not g.get("tpr_unreliable")]
    return (f"- {name}, dr where printed `identified`: AUC coverage {cover(got, 'auc')}; TPR@5%FPR coverage "
            f"{cover(plain, 'tpr')} printed plain, {cover(flagged, 'tpr')} flagged unreliable")


HEADER = ("| setting | method | printed | AUC bias | AUC MAE | AUC coverage | AUC width | width / oracle IPW | "
          "TPR bias | TPR MAE | TPR coverage | TPR width | width / oracle IPW | TPR band coverage |\n"
          "|---|---|---|---|---|---|---|---|---|---|---|---|---|---|")


def report(store: dict[str, list[dict]]) -> None:
    """The table of every setting in ``store`` ({setting: records}), then one line per setting."""
    print(HEADER)
    for name in SETTINGS:
        if name in store:
            for row in summarize(name, store[name], _truths(name)):
                print(row, flush=True)
    for name, recs in store.items():
        print(target_line(name, recs, _truths(name)["ate"]))
    for name, recs in store.items():
        verdicts = {v: sum(r["verdict"] == v for r in recs) for v in ("identified", "weak_overlap", "not_identified")}
        chosen = {m: sum(r["outcome_model"] == m for r in recs) for m in ("linear", "hgb", "distribution")}
        print(f"- {name}: {len(recs)} datasets; verdicts {verdicts}; mean blind AUC "
              f"{np.mean([r['blind_auc'] for r in recs]):.3f}; outcome model chosen {chosen}")


def validity(n: int, datasets: int, first: int, n_boot: int, jobs: int, only: list[str],
             records_path: str | None) -> None:
    print(f"\nn = {n} per dataset, datasets {first} to {first + datasets - 1} per setting, {n_boot} bootstrap "
          f"replicates, FPR {FPR}\n")
    store = {}
    for name in SETTINGS:
        if only and not any(name.startswith(o) for o in only):
            continue
        t0 = time.perf_counter()
        store[name] = Parallel(n_jobs=jobs)(delayed(one_dataset)(name, n, n_boot, 5000 + k)
                                            for k in range(first, first + datasets))
        print(f"<!-- {name}: {time.perf_counter() - t0:.0f} s -->", flush=True)
        if records_path:
            with open(records_path, "w") as fh:
                json.dump(store, fh)
    report(store)


def _time_one(n: int, config: str) -> tuple[float, float]:
    """Seconds and peak resident memory (GB) of one estimate, in a fresh process so the peak is its own."""
    kw = (dict(methods=("naive", "ipw", "dr"), outcome="linear", estimands=[], intervals="bootstrap")
          if config == "issue 3" else {})
    code = (
        "import time, resource\n"
        "from llm_audit.estimate import ZeroRunEstimator\n"
        "from llm_audit.simulate import simulate\n"
        f"s, c = simulate({n}, 1.0, 0.5, outcome='nonlinear_spread', seed=7)\n"
        f"kw = {kw!r}\n"
        "t0 = time.perf_counter()\n"
        "ZeroRunEstimator(bootstrap=1000, seed=0, **kw).fit(s, c)\n"
        "print(time.perf_counter() - t0, resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1e6)\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout.split()
    return float(out[0]), float(out[1])


def timing(sizes: list[int]) -> None:
    print("\n| n | issue-3 methods (naive, IPW, DR linear) | new defaults | ratio | peak memory (new) |")
    print("|---|---|---|---|---|")
    for n in sizes:
        old, _ = _time_one(n, "issue 3")
        new, mem = _time_one(n, "new")
        print(f"| {n:,} | {old:.1f} s | {new:.1f} s | {new / old:.2f} | {mem:.2f} GB |", flush=True)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true", help="10 datasets, 200 replicates, timing at 10k only")
    ap.add_argument("--datasets", type=int, help="datasets per setting (default 100; quick 10)")
    ap.add_argument("--n", type=int, default=2000)
    ap.add_argument("--bootstrap", type=int, help="replicates for the validity runs (default 300; quick 200)")
    ap.add_argument("--jobs", type=int, default=2, help="datasets estimated in parallel")
    ap.add_argument("--first", type=int, default=0, help="index of the first dataset (to split a run in parts)")
    ap.add_argument("--settings", default="", help="';'-separated prefixes of setting names (default all)")
    ap.add_argument("--records", help="write every dataset's figures to this JSON file")
    ap.add_argument("--from-records", nargs="+", metavar="JSON", help="only print the tables of saved records")
    ap.add_argument("--sizes", default="10000,100000,1000000", help="timing sizes")
    ap.add_argument("--skip-validity", action="store_true")
    ap.add_argument("--skip-timing", action="store_true")
    args = ap.parse_args()
    print(f"machine: {platform.processor() or platform.machine()}, {os.cpu_count()} CPU cores, Python "
          f"{platform.python_version()}, load average {os.getloadavg()[0]:.1f}")
    if args.from_records:
        store: dict[str, list] = {}
        for path in args.from_records:
            with open(path) as fh:
                for name, recs in json.load(fh).items():
                    store.setdefault(name, []).extend(recs)
        report(store)
        return
    if not args.skip_validity:
        validity(args.n, args.datasets or (10 if args.quick else 100), args.first,
                 args.bootstrap or (200 if args.quick else 300), args.jobs,
                 [x.strip() for x in args.settings.split(";") if x.strip()], args.records)
    if not args.skip_timing:
        timing([10_000] if args.quick else [int(x) for x in args.sizes.split(",")])


if __name__ == "__main__":
    main()
