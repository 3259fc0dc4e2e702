"""Shared fixtures. No test touches the network: the hub is switched off for the whole session. No test
writes to the user's cache: llm-audit's cache folder (the score cache's default home) is one per test module
(a module's fixtures and its tests share it, as the runs of one user do)."""

import os

import pytest

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
os.environ.setdefault("HF_DATASETS_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")


@pytest.fixture(autouse=True, scope="module")
def _own_cache_folder(tmp_path_factory):
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("LLM_AUDIT_CACHE", str(tmp_path_factory.mktemp("llm-audit-cache")))
        yield
