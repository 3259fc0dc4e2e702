"""From a method's fit and its replicates to the ``Result`` the estimates carry: pointwise 95% intervals, the
outcome-model floor of the doubly robust ones, and the simultaneous bands (docs/estimands.md, "Intervals").

Pointwise intervals are percentile intervals of the replicates (bootstrap counts, or Gaussian draws of the
influence functions at large n). A doubly robust fit also carries its K per-fold estimates: when their spread,
sd_k / sqrt(K), says the estimate moves more with the nuisance fits than the replicates do, the interval is
widened to +-1.96 of that standard error. TPR@FPR also gets the figure read off the sup-t band of the ROC.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from llm_audit.estimate.bands import sup_t_band
from llm_audit.estimate.bootstrap import percentile_interval
from llm_audit.estimate.metrics import MIN_NONMEMBERS_ABOVE, downsample_curve
from llm_audit.estimate.methods.base import Fit
from llm_audit.estimate.results import UNRELIABLE, Result, Value, fpr_key

Z95 = 1.959963984540054
LEVEL = 0.95
FOLD_FLOOR = True  # widen DR intervals to the per-fold spread (False only for the benchmark's ablation)


def _fold_se(folds: dict | None, metric: str, a: float | None = None) -> float | None:
    """sd / sqrt(K) of the per-fold estimates of one metric, or None without them."""
    if folds is None or not FOLD_FLOOR:
        return None
    vals = folds[metric] if a is None else folds[metric][a]
    vals = np.asarray(vals, dtype=float)
    return float(np.std(vals, ddof=1) / np.sqrt(len(vals))) if len(vals) > 1 else None


def _value(v: float, rep: np.ndarray | None, label: str, fold_se: float | None = None,
           bounds: tuple[float, float] | None = (0.0, 1.0), **extra: Any) -> Value:
    """A point with its percentile interval, widened to +-1.96 ``fold_se`` where narrower, within ``bounds``."""
    if rep is None:
        return Value(float(v), None, **extra)
    lo, hi = percentile_interval(rep, LEVEL)
    method = label
    if fold_se is not None and (v - lo < Z95 * fold_se or hi - v < Z95 * fold_se):
        lo, hi = min(lo, v - Z95 * fold_se), max(hi, v + Z95 * fold_se)
        method += ", widened to the fold-to-fold spread of the estimate"
    if bounds is not None:
        lo, hi = max(lo, bounds[0]), min(hi, bounds[1])
    return Value(float(v), [float(lo), float(hi)], ci_method=method, **extra)


def build_result(fit: Fit, reps: dict | None, method: str, estimand: str | None, population: str,
                 fpr: tuple[float, ...], label: str, band: dict | None = None) -> Result:
    """A method's point estimates, intervals (and the ROC band read at each FPR target) as a ``Result``."""
    p, r, folds = fit.point, reps or {}, getattr(fit, "folds", None)
    tpr = {}
    for a in fpr:
        flags = [UNRELIABLE] if p.n_eff[a] < MIN_NONMEMBERS_ABOVE else []
        at = None if band is None else list(band["roc"].at(a))
        tpr[fpr_key(a)] = _value(p.tpr[a], r.get("tpr_at_fpr", {}).get(a), label, _fold_se(folds, "tpr_at_fpr", a),
                                 n_eff=float(p.n_eff[a]), flags=flags, band=at)
    if p.mean_se is not None:
        se = max(p.mean_se, _fold_se(folds, "mean_diff") or 0.0)
        how = "influence function" + (", floored at the fold-to-fold spread" if se > p.mean_se else "")
        mean = Value(float(p.mean_diff), [p.mean_diff - Z95 * se, p.mean_diff + Z95 * se], se=se, ci_method=how)
    else:
        mean = _value(p.mean_diff, r.get("mean_diff"), label, bounds=None)
    return Result(method, estimand, population, _value(p.auc, r.get("auc"), label, _fold_se(folds, "auc")), tpr,
                  _value(p.advantage, r.get("advantage"), label, _fold_se(folds, "advantage")), mean)


def curve_bands(fit: Fit, reps: dict | None, grid: np.ndarray, u: np.ndarray) -> dict | None:
    """Sup-t bands of the ROC (on the FPR grid ``u``) and of F_0, F_1 (on the threshold grid), or None when
    the replicates carry no curves."""
    p = fit.point
    if not reps or "roc" not in reps or p.grid_curves is None:
        return None
    ess = p.arm_ess or {}
    n0, n1 = ess.get("nonmember"), ess.get("member")
    return {"roc": sup_t_band(u, p.grid_curves["roc"], reps["roc"], LEVEL, n_eff=n1),
            "f0": sup_t_band(grid, p.grid_curves["f0"], reps["f0"], LEVEL, n_eff=n0),
            "f1": sup_t_band(grid, p.grid_curves["f1"], reps["f1"], LEVEL, n_eff=n1)}


def curve_entry(fit: Fit, bands: dict | None) -> dict:
    """``curves[score][key]``: the ROC points (at most 200) and, when computed, the bands."""
    f, t = downsample_curve(*fit.point.curve)
    out: dict[str, Any] = {"fpr": f, "tpr": t}
    if bands is not None:
        out["bands"] = {"level": LEVEL, "roc": bands["roc"].to_dict("fpr"),
                        "f0": bands["f0"].to_dict("threshold"), "f1": bands["f1"].to_dict("threshold")}
    return out
