"""`llm-audit score`: step 1, the scores table of a corpus under a causal LM."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from llm_audit.cli._options import add_options, gather

SECTIONS = ("corpus", "model", "scoring")
POSITIONAL = {"corpus.path": "corpus"}


def add_parser(subparsers: argparse._SubParsersAction) -> None:
    p = subparsers.add_parser(
        "score", help="score every text under a causal LM (loss, zlib, Min-K%%, Min-K%%++, ReCaLL, DC-PDD, ...)",
        description="Write a scores table keyed by id: one column per attack, higher = more likely member. The "
        "corpus is a JSONL(.gz), CSV or Parquet file, a datasets folder or a datasets hub name (or, with --config, "
        "the config's corpus).")
    p.add_argument("--out", required=True, help="scores table, .parquet or .csv")
    p.add_argument("--overwrite", action="store_true", help="replace an existing --out")
    p.add_argument("--no-progress", action="store_true")
    p.add_argument("--lowercase", action="store_true", help=argparse.SUPPRESS)  # before `lowercase` was a score name
    add_options(p, SECTIONS, positional=POSITIONAL)
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from llm_audit import steps
    from llm_audit.corpus import load_corpus_section
    from llm_audit.estimate.design import RESERVED
    from llm_audit.scoring.runner import distributed_state
    from llm_audit.tables import check_target, table_format, write_table

    out = Path(args.out)
    table_format(out)
    check_target(out, overwrite=args.overwrite)
    o = gather(args, SECTIONS, positional=POSITIONAL)
    if args.lowercase:  # the old switch; the attack's name in --scores is the one spelling now
        print("llm-audit: note: --lowercase is spelt `--scores ...,lowercase` now", file=sys.stderr)
        o["scoring"] = o["scoring"].with_(scores=list(dict.fromkeys([*o["scoring"].scores, "lowercase"])))
    corpus = load_corpus_section(o["corpus"])
    table = steps.score(corpus, o["model"], o["scoring"], o["corpus"], skip_hint="--empty skip",
                        progress=not args.no_progress, log=lambda m: print(f"llm-audit: {m}", file=sys.stderr))
    state = distributed_state()
    if state is None or state.is_main_process:
        write_table(table, out, overwrite=args.overwrite)
        n_scores = len([c for c in table.columns if c not in RESERVED])
        print(f"wrote {len(table)} rows x {n_scores} score columns to {out}")
    return 0
