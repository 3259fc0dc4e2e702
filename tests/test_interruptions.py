"""Interrupted and concurrent runs (issue 7): a run killed with -9 while scoring, estimating or writing the
report resumes where it stopped and never leaves a half-written file; two processes can share a score cache.

Kills are real SIGKILLs of a child process: from outside while scoring (at a random point), and from
inside, at a chosen line, for estimation and report writing (a patched function kills its own process).
Already covered elsewhere: `llm-audit score` killed with -9 resumes from its cache, counting the texts
rescored (tests/test_scoring_runner.py::test_killed_run_leaves_a_readable_cache_and_resumes); an
exception in the middle of a table write leaves no temporary (tests/test_tables.py).
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pandas as pd
import pytest
import yaml

from llm_audit.cli import main
from scoring_models import CONTEXT, pile_texts, save_tiny_model

N_TEXTS = 40
ENV = dict(os.environ, OMP_NUM_THREADS="1", HF_HUB_OFFLINE="1", TRANSFORMERS_OFFLINE="1", TOKENIZERS_PARALLELISM="false")


@pytest.fixture(scope="module")
def model(tmp_path_factory) -> Path:
    return save_tiny_model(tmp_path_factory.mktemp("model"), "gpt2")


def corpus(n: int = N_TEXTS, chars: int = 150) -> pd.DataFrame:
    texts = [t[:chars] for t in pile_texts()[:n]]
    return pd.DataFrame({"id": [f"d{i}" for i in range(n)], "text": texts, "member": [i % 2 for i in range(n)]})


def write_config(tmp: Path, model: Path, cache: Path | None = None) -> Path:
    """A small audit config in ``tmp``; ``cache`` lets several runs share their scores."""
    corpus().to_json(tmp / "corpus.jsonl", orient="records", lines=True)
    config = {
        "name": "killed",
        "corpus": {"path": "corpus.jsonl"},
        "model": {"name": str(model)},
        "scoring": {"batch_tokens": CONTEXT, "cache_dir": str(cache or tmp / "cache"), "scores": ["loss", "mink"]},
        "covariates": {"extractors": ["length", "lexical"]},
        "estimate": {"bootstrap": 20, "folds": 2, "fpr": [0.05]},
        "report": {"formats": ["md", "html"]},
    }
    path = tmp / "config.yaml"
    path.write_text(yaml.safe_dump(config), encoding="utf-8")
    return path


def cached_rows(cache: Path) -> int:
    return sum(len(pd.read_parquet(p)) for p in cache.rglob("part-*.parquet"))


def run_record(run_dir: Path) -> dict:
    return json.loads((run_dir / "run.json").read_text())


def killing_child(argv: list[str], patch: str) -> subprocess.CompletedProcess:
    """Run ``llm-audit argv`` in a child whose code is first patched by ``patch`` (which SIGKILLs it)."""
    code = (f"import os, signal, sys\ndef die(*args, **kwargs):\n    os.kill(os.getpid(), signal.SIGKILL)\n{patch}\n"
            f"from llm_audit.cli import main\nsys.exit(main({argv!r}))\n")
    return subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=300, env=ENV)


def leftovers(folder: Path) -> list[str]:
    return sorted(p.name for p in folder.iterdir() if p.name.endswith(".tmp"))


@pytest.mark.slow
def test_run_killed_while_scoring_resumes_scoring_only_the_rest(model, tmp_path, capsys):
    config = write_config(tmp_path, model)
    runs, cache = tmp_path / "runs", tmp_path / "cache"
    cmd = [sys.executable, "-m", "llm_audit", "run", str(config), "--runs-dir", str(runs), "--no-progress"]
    proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, env=ENV)
    deadline = time.time() + 180
    while time.time() < deadline and proc.poll() is None and len(list(cache.rglob("part-*.parquet"))) < 2:
        time.sleep(0.05)
    proc.send_signal(signal.SIGKILL)
    assert proc.wait() == -signal.SIGKILL
    done = cached_rows(cache)  # every shard on disk reads as a whole Parquet file
    assert 0 < done < N_TEXTS
    run_dir = runs / "killed"
    assert not (run_dir / "scores.parquet").exists() and "score" not in run_record(run_dir)["steps"]

    assert main(["run", str(config), "--runs-dir", str(runs), "--no-progress"]) == 0
    steps = run_record(run_dir)["steps"]
    assert steps["score"]["texts"] == N_TEXTS
    assert steps["score"]["texts_scored"] == N_TEXTS - done  # only the texts the killed run had not flushed
    assert len(pd.read_parquet(run_dir / "scores.parquet")) == N_TEXTS
    assert set(steps) == {"score", "covariates", "estimate", "report"}
    assert leftovers(run_dir) == []


@pytest.fixture(scope="module")
def shared_cache(tmp_path_factory) -> Path:
    """A score cache shared by the runs below: only the first scores, the others read it."""
    return tmp_path_factory.mktemp("shared") / "cache"


@pytest.fixture(scope="module")
def killed_runs(model, tmp_path_factory, shared_cache):
    """One run killed while estimating, then the same run resumed; the folder and the resumed run's output."""
    tmp = tmp_path_factory.mktemp("estimate_kill")
    config = write_config(tmp, model, shared_cache)
    runs = tmp / "runs"
    argv = ["run", str(config), "--runs-dir", str(runs), "--no-progress"]
    killed = killing_child(argv, "import llm_audit.estimate.nuisance as z\nz.cross_fit_propensity = die")
    return tmp, config, runs / "killed", killed


@pytest.mark.slow
def test_run_killed_while_estimating_keeps_the_finished_steps(killed_runs, capsys):
    tmp, config, run_dir, killed = killed_runs
    assert killed.returncode == -signal.SIGKILL, killed.stderr[-2000:]
    steps = run_record(run_dir)["steps"]
    assert set(steps) == {"score", "covariates"}
    assert not (run_dir / "estimates.json").exists() and leftovers(run_dir) == []
    assert len(pd.read_parquet(run_dir / "scores.parquet")) == N_TEXTS

    capsys.readouterr()
    assert main(["run", str(config), "--runs-dir", str(tmp / "runs"), "--no-progress"]) == 0
    out = capsys.readouterr().err
    assert "score: done before, reused" in out and "covariates: done before, reused" in out
    assert json.loads((run_dir / "estimates.json").read_text())["schema_version"]
    assert set(run_record(run_dir)["steps"]) == {"score", "covariates", "estimate", "report"}


# Write the first half of report.html into its temporary file, then die before the rename.
HALF_WRITE = """
import llm_audit.report as report, llm_audit.tables as tables
original = report.atomic_write_text
def half(path, text, **kwargs):
    if str(path).endswith("report.html"):
        with tables.atomic_open(path, "w") as handle:
            handle.write(text[: len(text) // 2])
            handle.flush()
            die()
    return original(path, text, **kwargs)
report.atomic_write_text = half
"""


@pytest.mark.slow
def test_report_killed_mid_write_leaves_the_old_report_whole(killed_runs, capsys):
    tmp, config, run_dir, _ = killed_runs
    if not (run_dir / "report.html").exists():
        assert main(["run", str(config), "--runs-dir", str(tmp / "runs"), "--no-progress"]) == 0
    before = (run_dir / "report.html").read_bytes()
    (run_dir / "report.md").unlink()
    killed = killing_child(["report", str(run_dir), "--overwrite"], HALF_WRITE)
    assert killed.returncode == -signal.SIGKILL, killed.stderr[-2000:]
    assert (run_dir / "report.html").read_bytes() == before  # the old page, whole
    assert (run_dir / "report.md").is_file()  # written before the kill, complete
    # A SIGKILL leaves the half-written temporary (no code runs after it), under a hidden name never read.
    stale = leftovers(run_dir)
    assert len(stale) == 1 and stale[0].startswith(".report.html.")
    assert main(["report", str(run_dir), "--overwrite"]) == 0
    assert (run_dir / "report.html").read_text().rstrip().endswith("</html>")


@pytest.mark.slow
def test_run_killed_while_writing_the_report_redoes_only_the_report(model, tmp_path, capsys, shared_cache):
    config = write_config(tmp_path, model, shared_cache)
    runs = tmp_path / "runs"
    argv = ["run", str(config), "--runs-dir", str(runs), "--no-progress"]
    killed = killing_child(argv, HALF_WRITE)
    assert killed.returncode == -signal.SIGKILL, killed.stderr[-2000:]
    run_dir = runs / "killed"
    assert set(run_record(run_dir)["steps"]) == {"score", "covariates", "estimate"}
    assert not (run_dir / "report.html").exists()
    capsys.readouterr()
    assert main(argv) == 0
    out = capsys.readouterr().err
    assert "estimate: done before, reused" in out
    assert (run_dir / "report.html").read_text().rstrip().endswith("</html>")


def test_estimate_killed_while_writing_keeps_the_old_file(tmp_path):
    from llm_audit.simulate import simulate

    scores, covariates = simulate(300, 0.5, seed=1)
    scores.to_csv(tmp_path / "s.csv", index=False)
    covariates.to_csv(tmp_path / "c.csv", index=False)
    out = tmp_path / "estimates.json"
    out.write_text('{"previous": true}\n')
    argv = ["estimate", "--scores", str(tmp_path / "s.csv"), "--covariates", str(tmp_path / "c.csv"), "--out", str(out),
            "--bootstrap", "0", "--folds", "2", "--overwrite"]
    killed = killing_child(argv, "os.fsync = die")  # the temporary is written in full, then the process dies
    assert killed.returncode == -signal.SIGKILL, killed.stderr[-2000:]
    assert json.loads(out.read_text()) == {"previous": True}
    assert main(argv) == 0
    assert json.loads(out.read_text())["schema_version"]


@pytest.mark.slow
def test_two_processes_scoring_into_one_cache(model, tmp_path):
    from llm_audit.scoring import load_model, score_corpus
    from llm_audit.scoring.cache import KEY_COLUMN

    data = corpus(16, chars=200)
    source = tmp_path / "corpus.jsonl"
    data.to_json(source, orient="records", lines=True)
    cache = tmp_path / "cache"
    procs = [subprocess.Popen([sys.executable, "-m", "llm_audit", "score", str(source), "--model", str(model), "--out",
                               str(tmp_path / f"scores{i}.parquet"), "--cache-dir", str(cache), "--batch-tokens",
                               str(CONTEXT), "--no-progress"], stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=ENV)
             for i in range(2)]
    for proc in procs:
        _, err = proc.communicate(timeout=300)
        assert proc.returncode == 0, err.decode()[-2000:]
    plain = score_corpus(data, load_model(model), progress=False)
    for i in range(2):
        pd.testing.assert_frame_equal(pd.read_parquet(tmp_path / f"scores{i}.parquet"), plain, check_exact=False,
                                      atol=1e-6, rtol=0)
    shards = [pd.read_parquet(p) for p in cache.rglob("part-*.parquet")]  # each a whole file
    rows = pd.concat(shards)
    assert rows[KEY_COLUMN].nunique() == 16 and not rows.drop(columns=KEY_COLUMN).isna().all(axis=1).any()
    assert not list(cache.rglob("*.tmp"))
    again = score_corpus(data, load_model(model), cache_dir=cache, max_batch_tokens=CONTEXT, progress=False)
    assert again.attrs["n_computed"] == 0
