"""The cutoff design inside a zero-run audit: a dated corpus split by date gets a `cutoff` result per score (the
jump at d0, the local AUC) and, being not identified corpus-wide, the identified set of the corpus-wide AUC;
a corpus whose membership does not follow the date gets neither."""

import numpy as np
import pandas as pd
from sklearn.metrics import roc_auc_score

from llm_audit.estimate import estimate
from llm_audit.simulate_cutoff import simulate_dated


def _tables(df: pd.DataFrame):
    ids = [f"u{i}" for i in range(len(df))]
    scores = pd.DataFrame({"id": ids, "member": df["member"], "loss": df["score"]})
    covs = pd.DataFrame({"id": ids, "date": df["date"], "length": df["length"]})
    return scores, covs


def test_a_date_split_corpus_gets_the_cutoff_estimate_and_bounds_not_a_corpus_wide_number():
    df = simulate_dated(700, jump=0.5, trend_kind="linear", seed=3)
    est = estimate(*_tables(df), n_bootstrap=100, seed=0, n_jobs=1)
    d = est.to_dict()
    assert d["diagnostics"]["verdict"] == "not_identified"
    cut = d["diagnostics"]["cutoff"]
    assert cut["design"]["is_cutoff"] and cut["design"]["d0_source"] == "detected"
    assert abs(cut["design"]["d0"] - 2010.0) < 0.05
    result = d["scores"]["loss"]["cutoff"]
    assert (result["method"], result["population"]) == ("cutoff", "near d0")
    lo, hi = result["mean_diff"]["ci"]
    assert lo <= 0.5 <= hi  # the simulated jump in the mean at d0 (members' side minus the other)
    assert result["auc"]["value"] is not None
    # corpus-wide: no number, an identified set that holds the truth P(S_i(1) > S_j(0)) over the corpus
    bounds = d["diagnostics"]["per_score"]["loss"]["bounds"]
    n = len(df)
    truth = roc_auc_score(np.r_[np.ones(n), np.zeros(n)], np.r_[df["s1"], df["s0"]])
    assert bounds["value"] is None and bounds["identified_set"][0] <= truth <= bounds["identified_set"][1]
    assert d["scores"]["loss"]["ipw"]["auc"]["value"] is None


def test_a_given_cutoff_is_used_and_a_random_split_says_nothing_about_a_cutoff():
    df = simulate_dated(600, jump=0.0, seed=4)
    est = estimate(*_tables(df), n_bootstrap=0, seed=0, n_jobs=1, cutoff="2010-01-01")
    assert est.to_dict()["diagnostics"]["cutoff"]["design"]["d0_source"] == "given"
    shuffled = df.assign(member=np.random.default_rng(0).permutation(df["member"].to_numpy()))
    est = estimate(*_tables(shuffled), n_bootstrap=0, seed=0, n_jobs=1)
    d = est.to_dict()
    assert d["diagnostics"]["cutoff"] is None and "cutoff" not in d["scores"]["loss"]
    assert "bounds" not in d["diagnostics"]["per_score"]["loss"]  # identified: no identified set needed
