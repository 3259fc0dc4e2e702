"""Refuters with pass rules, one file each, registered by name (docs/refuters.md).

A refuter is an object with ``name``, ``question`` and ``run(context) -> list[RefuterRow]`` (see ``base.py``). To add
one: a file in this package and one line in ``REFUTERS``; its rows then appear in ``estimates.json``
(``diagnostics.refuters``), in both reports and in ``Estimates.summary()``, and a failed row lowers the verdict.
"""

from __future__ import annotations

from llm_audit.estimate.refuters.agreement import MethodAgreement
from llm_audit.estimate.refuters.base import Context, Refuter, RefuterRow
from llm_audit.estimate.refuters.common_cause import RandomCommonCause
from llm_audit.estimate.refuters.negative_control import NegativeControl
from llm_audit.estimate.refuters.placebo import PlaceboMembership
from llm_audit.estimate.refuters.prognostic import PrognosticBalance
from llm_audit.estimate.refuters.refits import Refits
from llm_audit.estimate.refuters.sensitivity import Sensitivity
from llm_audit.estimate.refuters.subsets import SubsetStability

REFUTERS: dict[str, Refuter] = {r.name: r for r in (
    PlaceboMembership(), NegativeControl(), PrognosticBalance(), MethodAgreement(), RandomCommonCause(),
    SubsetStability(), Sensitivity())}


def run_refuters(ctx: Context) -> list[RefuterRow]:
    """Every registered refuter's rows, in registry order."""
    return [row for refuter in REFUTERS.values() for row in refuter.run(ctx)]


def failure_reasons(rows: list[RefuterRow]) -> list[str]:
    """One reason per failed refuter, naming the scores it failed on and the first failure's numbers."""
    reasons = []
    for name in dict.fromkeys(r.refuter for r in rows):
        failed = [r for r in rows if r.refuter == name and r.passed is False]
        if not failed:
            continue
        first = failed[0]
        scores = [r.score for r in failed if r.score is not None]
        where = f" for {', '.join(scores)}" if scores else ""
        reasons.append(f"refuter {name} failed{where}: {first.statistic}"
                       + (f" ({first.score})" if len(scores) > 1 else "") + f", rule {first.rule}"
                       + (f"; {first.detail}" if first.detail else ""))
    return reasons


__all__ = ["REFUTERS", "Context", "Refits", "RefuterRow", "failure_reasons", "run_refuters"]
