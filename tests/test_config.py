"""The audit config: defaults, validation errors naming the key, path resolution, a stable hash."""

from __future__ import annotations

import pytest
import yaml

from llm_audit.config import AuditConfig, config_from_dict, config_reference, load_config
from llm_audit.errors import AuditError


@pytest.fixture()
def corpus_file(tmp_path):
    path = tmp_path / "corpus.jsonl"
    path.write_text('{"text": "a", "member": 1}\n{"text": "b", "member": 0}\n')
    return path


def write(tmp_path, data, name="config.yaml"):
    path = tmp_path / name
    path.write_text(yaml.safe_dump(data))
    return path


def minimal(**extra):
    data = {"name": "r1", "corpus": {"path": "corpus.jsonl"}, "model": {"name": "gpt2"}}
    data.update(extra)
    return data


def test_defaults_and_relative_paths(tmp_path, corpus_file):
    cfg = load_config(write(tmp_path, minimal()))
    assert isinstance(cfg, AuditConfig)
    assert cfg.corpus.path == str(corpus_file.resolve())
    assert cfg.model.name == "gpt2"  # not a local path: kept as a hub id
    assert cfg.scoring.k == [0.1, 0.2, 0.5]
    assert cfg.scoring.batch_tokens == 8192
    assert cfg.estimate.fpr == [0.001, 0.01, 0.05]
    assert cfg.model.trust_remote_code is False and cfg.model.allow_pickle is False
    assert cfg.report.formats == ["md", "html"]


def test_hash_is_stable_and_sensitive(tmp_path, corpus_file):
    a = load_config(write(tmp_path, minimal(), "a.yaml"))
    # The same config written with keys in another order and a default spelled out: same hash.
    reordered = {"model": {"name": "gpt2", "dtype": "auto"}, "corpus": {"path": "corpus.jsonl"}, "name": "r1"}
    b = load_config(write(tmp_path, reordered, "b.yaml"))
    assert a.hash() == b.hash() and len(a.hash()) == 64
    c = load_config(write(tmp_path, minimal(estimate={"eta": 0.05}), "c.yaml"))
    assert c.hash() != a.hash()


@pytest.mark.parametrize(
    "change, expected",
    [
        ({"scoring": {"batch_tokens": -4}}, "config.yaml: scoring.batch_tokens: must be a positive integer, got -4"),
        ({"scoring": {"batch_sise": 8}}, "config.yaml: scoring.batch_sise: unknown key"),
        ({"colour": "red"}, "config.yaml: colour: unknown key"),
        ({"scoring": {"batch_tokens": "big"}}, "config.yaml: scoring.batch_tokens: must be an integer, got 'big'"),
        ({"model": {"trust_remote_code": "yes"}}, "config.yaml: model.trust_remote_code: must be true or false"),
        ({"scoring": {"lowercase": True}}, "config.yaml: scoring.lowercase: no longer a key: name the attack in "
                                           "`scoring.scores`"),
        ({"scoring": {"cache": False, "cache_dir": "c"}}, "config.yaml: scoring.cache_dir: not with scoring.cache off"),
        ({"estimate": {"methods": ["naive", "tmle"]}}, "config.yaml: estimate.methods[1]: unknown method 'tmle'"),
        ({"estimate": {"inclusion_p": 0.3}}, "config.yaml: estimate.inclusion_p: only for estimate.regime one-run, not "
                                             "zero-run"),
        ({"covariates": {"domain_column": "text"}}, "config.yaml: covariates.domain_column: 'text' is the text column"),
        ({"scoring": {"max_tokens": 1}}, "config.yaml: scoring.max_tokens: must be at least 2"),
        ({"scoring": {"k": [0.2, 1.5]}}, "config.yaml: scoring.k[1]: must be in (0, 1], got 1.5"),
        ({"scoring": {"scores": ["loss", "mink_plus"]}}, "config.yaml: scoring.scores[1]: unknown score 'mink_plus'"),
        ({"scoring": {"scores": ["loss", "ref"]}}, "config.yaml: scoring.reference_model: required by the `ref` score"),
        ({"estimate": {"target": "att2"}}, "config.yaml: estimate.target: must be one of ate, att, atc"),
        ({"estimate": {"eta": 0.7}}, "config.yaml: estimate.eta: must be in (0, 0.5)"),
        ({"estimate": "fast"}, "config.yaml: estimate: must be a mapping of keys, got str"),
        ({"report": {"formats": ["pdf"]}}, "config.yaml: report.formats[0]: unknown format 'pdf'"),
        ({"corpus": {"path": "missing.jsonl"}}, "config.yaml: corpus.path: no such file: missing.jsonl"),
        ({"corpus": {"path": "corpus.jsnl"}}, "config.yaml: corpus.path: no such file: corpus.jsnl"),  # a typo
        ({"corpus": {"path": None, "members": "corpus.jsonl"}}, "config.yaml: corpus: `members` and `nonmembers` must be given together"),
        ({"model": {}}, "config.yaml: model.name: required"),
        ({"model": {"device_map": "auto", "device": "cuda:1"}}, "config.yaml: model.device: leave at auto with device_map"),
        ({"model": {"device_map": "everywhere"}}, "config.yaml: model.device_map: must be one of auto, balanced"),
        ({"model": {"offload_folder": "off"}}, "config.yaml: model.offload_folder: only with model.device_map"),
        ({"name": "../evil"}, "config.yaml: name: must be letters, digits"),
        ({"name": "a/b"}, "config.yaml: name: must be letters, digits"),
        ({"name": ".."}, "config.yaml: name: must be letters, digits"),
    ],
)
def test_errors_name_the_key(tmp_path, corpus_file, change, expected):
    data = minimal()
    for key, value in change.items():
        if isinstance(value, dict) and isinstance(data.get(key), dict):
            data[key] = {**data[key], **value}
            if value == {}:
                data[key] = {}
        else:
            data[key] = value
    with pytest.raises(AuditError) as err:
        load_config(write(tmp_path, data))
    message = str(err.value)
    assert message.startswith(expected), message
    assert "\n" not in message


def test_bad_yaml_and_missing_file(tmp_path):
    bad = tmp_path / "bad.yaml"
    bad.write_text("name: [unclosed\n")
    with pytest.raises(AuditError, match=r"bad.yaml: .*not valid YAML"):
        load_config(bad)
    with pytest.raises(AuditError, match="no such config file"):
        load_config(tmp_path / "nope.yaml")


def test_members_nonmembers_and_dict_config(tmp_path, corpus_file):
    cfg = config_from_dict(
        {"name": "x", "corpus": {"members": "corpus.jsonl", "nonmembers": str(corpus_file)}, "model": {"name": "m"},
         "scoring": {"scores": "loss"}},
        base_dir=tmp_path,
    )
    assert cfg.corpus.members == cfg.corpus.nonmembers == str(corpus_file.resolve())
    assert cfg.scoring.scores == ["loss"]  # a single item where a list is expected


def test_round_trip_through_yaml(tmp_path, corpus_file):
    cfg = load_config(write(tmp_path, minimal()))
    again = config_from_dict(yaml.safe_load(cfg.to_yaml()), base_dir=tmp_path)
    assert again.hash() == cfg.hash()


def test_reference_lists_every_key():
    ref = config_reference()
    for key in ("`corpus.path`", "`model.allow_pickle`", "`scoring.batch_tokens`", "`covariates.tfidf_k`",
                "`estimate.dp_delta`", "`report.formats`", "`name`"):
        assert key in ref
    assert "| `scoring.batch_tokens` | `8192` |" in ref


def test_example_config_lists_every_key_as_generated():
    """configs/example.yaml is what ``config_example`` writes for its values: every key, each with its current
    documentation and default (a doc changed in code and not here fails)."""
    from pathlib import Path

    from llm_audit.config import config_example

    text = (Path(__file__).parents[1] / "configs" / "example.yaml").read_text()
    header = "".join(line for line in text.splitlines(True) if line.startswith("#"))
    assert config_example(yaml.safe_load(text), header) == text


def test_a_config_named_by_a_relative_path_resolves_every_path_to_an_absolute_one(tmp_path, monkeypatch):
    """The same config from another working directory means the same files: every local path is absolute
    after loading, whether the config itself was named relative to the working directory or not."""
    folder = tmp_path / "configs"
    (tmp_path / "data").mkdir()
    (tmp_path / "data" / "c.jsonl").write_text('{"text": "a b", "member": 1}\n')
    (tmp_path / "model").mkdir()
    data = {"name": "r", "corpus": {"path": "../data/c.jsonl"}, "model": {"name": "../model", "device_map": "auto",
            "offload_folder": "../offload"}, "scoring": {"cache_dir": "../cache"}}
    folder.mkdir()
    write(folder, data)
    monkeypatch.chdir(tmp_path)
    cfg = load_config("configs/config.yaml")
    expected = {"corpus.path": tmp_path / "data" / "c.jsonl", "model.name": tmp_path / "model",
                "model.offload_folder": tmp_path / "offload", "scoring.cache_dir": tmp_path / "cache"}
    got = {"corpus.path": cfg.corpus.path, "model.name": cfg.model.name,
           "model.offload_folder": cfg.model.offload_folder, "scoring.cache_dir": cfg.scoring.cache_dir}
    assert got == {k: str(v.resolve()) for k, v in expected.items()}
    monkeypatch.chdir(folder)
    assert load_config("config.yaml").hash() == cfg.hash()
