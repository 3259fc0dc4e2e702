"""Builders and loaders of benchmark corpora, each giving a corpus table `load_corpus` can read back.

``sotu.build`` (State of the Union, dated, chunked), ``wikimia.load_wikimia``, ``mimir.load_mimir``, and
``smollm2.smollm2_gguf`` (the offline SmolLM2 checkpoint). Command line: ``python -m llm_audit.corpora``.
"""

from llm_audit.corpora.mimir import load_mimir
from llm_audit.corpora.output import write_jsonl
from llm_audit.corpora.smollm2 import link_smollm2, smollm2_gguf
from llm_audit.corpora.sotu import build as build_sotu
from llm_audit.corpora.wikimia import load_wikimia

__all__ = ["build_sotu", "link_smollm2", "load_mimir", "load_wikimia", "smollm2_gguf", "write_jsonl"]
