"""The design's one hard boundary: estimation and reporting never load torch or transformers, so scores
computed on a GPU cluster can be estimated and reported on a laptop without them. The config, and the
registry of attacks it checks score names against, load neither."""

import subprocess
import sys

import pytest


@pytest.mark.parametrize(
    "modules",
    ["llm_audit.estimate", "llm_audit.estimate.regimes.paired", "llm_audit.estimate.oracle", "llm_audit.report",
     "llm_audit.simulate", "llm_audit.cli", "llm_audit.config", "llm_audit.scoring.attacks"],
)
def test_layer_does_not_import_torch(modules):
    code = (
        f"import sys, {modules}\n"
        "from llm_audit.cli import build_parser\n"
        "build_parser()\n"
        "bad = [m for m in ('torch', 'transformers') if m in sys.modules]\n"
        "print(', '.join(bad), file=sys.stderr)\n"
        "sys.exit(1 if bad else 0)"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert result.returncode == 0, f"{modules} imported {result.stderr.strip()}"
