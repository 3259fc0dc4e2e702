"""The value-with-interval figures a report prints and the tests against chance behind them (plain data read
from the estimates; nothing here computes a statistic)."""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any


@dataclass
class Figure:
    """One metric value with its 95% interval (either may be missing) and whether it can be trusted."""

    value: float | None
    ci: tuple[float, float] | None = None
    reliable: bool = True
    missing: str = "n/a"  # what to print when there is no value (e.g. "not identified")
    band: tuple[float, float] | None = None  # the figure read off a simultaneous band, where there is one

    @classmethod
    def of(cls, entry: Any) -> "Figure":
        if entry is None:
            return cls(None)
        if isinstance(entry, (int, float)):
            return cls(finite(entry))
        ci, band = entry.get("ci"), entry.get("band")
        ci_pair = (float(ci[0]), float(ci[1])) if ci and None not in ci[:2] else None
        band_pair = (float(band[0]), float(band[1])) if band and None not in band[:2] else None
        return cls(finite(entry.get("value")), ci_pair, "unreliable" not in entry.get("flags", []), band=band_pair)

    def band_text(self, digits: int = 3) -> str:
        """The simultaneous band as ``[lo, hi]``, or an empty string without one."""
        return "" if self.band is None or self.value is None else f"[{self.band[0]:.{digits}f}, {self.band[1]:.{digits}f}]"

    def text(self, digits: int = 3, *, with_ci: bool = True) -> str:
        if self.value is None:
            return self.missing
        out = f"{self.value:.{digits}f}"
        if with_ci and self.ci is not None:
            out += f" [{self.ci[0]:.{digits}f}, {self.ci[1]:.{digits}f}]"
        if not self.reliable:
            out += "*"
        return out


@dataclass
class ChanceTest:
    """An AUC against 0.5: z, the one-score p-value, the family-adjusted one and the simultaneous interval."""

    z: float
    p: float
    p_adjusted: float
    ci: tuple[float, float] | None
    floor: float | None = None  # the smallest adjusted p the bootstrap can give, 1 / (B + 1) (max-t only)

    def p_text(self, adjusted: bool = True) -> str:
        p = self.p_adjusted if adjusted else self.p
        if adjusted and self.floor is not None and p <= self.floor * (1 + 1e-9):
            return f"<= {self.floor:.2g}"
        return "< 0.001" if p < 0.001 else f"{p:.3f}"

    def text(self) -> str:
        return f"z {self.z:.1f}, adj. p {self.p_text()} (one score: p {self.p_text(False)})"


@dataclass
class Family:
    """The family statement of one result key across the scores (``diagnostics.inference``)."""

    key: str
    adjustment: str  # "max-t" or "bonferroni"
    critical_value: float
    bonferroni: float  # Bonferroni's critical value for the same family
    level: float
    n_bootstrap: int
    tests: dict[str, ChanceTest]


def finite(value: Any) -> float | None:
    try:
        x = float(value)
    except (TypeError, ValueError):
        return None
    return x if math.isfinite(x) else None
