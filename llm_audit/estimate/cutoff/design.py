"""Is membership a matter of date? Detecting the cutoff design and its cutoff d0 (docs/cutoff.md).

Benchmarks built "before / after the training cutoff" (WikiMIA, temporal arXiv, State of the Union) have
members dated before a date d0 and non-members dated on or after it. Such a corpus has no overlap on the
date by construction, and the analysis that fits it is a regression discontinuity at d0
(``llm_audit.estimate.cutoff``). Convention throughout: the members' side is D < d0, the non-members'
side D >= d0, dates are fractional years (2019-07-02 -> 2019.50).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any

import numpy as np
import pandas as pd

from llm_audit.covariates.date import parse_date
from llm_audit.errors import AuditError

# A corpus is called a cutoff design when at most this share of its dated texts sits on the wrong side
# of d0 (a member dated on or after it, or a non-member before it).
MAX_VIOLATION = 0.05


def as_years(dates: Any, name: str = "date") -> np.ndarray:
    """Fractional years from float years, datetimes, ISO strings (or a mix); NaN where a date is missing.

    Raises AuditError naming the first row that is present but is not a date.
    """
    values = pd.Series(dates)
    if pd.api.types.is_numeric_dtype(values) and not pd.api.types.is_bool_dtype(values):
        return values.to_numpy(dtype=float)
    out = np.empty(len(values))
    for row, value in enumerate(values):
        try:
            year = parse_date(value)
        except ValueError:
            raise AuditError(f"{name}: row {row + 1}: cannot read {value!r} as a date") from None
        out[row] = np.nan if year is None else year
    return out


@dataclass(frozen=True)
class CutoffDesign:
    """How well "member = dated before d0" describes the corpus.

    ``violation_share``: the share of dated texts on the wrong side of d0; ``gap``: the latest date before
    d0 and the earliest on or after it (a wide gap means both sides' limits at d0 are extrapolations).
    """

    d0: float
    d0_source: str  # "given" (the model's data cutoff) or "detected"
    is_cutoff: bool
    violation_share: float
    n_members_after: int
    n_nonmembers_before: int
    n_member_side: int
    n_nonmember_side: int
    n_undated: int
    gap: tuple[float | None, float | None]
    max_violation: float

    def to_dict(self) -> dict:
        out = asdict(self)
        out["gap"] = list(self.gap)
        return out

    def describe(self) -> str:
        """One line for a report."""
        verdict = "a cutoff design" if self.is_cutoff else "not a cutoff design"
        return (f"{verdict}: members dated before {self.d0:.2f} ({self.d0_source}); "
                f"{self.violation_share:.1%} of the dated texts are on the wrong side "
                f"({self.n_members_after} members on or after d0, {self.n_nonmembers_before} non-members before)")


def detect_d0(dates: np.ndarray, member: np.ndarray) -> float:
    """The cutoff that misclassifies the fewest texts under "member iff D < d0".

    Candidates are the gaps between consecutive distinct dates; the first best gap is taken and d0 is
    put at its midpoint (the dates alone cannot place it more precisely inside the gap).
    """
    d = np.asarray(dates, dtype=float)
    t = np.asarray(member).astype(bool)
    distinct, inverse = np.unique(d, return_inverse=True)
    if len(distinct) < 2:
        raise AuditError("cutoff: every dated text has the same date; no cutoff can separate the arms")
    members_at = np.bincount(inverse, weights=t, minlength=len(distinct))
    nonmembers_at = np.bincount(inverse, weights=~t, minlength=len(distinct))
    # A cutoff just above distinct[k] puts dates 0..k on the members' side (k = 0..m-2, both sides non-empty).
    nonmembers_before = np.cumsum(nonmembers_at)[:-1]
    members_after = t.sum() - np.cumsum(members_at)[:-1]
    k = int(np.argmin(nonmembers_before + members_after))
    return float((distinct[k] + distinct[k + 1]) / 2.0)


def detect_design(dates: Any, member: Any, d0: Any = None, *, max_violation: float = MAX_VIOLATION) -> CutoffDesign:
    """Describe the corpus as a cutoff design at ``d0`` (given as a year or a date), or at the detected d0.

    Undated texts (NaN) are counted and left out. Raises AuditError when fewer than two texts are dated
    or one arm has no dated text.
    """
    d = as_years(dates)
    t = np.asarray(member).astype(bool)
    if len(d) != len(t):
        raise AuditError(f"cutoff: {len(d)} dates for {len(t)} membership labels")
    if not 0 <= max_violation < 0.5:
        raise AuditError(f"cutoff: max_violation must be in [0, 0.5), got {max_violation}")
    dated = np.isfinite(d)
    d, t = d[dated], t[dated]
    if t.all() or not t.any():
        raise AuditError("cutoff: the dated texts are all members or all non-members")
    if d0 is None:
        cut, source = detect_d0(d, t), "detected"
    else:
        cut = as_years([d0], name="cutoff")[0]
        if not np.isfinite(cut):
            raise AuditError(f"cutoff: cannot read {d0!r} as a date")
        source = "given"
    before = d < cut
    n_members_after = int(np.sum(t & ~before))
    n_nonmembers_before = int(np.sum(~t & before))
    share = (n_members_after + n_nonmembers_before) / len(d)
    return CutoffDesign(
        d0=float(cut), d0_source=source,
        is_cutoff=bool(share <= max_violation and before.any() and (~before).any()),
        violation_share=float(share), n_members_after=n_members_after, n_nonmembers_before=n_nonmembers_before,
        n_member_side=int(before.sum()), n_nonmember_side=int((~before).sum()), n_undated=int((~dated).sum()),
        gap=(float(d[before].max()) if before.any() else None, float(d[~before].min()) if (~before).any() else None),
        max_violation=float(max_violation),
    )
