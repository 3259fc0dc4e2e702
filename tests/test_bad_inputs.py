"""The catalogue of bad inputs (issue 7): each one is refused with ONE line naming the file / row / key,
a non-zero exit, and no output file (nor temporary) left behind; through the CLI and the Python API.

To add a case: write a builder ``def _my_case(tmp) -> Case`` that writes the input under ``tmp`` and
returns the command line, the API call and the message fragment, then list it in ``CASES``. Inputs that
are *handled* rather than refused (skipped empty texts, a tokenizer without a pad token, a constant
covariate...) are at the end of the file, beside the security checks.

Related tests elsewhere: tests/test_corpus.py (every loader format), tests/test_tables.py (atomic writes),
tests/test_estimate_inputs.py (estimator refusals and flags), tests/test_scoring_cli.py (score refusals),
tests/test_config.py (every config key), tests/test_run.py (changed config, run names).
"""

from __future__ import annotations

import errno
import json
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

import numpy as np
import pandas as pd
import pytest
import yaml

from llm_audit.cli import main
from llm_audit.errors import AuditError
from scoring_models import pile_texts, save_tiny_model

TEXTS = ["The cat sat on the mat.", "A dog ran in the park today.", "Rain fell over the quiet town.",
         "She wrote a letter to her friend.", "Stocks rose after the report.", "The river froze in winter."]


@dataclass
class Case:
    argv: list[str]  # the llm-audit command line
    api: Callable[[], Any]  # the same input through the Python API
    fragment: str  # must appear in the one-line message (CLI and API)
    outputs: list[Path] = field(default_factory=list)  # must not exist afterwards
    cli_fragment: str | None = None  # when the CLI message differs from the API one
    cli_defect: str | None = None  # a known defect: the CLI check is an xfail(strict) until it is fixed
    api_defect: str | None = None  # likewise for the API check


# --- input builders ----------------------------------------------------------------------------------


def rows(n: int = 6) -> list[dict]:
    return [{"id": f"r{i}", "text": TEXTS[i % len(TEXTS)] + f" ({i})", "member": i % 2, "year": 1990 + i}
            for i in range(n)]


def write_jsonl(path: Path, records: list[dict]) -> Path:
    path.write_text("".join(json.dumps(r) + "\n" for r in records), encoding="utf-8")
    return path


def out_dir(tmp: Path) -> Path:
    folder = tmp / "out"
    folder.mkdir(exist_ok=True)
    return folder


def covariates_case(tmp: Path, source: Path, fragment: str, **kwargs: Any) -> Case:
    """A corpus input, fed to ``llm-audit covariates`` (no model needed) and to ``load_corpus``."""
    from llm_audit.corpus import load_corpus

    out = out_dir(tmp) / "cov.parquet"
    argv = ["covariates", str(source), "--out", str(out), "--extractors", "lexical"]
    return Case(argv, lambda: load_corpus(source, **kwargs), fragment, [out])


def estimate_tables(n: int = 200, seed: int = 0) -> tuple[pd.DataFrame, pd.DataFrame]:
    rng = np.random.default_rng(seed)
    ids = [f"u{i}" for i in range(n)]
    x = rng.normal(size=n)
    member = (rng.uniform(size=n) < 1 / (1 + np.exp(-x))).astype(int)
    scores = pd.DataFrame({"id": ids, "member": member, "loss": x + member + rng.normal(size=n)})
    covs = pd.DataFrame({"id": ids, "x": x, "domain": np.where(rng.uniform(size=n) < 0.5, "web", "books")})
    return scores, covs


_ESTIMATES: dict[str, Any] = {}


def small_estimates() -> Any:
    """One cheap Estimates object (2 folds, no bootstrap) shared by the report and write-failure cases."""
    from llm_audit.estimate import estimate

    if "e" not in _ESTIMATES:
        _ESTIMATES["e"] = estimate(*estimate_tables(), folds=2, n_bootstrap=0, n_jobs=1)
    return _ESTIMATES["e"]


def estimate_case(tmp: Path, scores: pd.DataFrame, covs: pd.DataFrame, fragment: str) -> Case:
    from llm_audit.estimate import estimate

    s_path, c_path = tmp / "scores.csv", tmp / "covariates.csv"
    scores.to_csv(s_path, index=False)
    covs.to_csv(c_path, index=False)
    out = out_dir(tmp) / "estimates.json"
    argv = ["estimate", "--scores", str(s_path), "--covariates", str(c_path), "--out", str(out), "--bootstrap", "0"]
    # the CLI names the files where the API names the tables
    cli_fragment = (fragment.replace("scores table:", f"{s_path}:").replace("the scores table", str(s_path))
                    .replace("the covariates table", str(c_path)))
    return Case(argv, lambda: estimate(scores, covs, n_bootstrap=0), fragment, [out], cli_fragment=cli_fragment)


_MODEL_DIRS: dict[str, Path] = {}


@pytest.fixture(scope="module", autouse=True)
def _tiny_model(tmp_path_factory):
    _MODEL_DIRS["gpt2"] = save_tiny_model(tmp_path_factory.mktemp("tiny_gpt2"), "gpt2")


def model_dir(_unused: Path | None = None) -> Path:
    """The tiny saved GPT-2 shared by every model case (built once per module)."""
    return _MODEL_DIRS["gpt2"]


def score_case(tmp: Path, model: Path, fragment: str, *extra: str, api: Callable[[], Any] | None = None) -> Case:
    from llm_audit.scoring import load_model

    corpus = write_jsonl(tmp / "corpus.jsonl", rows(4))
    out = out_dir(tmp) / "scores.parquet"
    argv = ["score", str(corpus), "--model", str(model), "--out", str(out), "--cache-dir", str(tmp / "out" / "cache"),
            "--no-progress", *extra]
    return Case(argv, api or (lambda: load_model(model)), fragment, [out, tmp / "out" / "cache"])


def config_case(tmp: Path, config: dict, fragment: str, runs: Path | None = None) -> Case:
    from llm_audit.config import load_config
    from llm_audit.pipeline import run_audit

    write_jsonl(tmp / "corpus.jsonl", rows(6))
    (tmp / "model").mkdir(exist_ok=True)  # never loaded: every refusal comes before the model
    path = tmp / "config.yaml"
    path.write_text(yaml.safe_dump(config), encoding="utf-8")
    runs = runs or out_dir(tmp) / "runs"

    def api() -> Any:
        return run_audit(load_config(path), runs_dir=runs, progress=False)

    return Case(["run", str(path), "--runs-dir", str(runs), "--no-progress"], api, fragment,
                [runs / str(config.get("name", "x"))] if runs.parent.is_dir() else [])


def base_config(**change: Any) -> dict:
    config = {"name": "audit", "corpus": {"path": "corpus.jsonl"}, "model": {"name": "./model"},
              "estimate": {"bootstrap": 0}}
    for key, value in change.items():
        section, _, name = key.partition("__")
        if name:
            config.setdefault(section, {})[name] = value
        else:
            config[section] = value
    return config


# --- the catalogue -----------------------------------------------------------------------------------


def _malformed_jsonl(tmp):
    path = tmp / "c.jsonl"
    path.write_text(json.dumps(rows(1)[0]) + "\n" + '{"id": "x", "text": "unterminated\n', encoding="utf-8")
    return covariates_case(tmp, path, f"{path}: line 2: malformed JSON")


def _ragged_csv(tmp):
    path = tmp / "c.csv"
    path.write_text("id,text,member\na,first text,1\nb,second text,0,surplus\n", encoding="utf-8")
    return covariates_case(tmp, path, f"{path}: malformed CSV (Error tokenizing data. C error: Expected 3 fields in line 3")


def _short_csv_row(tmp):
    path = tmp / "c.csv"
    path.write_text("id,member,text\na,1,first text\nb,0\n", encoding="utf-8")
    return covariates_case(tmp, path, f"{path}: row 2: empty text")  # the missing field reads as ""


def _not_parquet(tmp):
    path = tmp / "c.parquet"
    path.write_text("id,text\na,b\n", encoding="utf-8")
    return covariates_case(tmp, path, f"{path}: not a readable Parquet file")


def _latin1_jsonl(tmp):
    path = tmp / "c.jsonl"
    path.write_bytes(b'{"text": "ok", "member": 1}\n{"text": "caf\xe9", "member": 0}\n')
    return covariates_case(tmp, path, f"{path}: line 2: not valid UTF-8")


def _latin1_csv(tmp):
    path = tmp / "c.csv"
    path.write_bytes(b"text,member\nok,1\nok too,0\ncaf\xe9,1\n")
    return covariates_case(tmp, path, f"{path}: line 4: not valid UTF-8")


def _no_text_column(tmp):
    path = write_jsonl(tmp / "c.jsonl", [{"id": "a", "body": "x", "member": 1}])
    return covariates_case(tmp, path, f"{path}: no 'text' column (columns: id, body, member)")


def _whitespace_text(tmp):
    path = write_jsonl(tmp / "c.jsonl", rows(3) + [{"id": "w", "text": " \n\t ", "member": 1}])
    return covariates_case(tmp, path, f"{path}: row 4: empty text (1 empty in all; skip them with --empty skip / corpus.empty: skip)")


def _member_not_binary(tmp):
    path = write_jsonl(tmp / "c.jsonl", rows(2) + [{"id": "m", "text": "a b c", "member": "maybe"}])
    return covariates_case(tmp, path, f"{path}: row 3: 'member' must be 0/1, true/false, yes/no or member/non-member, got 'maybe'")


def _member_two(tmp):
    path = write_jsonl(tmp / "c.jsonl", rows(2) + [{"id": "m", "text": "a b c", "member": 2}])
    return covariates_case(tmp, path, f"{path}: row 3: 'member' must be 0/1, true/false, yes/no or member/non-member, got 2")


def _same_text_both_labels(tmp):
    path = write_jsonl(tmp / "c.jsonl", rows(3) + [{"id": "copy", "text": rows(3)[1]["text"], "member": 1 - rows(3)[1]["member"]}])
    return covariates_case(tmp, path, f"{path}: rows 2 (id r1) and 4 (id copy): the same text is labelled member "
                                      "and non-member (1 such texts); fix the labels or drop one")


def _duplicate_ids(tmp):
    path = write_jsonl(tmp / "c.jsonl", [rows(2)[0], dict(rows(2)[1], id="r0")])
    return covariates_case(tmp, path, f"{path}: rows 1 and 2: id 'r0' is used by different texts or labels (1 such ids)")


def _empty_csv(tmp):
    path = tmp / "c.csv"
    path.write_text("id,text,member\n", encoding="utf-8")
    return covariates_case(tmp, path, f"{path}: the corpus is empty")


def _empty_parquet(tmp):
    path = tmp / "c.parquet"
    pd.DataFrame({"id": pd.Series([], dtype=str), "text": pd.Series([], dtype=str)}).to_parquet(path)
    return covariates_case(tmp, path, f"{path}: the corpus is empty")


def _empty_jsonl(tmp):
    path = tmp / "c.jsonl"
    path.write_text("\n", encoding="utf-8")
    return covariates_case(tmp, path, f"{path}: the corpus is empty")


def _bad_date(tmp):
    from llm_audit.corpus import load_corpus
    from llm_audit.covariates import extract_covariates

    records = rows(4)
    records[2]["year"] = "the year of the flood"
    path = write_jsonl(tmp / "c.jsonl", records)
    out = out_dir(tmp) / "cov.parquet"
    argv = ["covariates", str(path), "--out", str(out), "--extractors", "date", "--date-column", "year"]
    fragment = "date column 'year': row 3 (id r2): cannot read 'the year of the flood' as a date"
    return Case(argv, lambda: extract_covariates(load_corpus(path), ["date"], date_column="year"), fragment, [out])


def _one_class(tmp):
    s, c = estimate_tables()
    return estimate_case(tmp, s.assign(member=1), c, "scores table: column 'member' has one class only (200 members, 0 non-members)")


def _estimate_member_not_binary(tmp):
    s, c = estimate_tables()
    s.loc[5, "member"] = 3
    return estimate_case(tmp, s, c, "scores table: column 'member' row 6: value 3 is not 0/1")


def _ids_not_in_covariates(tmp):
    s, c = estimate_tables()
    case = estimate_case(tmp, s, c.iloc[2:], "ids: 2 id(s) in the scores table are missing from the covariates table, e.g. 'u0'")
    # the command counts the ids of each table and offers the common ones
    case.cli_fragment = (f"ids: 2 id(s) only in {tmp / 'scores.csv'}, 0 only in {tmp / 'covariates.csv'}, "
                         f"{len(s) - 2} in both; pass --common-ids to estimate on those")
    return case


def _duplicate_score_ids(tmp):
    s, c = estimate_tables()
    s.loc[7, "id"] = "u3"
    return estimate_case(tmp, s, c, "scores table: 1 duplicated id(s), e.g. 'u3'")


def _nan_score(tmp):
    s, c = estimate_tables()
    s.loc[11, "loss"] = np.nan
    return estimate_case(tmp, s, c, "scores table: column 'loss' has 1 NaN/infinite value(s), e.g. id 'u11' (row 12)")


def _infinite_score(tmp):
    s, c = estimate_tables()
    s.loc[4, "loss"] = np.inf
    s.loc[9, "loss"] = -np.inf
    return estimate_case(tmp, s, c, "scores table: column 'loss' has 2 NaN/infinite value(s), e.g. id 'u4' (row 5)")


def _no_score_column(tmp):
    s, c = estimate_tables()
    return estimate_case(tmp, s.drop(columns="loss"), c, "scores table: no score column")


def _model_without_weights(tmp):
    folder = tmp / "no_weights"
    folder.mkdir()
    (folder / "config.json").write_text((model_dir(tmp.parent) / "config.json").read_text())
    return score_case(tmp, folder, f"{folder}: no model weights")


def _gguf_not_gguf(tmp):
    path = tmp / "model.gguf"
    path.write_bytes(b"GGUF" + bytes(64))
    return score_case(tmp, path, f"{path}: cannot load the model")


def _gguf_truncated(tmp):
    import shutil

    src = model_dir(tmp.parent)
    folder = tmp / "gguf"
    shutil.copytree(src, folder)
    # a valid v3 header promising tensors and metadata that are not there
    (folder / "model.gguf").write_bytes(b"GGUF" + (3).to_bytes(4, "little") + (5).to_bytes(8, "little")
                                        + (9).to_bytes(8, "little") + b"\x07\x00")
    return score_case(tmp, folder, f"{folder}: cannot load the model", "--gguf-file", "model.gguf",
                      api=lambda: __import__("llm_audit.scoring", fromlist=["load_model"]).load_model(folder, gguf_file="model.gguf"))


def _pickled_weights_only(tmp):
    folder = pickled_model(tmp, model_dir(tmp.parent))
    return score_case(tmp, folder, f"{folder}: only pickled weights (pytorch_model.bin); pass allow_pickle / --allow-pickle")


def _context_beyond_the_model(tmp):
    from llm_audit.scoring import load_model, score_corpus

    folder = model_dir(tmp.parent)  # 64 positions
    corpus = pd.DataFrame(rows(4)).assign(text=lambda d: d["text"] * 30)
    return score_case(tmp, folder, "context", "--context", "1000",
                      api=lambda: score_corpus(corpus, load_model(folder), context=1000, progress=False))


def _unknown_config_key(tmp):
    return config_case(tmp, base_config(model={"name": "./model", "nmae": "x"}), "config.yaml: model.nmae: unknown key")


def _config_wrong_type(tmp):
    return config_case(tmp, base_config(scoring__batch_tokens="big"), "config.yaml: scoring.batch_tokens: must be an integer, got 'big'")


def _config_negative_batch(tmp):
    return config_case(tmp, base_config(scoring__batch_tokens=-4), "config.yaml: scoring.batch_tokens: must be a positive integer, got -4")


def _config_run_name_traversal(tmp):
    return config_case(tmp, base_config(name="../../etc"), "config.yaml: name: must be letters, digits")


def _run_dir_of_another_config(tmp):
    runs = out_dir(tmp) / "runs"
    (runs / "audit").mkdir(parents=True)
    record = {"config_hash": "0" * 64, "steps": {}, "created": "2026-01-01T00:00:00Z"}
    (runs / "audit" / "run.json").write_text(json.dumps(record))
    case = config_case(tmp, base_config(), "holds a run of a different config (hash 000000000000", runs=runs)
    case.outputs = [runs / "audit" / "scores.parquet", runs / "audit" / "config.yaml"]
    return case


def _runs_dir_under_a_file(tmp):
    blocker = tmp / "a_file"
    blocker.write_text("not a folder")
    return config_case(tmp, base_config(), f"{blocker / 'runs'}", runs=blocker / "runs")


def _runs_dir_in_proc(tmp):
    return config_case(tmp, base_config(), "/proc/llm-audit-runs", runs=Path("/proc/llm-audit-runs"))


def _score_out_under_a_file(tmp):
    blocker = tmp / "a_file"
    blocker.write_text("not a folder")
    out = blocker / "scores.parquet"
    case = score_case(tmp, model_dir(tmp.parent), f"{out}: {blocker} is not a folder")
    case.argv[case.argv.index("--out") + 1] = str(out)
    case.api = lambda: __import__("llm_audit.tables", fromlist=["x"]).write_table(pd.DataFrame({"id": ["a"]}), out)
    return case


def _covariates_out_under_a_file(tmp):
    blocker = tmp / "a_file"
    blocker.write_text("not a folder")
    out = blocker / "cov.parquet"
    source = write_jsonl(tmp / "c.jsonl", rows(4))
    case = covariates_case(tmp, source, f"{out}: {blocker} is not a folder")
    case.argv[case.argv.index("--out") + 1] = str(out)
    case.api = lambda: __import__("llm_audit.tables", fromlist=["x"]).write_table(pd.DataFrame({"id": ["a"]}), out)
    return case


def _estimate_out_in_proc(tmp):
    case = estimate_case(tmp, *estimate_tables(), "/proc/estimates.json")
    case.argv[case.argv.index("--out") + 1] = "/proc/estimates.json"
    case.argv += ["--folds", "2"]
    case.api = lambda: small_estimates().save("/proc/estimates.json")
    return case


def _report_out_under_a_file(tmp):
    from llm_audit.estimate.results import Estimates
    from llm_audit.report import write_report

    est = tmp / "estimates.json"
    small_estimates().save(est)
    blocker = tmp / "a_file"
    blocker.write_text("not a folder")
    argv = ["report", "--estimates", str(est), "--out-dir", str(blocker / "reports")]
    return Case(argv, lambda: write_report(Estimates.load(est), blocker / "reports"), str(blocker / "reports"))


def _covariates_case(tmp: Path, scores: pd.DataFrame, covs: pd.DataFrame, fragment: str) -> Case:
    """An estimate case whose message starts with the covariates table: the CLI names that file instead."""
    case = estimate_case(tmp, scores, covs, fragment)
    case.cli_fragment = case.cli_fragment.replace("covariates table:", f"{tmp / 'covariates.csv'}:")
    return case


def _infinite_covariate(tmp):
    s, c = estimate_tables()
    c.loc[6, "x"] = np.inf
    return _covariates_case(tmp, s, c, "covariates table: column 'x' has 1 infinite value(s), e.g. id 'u6' (row 7)")


def _member_covariate_disagrees(tmp):
    s, c = estimate_tables()
    c["member"] = s["member"]
    c.loc[2, "member"] = 1 - c.loc[2, "member"]
    return _covariates_case(tmp, s, c, "covariates table: column 'member' disagrees with the scores table on 1 id(s), e.g. id 'u2'")


def _score_as_covariate(tmp):
    s, c = estimate_tables()
    return _covariates_case(tmp, s, c.assign(loss=s["loss"]), "covariates table: column 'loss' is also a score column of the scores table")


def _negative_control_missing(tmp):
    s, c = estimate_tables()
    nc = np.full(len(c), 0.5)
    nc[4] = np.nan
    return _covariates_case(tmp, s, c.assign(negative_control=nc), "covariates table: column 'negative_control' has 1 "
                            "missing or non-numeric value(s), e.g. id 'u4': it must be a probability for every text")


def _config_eta_zero(tmp):
    return config_case(tmp, base_config(estimate__eta=0), "config.yaml: estimate.eta: must be in (0, 0.5), got 0")


def _estimate_out_not_json(tmp):
    case = estimate_case(tmp, *estimate_tables(), "--out:")
    case.argv[case.argv.index("--out") + 1] = str(out_dir(tmp) / "estimates.parquet")
    case.outputs = [out_dir(tmp) / "estimates.parquet"]
    case.cli_fragment = f"--out: {out_dir(tmp) / 'estimates.parquet'}: must end in .json"
    return case


CASES = {
    "malformed JSONL": _malformed_jsonl,
    "CSV ragged row (too many fields)": _ragged_csv,
    "CSV short row (missing text)": _short_csv_row,
    "Parquet that is not Parquet": _not_parquet,
    "non-UTF-8 JSONL": _latin1_jsonl,
    "non-UTF-8 CSV": _latin1_csv,
    "missing text column": _no_text_column,
    "whitespace-only text": _whitespace_text,
    "member value 'maybe'": _member_not_binary,
    "member value 2": _member_two,
    "duplicate ids with different texts": _duplicate_ids,
    "one text labelled member and non-member": _same_text_both_labels,
    "empty corpus (CSV header only)": _empty_csv,
    "empty corpus (Parquet, no rows)": _empty_parquet,
    "empty corpus (JSONL, no lines)": _empty_jsonl,
    "date that does not parse": _bad_date,
    "one class when estimating": _one_class,
    "member value 3 in the scores table": _estimate_member_not_binary,
    "ids in scores but not covariates": _ids_not_in_covariates,
    "duplicate ids in the scores table": _duplicate_score_ids,
    "NaN score": _nan_score,
    "infinite scores": _infinite_score,
    "no score column": _no_score_column,
    "model folder without weights": _model_without_weights,
    "GGUF file that is not GGUF": _gguf_not_gguf,
    "truncated GGUF": _gguf_truncated,
    "pickled weights without opt-in": _pickled_weights_only,
    "context beyond the model's positions": _context_beyond_the_model,
    "config: unknown key": _unknown_config_key,
    "config: wrong type": _config_wrong_type,
    "config: negative batch size": _config_negative_batch,
    "config: run name escaping the runs folder": _config_run_name_traversal,
    "run folder of another config": _run_dir_of_another_config,
    "runs folder under a regular file": _runs_dir_under_a_file,
    "runs folder in /proc": _runs_dir_in_proc,
    "score --out under a regular file": _score_out_under_a_file,
    "covariates --out under a regular file": _covariates_out_under_a_file,
    "estimate --out in /proc": _estimate_out_in_proc,
    "report --out-dir under a regular file": _report_out_under_a_file,
    "infinite covariate": _infinite_covariate,
    "member column in the covariates that disagrees": _member_covariate_disagrees,
    "score column as a covariate": _score_as_covariate,
    "negative control with a missing value": _negative_control_missing,
    "config: estimate.eta 0": _config_eta_zero,
}


def _params():
    return [pytest.param(builder, id=name) for name, builder in CASES.items()]


def _case_dir(tmp_path: Path) -> Path:
    (tmp_path / "case").mkdir()
    return tmp_path / "case"


def _no_temporaries(root: Path) -> list[Path]:
    return [p for p in root.rglob("*.tmp")] if root.is_dir() else []


@pytest.mark.parametrize("builder", _params())
def test_cli_refuses_with_one_line_and_writes_nothing(builder, tmp_path, capsys, request):
    case = builder(_case_dir(tmp_path))
    if case.cli_defect:
        request.applymarker(pytest.mark.xfail(strict=True, reason=case.cli_defect))
    capsys.readouterr()
    code = main(case.argv)
    err = capsys.readouterr().err.strip()
    assert code == 2, err
    line = err.splitlines()[-1] if err else ""
    assert err.count("llm-audit: error: ") == 1 and line.startswith("llm-audit: error: "), err
    assert len([ln for ln in err.splitlines() if not ln.startswith(("Loading weights", "Writing model"))]) == 1, err
    assert (case.cli_fragment or case.fragment) in line, line
    for path in case.outputs:
        assert not path.exists(), path
    assert _no_temporaries(tmp_path) == []


@pytest.mark.parametrize("builder", _params())
def test_api_refuses_with_one_line(builder, tmp_path, request):
    case = builder(_case_dir(tmp_path))
    if case.api_defect:
        request.applymarker(pytest.mark.xfail(strict=True, reason=case.api_defect))
    with pytest.raises(AuditError) as info:
        case.api()
    message = str(info.value)
    assert "\n" not in message and case.fragment in message, message
    for path in case.outputs:
        assert not path.exists(), path
    assert _no_temporaries(tmp_path) == []


# --- a disk that fills during a write: the old file survives, no temporary remains ----------------------


def _full_disk(monkeypatch):
    def no_space(fd):
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))

    monkeypatch.setattr(os, "fsync", no_space)


def test_full_disk_during_estimate_keeps_the_old_estimates(tmp_path, monkeypatch, capsys):
    s, c = estimate_tables()
    s.to_csv(tmp_path / "s.csv", index=False)
    c.to_csv(tmp_path / "c.csv", index=False)
    out = tmp_path / "estimates.json"
    out.write_text("previous estimates")
    _full_disk(monkeypatch)
    code = main(["estimate", "--scores", str(tmp_path / "s.csv"), "--covariates", str(tmp_path / "c.csv"),
                 "--out", str(out), "--bootstrap", "0", "--folds", "2", "--overwrite"])
    err = capsys.readouterr().err.strip()
    assert code == 2 and err == f"llm-audit: error: {out}: write failed (No space left on device)"
    assert out.read_text() == "previous estimates"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["c.csv", "estimates.json", "s.csv"]


def test_full_disk_during_report_keeps_the_old_report(tmp_path, monkeypatch, capsys):
    small_estimates().save(tmp_path / "estimates.json")
    (tmp_path / "report.md").write_text("previous report")
    _full_disk(monkeypatch)
    code = main(["report", "--estimates", str(tmp_path / "estimates.json"), "--formats", "md", "--overwrite"])
    err = capsys.readouterr().err.strip()
    assert code == 2 and err.startswith("llm-audit: error: ") and "No space left on device" in err and "\n" not in err
    assert (tmp_path / "report.md").read_text() == "previous report"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["estimates.json", "report.md"]


def test_full_disk_during_covariates_writes_nothing(tmp_path, monkeypatch, capsys):
    source = write_jsonl(tmp_path / "c.jsonl", rows(6))
    _full_disk(monkeypatch)
    code = main(["covariates", str(source), "--out", str(tmp_path / "cov.parquet"), "--extractors", "lexical"])
    err = capsys.readouterr().err.strip()
    assert code == 2 and err == f"llm-audit: error: {tmp_path / 'cov.parquet'}: write failed (No space left on device)"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["c.jsonl"]


def test_full_disk_in_the_score_cache_is_one_line_and_keeps_earlier_shards(tmp_path, monkeypatch):
    from llm_audit.scoring import load_model, score_corpus

    lm = load_model(model_dir(tmp_path))
    corpus = pd.DataFrame(rows(4))
    score_corpus(corpus.iloc[:2], lm, cache_dir=tmp_path / "cache", progress=False)
    before = sorted(p.name for p in (tmp_path / "cache").rglob("*"))
    _full_disk(monkeypatch)
    with pytest.raises(AuditError, match="write failed \\(No space left on device\\)") as info:
        score_corpus(corpus, lm, cache_dir=tmp_path / "cache", progress=False)
    assert "\n" not in str(info.value)
    monkeypatch.undo()
    assert sorted(p.name for p in (tmp_path / "cache").rglob("*")) == before
    assert score_corpus(corpus, lm, cache_dir=tmp_path / "cache", progress=False).attrs["n_computed"] == 2


# --- handled, not refused ----------------------------------------------------------------------------


def test_empty_texts_are_skipped_with_a_count_when_configured(tmp_path):
    from llm_audit.config import config_from_dict
    from llm_audit.corpus import load_corpus
    from llm_audit.pipeline import load_audit_corpus

    records = rows(6)
    records[1]["text"] = ""
    records[4]["text"] = "   \n"
    path = write_jsonl(tmp_path / "c.jsonl", records)
    df = load_corpus(path, empty="skip")
    assert df["id"].tolist() == ["r0", "r2", "r3", "r5"] and df.attrs["skipped_empty"] == 2
    config = config_from_dict({"name": "x", "corpus": {"path": str(path), "empty": "skip"}, "model": {"name": str(tmp_path)}})
    assert load_audit_corpus(config)["id"].tolist() == ["r0", "r2", "r3", "r5"]
    with pytest.raises(AuditError, match="row 2: empty text \\(2 empty in all"):
        load_audit_corpus(config_from_dict({"name": "x", "corpus": {"path": str(path)}, "model": {"name": str(tmp_path)}}))


def test_all_identical_scores_and_constant_or_empty_covariates_are_flagged_not_fatal(tmp_path, capsys):
    s, c = estimate_tables()
    s = s.assign(flat=1.5)
    c = c.assign(constant=2.0, nothing=np.nan)
    s.to_csv(tmp_path / "s.csv", index=False)
    c.to_csv(tmp_path / "c.csv", index=False)
    out = tmp_path / "e.json"
    assert main(["estimate", "--scores", str(tmp_path / "s.csv"), "--covariates", str(tmp_path / "c.csv"),
                 "--out", str(out), "--bootstrap", "0", "--folds", "2"]) == 0
    est = json.loads(out.read_text())
    per_score = est["diagnostics"]["per_score"]
    assert per_score["flat"]["constant"] is True and per_score["loss"]["constant"] is False
    assert est["scores"]["flat"]["naive"]["auc"]["value"] == 0.5  # every pair a tie
    notes = " ".join(est["notes"])
    assert "constant" in notes and "nothing" in notes
    assert est["config"]["covariates"] == ["x", "domain"]


def _tokenizer_without(folder: Path, *drop: str) -> None:
    """Remove special tokens from a saved tokenizer's config (the tokenizer JSON keeps the vocabulary)."""
    config = json.loads((folder / "tokenizer_config.json").read_text())
    for key in drop:
        config.pop(key, None)
    (folder / "tokenizer_config.json").write_text(json.dumps(config))
    special = folder / "special_tokens_map.json"
    if special.exists():
        tokens = {k: v for k, v in json.loads(special.read_text()).items() if k not in drop}
        special.write_text(json.dumps(tokens))


@pytest.mark.parametrize("drop", [("pad_token",), ("pad_token", "eos_token", "bos_token", "unk_token")],
                         ids=["no pad", "no pad, no eos"])
def test_tokenizer_without_pad_token_is_handled(tmp_path, drop):
    import shutil

    import torch
    from transformers import AutoTokenizer

    from llm_audit.scoring import load_model, score_corpus

    folder = tmp_path / "model"
    shutil.copytree(model_dir(tmp_path), folder)
    _tokenizer_without(folder, *drop)
    assert AutoTokenizer.from_pretrained(folder).pad_token is None
    lm = load_model(folder)
    corpus = pd.DataFrame({"id": ["short", "long"], "text": [pile_texts()[0][:30], pile_texts()[1][:80]]})
    table = score_corpus(corpus, lm, progress=False)  # one padded batch of two lengths
    assert table["n_tokens"].nunique() == 2 and table["n_tokens"].max() <= 64  # padded, one window each
    for text, loss in zip(corpus["text"], table["loss"]):
        ids = torch.tensor([lm.tokenizer(text)["input_ids"]])
        with torch.no_grad():
            nll = float(lm.model(input_ids=ids, labels=ids).loss)
        assert loss == pytest.approx(-nll, abs=1e-4)


# --- security --------------------------------------------------------------------------------------


def pickled_model(tmp: Path, source: Path, payload: Path | None = None) -> Path:
    """``source``'s config and tokenizer with its weights as a pickled ``pytorch_model.bin``; with
    ``payload``, a pickle that creates that file when unpickled (what a malicious checkpoint does)."""
    import torch
    from safetensors.torch import load_file

    folder = tmp / "pickled"
    folder.mkdir()
    for path in source.iterdir():
        if path.suffix != ".safetensors":
            (folder / path.name).write_bytes(path.read_bytes())
    if payload is None:
        torch.save(load_file(source / "model.safetensors"), folder / "pytorch_model.bin")
    else:
        torch.save(_Exploit(str(payload)), folder / "pytorch_model.bin")
    return folder


class _Exploit:
    def __init__(self, marker: str):
        self.marker = marker

    def __reduce__(self):
        return (Path.touch, (Path(self.marker),))


def test_trust_remote_code_and_pickle_are_off_by_default():
    import inspect

    from llm_audit.config import AuditConfig
    from llm_audit.scoring import load_model

    assert AuditConfig().model.trust_remote_code is False and AuditConfig().model.allow_pickle is False
    params = inspect.signature(load_model).parameters
    assert params["trust_remote_code"].default is False and params["allow_pickle"].default is False


def test_pickled_weights_never_unpickled_without_opt_in(tmp_path, capsys):
    from llm_audit.scoring import load_model

    marker = tmp_path / "pwned"
    folder = pickled_model(tmp_path, model_dir(tmp_path), payload=marker)
    with pytest.raises(AuditError, match="only pickled weights \\(pytorch_model.bin\\); pass allow_pickle"):
        load_model(folder)
    source = write_jsonl(tmp_path / "c.jsonl", rows(2))
    assert main(["score", str(source), "--model", str(folder), "--out", str(tmp_path / "s.parquet"), "--no-progress"]) == 2
    assert "--allow-pickle" in capsys.readouterr().err
    assert not marker.exists() and not (tmp_path / "s.parquet").exists()


def test_pickled_checkpoint_loads_only_with_opt_in(tmp_path):
    """A checkpoint whose only weights are a pickled ``pytorch_model.bin`` (what ``save_pretrained(...,
    safe_serialization=False)`` wrote before transformers 5, which always writes safetensors): refused, then
    loaded when allowed, computing what the original model computes."""
    import torch

    from llm_audit.scoring import load_model
    from llm_audit.training import build_model
    from scoring_models import tokenizer

    model = build_model(tokenizer(), "gpt2", n_layer=1, d_model=32, n_head=2, context=32, seed=1).eval()
    folder = tmp_path / "bin"
    model.save_pretrained(folder)
    tokenizer().save_pretrained(folder)
    for weights in folder.glob("*.safetensors"):
        weights.unlink()
    torch.save(model.state_dict(), folder / "pytorch_model.bin")
    with pytest.raises(AuditError, match="only pickled weights \\(pytorch_model.bin\\); pass allow_pickle"):
        load_model(folder)
    loaded = load_model(folder, allow_pickle=True)
    ids = torch.tensor([[1, 2, 3, 4]])
    with torch.no_grad():
        torch.testing.assert_close(loaded.model(ids).logits, model(ids).logits)


def test_remote_code_is_not_run_without_trust(tmp_path):
    """A model folder whose config asks for its own Python code: that code never runs by default."""
    from llm_audit.scoring import load_model

    folder = tmp_path / "remote"
    import shutil

    shutil.copytree(model_dir(tmp_path), folder)
    marker = tmp_path / "remote_code_ran"
    code = f"from pathlib import Path\nPath({str(marker)!r}).touch()\nfrom transformers import GPT2Config\n" \
           "class EvilConfig(GPT2Config):\n    model_type = 'evil'\n"
    (folder / "evil_config.py").write_text(code)
    config = json.loads((folder / "config.json").read_text())
    config.update(model_type="evil", auto_map={"AutoConfig": "evil_config.EvilConfig"})
    (folder / "config.json").write_text(json.dumps(config))
    with pytest.raises(AuditError, match=f"{folder}: cannot load the model") as info:
        load_model(folder)
    assert "\n" not in str(info.value)
    assert not marker.exists()


def test_ids_cannot_become_paths(tmp_path):
    """Ids are data, never file names: an id like ``../../x`` goes through every step without creating files."""
    from llm_audit.scoring import load_model, score_corpus

    records = rows(6)
    records[0]["id"] = "../../escaped"
    records[1]["id"] = "/tmp/abs_escaped"
    source = write_jsonl(tmp_path / "c.jsonl", records)
    work = tmp_path / "work"
    work.mkdir()
    assert main(["covariates", str(source), "--out", str(work / "cov.parquet"), "--extractors", "lexical"]) == 0
    table = score_corpus(pd.DataFrame(records), load_model(model_dir(tmp_path)), cache_dir=work / "cache", progress=False)
    assert table["id"].tolist()[:2] == ["../../escaped", "/tmp/abs_escaped"]
    assert not (tmp_path.parent / "escaped").exists() and not Path("/tmp/abs_escaped").exists()
    assert all(p.is_relative_to(work) for p in work.rglob("*"))
    assert sorted(p.name for p in tmp_path.iterdir()) == ["c.jsonl", "work"]


@pytest.mark.parametrize("builder", [pytest.param(_estimate_out_not_json, id="estimate --out not .json")])
def test_cli_only_refusals(builder, tmp_path, capsys, request):
    """Refusals of a command-line argument that the Python API does not take."""
    test_cli_refuses_with_one_line_and_writes_nothing(builder, tmp_path, capsys, request)
