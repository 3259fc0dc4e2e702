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


LOCAL_MODEL = {"name": "/home/alice/.cache/huggingface/hub/models--org--tiny/snapshots/0123abcd", "revision": None,
               "weights_sha256": "7ab77154b29d21b88a1d87640a1bc0a6cc8c0f324a0ae8c09c01eadc8ba9f368",
               "dtype": "float32", "tokenizer_sha256": "982d3d9d", "id": "cb8390f539325216"}
REFUTERS = [  # the shape the refuter table is assumed to take (rows of diagnostics["refuters"])
    {"refuter": "placebo score", "question": "does a model-free score come out at chance after the correction?",
     "statistic": "corrected AUC 0.51 [0.47, 0.55]", "rule": "|AUC - 0.5| <= max(3 SE, 0.03)", "passed": True,
     "score": None},
    {"refuter": "balance", "question": f"is every covariate balanced after weighting? {SCRIPT}",
     "statistic": "max |SMD| 0.20 (n_chars)", "rule": "<= 0.1", "passed": False, "score": None},
    {"refuter": "subset stability", "question": "does the estimate hold on random halves?",
     "statistic": "not computed", "rule": "", "passed": None, "score": "loss"},
]


def family(score_names, z_values, adjustment="max-t"):
    """A hand-built ``diagnostics.inference`` family: z per score, p from the normal tail."""
    from math import erfc, sqrt

    out = {}
    for name, z in zip(score_names, z_values):
        p = erfc(abs(z) / sqrt(2))
        out[name] = {"auc": 0.5 + 0.02 * z, "se": 0.02, "z": z, "p": p, "p_adjusted": min(1.0, 2.2 * p),
                     "ci_simultaneous": [0.5 + 0.02 * z - 0.047, 0.5 + 0.02 * z + 0.047]}
    return {"adjustment": adjustment, "critical_value": 2.36, "bonferroni_critical_value": 2.50,
            "n_bootstrap": 200, "scores": out}


def distributions(score_names):
    edges = np.linspace(-3, 3, 13).tolist()
    bump = lambda c: (np.exp(-0.5 * (np.linspace(-2.75, 2.75, 12) - c) ** 2) / 2.5).tolist()  # noqa: E731
    return {name: {"edges": edges, "outside": {"below": 1, "above": 0},
                   "naive": {"member": bump(0.8), "nonmember": bump(-0.5)},
                   "weighted": {"member": bump(0.4), "nonmember": bump(-0.1), "population": "all", "estimand": "ate"}}
            for name in score_names}


def zero_run_estimates(score_names=("loss", "mink_0.2"), verdict="identified", *, nonmembers=None, refuters=False,
                       model=None, slices=None, smd=None):
    """``nonmembers``: put a count in diagnostics.n (TPR columns resting on less than one text are then hidden);
    ``refuters``: add REFUTERS and a verdict per method; ``model``: provenance.model; ``slices``/``smd``: replace
    the diagnostics' ones."""
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
    diag_extra = {"inference": {"null": 0.5, "level": 0.95, "families": {
        "naive": family(score_names, [12.0, 9.0][:len(score_names)] + [3.0] * (len(score_names) - 2)),
        "dr" if verdict != "not_identified" else "dr_overlap":
            family(score_names, [2.5, -0.4][:len(score_names)] + [1.0] * (len(score_names) - 2)),
    }}, "distributions": distributions(score_names)}
    if nonmembers is not None:
        diag_extra["n"] = {"member": 300, "nonmember": nonmembers, "total": 300 + nonmembers}
    if refuters:
        diag_extra["refuters"] = REFUTERS
        diag_extra["method_verdicts"] = {"ipw": {"verdict": "weak_overlap", "reasons": ["max |SMD| after 0.20 > 0.1"]},
                                         "dr": "identified"}
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
            "smd": smd or {"n_chars": {"before": 0.62, "after": 0.05}, "date": {"before": -0.41, "after": 0.08},
                           f"domain={SCRIPT}": {"before": 0.3, "after": -0.02}},
            "per_score": {name: {"placebo_auc": 0.51, "sensitivity": {"gamma_to_naive": 2.5, "gamma_to_chance": 1.6},
                                 **({"bounds": {"value": None, "identified_set": [0.31, 0.82], "ci": [0.28, 0.85]}}
                                    if verdict == "not_identified" else {})}
                          for name in score_names},
            "slices": slices if slices is not None else [
                {"slice": "domain", "value": v, "members": 50, "nonmembers": 40,
                 "auc": {name: Value(0.61, [0.5, 0.72]).to_dict() for name in score_names}} for v in ("wiki", SCRIPT)],
            **diag_extra,
        },
        provenance={"model": model} if model else {},
        notes=[f"a note naming {SCRIPT}"],
        assumptions=["no interference", "unconfoundedness given the covariates"],
        config={"target": "ate", "eta": 0.02},
    )
