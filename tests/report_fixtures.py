"""Estimates for the report tests, built by hand with the result types (not by the estimator), so the report
is tested on its own."""

from __future__ import annotations

import numpy as np

from llm_audit.estimate.results import Estimates, Result, Value

SCRIPT = "<script>document.title='PWNED'</script>"


KEYS = ["0.001", "0.01", "0.05"]


def metric(auc, tpr, adv, mean, *, ci=0.03, reliable=(False, True, True), method="naive", population="all"):
    def fig(v, w=ci, **extra):
        return Value(v, [v - w, v + w], **extra)

    return Result(
        method, None if method == "naive" else "ate", population, fig(auc),
        {k: fig(t, 0.02, n_eff=50.0 if r else 2.0, flags=[] if r else ["unreliable"]) for k, t, r in zip(KEYS, tpr, reliable)},
        fig(adv), fig(mean, 0.01),
    )


def null_block(method):
    return Result.null(method, "ate", KEYS)


def curve(power):
    fpr = np.linspace(0, 1, 51) ** 2
    return {"fpr": fpr.tolist(), "tpr": (fpr ** power).tolist()}


def zero_run_estimates(score_names=("loss", "mink_0.2"), verdict="identified"):
    scores, curves = {}, {}
    for i, name in enumerate(score_names):
        naive = metric(0.74 - 0.02 * i, (0.01, 0.06, 0.21), 0.38, 0.31)
        ipw = metric(0.60 - 0.02 * i, (0.004, 0.03, 0.12), 0.17, 0.12, ci=0.05, method="ipw")
        dr = metric(0.59 - 0.02 * i, (0.003, 0.028, 0.11), 0.16, 0.11, ci=0.04, method="dr")
        if verdict == "not_identified":
            # The estimator's shape: full-population blocks null, the overlap population under its own names.
            scores[name] = {"naive": naive, "ipw": null_block("ipw"), "dr": null_block("dr"),
                            "ipw_overlap": metric(0.57, (0.0, 0.02, 0.1), 0.1, 0.05, method="ipw", population="overlap"),
                            "dr_overlap": metric(0.56, (0.0, 0.02, 0.1), 0.1, 0.05, method="dr", population="overlap")}
        else:
            scores[name] = {"naive": naive, "ipw": ipw, "dr": dr}
        curves[name] = {"naive": curve(0.45), "ipw": curve(0.75), "dr": curve(0.77)}
    edges = np.linspace(0, 1, 21).tolist()
    member = [0, 0, 1, 2, 4, 6, 9, 12, 15, 18, 20, 22, 21, 19, 15, 12, 8, 5, 3, 1]
    return Estimates.build(
        regime="zero-run",
        results=scores,
        curves=curves,
        diagnostics={
            "blind_auc": 0.97 if verdict == "not_identified" else 0.68,
            "verdict": verdict,
            "ess": {"member": 140.2, "nonmember": 210.7},
            "clipped": {"member": 3, "nonmember": 1},
            "overlap_population": {"n": 412, "member": 200, "nonmember": 212},
            "verdict_reasons": ["blind AUC 0.97 >= 0.97"] if verdict == "not_identified" else [],
            "propensity_histogram": {"bins": edges, "member": member, "nonmember": member[::-1]},
            "smd": {"n_chars": {"before": 0.62, "after": 0.05}, "date": {"before": -0.41, "after": 0.08},
                    f"domain={SCRIPT}": {"before": 0.3, "after": -0.02}},
            "per_score": {name: {"placebo_auc": 0.51, "sensitivity": {"gamma_to_naive": 2.5, "gamma_to_chance": 1.6}}
                          for name in score_names},
            "slices": [{"slice": "domain", "value": v, "members": 50, "nonmembers": 40,
                        "auc": {name: Value(0.61, [0.5, 0.72]).to_dict() for name in score_names}}
                       for v in ("wiki", SCRIPT)],
        },
        notes=[f"a note naming {SCRIPT}"],
        assumptions=["no interference", "unconfoundedness given the covariates"],
        config={"target": "ate", "eta": 0.02},
    )
