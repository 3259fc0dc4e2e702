"""The prognostic-balance refuter: do the weights balance what the covariates predict of each score?
(docs/refuters.md, "Prognostic balance")

A weighting estimator is biased by exactly the part of the score the covariates predict and the weights leave
unbalanced. The per-column checks (``balance.py``) look at means and marginal distributions of the design
columns; a propensity model that misses a curve or an interaction can pass them all and still leave a function
of the covariates out of balance. The function that matters is the score's prognostic score, its expected value
given the covariates among non-members (Hansen 2008, "The prognostic analogue of the propensity score"; as a
balance measure, Stuart, Lee and Leacy 2013). The doubly robust outcome model already holds a cross-fitted one,
``m_0(x)``: weighted like the corrected figures, its AUC is 0.5 when the weights balance it. When it is not, the
weighting estimates carry the difference and the doubly robust ones rest on the outcome model alone.
"""

from __future__ import annotations

import numpy as np

from llm_audit.estimate.metrics import weighted_auc, weighted_auc_se
from llm_audit.estimate.refuters.base import Context, RefuterRow

FLOOR = 0.03
# The weighting-only rule (``weighting_reasons``): the 95% band, with a floor for a shift too small to matter
WEIGHTING_Z, WEIGHTING_FLOOR = 1.96, 0.01
NOT_FIT = "not run: no outcome model was fit for this score (the doubly robust methods fit one)"


class PrognosticBalance:
    name = "prognostic_balance"
    question = ("does each score's prediction from the covariates (m_0(x), cross-fitted) come out at 0.5 after "
                "weighting?")

    def run(self, ctx: Context) -> list[RefuterRow]:
        rows, out = ctx.population.rows, []
        t = ctx.data.member[rows]
        for name in ctx.data.scores:
            m0 = ctx.prognostic.get(name)
            if m0 is None:
                out.append(RefuterRow(self.name, self.question, name, "corrected AUC of m_0(x)", None, "", None,
                                      NOT_FIT))
                continue
            found = prognostic_auc(m0[rows], t, ctx.weights, ctx.groups)
            if found is None:  # the covariates predict nothing of the score: nothing to balance
                out.append(RefuterRow(self.name, self.question, name, "corrected AUC of m_0(x)", 0.5,
                                      "constant prediction", True))
                continue
            auc, se = found
            tol = max(3 * se, FLOOR)
            passed = abs(auc - 0.5) <= tol
            detail = "" if passed else (
                "the propensity weights leave what the covariates predict of the score out of balance (a "
                f"propensity model that misses a curve or an interaction): the weighting estimates carry it, "
                f"{'up' if auc > 0.5 else 'down'}; the doubly robust ones rest on the outcome model alone")
            out.append(RefuterRow(self.name, self.question, name, "corrected AUC of m_0(x)", auc,
                                  f"|AUC - 0.5| <= max(3 SE, {FLOOR}) = {tol:.3f}", passed, detail, {"se": se}))
        return out


def prognostic_auc(m0: np.ndarray, member: np.ndarray, weights: np.ndarray,
                   groups: np.ndarray | None = None) -> tuple[float, float] | None:
    """The weighted AUC of a prognostic score ``m0`` (n,) between the arms and its SE (clustered by ``groups``);
    None for a constant prediction (nothing to balance)."""
    if np.ptp(m0) == 0:
        return None
    return weighted_auc(m0, member, weights), weighted_auc_se(m0, member, weights, groups)


def weighting_reasons(imbalance: dict[str, tuple[float, float]]) -> list[str]:
    """Why a weighting-only estimate (IPW, entropy balancing: no outcome model to correct what its weights leave)
    is at most `weak_overlap`: the scores whose prognostic AUC under that method's weights, ``{score: (AUC,
    SE)}``, is outside the 95% band, |AUC - 0.5| > max(1.96 SE, 0.01). Empty when every score's is inside.

    Why a tighter rule than the refuter's 3 SE: the refuter lowers the whole audit and must not cry wolf; this
    lowers the weighting-only methods alone, whose bias is the imbalance this AUC measures (Hansen 2008), while
    the doubly robust figures, which correct it, keep their verdict. On the semi-synthetic benchmark
    (benchmarks/README.md) IPW's figures printed `identified` covered the truth in 30 of 42 cases where the
    confounder is measured and one curve of it is mis-fit (`a_linear`), against 26 of 28 with this rule; no
    random split of that run was flagged. The band is per score: with k unconfounded, independent scores a
    method is lowered by chance in about 1 - 0.95^k of audits."""
    flagged = {name: (auc, se) for name, (auc, se) in imbalance.items()
               if np.isfinite(auc) and np.isfinite(se) and abs(auc - 0.5) > max(WEIGHTING_Z * se, WEIGHTING_FLOOR)}
    if not flagged:
        return []
    which = ", ".join(f"{name} {auc:.3f} (SE {se:.3f})" for name, (auc, se) in flagged.items())
    return [f"its weights leave the prognostic score m_0(x) out of balance beyond its 95% band "
            f"(|AUC - 0.5| > max({WEIGHTING_Z} SE, {WEIGHTING_FLOOR})): {which}; a weighting-only estimate "
            "carries that imbalance, the doubly robust one corrects it"]
