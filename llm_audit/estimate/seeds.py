"""Every random stream of an estimate, derived from the one user seed in one place."""

from __future__ import annotations

import numpy as np


class Seeds:
    """Seeds of the fold split, the nuisance models, and each score's bootstrap and placebo streams."""

    def __init__(self, seed: int, n_scores: int):
        top = np.random.SeedSequence(seed).generate_state(4)
        self.folds, self.propensity, self.outcome = int(top[0]), int(top[1]), int(top[3])
        self._boot = np.random.SeedSequence(int(top[2])).generate_state(3 * n_scores + 1)
        self.placebo = int(self._boot[-1])
        self.slices = int(np.random.SeedSequence(seed).spawn(1)[0].generate_state(1)[0])

    def bootstrap(self, score_index: int, stream: str) -> int:
        """The bootstrap seed of one score's ``naive``, ``corrected`` or ``overlap`` stream."""
        return int(self._boot[3 * score_index + ("naive", "corrected", "overlap").index(stream)])
