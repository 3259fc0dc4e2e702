"""Estimands: whose covariate law a corrected figure averages over (the target population).

An estimand is a target density h(x) relative to the corpus and the residual weights r that carry each arm to
it (docs/method.md, "Target populations"). With e = e(x) the propensity:

| estimand | population | h | r (members) | r (non-members) |
|---|---|---|---|---|
| ate | all units | 1 | 1/e | 1/(1-e) |
| att | members' covariates | T | 1 | e/(1-e) |
| atc | non-members' covariates | 1-T | (1-e)/e | 1 |
| ato | overlap population, density prop. to e(1-e) | e(1-e) | 1-e | e |

r weights the IPW contrast (Hajek-normalized within each arm) and the residual term of the doubly robust
estimator; h weights its outcome-model term. ``weight_bounds`` gives the range of r when each unit's
propensity odds may be off by a factor in [1/Gamma, Gamma] (the sensitivity analysis).

``ato`` (overlap weights, Li, Morgan and Zaslavsky 2018) averages over the units whose membership is most
uncertain: it is defined wherever the arms overlap at all, its weights are bounded by 1, so it needs no clipping
(``needs_clipping``), and it is the number shown first when ``ate`` is not identified. Entropy balancing has no
ATO form (``balanceable``): its target is a mean of the design columns, and the overlap population's mean is
itself a function of the propensity.

To add an estimand: one ``Estimand`` subclass below (or in its own file) and one line in ``ESTIMANDS``.
"""

from __future__ import annotations

import numpy as np


class Estimand:
    """Base class: subclasses set ``name`` and ``population`` and define ``density`` and ``residual_weights``."""

    name: str = ""
    population: str = ""
    label: str = ""  # a short name for report labels (empty: the population)
    needs_clipping: bool = True  # r divides by e or 1-e: the propensity is clipped to [eta, 1-eta] first
    balanceable: bool = True  # entropy balancing can target this population (a mean of the design columns)

    def density(self, e: np.ndarray, member: np.ndarray) -> np.ndarray:
        """h_i, each unit's weight in the target population (its empirical counterpart), shape (n,)."""
        raise NotImplementedError

    def residual_weights(self, e: np.ndarray, member: np.ndarray) -> np.ndarray:
        """r_i, the density ratio from unit i's arm to the target population, shape (n,)."""
        raise NotImplementedError

    def weight_bounds(self, e: np.ndarray, member: np.ndarray, gamma: float) -> tuple[np.ndarray, np.ndarray]:
        """Range of r_i when the propensity odds e/(1-e) may be off by a factor in [1/gamma, gamma]: the box
        the sensitivity analysis searches. The default follows from ``residual_weights`` evaluated at the two
        extreme odds; r is monotone in the odds for every estimand here."""
        odds = e / (1 - e)
        lo_e, hi_e = odds / gamma, odds * gamma
        a = self.residual_weights(lo_e / (1 + lo_e), member)
        b = self.residual_weights(hi_e / (1 + hi_e), member)
        return np.minimum(a, b), np.maximum(a, b)


class ATE(Estimand):
    name, population = "ate", "all units"

    def density(self, e, member):
        return np.ones(len(member))

    def residual_weights(self, e, member):
        t = np.asarray(member).astype(bool)
        return np.where(t, 1.0 / e, 1.0 / (1.0 - e))


class ATT(Estimand):
    name, population = "att", "members' covariates"

    def density(self, e, member):
        return np.asarray(member).astype(float)

    def residual_weights(self, e, member):
        t = np.asarray(member).astype(bool)
        return np.where(t, 1.0, e / (1.0 - e))


class ATC(Estimand):
    name, population = "atc", "non-members' covariates"

    def density(self, e, member):
        return 1.0 - np.asarray(member).astype(float)

    def residual_weights(self, e, member):
        t = np.asarray(member).astype(bool)
        return np.where(t, (1.0 - e) / e, 1.0)


class ATO(Estimand):
    """Overlap weights (Li, Morgan, Zaslavsky 2018): target density e(1-e), residual weights 1-e (members) and
    e (non-members), both in [0, 1]."""

    name, population, label = "ato", "overlap population (density prop. to e(1-e))", "overlap weights"
    needs_clipping, balanceable = False, False

    def density(self, e, member):
        return e * (1.0 - e)

    def residual_weights(self, e, member):
        t = np.asarray(member).astype(bool)
        return np.where(t, 1.0 - e, e)


ESTIMANDS: dict[str, Estimand] = {e.name: e for e in (ATE(), ATT(), ATC(), ATO())}


def get_estimand(name: str) -> Estimand:
    """The registered estimand ``name``; ValueError for an unknown one (options are validated before this)."""
    try:
        return ESTIMANDS[name]
    except KeyError:
        raise ValueError(f"estimand must be one of {', '.join(ESTIMANDS)}, got {name!r}") from None
