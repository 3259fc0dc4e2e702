"""Random common cause: does a covariate that is pure noise move the corrected AUC? (docs/refuters.md)

An independent standard normal column is added to the covariates and the propensity refit (fixed tuning, same
folds). A correction resting on stable weights barely moves; one resting on a few extreme weights moves with
every small change of the propensity model.
"""

from __future__ import annotations

import numpy as np

from llm_audit.estimate.metrics import weighted_auc
from llm_audit.estimate.refuters.base import Context, RefuterRow


class RandomCommonCause:
    name = "random_common_cause"
    question = "does adding an independent random covariate leave the corrected AUC in place?"

    def run(self, ctx: Context) -> list[RefuterRow]:
        rows, eta = ctx.population.rows, ctx.options.eta
        t = ctx.data.member[rows]
        w_base = ctx.ipw_weights(np.clip(ctx.refits.baseline[rows], eta, 1 - eta), rows)
        w_noise = ctx.ipw_weights(np.clip(ctx.refits.common_cause[rows], eta, 1 - eta), rows)
        out = []
        for name, s in ctx.data.scores.items():
            change = weighted_auc(s[rows], t, w_noise) - weighted_auc(s[rows], t, w_base)
            se = ctx.se[name]
            passed = abs(change) < se or change == 0
            detail = "" if passed else "the weights are unstable: a covariate that is noise moves the figure"
            out.append(RefuterRow(self.name, self.question, name, "change of the corrected AUC", float(change),
                                  f"|change| < 1 SE = {se:.3f}", passed, detail))
        return out
