"""Statistical guardrails (issue 7), on the simulator with known truth: the corrected numbers do not
overclaim. A placebo score carries no memorization and must come out at chance; intervals must cover the
causal AUC; thin TPR@FPR figures must be flagged; weak overlap must widen intervals and end in
`not_identified`; the same seed must give the same bytes.

The coverage study at scale (200 datasets) is `benchmarks/guardrails.py`, its figures in
`benchmarks/README.md`; here a reduced version of it guards against a gross failure. Sized for a 2-core CPU:
n = 1000 texts, 200 bootstrap replicates, 2 worker processes each limited to one BLAS thread (more threads
only fight over the cores). The truth comes from ``llm_audit.simulate.true_metrics`` (Monte Carlo on fresh
draws, sklearn's AUC), the expected counts from plain loops here: nothing is taken from the estimator's own
code.
"""

from __future__ import annotations

import json

import numpy as np
import pytest

from llm_audit.estimate import estimate
from llm_audit.simulate import simulate, true_metrics

N = 1000
BOOTSTRAP = 200
CONFOUNDING = 1.0  # a: the naive AUC of the placebo is about 0.71 at this strength
DATASETS = 24
# With intervals of true 95% coverage, fewer than 20 of 24 cover the target with probability 0.7% (binomial).
MIN_COVERED = 20


def _parallel(function, jobs):
    """Run ``function(*job)`` for every job on 2 processes, each with one BLAS thread."""
    from joblib import Parallel, delayed

    def limited(*args):
        from threadpoolctl import threadpool_limits

        with threadpool_limits(1):
            return function(*args)

    return Parallel(n_jobs=2)(delayed(limited)(*job) for job in jobs)


def placebo_column(covariates):
    """A score that is a pure function of the covariates: it cannot carry memorization."""
    return 0.8 * covariates["x1"] + 0.4 * covariates["x2"] + 0.5 * covariates["x3"]


def _auc_intervals(seed: int) -> dict:
    scores, covariates = simulate(N, CONFOUNDING, 0.5, seed=seed)
    scores["placebo"] = placebo_column(covariates)
    # The default DR grid (100 thresholds): on a grid of 10 the DR interval covered only 91-92% here.
    est = estimate(scores, covariates, n_bootstrap=BOOTSTRAP, n_jobs=1, fpr=(0.05,), seed=seed)
    return {(score, method): (est.value(score, method, "auc"), est.interval(score, method, "auc"))
            for score in ("score", "placebo") for method in ("naive", "ipw", "dr")} | {"verdict": est.verdict}


@pytest.fixture(scope="module")
def datasets():
    """24 confounded datasets estimated with the default 5 folds, each with a placebo score."""
    return _parallel(_auc_intervals, [(seed,) for seed in range(DATASETS)])


def _covered(results, key, target) -> int:
    return sum(lo <= target <= hi for r in results for lo, hi in [r[key][1]])


@pytest.mark.parametrize("method", ["ipw", "dr"])
def test_placebo_score_is_at_chance_after_correction(datasets, method):
    assert all(r["verdict"] == "identified" for r in datasets)
    naive = np.array([r[("placebo", "naive")][0] for r in datasets])
    assert naive.min() > 0.65  # the covariate shift alone makes the placebo look like a strong attack
    assert _covered(datasets, ("placebo", "naive"), 0.5) == 0
    assert _covered(datasets, ("placebo", method), 0.5) >= MIN_COVERED


@pytest.mark.parametrize("method", ["ipw", "dr"])
def test_causal_auc_interval_coverage(datasets, method):
    truth = true_metrics(CONFOUNDING, 0.5, n_mc=10**6)["auc"]
    assert _covered(datasets, ("score", "naive"), truth) <= 1  # the naive interval is confounded
    assert _covered(datasets, ("score", method), truth) >= MIN_COVERED


def test_thin_tpr_at_fpr_figures_are_flagged_unreliable_in_json_and_report(tmp_path):
    from llm_audit.report import write_report

    scores, covariates = simulate(600, 0.5, 0.5, seed=3)
    fpr = (0.001, 0.01, 0.02, 0.05)
    estimates = estimate(scores, covariates, n_bootstrap=0, folds=2, fpr=fpr, seed=0)
    est = estimates.to_dict()
    s = scores["score"].to_numpy()
    t = scores["member"].to_numpy()
    nonmembers = np.sort(s[t == 0])[::-1]
    n0 = len(nonmembers)
    for a in fpr:
        # naive rule by hand: the lowest threshold whose share of non-members at or above it is <= a
        above = max((k for k in range(n0 + 1) if k / n0 <= a), default=0)
        entry = est["scores"]["score"]["naive"]["tpr_at_fpr"][format(a, "g")]
        assert entry["n_eff"] == pytest.approx(above)
        assert ("unreliable" in entry["flags"]) is (above < 10)
    flags = {format(a, "g"): "unreliable" in est["scores"]["score"]["naive"]["tpr_at_fpr"][format(a, "g")]["flags"] for a in fpr}
    assert flags["0.001"] and not flags["0.05"]  # both kinds present
    write_report(estimates, tmp_path, formats=["md"])
    md = (tmp_path / "report.md").read_text()
    assert "fewer than 10 (effective) non-members" in md
    # the naive row of the report's table of every estimate; a TPR column resting on less than one non-member
    # text (FPR x non-members < 1) is not shown, and the report says why
    header = next(line for line in md.splitlines() if line.startswith("| score | estimate |")).strip("|").split("|")
    row = next(line for line in md.splitlines() if line.startswith("| score | naive |")).strip("|").split("|")
    shown = {h.strip()[len("TPR@"):]: c.strip() for h, c in zip(header, row) if h.strip().startswith("TPR@")}
    for a in fpr:
        label = f"{a * 100:g}%"
        if a * n0 < 1:
            assert label not in shown and f"TPR@{label} is not shown: with {n0} non-members" in md
        else:
            assert shown[label].endswith("*") is flags[format(a, "g")], (label, shown[label])
    assert any(c.endswith("*") for c in shown.values()) and not all(c.endswith("*") for c in shown.values())


OVERLAP_GRID = (0.0, 1.0, 2.0, 3.0, 4.0, 8.0)
SEEDS = range(8)


def _overlap_point(a: float, seed: int) -> tuple:
    scores, covariates = simulate(N, a, 0.5, seed=seed)
    est = estimate(scores, covariates, n_bootstrap=BOOTSTRAP, n_jobs=1, folds=2, fpr=(0.05,), seed=seed)
    return a, est.verdict, est.interval("score", "ipw", "auc"), est.interval("score", "dr", "auc")


@pytest.fixture(scope="module")
def overlap_grid():
    return _parallel(_overlap_point, [(a, seed) for a in OVERLAP_GRID for seed in SEEDS])


SEVERITY = {"identified": 0, "weak_overlap": 1, "not_identified": 2}


@pytest.mark.slow
def test_weak_overlap_widens_intervals_then_is_not_identified(overlap_grid):
    by_a = {a: [r for r in overlap_grid if r[0] == a] for a in OVERLAP_GRID}
    # Among the intervals printed (beyond 20% clipped units the figure is refused): less overlap, fewer
    # effective units, wider intervals.
    printed = {a: [ci for _, _, ci, _ in by_a[a] if ci is not None] for a in (0.0, 1.0, 2.0)}
    assert all(len(printed[a]) >= len(SEEDS) // 2 for a in printed), {a: len(v) for a, v in printed.items()}
    widths = [np.mean([ci[1] - ci[0] for ci in printed[a]]) for a in (0.0, 1.0, 2.0)]
    assert widths[0] < widths[1] < widths[2]
    severity = [np.mean([SEVERITY[v] for _, v, _, _ in by_a[a]]) for a in OVERLAP_GRID]
    assert all(x <= y for x, y in zip(severity, severity[1:])), severity
    assert severity[0] == 0 and severity[-1] == 2  # identified without confounding, refused when near-separable
    for _, verdict, ipw, dr in by_a[8.0]:
        assert ipw is None and dr is None  # no corrected number is printed


@pytest.mark.slow
def test_a_printed_interval_still_covers_the_truth_under_weak_overlap(overlap_grid):
    """Was a strict xfail: at a = 3-4 (blind AUC 0.91-0.96) printed IPW intervals covered the truth in 40-55% of
    datasets, clipping at eta capping the weights so that the ESS stayed high while the bias grew. More than 20%
    of units clipped now refuses the figure (estimate/verdict.py, docs/refuters.md)."""
    truth = true_metrics(1.0, 0.5, n_mc=10**6)["auc"]  # the ATE target does not depend on a
    for a in OVERLAP_GRID:
        # the IPW intervals printed: the audit's verdict is that of its best method (entropy balancing may keep it
        # at weak_overlap while IPW's own weights are withheld for imbalance, its interval then null)
        printed = [ipw for r_a, verdict, ipw, _ in overlap_grid
                   if r_a == a and verdict != "not_identified" and ipw is not None]
        if printed:
            assert np.mean([lo <= truth <= hi for lo, hi in printed]) >= 0.75, a


@pytest.mark.parametrize("propensity, outcome", [("logistic", "linear"), ("hgb", "hgb")])
def test_same_config_and_seed_give_byte_identical_estimates_json(tmp_path, capsys, propensity, outcome):
    """Through the CLI, with jobs 1 and every core (test_estimate.py checks the Python API): the parallel
    layout (cross-fitting folds, outcome fits, score columns, bootstrap chunks, slices; gradient boosting's
    OpenMP threads) changes no byte. Gradient boosting refits per replicate are slow: 20 replicates there (the
    same code path; at 400 units every replicate falls in one chunk either way)."""
    from llm_audit.cli import main

    scores, covariates = simulate(400, 1.0, 0.5, seed=9)
    scores["score2"] = scores["score"] + np.random.default_rng(0).normal(size=len(scores))  # two score columns
    scores.to_csv(tmp_path / "s.csv", index=False)
    covariates.to_parquet(tmp_path / "c.parquet")
    outputs = []
    for jobs in ("1", "-1"):
        out = tmp_path / f"e{len(outputs)}.json"
        assert main(["estimate", "--scores", str(tmp_path / "s.csv"), "--covariates", str(tmp_path / "c.parquet"),
                     "--out", str(out), "--bootstrap", "100" if propensity == "logistic" else "20", "--folds", "3",
                     "--seed", "7", "--jobs", jobs,
                     "--propensity", propensity, "--outcome", outcome]) == 0
        outputs.append(out.read_bytes())
    assert outputs[0] == outputs[1]
    config = json.loads(outputs[0])["config"]
    assert (config["seed"], config["propensity"], config["outcome"]) == (7, propensity, outcome)
