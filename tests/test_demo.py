"""The offline demo at its reduced size (the same code path as the full one): confounded selection makes the
naive AUC exceed the corrected one, the training creates real memorization, and a second run is cached."""

from __future__ import annotations

import gzip
import json
from pathlib import Path

import numpy as np

from llm_audit.demo import (DATA_FILE, SMALL, confounded_propensity, demo_configs, demo_summary, draw_members,
                            load_demo_corpus, run_demo)


def test_shipped_corpus_is_small_real_and_attributed():
    assert DATA_FILE.stat().st_size <= 5 * 2**20
    with gzip.open(DATA_FILE, "rt", encoding="utf-8") as handle:
        rows = [json.loads(line) for line in handle]
    assert {r["domain"] for r in rows} == {"wikipedia", "github", "pile_cc", "pubmed_abstracts", "hackernews", "stackexchange"}
    assert len({r["id"] for r in rows}) == len(rows)
    readme = (DATA_FILE.parent / "README.md").read_text()
    assert "iamgroot42/mimir" in readme and "MIT License" in readme


def test_tokenizer_texts_are_not_in_the_pool():
    pool, tok = load_demo_corpus(SMALL)
    assert len(pool) == 6 * SMALL.pool_per_domain and len(tok) == 6 * SMALL.tokenizer_per_domain
    assert not set(pool["id"]) & set(tok["id"])


def test_selection_is_confounded_by_domain_and_length():
    pool, _ = load_demo_corpus(SMALL)
    p = confounded_propensity(pool)
    member = draw_members(p, seed=0)
    share = pool.assign(member=member).groupby("domain")["member"].mean()
    assert share["github"] > share["hackernews"] + 0.3
    length = pool["text"].str.len().to_numpy()
    assert length[member == 1].mean() < length[member == 0].mean()
    assert 0.02 < p.min() and p.max() < 0.98  # overlap holds by design: the correction is identified


def test_demo_configs_name_the_files_of_a_relative_cache_folder(tmp_path, monkeypatch):
    """`llm-audit demo --cache-dir .cache/demo`: the folder was joined onto itself (.cache/demo/demo/.cache/...)."""
    monkeypatch.chdir(tmp_path)
    folder = Path(".cache/demo") / SMALL.name
    for arm in ("confounded", "randomized"):
        (folder / f"model-{arm}").mkdir(parents=True)
        (folder / f"pool-{arm}.jsonl").write_text('{"id": "a", "text": "some text", "member": 1}\n')
    confounded, randomized = demo_configs(SMALL, folder, 0.4, seed=0)
    absolute = (tmp_path / folder).resolve()
    assert confounded.corpus.path == str(absolute / "pool-confounded.jsonl")
    assert confounded.model.name == str(absolute / "model-confounded")
    assert randomized.corpus.path == str(absolute / "pool-randomized.jsonl")
    assert confounded.scoring.cache_dir == randomized.scoring.cache_dir == str(absolute / "score_cache")


def test_small_demo_naive_exceeds_corrected_and_is_cached(tmp_path):
    kwargs = dict(small=True, runs_dir=tmp_path / "runs", cache_dir=tmp_path / "cache", truth=False, log=lambda m: None)
    result = run_demo(**kwargs)
    assert result.trained
    est = result.estimates
    for score in ("loss", "mink_0.2"):
        naive = est.value(score, "naive", "auc")
        dr = est.value(score, "dr", "auc")
        assert naive > dr, (score, naive, dr)
    # Members beat non-members of their own domain: the training created memorization, not only a domain gap.
    assert np.mean(list(result.within_domain_auc.values())) > 0.6
    assert (result.run_dir / "report.html").is_file()
    text = demo_summary(result)
    assert "| score | naive AUC | IPW AUC | DR AUC |" in text and "report.html" in text

    steps = json.loads((result.run_dir / "run.json").read_text())["steps"]
    assert steps["score"]["texts_scored"] == 6 * SMALL.pool_per_domain

    again = run_demo(**kwargs)
    assert not again.trained  # the models come from the cache
    assert json.loads((again.run_dir / "run.json").read_text())["steps"] == steps  # every step reused
    assert again.estimates.to_dict() == est.to_dict()


def test_demo_summary_prints_the_distance_to_the_randomized_reference_not_a_claim(tmp_path):
    """The closing lines say what is measured: each figure's distance from the randomized model's AUC (another
    model, so a reference, not the truth), not that the corrected AUC falls within its intervals."""
    from llm_audit.demo import DemoResult
    from llm_audit.estimate import estimate, one_run
    from llm_audit.simulate import simulate

    scores, covariates = simulate(400, 1.0, 0.5, seed=1)
    confounded = estimate(scores, covariates, n_bootstrap=0, folds=2, seed=0)
    reference_scores, _ = simulate(400, 0.0, 0.3, seed=2)
    randomized = one_run(reference_scores, p=0.5, n_bootstrap=0)
    result = DemoResult(run_dir=tmp_path, truth_run_dir=None, estimates=confounded, truth_estimates=randomized,
                        within_domain_auc={}, trained=False, seconds=1.0)
    text = demo_summary(result)
    naive = confounded.value("score", "naive", "auc")
    dr = confounded.value("score", "dr", "auc")
    ref = randomized.value("score", "causal", "auc")
    row = next(line for line in text.splitlines() if line.startswith("| score |") and "%" not in line
               and line.count("|") == 7 and "naive - randomized" not in line)
    assert row.endswith(f"| {naive - ref:+.3f} | {dr - ref:+.3f} |"), row
    assert (f"mean |AUC - reference| over 1 score(s) is {abs(naive - ref):.3f} naive and {abs(dr - ref):.3f} DR; "
            f"DR is the closer on {int(abs(dr - ref) < abs(naive - ref))} of 1") in text
    assert "not the truth" in text and "within the intervals" not in text
