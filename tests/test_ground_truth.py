"""The ground-truth benchmark at its smallest size: the ordering that must hold, and deterministic training.

The harness lives in ``benchmarks/`` (not the package), so it runs as a user runs it: a subprocess from the
repository root. At the small size it reads the Pile subset the package ships, so it needs nothing outside
the repository (the environment variable LLM_AUDIT_PILE_DOMAINS is cleared for these runs).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]


def _harness(*args: str, cwd: Path = REPO) -> subprocess.CompletedProcess:
    env = dict(os.environ, PYTHONPATH=str(REPO))
    env.pop("LLM_AUDIT_PILE_DOMAINS", None)
    return subprocess.run([sys.executable, "-m", "benchmarks.ground_truth", *args], cwd=cwd, env=env,
                          capture_output=True, text=True, timeout=900)


@pytest.fixture(scope="module")
def small_results(tmp_path_factory) -> dict:
    cache = tmp_path_factory.mktemp("ground_truth")
    # The README's command, quiet and with its cache in a temporary folder.
    done = _harness("--small", "--threads", "1", "--quiet", "--cache-dir", str(cache))
    assert done.returncode == 0, done.stderr[-3000:]
    assert "**AUC**" in done.stdout
    (folder,) = cache.iterdir()
    return json.loads((folder / "results.json").read_text())


@pytest.mark.slow
def test_dr_is_closer_to_the_truth_than_naive_at_the_strongest_confounding(small_results):
    strongest = max(small_results["zero_run"], key=float)
    zero = small_results["zero_run"][strongest]
    # At 240 units the strongest confounding may leave too few effective non-members, or covariates the weights
    # cannot balance: the tool must then refuse the full-population figure (null) and report what it can, under
    # its own name: the overlap population, or the overlap-weighted estimand (ato).
    verdict = zero["diagnostics"]["verdict"]
    for score in ("loss", "mink_0.2"):
        truth = small_results["truth"]["scores"][score]["causal"]["auc"]["value"]
        naive = zero["scores"][score]["naive"]["auc"]["value"]
        results = zero["scores"][score]
        if verdict == "not_identified":
            assert results["dr"]["auc"]["value"] is None
        printed = [k for k in ("dr", "dr_overlap", "dr_ato") if (results.get(k) or {}).get("auc", {}).get("value") is not None]
        dr = results[printed[0]]["auc"]["value"]
        # 240 units and 4 runs: the truth itself is known to about +-0.05, so only a clear ordering is asked.
        assert abs(naive - truth) > abs(dr - truth) + 0.03, (score, verdict, truth, naive, dr)
    truth = small_results["truth"]["scores"]["loss"]["causal"]["auc"]["value"]
    assert abs(zero["scores"]["loss"]["naive"]["auc"]["value"] - truth) > 0.08


@pytest.mark.slow
def test_every_regime_is_reported(small_results):
    assert small_results["truth"]["regime"] == "multi-run"
    assert small_results["truth"]["diagnostics"]["counts"]["runs"] == small_results["size"]["runs"]
    assert any("no interference" in a for a in small_results["one_run"]["assumptions"])
    assert set(small_results["zero_run"]) == {format(a, "g") for a in small_results["size"]["strengths"]}
    # a = 0 is a randomized split: every method's AUC interval should hold the multi-run truth.
    truth = small_results["truth"]["scores"]["loss"]["causal"]["auc"]["value"]
    lo, hi = small_results["zero_run"]["0"]["scores"]["loss"]["naive"]["auc"]["ci"]
    assert lo - 0.05 <= truth <= hi + 0.05


def test_a_size_larger_than_the_shipped_subset_asks_for_the_full_data(tmp_path):
    done = _harness("--size", "medium", "--cache-dir", str(tmp_path))
    assert done.returncode == 2, done.stderr[-3000:]
    message = done.stderr.strip()
    assert "pile_subset.jsonl.gz: 160 documents per domain; size medium needs 600" in message, message
    assert "LLM_AUDIT_PILE_DOMAINS" in message and "\n" not in message and not list(tmp_path.iterdir())


def test_fine_tuning_is_deterministic_given_the_seed(tmp_path):
    """Same seed, same texts, same base model: the same scores to the last bit (CPU)."""
    code = f"""
import sys, torch
import pandas as pd
from pathlib import Path
from benchmarks.ground_truth import models
from benchmarks.ground_truth.sizes import SIZES
from dataclasses import replace
from llm_audit.training import build_model, train_bpe_tokenizer

torch.set_num_threads(1)
texts = [f"text number {{i}}: the quick brown fox jumps over the lazy dog {{i * 7}} times." for i in range(40)]
size = replace(SIZES["small"], vocab_size=300, finetune_steps=8, batch_size=4, seq_len=32)
tok = train_bpe_tokenizer(texts, 300)
model = build_model(tok, n_layer=1, d_model=32, n_head=2, context=64, seed=0)
base = Path({str(tmp_path)!r}) / "base"
model.save_pretrained(base); tok.save_pretrained(base)
pool = pd.DataFrame({{"id": [str(i) for i in range(10)], "text": texts[:10]}})
a = models.finetune_and_score(base, texts[:20], pool, size, seed=3)
b = models.finetune_and_score(base, texts[:20], pool, size, seed=3)
c = models.finetune_and_score(base, texts[:20], pool, size, seed=4)
assert a.equals(b), "same seed, different scores"
assert not a["loss"].equals(c["loss"]), "the seed changes nothing"
print("ok")
"""
    done = subprocess.run([sys.executable, "-c", code], cwd=REPO, env=dict(os.environ, PYTHONPATH=str(REPO)),
                          capture_output=True, text=True, timeout=300)
    assert done.returncode == 0 and done.stdout.strip() == "ok", done.stderr[-3000:]


def test_readme_section_is_replaced_in_place_and_other_sections_kept(tmp_path):
    sys.path.insert(0, str(REPO))
    try:
        from benchmarks.ground_truth.table import write_readme_section
    finally:
        sys.path.remove(str(REPO))
    readme = tmp_path / "README.md"
    readme.write_text("# Benchmarks\n\n## Scoring throughput\n\nfigures\n")
    write_readme_section(readme, "first table")
    write_readme_section(readme, "second table")
    text = readme.read_text()
    assert text.count("## Ground truth") == 1 and "second table" in text and "first table" not in text
    assert text.startswith("# Benchmarks\n\n## Scoring throughput\n\nfigures\n")
    readme.write_text("# Benchmarks\n\n## Ground truth\n\nold\n\n## Estimator validity\n\nkept\n")
    write_readme_section(readme, "new")
    assert readme.read_text() == "# Benchmarks\n\n## Ground truth\n\nnew\n\n## Estimator validity\n\nkept\n"
