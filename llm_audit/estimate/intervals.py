"""From a method's fit and its replicates to the ``Result`` the estimates carry: pointwise 95% intervals, the
outcome-model floor of the doubly robust ones, and the simultaneous bands (docs/estimands.md, "Intervals").

Pointwise intervals are percentile intervals of the replicates (bootstrap counts, or Gaussian draws of the
influence functions at large n). A doubly robust fit also carries its K per-fold estimates: when their spread,
sd_k / sqrt(K), says the estimate moves more with the nuisance fits than the replicates do, the interval is
widened to +-t_{K-1} of that standard error, Student's 97.5% quantile with K - 1 degrees of freedom (2.78 at
K = 5): the standard error is itself estimated from K numbers, and the normal quantile 1.96 left the floor too
narrow (benchmarks/README.md, "40 datasets at a = 2"). TPR@FPR also gets the figure read off the sup-t band of
the ROC.
"""

from __future__ import annotations

from typing import Any, NamedTuple

import numpy as np
from scipy.stats import t as student_t

from llm_audit.estimate.bands import sup_t_band
from llm_audit.estimate.bootstrap import percentile_interval
from llm_audit.estimate.metrics import MIN_NONMEMBERS_ABOVE, downsample_curve
from llm_audit.estimate.methods.base import Fit
from llm_audit.estimate.results import UNRELIABLE, Result, Value, fpr_key

Z95 = 1.959963984540054
LEVEL = 0.95
FOLD_FLOOR = True  # widen DR intervals to the per-fold spread (False only for the benchmark's ablation)


class FoldSpread(NamedTuple):
    """The per-fold estimates' standard error sd_k / sqrt(K) and the half-width of the 95% floor it gives."""

    se: float
    half_width: float  # t_{K-1, 0.975} * se


def _fold_spread(folds: dict | None, metric: str, a: float | None = None) -> FoldSpread | None:
    """The spread of the K per-fold estimates of one metric, or None without them."""
    if folds is None or not FOLD_FLOOR:
        return None
    vals = folds[metric] if a is None else folds[metric][a]
    vals = np.asarray(vals, dtype=float)
    if len(vals) < 2:
        return None
    se = float(np.std(vals, ddof=1) / np.sqrt(len(vals)))
    return FoldSpread(se, float(student_t.ppf(0.5 + LEVEL / 2, len(vals) - 1)) * se)


def _value(v: float, rep: np.ndarray | None, label: str, spread: FoldSpread | None = None,
           bounds: tuple[float, float] | None = (0.0, 1.0), **extra: Any) -> Value:
    """A point with its percentile interval, widened to +-``spread.half_width`` where narrower (``se`` then
    records the fold-to-fold standard error), within ``bounds``."""
    if rep is None:
        return Value(float(v), None, **extra)
    lo, hi = percentile_interval(rep, LEVEL)
    method = label
    if spread is not None and (v - lo < spread.half_width or hi - v < spread.half_width):
        lo, hi = min(lo, v - spread.half_width), max(hi, v + spread.half_width)
        method += ", widened to the fold-to-fold spread of the estimate"
        extra = {"se": spread.se, **extra}
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
        tpr[fpr_key(a)] = _value(p.tpr[a], r.get("tpr_at_fpr", {}).get(a), label, _fold_spread(folds, "tpr_at_fpr", a),
                                 n_eff=float(p.n_eff[a]), flags=flags, band=at)
    if p.mean_se is not None:
        spread = _fold_spread(folds, "mean_diff")
        floored = spread is not None and spread.half_width > Z95 * p.mean_se
        se, half = (spread.se, spread.half_width) if floored else (p.mean_se, Z95 * p.mean_se)
        how = "influence function" + (", floored at the fold-to-fold spread" if floored else "")
        mean = Value(float(p.mean_diff), [p.mean_diff - half, p.mean_diff + half], se=se, ci_method=how)
    else:
        mean = _value(p.mean_diff, r.get("mean_diff"), label, bounds=None)
    return Result(method, estimand, population, _value(p.auc, r.get("auc"), label, _fold_spread(folds, "auc")), tpr,
                  _value(p.advantage, r.get("advantage"), label, _fold_spread(folds, "advantage")), mean)


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
