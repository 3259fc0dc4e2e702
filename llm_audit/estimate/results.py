"""One result type for every regime: ``Value`` (a number with its interval) inside ``Estimates``.

``estimates.json`` is ``Estimates.to_json()``; the report reads nothing else. Layout (schema 2)::

    {"schema_version": 2, "regime": "zero-run" | "one-run" | "multi-run" | ...,
     "scores": {score: {key: Result}},            # key: "naive", "ipw", "dr", "ipw_overlap", "causal", ...
     "curves": {score: {key: {"fpr": [...], "tpr": [...]}}},
     "diagnostics": {...}, "config": {...}, "provenance": {...}, "assumptions": [...], "notes": [...]}

A ``Result`` is one method's figures for one score: ``method``, ``estimand`` (whose covariate law the
figures average over; null for the naive contrast), ``population`` (``all``, ``trimmed`` or ``overlap``) and
the metrics ``auc``, ``tpr_at_fpr`` (keyed by the FPR target, e.g. ``"0.01"``), ``advantage``, ``mean_diff``,
each a ``Value``: ``{"value", "ci", "se", "n_eff", "flags", "ci_method", "band"}``. ``band`` is the figure read
off a simultaneous band (for TPR@FPR: the ROC band at that FPR), beside the pointwise ``ci``.

Zero-run result keys: the method name (``naive``, ``ipw``, ``dr``, ``ebal``, ``dr_ebal``), then ``_<estimand>``
when the estimand is not the configured target (``ipw_ato``, ``dr_ato``: overlap weights, always computed beside
the target), then ``_overlap`` when the target is not identified on all units and the figures are those of the
units with propensity in [eta, 1-eta] (``dr_overlap``). The ``method``, ``estimand`` and ``population`` fields
say the same in words: read them rather than parse the key. ``curves[score][key]`` holds the ROC points and,
where intervals were computed, ``bands``: the sup-t bands of the ROC (on an FPR grid) and of F_0 and F_1 (on
the threshold grid).
"""

from __future__ import annotations

import copy
import json
import math
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from llm_audit.errors import AuditError, plain
from llm_audit.tables import atomic_write_text

SCHEMA_VERSION = 2
METRICS = ("auc", "tpr_at_fpr", "advantage", "mean_diff")
UNRELIABLE = "unreliable"  # flag of a TPR resting on fewer than MIN_NONMEMBERS_ABOVE effective non-members
ASSUMPTIONS = [
    "A1 no interference: a unit's score depends only on its own membership",
    "A2 unconfoundedness: potential scores independent of membership given the covariates (untestable; see sensitivity)",
    "A3 overlap: every unit could have been a member or not (see the overlap verdict)",
]


@dataclass
class Value:
    """A point estimate with its 95% interval; ``se`` where a standard error is known, ``n_eff`` the effective
    number of units it rests on where that matters (TPR@FPR: non-members above the threshold), ``flags`` such
    as ``unreliable``."""

    value: float | None
    ci: list[float] | None = None
    se: float | None = None
    n_eff: float | None = None
    flags: list[str] = field(default_factory=list)
    ci_method: str | None = None
    band: list[float] | None = None  # the figure read off a simultaneous (sup-t) band, where one was computed

    def to_dict(self) -> dict[str, Any]:
        return {"value": self.value, "ci": self.ci, "se": self.se, "n_eff": self.n_eff, "flags": list(self.flags),
                "ci_method": self.ci_method, "band": self.band}

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> "Value":
        return cls(d.get("value"), d.get("ci"), d.get("se"), d.get("n_eff"), list(d.get("flags") or []), d.get("ci_method"),
                   d.get("band"))

    @property
    def unreliable(self) -> bool:
        return UNRELIABLE in self.flags


NULL = Value(None)


@dataclass
class Result:
    """One method's metrics for one score."""

    method: str
    estimand: str | None
    population: str
    auc: Value
    tpr_at_fpr: dict[str, Value]
    advantage: Value
    mean_diff: Value

    def to_dict(self) -> dict[str, Any]:
        return {
            "method": self.method, "estimand": self.estimand, "population": self.population,
            "auc": self.auc.to_dict(), "tpr_at_fpr": {k: v.to_dict() for k, v in self.tpr_at_fpr.items()},
            "advantage": self.advantage.to_dict(), "mean_diff": self.mean_diff.to_dict(),
        }

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> "Result":
        return cls(d["method"], d.get("estimand"), d.get("population", "all"), Value.from_dict(d["auc"]),
                   {k: Value.from_dict(v) for k, v in d["tpr_at_fpr"].items()},
                   Value.from_dict(d["advantage"]), Value.from_dict(d["mean_diff"]))

    @classmethod
    def null(cls, method: str, estimand: str | None, fpr_keys: list[str], population: str = "all") -> "Result":
        """A withheld result (not identified): every value null."""
        return cls(method, estimand, population, Value(None), {k: Value(None, flags=[UNRELIABLE]) for k in fpr_keys},
                   Value(None), Value(None))


def fpr_key(a: float) -> str:
    """The JSON key of an FPR target: 0.01 -> '0.01'."""
    return format(float(a), "g")


def round_floats(obj: Any, digits: int = 10) -> Any:
    """Floats to ``digits`` significant digits (NaN/inf to null): the same seed gives the same bytes even where
    the last bits of a floating sum depend on the BLAS build."""
    if isinstance(obj, float):
        return float(f"{obj:.{digits}g}") if math.isfinite(obj) else None
    if isinstance(obj, dict):
        return {str(k): round_floats(v, digits) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [round_floats(v, digits) for v in obj]
    held = plain(obj)  # a numpy scalar as its Python value
    return round_floats(held, digits) if held is not obj else obj


class Estimates:
    """The estimates of one audit, of any regime: results per score and method, curves, diagnostics, the
    config and provenance they came from, and the assumptions they rest on."""

    def __init__(self, data: dict[str, Any]):
        self._data = round_floats(data)
        # per-unit tables some regimes produce (multi-run's tau_i): written beside the JSON, not in it
        self.tables: dict[str, Any] = {}

    @classmethod
    def build(
        cls, *, regime: str, results: dict[str, dict[str, Result]], diagnostics: dict[str, Any], config: dict[str, Any],
        curves: dict[str, Any] | None = None, provenance: dict[str, Any] | None = None,
        assumptions: list[str] | None = None, notes: list[str] | None = None,
    ) -> "Estimates":
        return cls({
            "schema_version": SCHEMA_VERSION, "regime": regime,
            "scores": {s: {k: r.to_dict() for k, r in per.items()} for s, per in results.items()},
            "curves": curves or {}, "diagnostics": diagnostics, "config": config, "provenance": provenance or {},
            "assumptions": list(assumptions or []), "notes": list(notes or []),
        })

    # --- serialization -----------------------------------------------------------------------------------------

    def to_dict(self) -> dict[str, Any]:
        """The estimates.json content (a deep copy)."""
        return copy.deepcopy(self._data)

    def to_json(self) -> str:
        return json.dumps(self._data, sort_keys=True, indent=1, allow_nan=False) + "\n"

    @classmethod
    def from_json(cls, text: str, source: str = "estimates") -> "Estimates":
        try:
            data = json.loads(text)
        except json.JSONDecodeError as exc:
            raise AuditError(f"{source}: not valid JSON ({exc.msg})") from None
        return cls.from_dict(data, source)

    @classmethod
    def from_dict(cls, data: Any, source: str = "estimates") -> "Estimates":
        if not isinstance(data, dict) or not isinstance(data.get("scores"), dict) or not data["scores"]:
            raise AuditError(f"{source}: no 'scores' object: not an llm-audit estimates.json")
        version = data.get("schema_version")
        if version != SCHEMA_VERSION:
            raise AuditError(f"{source}: estimates schema version {version!r}, this llm-audit reads version "
                             f"{SCHEMA_VERSION}: re-run `llm-audit estimate`")
        return cls(data)

    @classmethod
    def load(cls, path: str | os.PathLike) -> "Estimates":
        path = Path(path)
        if not path.is_file():
            raise AuditError(f"{path}: no such file")
        try:
            text = path.read_text(encoding="utf-8")
        except UnicodeDecodeError:
            raise AuditError(f"{path}: not valid UTF-8") from None
        return cls.from_json(text, str(path))

    def save(self, path: str | os.PathLike, *, overwrite: bool = True) -> None:
        atomic_write_text(path, self.to_json(), overwrite=overwrite)

    # --- access --------------------------------------------------------------------------------------------------

    @property
    def regime(self) -> str:
        return self._data["regime"]

    @property
    def verdict(self) -> str | None:
        return self._data["diagnostics"].get("verdict")

    @property
    def score_names(self) -> list[str]:
        return list(self._data["scores"])

    @property
    def notes(self) -> list[str]:
        return self._data["notes"]

    def add_note(self, note: str) -> None:
        self._data["notes"].append(note)

    def results(self, score: str) -> dict[str, Result]:
        return {k: Result.from_dict(v) for k, v in self._data["scores"][score].items()}

    def value(self, score: str, method: str, metric: str, fpr: float | None = None) -> float | None:
        """e.g. ``value("loss", "ipw", "auc")`` or ``value("loss", "dr", "tpr_at_fpr", 0.01)``; None when the
        method has no result for this score or withheld it."""
        entry = self._entry(score, method, metric, fpr)
        return None if entry is None else entry["value"]

    def interval(self, score: str, method: str, metric: str, fpr: float | None = None) -> list | None:
        entry = self._entry(score, method, metric, fpr)
        return None if entry is None else entry["ci"]

    def flagged(self, score: str, method: str, metric: str, fpr: float | None = None) -> bool:
        """Whether the figure is printed flagged ``unreliable`` (see ``UNRELIABLE``)."""
        entry = self._entry(score, method, metric, fpr)
        return entry is not None and UNRELIABLE in (entry.get("flags") or [])

    def _entry(self, score: str, method: str, metric: str, fpr: float | None) -> dict | None:
        block = self._data["scores"][score].get(method)
        if block is None:
            return None
        entry = block[metric]
        return entry[fpr_key(fpr)] if metric == "tpr_at_fpr" else entry

    def summary(self) -> str:
        """A plain-text table, one row per score and method, then the verdict and notes."""
        from llm_audit.estimate.summary_text import summary_text

        return summary_text(self._data)
