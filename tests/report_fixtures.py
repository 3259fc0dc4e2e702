"""Estimates JSON and tables for the report tests, following issue 3's schema (built by hand, not by the
estimator, so the report is tested on its own)."""

from __future__ import annotations

import numpy as np
import pandas as pd

SCRIPT = "<script>document.title='PWNED'</script>"


def metric(auc, tpr, adv, mean, *, ci=0.03, reliable=(False, True, True)):
    def fig(v, w=ci):
        return {"value": v, "ci": [v - w, v + w]}

    keys = ("0.001", "0.01", "0.05")
    return {
        "auc": fig(auc),
        "tpr_at_fpr": {k: {**fig(t, 0.02), "nonmembers_above": 50.0 if r else 2.0, "reliable": r}
                       for k, t, r in zip(keys, tpr, reliable)},
        "advantage": fig(adv),
        "mean_diff": fig(mean, 0.01),
    }


def null_block():
    null = {"value": None, "ci": None}
    return {"auc": null, "tpr_at_fpr": {k: dict(null) for k in ("0.001", "0.01", "0.05")},
            "advantage": null, "mean_diff": null}


def curve(power):
    fpr = np.linspace(0, 1, 51) ** 2
    return {"fpr": fpr.tolist(), "tpr": (fpr ** power).tolist()}


def zero_run_estimates(score_names=("loss", "mink_0.2"), verdict="identified"):
    scores, curves = {}, {}
    for i, name in enumerate(score_names):
        naive = metric(0.74 - 0.02 * i, (0.01, 0.06, 0.21), 0.38, 0.31)
        ipw = metric(0.60 - 0.02 * i, (0.004, 0.03, 0.12), 0.17, 0.12, ci=0.05)
        dr = metric(0.59 - 0.02 * i, (0.003, 0.028, 0.11), 0.16, 0.11, ci=0.04)
        if verdict == "not_identified":
            # The estimator's shape: full-population blocks null, the overlap population under its own names.
            scores[name] = {"naive": naive, "ipw": null_block(), "dr": null_block(),
                            "ipw_overlap": metric(0.57, (0.0, 0.02, 0.1), 0.1, 0.05),
                            "dr_overlap": metric(0.56, (0.0, 0.02, 0.1), 0.1, 0.05)}
        else:
            scores[name] = {"naive": naive, "ipw": ipw, "dr": dr}
        curves[name] = {"naive": curve(0.45), "ipw": curve(0.75), "dr": curve(0.77)}
    edges = np.linspace(0, 1, 21).tolist()
    member = [0, 0, 1, 2, 4, 6, 9, 12, 15, 18, 20, 22, 21, 19, 15, 12, 8, 5, 3, 1]
    return {
        "schema_version": 1,
        "regime": "zero-run",
        "scores": scores,
        "curves": curves,
        "diagnostics": {
            "blind_auc": 0.97 if verdict == "not_identified" else 0.68,
            "verdict": verdict,
            "ess": {"member": 140.2, "nonmember": 210.7},
            "clipped": {"member": 3, "nonmember": 1},
            "overlap_population": {"n": 412, "member": 200, "nonmember": 212},
            "verdict_reasons": ["blind AUC 0.97 >= 0.97"] if verdict == "not_identified" else [],
            "propensity_histogram": {"edges": edges, "member": member, "nonmember": member[::-1]},
            "smd": {"n_chars": {"before": 0.62, "after": 0.05}, "date": {"before": -0.41, "after": 0.08},
                    f"domain={SCRIPT}": {"before": 0.3, "after": -0.02}},
        },
        "notes": [f"a note naming {SCRIPT}"],
        "assumptions": ["no interference", "unconfoundedness given the covariates"],
        "config": {"target": "ate", "eta": 0.02},
    }


def tables(n=200, seed=0):
    """Scores and covariates tables with a domain that carries an injected script and dates by decade."""
    rng = np.random.default_rng(seed)
    member = rng.integers(0, 2, n)
    domain = np.where(rng.random(n) < 0.5, "wiki", SCRIPT)
    scores = pd.DataFrame({"id": [f"t{i}" for i in range(n)], "member": member, "n_tokens": 100,
                           "truncated": False, "loss": rng.normal(member, 1.0), "mink_0.2": rng.normal(0, 1, n)})
    covs = pd.DataFrame({"id": scores["id"], "n_chars": rng.integers(100, 900, n).astype(float),
                         "date": rng.integers(1990, 2020, n).astype(float), "date_missing": 0.0, "domain": domain})
    return scores, covs
