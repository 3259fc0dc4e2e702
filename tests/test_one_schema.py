"""One option schema: an audit gives the same tables and estimates through `llm-audit run CONFIG` and through
the step commands given `--config CONFIG`; flags, `--set` and the config file set the same options, errors
name the option as it was given; and a new attack, method and estimand are one object and one registry line
each (issue 12, "How it is checked")."""

from __future__ import annotations

import json
import random

import numpy as np
import pandas as pd
import pytest
import yaml

from llm_audit.cli import main
from scoring_models import pile_texts, save_tiny_model

DOMAINS = ("wikipedia", "github", "pubmed_abstracts")


@pytest.fixture(scope="module")
def audit_inputs(tmp_path_factory):
    """A tiny random GPT-2, a 91-text corpus whose membership leans on the domain (confounded), one text too
    short to score, and a config reading both with a small bootstrap."""
    root = tmp_path_factory.mktemp("schema")
    save_tiny_model(root / "model", "gpt2")
    rng = random.Random(0)
    rows = []
    for d, domain in enumerate(DOMAINS):
        for i, text in enumerate(pile_texts(domain)[:30]):
            rows.append({"id": f"{domain}-{i}", "text": text[:240], "domain": domain,
                         "member": int(rng.random() < (0.65, 0.5, 0.35)[d])})
    rows.append({"id": "short", "text": "a", "domain": "wikipedia", "member": 0})
    with open(root / "corpus.jsonl", "w") as handle:
        handle.writelines(json.dumps(r) + "\n" for r in rows)
    config = {"name": "same", "corpus": {"path": "corpus.jsonl", "empty": "skip"}, "model": {"name": "model"},
              "scoring": {"k": [0.2], "batch_tokens": 2048, "cache": False},
              "covariates": {"tfidf_k": 4, "seed": 3},
              "estimate": {"bootstrap": 30, "folds": 3, "jobs": 1, "seed": 7}}
    (root / "config.yaml").write_text(yaml.safe_dump(config))
    return root


def test_run_and_the_step_commands_give_the_same_audit(audit_inputs, capsys):
    root = audit_inputs
    config = str(root / "config.yaml")
    assert main(["run", config, "--runs-dir", str(root / "runs"), "--no-progress"]) == 0
    steps = root / "steps"
    assert main(["score", "--config", config, "--out", str(steps / "scores.parquet"), "--no-progress"]) == 0
    assert main(["covariates", "--config", config, "--out", str(steps / "covariates.parquet")]) == 0
    assert main(["estimate", "--config", config, "--scores", str(steps / "scores.parquet"), "--covariates",
                 str(steps / "covariates.parquet"), "--out", str(steps / "estimates.json")]) == 0
    assert main(["report", "--config", config, "--estimates", str(steps / "estimates.json")]) == 0
    capsys.readouterr()
    run = root / "runs" / "same"
    for table in ("scores.parquet", "covariates.parquet"):
        pd.testing.assert_frame_equal(pd.read_parquet(steps / table), pd.read_parquet(run / table), check_exact=True)
    assert len(pd.read_parquet(steps / "scores.parquet")) == 90  # the short text left out by both
    by_run = json.loads((run / "estimates.json").read_text())
    by_steps = json.loads((steps / "estimates.json").read_text())
    # Same input tables, same options, same package versions: every value equal, provenance included.
    assert by_steps == by_run
    assert by_run["config"]["seed"] == 7 and by_run["config"]["bootstrap"] == 30
    assert (steps / "report.html").is_file() and (steps / "report.md").is_file()


def test_flags_override_set_which_overrides_the_config_file(tmp_path):
    from llm_audit.simulate import simulate
    from llm_audit.tables import write_table

    scores, covariates = simulate(300, 0.5, 0.3, seed=4)
    write_table(scores, tmp_path / "s.parquet")
    write_table(covariates, tmp_path / "c.parquet")
    (tmp_path / "c.yaml").write_text(yaml.safe_dump({"estimate": {"bootstrap": 22, "folds": 4, "target": "att"}}))
    base = ["estimate", "--scores", str(tmp_path / "s.parquet"), "--covariates", str(tmp_path / "c.parquet"),
            "--config", str(tmp_path / "c.yaml"), "--set", "estimate.bootstrap=21", "--set", "estimate.fpr=0.01,0.1"]
    assert main([*base, "--out", str(tmp_path / "a.json")]) == 0
    a = json.loads((tmp_path / "a.json").read_text())["config"]
    assert (a["bootstrap"], a["folds"], a["target"], a["fpr"]) == (21, 4, "att", [0.01, 0.1])
    assert main([*base, "--bootstrap", "20", "--no-trim", "--out", str(tmp_path / "b.json")]) == 0
    b = json.loads((tmp_path / "b.json").read_text())["config"]
    assert (b["bootstrap"], b["folds"], b["trim"]) == (20, 4, False)


@pytest.mark.parametrize("given, message", [
    (["--batch-tokens", "-4"], "--batch-tokens: must be a positive integer, got -4"),
    (["--set", "scoring.batch_tokens=-4"], "--set scoring.batch_tokens: must be a positive integer, got -4"),
    (["--config", "{cfg}"], "{cfg}: scoring.batch_tokens: must be a positive integer, got -4"),
    (["--batch-tokens", "big"], "--batch-tokens: must be an integer, got 'big'"),
    (["--set", "scoring.batch_size=3"], "--set scoring.batch_size: unknown key (known in scoring: scores, k,"),
    (["--set", "estimate.eta=0.1"], "--set estimate.eta: this command reads the corpus, model, scoring section(s)"),
    (["--k", "0.2,1.5"], "--k[1]: must be in (0, 1], got 1.5"),
    (["--scores", "loss,ref"], "--ref-model: required by the `ref` score (a reference model)"),
    (["--offload-folder", "off"], "--offload-folder: only with --device-map"),
])
def test_score_options_are_refused_naming_the_option_as_given(tmp_path, capsys, given, message):
    """Refused before the corpus or the model is read: the corpus and model named do not exist."""
    cfg = tmp_path / "bad.yaml"
    cfg.write_text(yaml.safe_dump({"scoring": {"batch_tokens": -4}}))
    given = [g.replace("{cfg}", str(cfg)) for g in given]
    out = tmp_path / "s.parquet"
    assert main(["score", "no-corpus.jsonl", "--model", "./no-model", "--out", str(out), *given]) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("llm-audit: error: " + message.replace("{cfg}", str(cfg))), err
    assert "\n" not in err and not out.exists()


def test_run_takes_set_overrides_with_paths_from_the_working_folder(tmp_path, monkeypatch, capsys):
    from llm_audit.cli._options import apply_sets
    from llm_audit.config import load_config

    (tmp_path / "data").mkdir()
    (tmp_path / "data" / "c.jsonl").write_text('{"text": "a b", "member": 1}\n')
    (tmp_path / "cfg").mkdir()
    (tmp_path / "cfg" / "r.yaml").write_text(yaml.safe_dump({"name": "r", "corpus": {"path": "../data/c.jsonl"},
                                                             "model": {"name": "gpt2"}}))
    monkeypatch.chdir(tmp_path)
    config = apply_sets(load_config("cfg/r.yaml", check=False),
                        ["estimate.bootstrap=25", "corpus.path=data/c.jsonl"], "r.yaml")
    assert config.estimate.bootstrap == 25 and config.corpus.path == str((tmp_path / "data" / "c.jsonl").resolve())
    assert main(["run", "cfg/r.yaml", "--set", "estimate.eta=0.7"]) == 2
    assert capsys.readouterr().err.strip() == "llm-audit: error: --set estimate.eta: must be in (0, 0.5), got 0.7"


# --- extensibility: an attack, a method and an estimand added from here -----------------------------------


def median_logp(view, k=None):
    """A toy attack: the median log-probability of the text's scored tokens."""
    return float(np.median(view.main.logp)) if len(view.main.logp) else float("nan")


class CappedIPW:
    """A toy method: IPW with each residual weight capped at 5 before the per-arm normalization."""

    name = "capped_ipw"
    needs_propensity = True

    def fit(self, problem):
        from llm_audit.estimate.methods.weighted import WeightedFit
        from llm_audit.estimate.weights import hajek

        r = problem.estimand.residual_weights(problem.e, problem.member)
        return WeightedFit(problem, hajek(np.minimum(r, 5.0), problem.member))


def _overlap_estimand():
    from llm_audit.estimate.estimands import Estimand

    class Overlap(Estimand):
        """A toy estimand: the overlap population, density e(1-e) (Li, Morgan and Zaslavsky 2018)."""

        name, population = "overlap", "where both groups are found"

        def density(self, e, member):
            return e * (1 - e)

        def residual_weights(self, e, member):
            return np.where(np.asarray(member).astype(bool), 1 - e, e)

    return Overlap()


def test_a_new_attack_method_and_estimand_run_end_to_end_through_config_and_cli(audit_inputs, monkeypatch, capsys):
    from sklearn.metrics import roc_auc_score

    from llm_audit.estimate.estimands import ESTIMANDS
    from llm_audit.estimate.methods import METHODS
    from llm_audit.scoring.attacks import ATTACKS, Attack

    monkeypatch.setitem(ATTACKS, "median_logp", Attack(median_logp))  # one object, one registry line each
    monkeypatch.setitem(METHODS, "capped_ipw", CappedIPW())
    monkeypatch.setitem(ESTIMANDS, "overlap", _overlap_estimand())
    root = audit_inputs
    config = yaml.safe_load((root / "config.yaml").read_text())
    config.update(name="extended")
    config["scoring"]["scores"] = ["loss", "median_logp"]
    config["estimate"].update(methods=["naive", "capped_ipw"], target="overlap")
    (root / "extended.yaml").write_text(yaml.safe_dump(config))
    assert main(["run", str(root / "extended.yaml"), "--runs-dir", str(root / "runs"), "--no-progress"]) == 0
    run = root / "runs" / "extended"
    scores = pd.read_parquet(run / "scores.parquet")
    estimates = json.loads((run / "estimates.json").read_text())
    toy = estimates["scores"]["median_logp"]
    assert set(toy) >= {"naive", "capped_ipw"} and "ipw" not in toy and "dr" not in toy
    assert toy["naive"]["auc"]["value"] == pytest.approx(roc_auc_score(scores["member"], scores["median_logp"]), abs=1e-9)
    assert toy["capped_ipw"]["estimand"] == "overlap" and 0 <= toy["capped_ipw"]["auc"]["value"] <= 1
    assert "capped_ipw" in (run / "report.md").read_text() and "median_logp" in (run / "report.md").read_text()
    # the step command takes the new names as flags too
    out = root / "extended-cli.json"
    assert main(["estimate", "--scores", str(run / "scores.parquet"), "--covariates", str(run / "covariates.parquet"),
                 "--methods", "naive,capped_ipw", "--target", "overlap", "--bootstrap", "0", "--out", str(out)]) == 0
    assert json.loads(out.read_text())["scores"]["loss"]["capped_ipw"]["estimand"] == "overlap"
    capsys.readouterr()
