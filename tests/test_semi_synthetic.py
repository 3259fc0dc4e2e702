"""The semi-synthetic validation (benchmarks/semi_synthetic.py) at test size: real Pile texts and covariates,
membership drawn from a known propensity. A random split passes every refuter and prints `identified`; a
U-shaped selection on length, which the logistic propensity cannot fit, is not printed `identified` (the
balance rule's weighted KS sees it). The full tables are in benchmarks/README.md."""

from __future__ import annotations

import pytest

from benchmarks import semi_synthetic as ss


@pytest.fixture(scope="module")
def pile(tmp_path_factory):
    return ss.load_corpora(tmp_path_factory.mktemp("semi"), {"pile"})["pile"]


def _estimate(setting, seed, corpus):
    from llm_audit.estimate import estimate

    scores, cov, known = ss.draw(setting, seed, corpus)
    return estimate(scores, cov, n_bootstrap=50, n_jobs=1, seed=seed, fpr=(0.05,)).to_dict(), known


@pytest.mark.slow  # the Pile covariates and text features (about a minute), then two estimates
def test_a_random_split_passes_every_refuter_and_a_u_shaped_selection_is_not_printed_identified(pile):
    null, _ = _estimate("null_pile", 0, pile)
    assert null["diagnostics"]["verdict"] == "identified"
    assert ss.refuters_pass(null)
    assert {r["refuter"] for r in null["diagnostics"]["refuters"]} >= {"negative_control", "placebo_membership"}
    assert abs(null["diagnostics"]["blind_text_auc"] - 0.5) < 0.06

    shaped, known = _estimate("a_nonlinear", 0, pile)
    # the naive placebo is far from its truth of 0.5 ...
    assert known["oracle_auc"] > 0.65 and abs(shaped["scores"]["placebo"]["naive"]["auc"]["value"] - 0.5) > 0.1
    # ... and the figure corrected with a propensity that misses the selection is not vouched for
    assert shaped["diagnostics"]["verdict"] != "identified"
    assert any("out of balance" in r for r in shaped["diagnostics"]["verdict_reasons"])
