"""The negative-control refuter: does a model-free text classifier's membership score come out at chance after
the correction? (docs/refuters.md, "Negative-control score")

The score (column ``negative_control`` of the covariates table, computed in the covariates step) is a text
classifier's out-of-fold P(member | text). It cannot carry memorization. Weighted like the corrected figures, its
AUC is 0.5 when the covariates capture every difference between the arms that the text shows; otherwise the
difference left is confounding the covariates miss, and every score that tracks it is biased the same way.

The rule is one-sided (a deviation from SPEC §9's two-sided band, measured): confounding the text reveals makes
the classifier's members look *more* like members after the weighting, an AUC above 0.5. Below 0.5 an
out-of-fold classifier errs on its own on a corpus without any text signal: each held-out text's label is
missing from the training folds, which tilts the fit against it (the negative bias of cross-validated AUCs under
no signal; Parker, Gunter and Bedo 2007). On the semi-synthetic benchmark's 100 random splits the control's
z-statistic had mean -0.4 and SD 1.2-1.3, and all 5 of its failures of the two-sided rule were below 0.5
(z -3.0 to -4.0); on the 300 confounded datasets no failure was below 0.5 (benchmarks/README.md). A value below
the band is reported with a note, not as a failure.
"""

from __future__ import annotations

import numpy as np
from scipy.stats import spearmanr

from llm_audit.estimate.metrics import weighted_auc
from llm_audit.estimate.refuters.base import Context, RefuterRow

FLOOR = 0.03
BELOW_CHANCE = ("below chance by more than the band, which is not a failure: an out-of-fold classifier's AUC on a corpus "
                "whose text says nothing of membership is biased below 0.5 and scatters more than its SE says")
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
        passed = auc - 0.5 <= tol  # one-sided: see the module docstring
        if not passed:
            detail = "confounding visible in the text that the covariates do not capture; " + direction(ctx, nc, auc)
        elif auc < 0.5 - tol:
            detail = BELOW_CHANCE
        else:
            detail = ""
        return [RefuterRow(self.name, self.question, None, "corrected AUC", auc,
                           f"AUC - 0.5 <= max(3 SE, {FLOOR}) = {tol:.3f} (one-sided)", passed, detail, {"se": se})]


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
