"""Checks of the cutoff design (docs/cutoff.md): what must NOT jump at d0 for the jump in the score to be
read as memorization.

* covariates: the same RD on every other numeric covariate (length, lexical statistics, ...). A jump
  means the texts themselves change at d0, and a jump in the score may be that change;
* density: a jump in the density of the dates at d0 means the arms were sampled at different rates
  around d0 (the manipulation test of Cattaneo, Jansson & Ma 2020, `rddensity` package);
* placebo cutoffs inside the members' dates: no membership change there, so no jump expected;
* bandwidth: the estimate at h/2 and 2h (in ``llm_audit.estimate.cutoff.analysis``).
"""

from __future__ import annotations

import contextlib
import io
import warnings
from dataclasses import dataclass

import numpy as np
import pandas as pd

from llm_audit.estimate.cutoff.rd import RDEstimate, rd_jump, too_few_near

PLACEBO_QUANTILES = (0.25, 0.5, 0.75)


@dataclass(frozen=True)
class CovariateJumps:
    """The RD of each numeric covariate at d0; ``jumping``: those whose robust p-value is below
    ``alpha / n_tested`` (Bonferroni over the covariates tested)."""

    estimates: dict[str, RDEstimate]
    skipped: dict[str, str]  # column -> why it was not tested
    alpha: float

    @property
    def n_tested(self) -> int:
        return sum(e.p_value is not None for e in self.estimates.values())

    @property
    def jumping(self) -> list[str]:
        limit = self.alpha / max(self.n_tested, 1)
        return [c for c, e in self.estimates.items() if e.p_value is not None and e.p_value < limit]

    def to_dict(self) -> dict:
        return {"estimates": {c: e.to_dict() for c, e in self.estimates.items()}, "skipped": dict(self.skipped),
                "alpha": self.alpha, "n_tested": self.n_tested, "jumping": self.jumping}


def covariate_jumps(covariates: pd.DataFrame, dates, d0: float, *, cluster=None, alpha: float = 0.05) -> CovariateJumps:
    """RD at ``d0`` of every numeric (or boolean) column of ``covariates``, each at its own MSE-optimal
    bandwidth. Pass the covariates other than the date itself (the running variable cannot jump)."""
    estimates, skipped = {}, {}
    for column in covariates.columns:
        values = covariates[column]
        if not (pd.api.types.is_numeric_dtype(values) or pd.api.types.is_bool_dtype(values)):
            skipped[str(column)] = "not numeric"
            continue
        est = rd_jump(values.to_numpy(dtype=float), dates, d0, cluster=cluster)
        if est.value is None:
            skipped[str(column)] = est.reason
        else:
            estimates[str(column)] = est
    return CovariateJumps(estimates=estimates, skipped=skipped, alpha=alpha)


@dataclass(frozen=True)
class DensityTest:
    """Robust bias-corrected test of a jump in the density of the dates at d0 (rddensity)."""

    t: float | None = None
    p_value: float | None = None
    h: tuple[float, float] | None = None  # bandwidths, before and after d0
    n_near: tuple[int, int] | None = None  # dates within those bandwidths
    reason: str | None = None

    def to_dict(self) -> dict:
        return {"t": self.t, "p_value": self.p_value, "h": None if self.h is None else list(self.h),
                "n_near": None if self.n_near is None else list(self.n_near), "reason": self.reason}


def density_test(dates, d0: float) -> DensityTest:
    """Cattaneo, Jansson & Ma (2020): local polynomial density estimates on each side of d0 (p = 2,
    triangular kernel, jackknife variance); H0: the density of the dates is continuous at d0."""
    from rddensity import rddensity  # imported here: the package pulls in plotnine (seconds to import)

    x = np.asarray(dates, dtype=float)
    x = x[np.isfinite(x)]
    reason = too_few_near(x, d0)
    if reason is not None:
        return DensityTest(reason=reason)
    try:
        with contextlib.redirect_stdout(io.StringIO()), warnings.catch_warnings():
            warnings.simplefilter("ignore")
            fit = rddensity(X=x, c=d0)
    except Exception as exc:  # rddensity raises bare Exceptions as well as numpy's errors
        first = (str(exc).strip().splitlines() or [type(exc).__name__])[0]
        return DensityTest(reason=f"rddensity could not fit: {first}")
    t, p = float(fit.test["t_jk"]), float(fit.test["p_jk"])
    if not (np.isfinite(t) and np.isfinite(p)):
        return DensityTest(reason="rddensity gave no test statistic (too few distinct dates near d0)")
    return DensityTest(t=t, p_value=p, h=(float(fit.h["left"]), float(fit.h["right"])),
                       n_near=(int(fit.n["eff_left"]), int(fit.n["eff_right"])))


def placebo_jumps(score, dates, d0: float, *, quantiles: tuple[float, ...] = PLACEBO_QUANTILES, cluster=None,
                  level: float = 0.95) -> dict[float, RDEstimate]:
    """RD of the score at placebo cutoffs: the given quantiles of the members' side dates, each estimated
    on the members' side only (D < d0), so the real jump at d0 cannot leak into a placebo."""
    x = np.asarray(dates, dtype=float)
    before = np.isfinite(x) & (x < d0)
    groups = None if cluster is None else np.asarray(cluster)[before]
    y = np.asarray(score, dtype=float)[before]
    return {float(c): rd_jump(y, x[before], float(c), cluster=groups, level=level)
            for c in np.unique(np.quantile(x[before], quantiles))}
