"""What the score columns of one zero-run audit share, and how they share the cores.

Every score is estimated on the same resampling counts (drawn once: drawing them again per score was a
fifth of an 8-score audit's time). The scores
run side by side, one per worker (``llm_audit.parallel``): as many workers as there are scores, up to the
cores, and fewer when their doubly robust terms would not fit in memory together; the cores left over go to
the stages inside each score (its outcome fits and bootstrap chunks).
"""

from __future__ import annotations

from llm_audit.estimate.bootstrap import ResamplingCounts
from llm_audit.estimate.design import AuditData
from llm_audit.estimate.options import EstimateConfig
from llm_audit.parallel import plan

# Peak bytes per unit and grid threshold of one score's doubly robust stage: its float32 outcome curves per arm
# and score indicator (12), and the temporaries of building and summing them (about 12).
DR_BYTES_PER_CELL = 24
SCORES_MEMORY = 2 * 2**30  # what the scores estimated side by side may hold together


class SharedStages:
    """The resampling counts and the layout of one audit's score stage."""

    def __init__(self, data: AuditData, opts: EstimateConfig, bootstrap_seed: int):
        n = len(data.member)
        self.resampling = ResamplingCounts(data.member, opts.bootstrap, bootstrap_seed, jobs=opts.jobs,
                                           groups=data.groups)
        self.max_score_workers = max(1, SCORES_MEMORY // (n * opts.grid_size * DR_BYTES_PER_CELL))
        self.jobs_per_score = plan(opts.jobs, len(data.scores), max_workers=self.max_score_workers).threads
