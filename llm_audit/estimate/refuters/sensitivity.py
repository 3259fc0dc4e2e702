"""Sensitivity: how strong would an unmeasured confounder have to be to explain the corrected AUC away, beside
how strong the strongest measured one is (docs/refuters.md, "Sensitivity"). Reported, not pass/fail.

Gamma is the factor by which each unit's propensity odds may be off (``estimate.sensitivity``). The observed
benchmark: the covariate with the largest |SMD| before weighting is left out, the propensity refit (fixed
tuning), and Gamma_observed is the 95th percentile over units of the factor by which that moves their odds. A
corrected AUC whose Gamma to reach 0.5 exceeds Gamma_observed survives an unmeasured confounder as strong as
that covariate (Cinelli and Hazlett 2020 make the same comparison for regression; Rosenbaum 2002, Ch. 4).
"""

from __future__ import annotations

import numpy as np

from llm_audit.estimate.refuters.base import Context, RefuterRow
from llm_audit.estimate.sensitivity import ConfoundingBounds, sensitivity_gamma
from llm_audit.parallel import parallel_map

QUANTILE = 0.95


class Sensitivity:
    name = "sensitivity"
    question = "how strong an unmeasured confounder (odds factor Gamma) would bring the corrected AUC to 0.5?"

    def run(self, ctx: Context) -> list[RefuterRow]:
        rows, gmax = ctx.population.rows, ctx.options.gamma_max
        t, e = ctx.data.member[rows], ctx.nuisance.overlap.e[rows]
        strongest, observed = observed_gamma(ctx)

        def searches(name: str) -> tuple[float | None, float | None]:
            s = ctx.data.scores[name][rows]
            bounds = ConfoundingBounds(s, t, e, ctx.estimand)  # one sort of the arms for both searches
            return (sensitivity_gamma(s, t, e, ctx.estimand, 0.5, gmax, bounds=bounds),
                    sensitivity_gamma(s, t, e, ctx.estimand, ctx.naive_auc[name], gmax, bounds=bounds))

        # scores side by side on threads: the searches are numpy passes over the arms (about 1 s a score at
        # 100,000 units); each score's result is the same on any number of them
        found = parallel_map(searches, list(ctx.data.scores), jobs=ctx.options.jobs)
        out = []
        for name, (to_chance, to_naive) in zip(ctx.data.scores, found):
            parts = [f"Gamma to reach the naive AUC: {_g(to_naive, gmax)}"]
            if to_chance is None:  # no number to print as the statistic: say so first
                parts.insert(0, f"Gamma to reach AUC 0.5: {_g(to_chance, gmax)}")
            if strongest is not None:
                parts.append(f"leaving out the strongest observed covariate '{strongest}' moves the propensity odds "
                             f"by Gamma = {observed:.2f} ({QUANTILE:.0%} of units less)")
            row = RefuterRow(self.name, self.question, name, "Gamma to reach AUC 0.5", to_chance,
                             "reported, not pass/fail", None, "; ".join(parts))
            row.values = {"gamma_to_chance": to_chance, "gamma_to_naive": to_naive, "gamma_max": gmax,
                          "gamma_observed": observed, "strongest_covariate": strongest}
            out.append(row)
        return out


def _g(g: float | None, gmax: float) -> str:
    return f"> {gmax:g}" if g is None else f"{g:.2f}"


def observed_gamma(ctx: Context) -> tuple[str | None, float | None]:
    """The covariate with the largest |SMD| before weighting, and the Gamma that leaving it out implies."""
    cov = ctx.data.covariates
    if cov.shape[1] == 0:
        return None, None
    smd = {name: abs(c["before"]) for name, c in ctx.nuisance.balance.columns.items() if c["before"] is not None}
    by_column = {c: max([v for name, v in smd.items() if name == c or name.startswith(f"{c}=")], default=0.0)
                 for c in map(str, cov.columns)}
    strongest = max(by_column, key=by_column.get)
    rows, eta = ctx.population.rows, ctx.options.eta

    def logit(p: np.ndarray) -> np.ndarray:
        p = np.clip(p, eta, 1 - eta)
        return np.log(p / (1 - p))

    shift = np.abs(logit(ctx.refits.without(strongest)[rows]) - logit(ctx.refits.baseline[rows]))
    return strongest, float(np.exp(np.quantile(shift, QUANTILE)))
