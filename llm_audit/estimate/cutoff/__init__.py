"""The cutoff design (docs/cutoff.md): when membership is a date, memorization at the cutoff d0 by a regression
discontinuity, with its checks. ``analyse_cutoff`` is the whole analysis of a scored, dated corpus."""

from llm_audit.estimate.cutoff.analysis import CutoffResult, analyse_cutoff
from llm_audit.estimate.cutoff.design import CutoffDesign, detect_design

__all__ = ["CutoffDesign", "CutoffResult", "analyse_cutoff", "detect_design"]
