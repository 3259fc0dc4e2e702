"""DC-PDD (Zhang et al. 2024): token probabilities calibrated by the tokens' frequency in a reference corpus."""

from __future__ import annotations

import math

import numpy as np

from llm_audit.scoring.attacks.base import AttackInput
from llm_audit.scoring.frequencies import TokenFrequencies


def dcpdd(view: AttackInput, k: float | None = None) -> float:
    """Mean over the first occurrence of each scored token of min(p(x_i) * log(1 / f(x_i)), a), f the
    smoothed token frequency in the reference corpus (``view.side["dcpdd_reference"]``), a its clip.

    Sign: the authors' code (zhang-wei-chao/DC-PDD, com_det_sco.py) stores -mean(...) and ranks with
    roc_curve(label, -score), i.e. members have the larger mean; kept un-negated so higher = member."""
    reference: TokenFrequencies = view.side["dcpdd_reference"]
    ids = view.ids
    if not len(ids):
        return math.nan
    _, first = np.unique(ids, return_index=True)
    calibrated = np.exp(view.main.logp[first]) * reference.log_inverse[ids[first]]
    return float(np.mean(np.minimum(calibrated, reference.clip)))
