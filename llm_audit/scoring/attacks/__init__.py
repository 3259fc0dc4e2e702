"""The membership-inference attacks (docs/method.md §8): a registry of reductions over named passes.

Every attack is one function ``fn(view: AttackInput, k: float | None) -> float`` of one text's per-token
statistics (higher = more likely member), registered in ``ATTACKS`` with the passes it reads, whether it takes
the k grid and the side data it reads. The passes (``PASSES``) are forward passes over each text:

- ``main``: the text under the audited model;
- ``lowercased``: the lowercased text under the audited model;
- ``reference``: the text under the reference model (its own tokenizer);
- ``prefixed``: ReCaLL's non-member prefix, then the text, under the audited model.

The runner computes the union of the passes the chosen attacks read, each once per text. This package
imports no torch: the config validates score names against it.

Adding an attack: one module here with its function, one line in ``ATTACKS``, and its golden test; the
common tests (tests/test_attacks_registry.py) then run over it.
"""

from __future__ import annotations

from typing import Collection, NamedTuple, Sequence

from llm_audit.errors import AuditError
from llm_audit.scoring.attacks.base import Attack, AttackInput
from llm_audit.scoring.attacks.dcpdd import dcpdd
from llm_audit.scoring.attacks.loss import loss
from llm_audit.scoring.attacks.lowercase import lowercase
from llm_audit.scoring.attacks.mink import mink
from llm_audit.scoring.attacks.minkpp import minkpp
from llm_audit.scoring.attacks.recall import recall
from llm_audit.scoring.attacks.ref import ref
from llm_audit.scoring.attacks.zlib_ratio import zlib_ratio


class SideData(NamedTuple):
    """Data an attack needs besides the audited model, and the option that supplies it (for error messages)."""

    what: str
    config_key: str  # under `scoring.`

    @property
    def flag(self) -> str:
        """The command-line flag of the option, as the scoring section declares it."""
        import dataclasses

        from llm_audit.schema import flag_of
        from llm_audit.scoring.options import ScoringConfig

        return flag_of(next(f for f in dataclasses.fields(ScoringConfig) if f.name == self.config_key))


SIDE_DATA: dict[str, SideData] = {  # keyed by the keyword of ``score_corpus`` that takes it
    "reference": SideData("a reference model", "reference_model"),
    "recall_prefix": SideData("known non-member prefix texts", "recall_prefix"),
    "dcpdd_reference": SideData("a reference corpus for token frequencies", "dcpdd_reference"),
}

PASSES: dict[str, tuple[str, ...]] = {  # pass -> the side data it needs
    "main": (),
    "lowercased": (),
    "reference": ("reference",),
    "prefixed": ("recall_prefix",),
}

ATTACKS: dict[str, Attack] = {  # in the order of the scores table's columns
    "loss": Attack(loss, units="nats per token (mean log-probability)"),
    "zlib": Attack(zlib_ratio, units="nats per token per byte of zlib-compressed text"),
    "mink": Attack(mink, uses_k=True, units="nats per token (mean log-probability of the k least likely tokens)"),
    "minkpp": Attack(minkpp, uses_k=True, units="standard deviations of the next-token log-probability"),
    "dcpdd": Attack(dcpdd, needs=("dcpdd_reference",), units="probability x log inverse frequency, per token"),
    "lowercase": Attack(lowercase, passes=("main", "lowercased"),
                        units="a ratio of two mean log-probabilities (unitless)"),
    "ref": Attack(ref, passes=("main", "reference"), units="nats per token (target minus reference log-probability)"),
    "recall": Attack(recall, passes=("main", "prefixed"), units="a ratio of two mean log-likelihoods (unitless)"),
}

DEFAULT_SCORES = ("loss", "zlib", "mink", "minkpp")
DEFAULT_K = (0.1, 0.2, 0.5)


def requirements(name: str) -> tuple[str, ...]:
    """The side data attack ``name`` needs: its passes' and its own."""
    attack = ATTACKS[name]
    return tuple(dict.fromkeys([*(need for p in attack.passes for need in PASSES[p]), *attack.needs]))


def unknown_message(name: str) -> str:
    return f"unknown score {name!r} (known: {', '.join(ATTACKS)})"


def missing_message(name: str, supplied: Collection[str]) -> str | None:
    """Why attack ``name`` cannot run with the ``supplied`` side data, or None when it can."""
    for need in requirements(name):
        if need not in supplied:
            side = SIDE_DATA[need]
            return f"{name!r} needs {side.what} ({side.flag} / scoring.{side.config_key})"
    return None


def choose(scores: Sequence[str] | None, supplied: Collection[str]) -> list[str]:
    """The attacks to compute, in registry order: ``scores`` (None: ``DEFAULT_SCORES``) plus every attack
    whose side data is all ``supplied`` (given a reference model, ``ref`` is computed). Refuses an unknown
    name and a named attack whose side data is missing, in one line naming the option that supplies it."""
    named = list(DEFAULT_SCORES if scores is None else scores)
    for name in named:
        if name not in ATTACKS:
            raise AuditError(f"scores: {unknown_message(name)}")
        problem = missing_message(name, supplied)
        if problem:
            raise AuditError(f"scores: {problem}")
    implied = [n for n in ATTACKS if requirements(n) and set(requirements(n)) <= set(supplied)]
    chosen = [n for n in ATTACKS if n in named or n in implied]
    if not chosen:
        raise AuditError(f"scores: none chosen (known: {', '.join(ATTACKS)})")
    return chosen


def available(supplied: Collection[str]) -> list[str]:
    """Every attack computable with the ``supplied`` side data, in registry order."""
    return [n for n in ATTACKS if missing_message(n, supplied) is None]


def columns(name: str, k_grid: Sequence[float]) -> dict[str, float | None]:
    """Column name -> k of attack ``name`` in the scores table (``mink_0.2``; k is None without a grid)."""
    if not ATTACKS[name].uses_k:
        return {name: None}
    return {f"{name}_{format(k, 'g')}": k for k in k_grid}


def score_units(column: str) -> str | None:
    """The units of a scores-table column (``loss``, ``mink_0.2``), or None for a column no attack names."""
    if column in ATTACKS:
        return ATTACKS[column].units or None
    name, _, k = column.rpartition("_")
    attack = ATTACKS.get(name)
    return attack.units or None if attack is not None and attack.uses_k else None


__all__ = ["ATTACKS", "Attack", "AttackInput", "DEFAULT_K", "DEFAULT_SCORES", "PASSES", "SIDE_DATA", "SideData",
           "available", "choose", "columns", "missing_message", "requirements", "score_units", "unknown_message"]
