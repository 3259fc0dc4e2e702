"""The parallel layout (llm_audit/parallel.py): workers x threads never exceeds the cores, and every worker's
native thread pools are limited to its share."""

import os

import numpy as np
import pytest
import sklearn.ensemble  # noqa: F401  (loads scikit-learn's OpenMP runtime before any limit is set, as the estimator does)
from threadpoolctl import threadpool_info

from llm_audit.parallel import Layout, parallel_map, plan, thread_cap, total_threads, usable_cores


def test_jobs_are_capped_at_the_cores_and_follow_joblibs_negative_convention():
    assert total_threads(-1, cores=8) == 8
    assert total_threads(-2, cores=8) == 7
    assert total_threads(-20, cores=8) == 1
    assert total_threads(3, cores=8) == 3
    assert total_threads(16, cores=8) == 8
    with pytest.raises(ValueError, match="jobs"):
        total_threads(0, cores=8)


@pytest.mark.parametrize("jobs, tasks, max_workers, expected", [
    (-1, 5, None, Layout(5, 1)),  # 8 cores, 5 folds: one fold per worker, 3 cores idle rather than oversubscribed
    (-1, 1, None, Layout(1, 8)),  # one task: all cores as its threads
    (-1, 3, None, Layout(3, 2)),
    (-1, 100, None, Layout(8, 1)),
    (-1, 8, 2, Layout(2, 4)),  # memory allows two workers: the others' cores become threads
    (4, 100, None, Layout(4, 1)),
    (1, 100, None, Layout(1, 1)),
    (-1, None, None, Layout(8, 1)),
])
def test_plan_never_uses_more_than_the_cores(monkeypatch, jobs, tasks, max_workers, expected):
    monkeypatch.delenv("OMP_NUM_THREADS", raising=False)
    layout = plan(jobs, tasks, max_workers=max_workers, cores=8)
    assert layout == expected
    assert layout.workers * layout.threads <= 8


def test_an_openmp_limit_set_in_the_environment_caps_the_threads_not_the_workers(monkeypatch):
    monkeypatch.setenv("OMP_NUM_THREADS", "2,1")
    assert plan(-1, 1, cores=8) == Layout(1, 2)
    assert plan(-1, 4, cores=8) == Layout(4, 2)
    assert plan(-1, 100, cores=8) == Layout(8, 1)
    monkeypatch.setenv("OMP_NUM_THREADS", "")
    assert plan(-1, 1, cores=8) == Layout(1, 8)


def test_usable_cores_follows_the_cpu_limit(monkeypatch):
    monkeypatch.setenv("LOKY_MAX_CPU_COUNT", "1")  # the same path as an affinity mask or a cgroup quota
    assert usable_cores() == 1
    assert plan(-1, 10) == Layout(1, 1)
    monkeypatch.delenv("LOKY_MAX_CPU_COUNT")
    if hasattr(os, "sched_getaffinity"):
        assert usable_cores() <= len(os.sched_getaffinity(0))


def _pools(_):
    """The thread counts a worker sees: OpenMP and BLAS."""
    info = threadpool_info()
    return ({p["num_threads"] for p in info if p["user_api"] == "openmp"},
            {p["num_threads"] for p in info if p["user_api"] == "blas"})


@pytest.mark.parametrize("processes", [False, True])
def test_every_worker_is_limited_to_its_share(processes):
    cores = usable_cores()
    tasks = 2 * cores
    seen = parallel_map(_pools, range(tasks), jobs=-1, processes=processes)
    layout = plan(-1, tasks)
    assert len(seen) == tasks
    for openmp, blas in seen:
        assert openmp == {layout.threads}
        assert blas == {1}
    # a single task gets every core as OpenMP threads (unless OMP_NUM_THREADS says fewer)
    [(openmp, blas)] = parallel_map(_pools, [0], jobs=-1)
    assert openmp == {plan(-1, 1).threads} and blas == {1}
    assert plan(-1, 1).threads == min(cores, thread_cap() or cores)


def test_results_come_back_in_order_whatever_the_workers():
    items = list(range(37))
    for jobs in (1, 2, -1):
        assert parallel_map(lambda i: i * i, items, jobs=jobs) == [i * i for i in items]
    assert np.array_equal(parallel_map(np.sqrt, [4.0, 9.0], jobs=2), [2.0, 3.0])


@pytest.mark.parametrize("model", ["logistic", "hgb"])
def test_propensity_folds_on_worker_processes_give_the_same_propensities(monkeypatch, model):
    """The cross-fitting folds run on worker processes (logistic ones only from PROCESS_FOLDS_FROM units, set to 0
    here): every fold's fit depends on its rows and seed only, so the propensities are equal to the last bit."""
    from llm_audit.estimate import propensity
    from llm_audit.simulate import simulate

    monkeypatch.setattr(propensity, "PROCESS_FOLDS_FROM", 0)
    scores, covariates = simulate(600, 1.0, 0.5, seed=3)
    t = scores["member"].to_numpy()
    x = covariates.drop(columns="id")
    splits = propensity.fold_splits(t, None, 5, seed=0)
    fitted: list = []
    one = propensity.cross_fit_propensity(x, t, splits, model=model, seed=1, jobs=1)
    two = propensity.cross_fit_propensity(x, t, splits, model=model, seed=1, jobs=2, fitted=fitted)
    np.testing.assert_array_equal(one, two)
    assert len(fitted) == 5 and all(hasattr(p, "predict_proba") for p in fitted)


def test_outcome_folds_give_the_same_predictions_on_processes_threads_and_one_core(monkeypatch):
    """The outcome model's folds run on workers from PROCESS_FOLDS_FROM units (set to 0 here): on processes up to
    PROCESS_FOLDS_UP_TO units and on threads above it. Either way, and on one core, every fold's predictions
    are the same to the last bit."""
    from llm_audit.estimate import outcome, propensity
    from llm_audit.simulate import simulate

    scores, covariates = simulate(500, 1.0, 0.5, seed=4)
    t, s = scores["member"].to_numpy(), scores["score"].to_numpy()
    x = covariates.drop(columns="id")
    splits = propensity.fold_splits(t, None, 3, seed=0)
    grid = outcome.threshold_grid(s, 20)
    monkeypatch.setattr(outcome, "PROCESS_FOLDS_FROM", 0)

    def fit(jobs):
        return outcome.fit_outcome(x, t, s, splits, grid, model="auto", seed=2, n_jobs=jobs)

    fits = [fit(1), fit(2)]
    monkeypatch.setattr(outcome, "PROCESS_FOLDS_UP_TO", 0)  # threads from here
    fits.append(fit(2))
    for other in fits[1:]:
        np.testing.assert_array_equal(fits[0].mu[0], other.mu[0])
        np.testing.assert_array_equal(fits[0].mu[1], other.mu[1])
        np.testing.assert_array_equal(fits[0].loc, other.loc)
        assert fits[0].selection == other.selection
