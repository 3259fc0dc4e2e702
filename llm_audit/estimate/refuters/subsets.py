"""Subset stability: do random halves of the corpus tell the same story? (docs/refuters.md)

The propensity is refit (fixed tuning) within each of 5 random halves (of the documents, when units are chunks)
and the corrected AUC recomputed there. A half-sample estimate differs from the full-sample one by about one
standard error of the full estimate; the root mean square of the 5 differences must stay within the 95%
interval's half-width (1.96 SE). Estimates that hinge on a few heavily weighted units jump between halves.
"""

from __future__ import annotations

import numpy as np

from llm_audit.estimate.metrics import weighted_auc
from llm_audit.estimate.refuters.base import Context, RefuterRow
from llm_audit.estimate.refuters.refits import HALVES

Z95 = 1.959963984540054
FLOOR = 0.005  # an RMS deviation below half a point of AUC never fails (the SE is 0 where a score separates the arms)


class SubsetStability:
    name = "subset_stability"
    question = f"do {HALVES} random halves of the corpus give the same corrected AUC?"

    def run(self, ctx: Context) -> list[RefuterRow]:
        rows, eta, t = ctx.population.rows, ctx.options.eta, ctx.data.member
        halves = ctx.refits.halves
        if isinstance(halves, str):
            return [RefuterRow(self.name, self.question, name, "RMS deviation of the halves", None, "", None,
                               "not run: " + halves) for name in ctx.data.scores]
        w_full = ctx.ipw_weights(np.clip(ctx.refits.baseline[rows], eta, 1 - eta), rows)
        weighted = []
        for half_rows, e_half in halves:
            keep = np.isin(half_rows, rows)
            sub = half_rows[keep]
            if min(int(t[sub].sum()), int(len(sub) - t[sub].sum())) >= 2:
                weighted.append((sub, ctx.ipw_weights(np.clip(e_half[keep], eta, 1 - eta), sub)))
        out = []
        for name, s in ctx.data.scores.items():
            full = weighted_auc(s[rows], t[rows], w_full)
            dev = [weighted_auc(s[sub], t[sub], w) - full for sub, w in weighted]
            rms = float(np.sqrt(np.mean(np.square(dev)))) if dev else None
            limit = max(Z95 * ctx.se[name], FLOOR) if np.isfinite(ctx.se[name]) else np.nan
            passed = None if rms is None or not np.isfinite(limit) else bool(rms <= limit)
            detail = "" if passed is not False else "the figure hinges on a few heavily weighted units"
            if rms is None:
                detail = "not run: no half holds both arms"
            rule = "" if rms is None else f"RMS <= max(95% half-width 1.96 SE, {FLOOR}) = {limit:.3f}"
            out.append(RefuterRow(self.name, self.question, name, "RMS deviation of the halves", rms, rule, passed,
                                  detail))
        return out
