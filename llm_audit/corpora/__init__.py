"""Builders and loaders of benchmark corpora, each giving a corpus table `load_corpus` can read back.

``sotu.build`` (State of the Union, dated, chunked), ``wikimia.load_wikimia``, ``mimir.load_mimir``,
``smollm2.smollm2_gguf`` (the offline SmolLM2 checkpoint), and the inserted texts of two model pairs for the
`paired` regime: ``hubble.load_hubble`` and ``toaa.load_toaa``. Command line: ``python -m llm_audit.corpora``.
"""

from llm_audit.corpora.hubble import load_hubble
from llm_audit.corpora.mimir import load_mimir
from llm_audit.corpora.output import write_jsonl
from llm_audit.corpora.smollm2 import link_smollm2, smollm2_gguf
from llm_audit.corpora.sotu import build as build_sotu
from llm_audit.corpora.toaa import load_toaa
from llm_audit.corpora.wikimia import load_wikimia

__all__ = ["build_sotu", "link_smollm2", "load_hubble", "load_mimir", "load_toaa", "load_wikimia", "smollm2_gguf",
           "write_jsonl"]
