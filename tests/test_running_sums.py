"""The running sums behind every weighted ROC replicate: torch's loop must give numpy's sums bit for bit, so an
estimate's bytes do not depend on which of the two ran (llm_audit/estimate/running_sums.py)."""

import numpy as np
import pytest

from llm_audit.estimate import running_sums
from llm_audit.estimate.bootstrap import stratified_counts
from llm_audit.estimate.methods.base import Problem
from llm_audit.estimate.methods.weighted import WeightedFit
from llm_audit.estimate.running_sums import cumsum_rows


@pytest.mark.parametrize("order", ["C", "F"])
def test_torch_running_sums_equal_numpy_bit_for_bit(order):
    rng = np.random.default_rng(0)
    x = np.asarray(rng.poisson(1.0, (8, 60_000)) * rng.lognormal(size=60_000), order=order)  # 480,000 cells
    assert x.size >= running_sums.TORCH_FROM  # the torch path
    curve = np.empty((8, x.shape[1] + 1))
    curve[:, 0] = 0.0
    out = cumsum_rows(x, curve[:, 1:])
    assert out.base is curve and np.array_equal(curve[:, 1:], np.cumsum(x, axis=1))
    same = x.copy(order=order)
    assert np.array_equal(cumsum_rows(same, same), np.cumsum(x, axis=1))  # in place


def test_small_or_float32_arrays_use_numpy():
    x = np.arange(12, dtype=np.float32).reshape(3, 4)
    assert np.array_equal(cumsum_rows(x, np.empty_like(x)), np.cumsum(x, axis=1))


@pytest.mark.parametrize("ties", [False, True])
def test_weighted_replicates_do_not_depend_on_the_running_sums_path(monkeypatch, ties):
    rng = np.random.default_rng(5)
    n = 3_000
    s = rng.normal(size=n)
    s = np.round(s, 1) if ties else s
    t = rng.integers(0, 2, n)
    w = rng.uniform(0.5, 2.0, n)
    grid = np.quantile(s, np.linspace(0.02, 0.98, 15))
    problem = Problem(s, t, (0.01, 0.1), None, grid=grid, fpr_grid=np.linspace(0.01, 1, 9))
    counts = stratified_counts(t, 24, rng).astype(np.int8)
    runs = {}
    for threshold in (10**9, 1):  # numpy's accumulate everywhere, then torch's everywhere
        monkeypatch.setattr(running_sums, "TORCH_FROM", threshold)
        runs[threshold] = WeightedFit(problem, w).replicates(counts)
    a, b = runs.values()
    for key in ("auc", "advantage", "mean_diff", "f0", "f1", "roc"):
        assert np.array_equal(a[key], b[key]), key
    for level in (0.01, 0.1):
        assert np.array_equal(a["tpr_at_fpr"][level], b["tpr_at_fpr"][level])
