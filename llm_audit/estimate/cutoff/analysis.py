"""The whole cutoff analysis of a scored, dated corpus (docs/cutoff.md): design, then for each score the jump
in the mean, the local AUC, their stability in the bandwidth and placebo cutoffs; then the covariate and
density checks. One call, plain results: ``analyse_cutoff(...).to_dict()``.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from llm_audit.errors import AuditError
from llm_audit.estimate.cutoff.rd import STATEMENT, LocalAUC, RDEstimate, local_auc, rd_jump
from llm_audit.estimate.cutoff.checks import (
    PLACEBO_QUANTILES, CovariateJumps, DensityTest, covariate_jumps, density_test, placebo_jumps,
)
from llm_audit.estimate.cutoff.design import MAX_VIOLATION, CutoffDesign, as_years, detect_design


@dataclass(frozen=True)
class ScoreAtCutoff:
    """One score at d0: the jump in its mean, the local AUC at the same bandwidth, both again at h/2 and
    2h, and the jump in its mean at placebo cutoffs inside the members' dates."""

    mean: RDEstimate
    local_auc: LocalAUC
    bandwidths: dict[str, dict]  # "h/2" / "2h" -> {"mean": RDEstimate, "local_auc": LocalAUC}
    placebos: dict[float, RDEstimate]

    def to_dict(self) -> dict:
        return {
            "mean": self.mean.to_dict(),
            "local_auc": self.local_auc.to_dict(),
            "bandwidths": {k: {m: e.to_dict() for m, e in v.items()} for k, v in self.bandwidths.items()},
            "placebos": [{"cutoff": c, **e.to_dict()} for c, e in self.placebos.items()],
        }


@dataclass(frozen=True)
class CutoffResult:
    design: CutoffDesign
    scores: dict[str, ScoreAtCutoff] = field(default_factory=dict)
    covariates: CovariateJumps | None = None
    density: DensityTest | None = None
    statement: str = STATEMENT
    reason: str | None = None  # why there is no analysis (not a cutoff design)

    def to_dict(self) -> dict:
        return {
            "design": self.design.to_dict(),
            "statement": self.statement,
            "reason": self.reason,
            "scores": {name: s.to_dict() for name, s in self.scores.items()},
            "covariates": None if self.covariates is None else self.covariates.to_dict(),
            "density": None if self.density is None else self.density.to_dict(),
        }


def score_at_cutoff(score, dates, d0: float, *, fpr: tuple[float, ...], cluster=None, n_bootstrap: int = 1000,
                    seed: int = 0, level: float = 0.95,
                    placebo_quantiles: tuple[float, ...] = PLACEBO_QUANTILES) -> ScoreAtCutoff:
    """``ScoreAtCutoff`` of one score (``dates`` in fractional years, members' side D < d0)."""
    seeds = np.random.SeedSequence(seed).generate_state(3)
    mean = rd_jump(score, dates, d0, cluster=cluster, level=level)
    if mean.value is None:
        refused = LocalAUC(h=mean.h, reason=mean.reason)
        return ScoreAtCutoff(mean, refused, {}, placebo_jumps(score, dates, d0, quantiles=placebo_quantiles,
                                                               cluster=cluster, level=level))
    common = {"fpr": fpr, "cluster": cluster, "n_bootstrap": n_bootstrap, "level": level}
    auc = local_auc(score, dates, d0, mean.h, b=mean.b, seed=int(seeds[0]), **common)
    bandwidths = {}
    for label, factor, s in (("h/2", 0.5, seeds[1]), ("2h", 2.0, seeds[2])):
        h = factor * mean.h  # rdrobust sets b = h when h is given; the local AUC follows
        bandwidths[label] = {"mean": rd_jump(score, dates, d0, h=h, cluster=cluster, level=level),
                             "local_auc": local_auc(score, dates, d0, h, b=h, seed=int(s), **common)}
    placebos = placebo_jumps(score, dates, d0, quantiles=placebo_quantiles, cluster=cluster, level=level)
    return ScoreAtCutoff(mean, auc, bandwidths, placebos)


def analyse_cutoff(
    scores: pd.DataFrame | Mapping[str, np.ndarray],
    dates,
    member,
    *,
    d0=None,
    covariates: pd.DataFrame | None = None,
    cluster=None,
    fpr: tuple[float, ...] = (0.01, 0.05),
    n_bootstrap: int = 1000,
    seed: int = 0,
    level: float = 0.95,
    max_violation: float = MAX_VIOLATION,
    placebo_quantiles: tuple[float, ...] = PLACEBO_QUANTILES,
) -> CutoffResult:
    """The cutoff analysis of every score column (higher = member), aligned row by row with ``dates``
    (float years, datetimes or ISO strings), ``member`` (0/1), ``covariates`` (other than the date) and
    ``cluster`` (e.g. the source document of each chunk: variances and bootstrap then work by cluster).

    ``d0``: the model's data cutoff (a year or a date); detected from the labels when None. When the
    labels do not follow the date (more than ``max_violation`` of the dated texts on the wrong side), the
    result holds the design and a ``reason``, and no estimate.
    """
    table = pd.DataFrame(scores)
    n = len(table)
    for name, values in (("dates", dates), ("member", member), ("cluster", cluster), ("covariates", covariates)):
        if values is not None and len(values) != n:
            raise AuditError(f"cutoff: {name} has {len(values)} rows, the scores {n}")
    design = detect_design(dates, member, d0, max_violation=max_violation)
    if not design.is_cutoff:
        return CutoffResult(design=design, reason=f"not a cutoff design: {design.violation_share:.1%} of the dated "
                                                  f"texts are on the wrong side of d0 (at most {max_violation:.0%})")
    x = as_years(dates)
    d0_year = design.d0
    seeds = np.random.SeedSequence(seed).generate_state(len(table.columns))
    per_score = {
        str(name): score_at_cutoff(table[name].to_numpy(dtype=float), x, d0_year, fpr=fpr, cluster=cluster,
                                   n_bootstrap=n_bootstrap, seed=int(s), level=level,
                                   placebo_quantiles=placebo_quantiles)
        for name, s in zip(table.columns, seeds)
    }
    checks = None if covariates is None else covariate_jumps(pd.DataFrame(covariates).reset_index(drop=True), x,
                                                             d0_year, cluster=cluster)
    return CutoffResult(design=design, scores=per_score, covariates=checks, density=density_test(x, d0_year))
