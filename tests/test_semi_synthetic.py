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


@pytest.mark.slow  # the Pile covariates and text features (about a minute), then one estimate
def test_a_pronoun_rate_selection_fails_the_negative_control(pile):
    """Membership by the rate of first-person pronouns, a trait of the words no covariate holds (family b of
    issue 13). Before the style block (rates of the most frequent words) the control's corrected AUC was 0.49
    on this dataset and the placebo, 0.19 off its truth, was printed `identified`."""
    est, known = _estimate("b_style", 2, pile)
    assert known["oracle_auc"] > 0.9 and est["scores"]["placebo"]["naive"]["auc"]["value"] > 0.75
    control = next(r for r in est["diagnostics"]["refuters"] if r["refuter"] == "negative_control")
    assert control["passed"] is False and control["value"] > 0.6
    assert est["diagnostics"]["verdict"] != "identified"
    assert any("confounding visible in the text" in r for r in est["diagnostics"]["verdict_reasons"])
