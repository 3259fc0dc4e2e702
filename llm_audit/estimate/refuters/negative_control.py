"""The negative-control refuter: does a model-free text classifier's membership score come out at chance after
the correction? (docs/refuters.md, "Negative-control score")

The score (column ``negative_control`` of the covariates table, computed in the covariates step) is a text
classifier's out-of-fold P(member | text). It cannot carry memorization. Weighted like the corrected figures, its
AUC is 0.5 when the covariates capture every difference between the arms that the text shows; otherwise the
difference left is confounding the covariates miss, and every score that tracks it is biased the same way.
"""

from __future__ import annotations

import numpy as np
from scipy.stats import spearmanr

from llm_audit.estimate.metrics import weighted_auc
from llm_audit.estimate.refuters.base import Context, RefuterRow

FLOOR = 0.03
MISSING = ("not run: the covariates table has no negative_control column (the covariates step computes it when "
           "the corpus has membership labels)")


class NegativeControl:
    name = "negative_control"
    question = "does a model-free text classifier's P(member | text) come out at 0.5 after weighting?"

    def run(self, ctx: Context) -> list[RefuterRow]:
        nc = ctx.data.negative_control
        if nc is None:
            return [RefuterRow(self.name, self.question, None, "corrected AUC", None, "", None, MISSING)]
        rows = ctx.population.rows
        t = ctx.data.member[rows]
        auc, se = weighted_auc(nc[rows], t, ctx.weights), ctx.auc_se(nc)
        tol = max(3 * se, FLOOR)
        passed = abs(auc - 0.5) <= tol
        detail = "" if passed else ("confounding visible in the text that the covariates do not capture; "
                                    + direction(ctx, nc, auc))
        return [RefuterRow(self.name, self.question, None, "corrected AUC", auc,
                           f"|AUC - 0.5| <= max(3 SE, {FLOOR}) = {tol:.3f}", passed, detail)]


def direction(ctx: Context, nc: np.ndarray, auc: float) -> str:
    """Which way the text confounding pushes each score: by the sign of its rank correlation with the negative
    control among non-members (where no memorization moves the score), times the side of 0.5 the control is on."""
    rows = ctx.population.rows
    non = rows[ctx.data.member[rows] == 0]
    parts = []
    for name, s in ctx.data.scores.items():
        rho = float(spearmanr(s[non], nc[non]).statistic) if np.ptp(s[non]) > 0 else 0.0
        if not np.isfinite(rho) or abs(rho) < 0.1:
            parts.append(f"{name} little (rank correlation {rho:+.2f})")
        else:
            way = "up" if rho * (auc - 0.5) > 0 else "down"
            parts.append(f"{name} {way} (rank correlation {rho:+.2f})")
    return "it pushes the AUC (naive, and the corrected one with it) of " + ", ".join(parts)
