"""Placebo membership: do the weights balance the propensity itself? (docs/refuters.md, "Placebo membership")

Each score is permuted within strata of the propensity (20 draws): such a score depends on the covariates only
through its stratum and carries no memorization, so its corrected AUC is 0.5 when the weights give both arms the
same law of the propensity. Clipped or mis-calibrated propensities leave the strata unequally weighted and the
placebo away from 0.5.
"""

from __future__ import annotations

from llm_audit.estimate import diagnostics as dg
from llm_audit.estimate.refuters.base import Context, RefuterRow
from llm_audit.parallel import parallel_map

FLOOR = 0.03


class PlaceboMembership:
    name = "placebo_membership"
    question = "does a score permuted within propensity strata (no memorization) come out at 0.5 after weighting?"

    def run(self, ctx: Context) -> list[RefuterRow]:
        rows = ctx.population.rows
        t = ctx.data.member[rows]
        tol = dg.placebo_tolerance(t, ctx.weights, floor=FLOOR)
        e_raw = ctx.nuisance.e_raw[rows]
        names = list(ctx.data.scores)
        aucs = parallel_map(lambda name: dg.placebo_auc(ctx.data.scores[name][rows], t, e_raw, ctx.weights,
                                                        ctx.seeds("placebo", name)), names, jobs=ctx.options.jobs)
        out = []
        for name, auc in zip(names, aucs):  # scores side by side on threads (each with its own seed)
            passed = abs(auc - 0.5) <= tol
            detail = "" if passed else "the weights leave the propensity strata unequally weighted (clipping or a mis-calibrated propensity)"
            out.append(RefuterRow(self.name, self.question, name, "corrected AUC of the permuted score", auc,
                                  f"|AUC - 0.5| <= max(3 null SE, {FLOOR}) = {tol:.3f}", passed, detail))
        return out
