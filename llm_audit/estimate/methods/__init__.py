"""Estimation methods, one file each, registered by name.

A method is an object with ``name``, ``needs_propensity``, ``fit(problem) -> Fit`` and optionally
``supports(estimand)`` (see ``base.py``), ``weights = "propensity"`` when its weights are the propensity's (the
verdict then checks their balance) and ``outcome_model = True`` when an outcome model corrects what they leave
unbalanced (doubly robust; a weighting-only method also answers for the prognostic score's balance). To add
one: a file in this package and one line in ``METHODS``; ``estimate.methods`` in the config then accepts its
name, and every report lists it.
"""

from llm_audit.estimate.methods.base import Fit, Method, Point, Problem
from llm_audit.estimate.methods.dr import DR
from llm_audit.estimate.methods.dr_ebal import DREntropyBalancing
from llm_audit.estimate.methods.ebal import EntropyBalancing
from llm_audit.estimate.methods.ipw import IPW
from llm_audit.estimate.methods.naive import Naive

METHODS: dict[str, Method] = {m.name: m for m in (Naive(), IPW(), DR(), EntropyBalancing(), DREntropyBalancing())}

__all__ = ["METHODS", "Fit", "Method", "Point", "Problem"]
