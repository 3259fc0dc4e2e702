"""The cutoff design inside a zero-run audit: when the corpus's membership follows a date (or the user names the
model's data cutoff), the analysis goes into the diagnostics and each score gets a ``cutoff`` result: the local
AUC and the jump in the mean at d0, labelled as memorization of texts dated near d0."""

from __future__ import annotations

from typing import Any

import numpy as np

from llm_audit.errors import AuditError
from llm_audit.estimate.cutoff.analysis import analyse_cutoff
from llm_audit.estimate.cutoff.design import detect_design
from llm_audit.estimate.design import AuditData
from llm_audit.estimate.results import UNRELIABLE, Result, Value, fpr_key

DATE_COLUMN = "date"
CUTOFF_BOOTSTRAP = 400  # replicates of each local AUC (three bandwidths per score): enough for a 95% interval


def _value(entry: dict[str, Any], **extra: Any) -> Value:
    ci = entry.get("ci")
    return Value(entry.get("value"), None if ci is None else list(ci), ci_method="bootstrap percentile" if ci else None,
                 **extra)


def _result(score: dict[str, Any], fpr: tuple[float, ...]) -> Result:
    auc, mean = score["local_auc"], score["mean"]
    tpr = {}
    for a in fpr:
        e = auc["tpr_at_fpr"].get(fpr_key(a), {"value": None})
        tpr[fpr_key(a)] = _value(e, n_eff=e.get("n_eff_nonmember_above"),
                                 flags=[UNRELIABLE] if e.get("unreliable", True) else [])
    mean_value = Value(mean["value"], None if mean["ci"] is None else list(mean["ci"]), se=mean.get("se"),
                       ci_method="robust bias-corrected (rdrobust)" if mean["ci"] else None)
    return Result("cutoff", "cutoff", "near d0", _value(auc["auc"]), tpr, Value(None), mean_value)


def cutoff_analysis(data: AuditData, *, d0: str | None, fpr: tuple[float, ...], seed: int,
                    n_bootstrap: int) -> tuple[dict[str, Any] | None, dict[str, Result]]:
    """``(diagnostics["cutoff"], {score: Result})``; ``(None, {})`` when there is no date covariate, or when
    membership does not follow the date and no cutoff was given (then nothing is said)."""
    if DATE_COLUMN not in data.covariates.columns:
        if d0 is not None:
            raise AuditError(f"cutoff: {d0!r} given, but the covariates have no usable '{DATE_COLUMN}' column (the "
                             "covariates step's date extractor makes one)")
        return None, {}
    dates = data.covariates[DATE_COLUMN].to_numpy(dtype=float)
    if np.isfinite(dates).sum() < 2:
        if d0 is not None:
            raise AuditError(f"cutoff: {d0!r} given, but fewer than 2 texts have a '{DATE_COLUMN}'")
        return None, {}
    design = detect_design(dates, data.member, d0)
    if not design.is_cutoff and d0 is None:
        return None, {}
    others = data.covariates.drop(columns=[c for c in data.covariates.columns if c.startswith(DATE_COLUMN)])
    numeric = others.select_dtypes("number")
    result = analyse_cutoff(data.scores, dates, data.member, d0=d0,
                            covariates=numeric if numeric.shape[1] else None, cluster=data.groups, fpr=fpr,
                            n_bootstrap=n_bootstrap, seed=seed).to_dict()
    results = {name: _result(s, fpr) for name, s in result["scores"].items()}
    return result, results
