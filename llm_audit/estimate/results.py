"""The ``Estimates`` object: every value beside its interval and the assumptions it rests on, and the
estimates.json it becomes (the contract with the report step)."""

from __future__ import annotations

import copy
import json
import math
import os
from typing import Any

from llm_audit.tables import atomic_write_text

SCHEMA_VERSION = "1.0"
METHODS = ("naive", "ipw", "dr", "ipw_overlap", "dr_overlap")
ASSUMPTIONS = [
    "A1 no interference: a unit's score depends only on its own membership",
    "A2 unconfoundedness: potential scores independent of membership given the covariates (untestable; see sensitivity)",
    "A3 overlap: every unit could have been a member or not (see the overlap verdict)",
]


def _round(obj: Any, digits: int = 10) -> Any:
    """Floats to ``digits`` significant digits (NaN/inf to null): the same seed gives the same bytes
    even where the last bits of a floating sum depend on the BLAS build."""
    if isinstance(obj, float):
        return float(f"{obj:.{digits}g}") if math.isfinite(obj) else None
    if isinstance(obj, dict):
        return {str(k): _round(v, digits) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [_round(v, digits) for v in obj]
    return obj


class Estimates:
    """Naive and corrected memorization metrics for every score, with intervals and diagnostics."""

    def __init__(self, data: dict):
        self._data = _round(data)

    def to_dict(self) -> dict:
        """The estimates.json content (a deep copy)."""
        return copy.deepcopy(self._data)

    def to_json(self) -> str:
        return json.dumps(self._data, sort_keys=True, indent=1, allow_nan=False) + "\n"

    def save(self, path: str | os.PathLike, *, overwrite: bool = True) -> None:
        atomic_write_text(path, self.to_json(), overwrite=overwrite)

    @property
    def verdict(self) -> str:
        return self._data["diagnostics"]["verdict"]

    @property
    def score_names(self) -> list[str]:
        return list(self._data["scores"])

    def value(self, score: str, method: str, metric: str, fpr: float | None = None) -> float | None:
        """e.g. ``value("loss", "ipw", "auc")`` or ``value("loss", "dr", "tpr_at_fpr", 0.01)``."""
        entry = self._entry(score, method, metric, fpr)
        return None if entry is None else entry["value"]

    def interval(self, score: str, method: str, metric: str, fpr: float | None = None) -> list | None:
        entry = self._entry(score, method, metric, fpr)
        return None if entry is None else entry["ci"]

    def _entry(self, score, method, metric, fpr):
        block = self._data["scores"][score].get(method)
        if block is None:
            return None
        entry = block[metric]
        return entry[format(fpr, "g")] if metric == "tpr_at_fpr" else entry

    def summary(self) -> str:
        """A plain-text table: one row per score and method."""
        d = self._data
        diag = d["diagnostics"]
        fprs = [format(a, "g") for a in d["config"]["fpr"]]
        head = ["score", "method", "AUC [95% CI]"] + [f"TPR@{a}" for a in fprs] + ["advantage", "mean diff"]
        rows = []
        for name, per in d["scores"].items():
            for method in METHODS:
                m = per.get(method)
                if m is None:
                    continue
                cells = [name, method, _fmt(m["auc"])]
                for a in fprs:
                    tp = m["tpr_at_fpr"][a]
                    cells.append(_fmt(tp, short=True) + ("*" if tp.get("unreliable") else ""))
                cells += [_fmt(m["advantage"], short=True), _fmt(m["mean_diff"], short=True)]
                rows.append(cells)
        widths = [max(len(r[i]) for r in [head] + rows) for i in range(len(head))]
        lines = ["  ".join(c.ljust(w) for c, w in zip(r, widths)).rstrip() for r in [head] + rows]
        ess = diag["ess"]
        lines += ["", f"n = {diag['n']['member']} members, {diag['n']['nonmember']} non-members; target {d['config']['target']}"]
        if diag["blind_auc"] is not None:  # null when an arm was too small to fit a propensity
            lines.append(f"blind-baseline AUC {diag['blind_auc']:.3f}; TV bound on |naive - causal AUC| {diag['tv_bound']:.3f}")
        lines.append((f"ESS members {ess['member']:.1f}, non-members {ess['nonmember']:.1f}; " if ess else "")
                     + f"verdict: {diag['verdict']}")
        lines += [f"  - {r}" for r in diag["verdict_reasons"]]
        if any(m is not None and any(v.get("unreliable") for v in m["tpr_at_fpr"].values())
               for per in d["scores"].values() for k, m in per.items() if k in METHODS):
            lines.append("* fewer than 10 effective non-members above the threshold: unreliable")
        lines += [f"note: {n}" for n in diag["notes"]]
        return "\n".join(lines)


def _fmt(entry: dict, short: bool = False) -> str:
    v, ci = entry.get("value"), entry.get("ci")
    if v is None:
        return "null"
    if short or ci is None:
        return f"{v:.3f}"
    return f"{v:.3f} [{ci[0]:.3f}, {ci[1]:.3f}]"
