"""`llm-audit demo`: train a small LM on a confounded member set of real text and audit it, offline."""

from __future__ import annotations

import argparse
import os
import sys


def add_parser(subparsers: argparse._SubParsersAction) -> None:
    p = subparsers.add_parser("demo", help="offline demo: train a small LM on confounded members, audit it (~5 min on CPU)")
    p.add_argument("--small", action="store_true", help="a reduced size (about a minute): the CI's demo")
    p.add_argument("--runs-dir", default="runs", help="folder of run folders (default: %(default)s)")
    p.add_argument("--cache-dir", help="where the trained demo models are kept (default: ~/.cache/llm-audit/demo)")
    p.add_argument("--no-truth", action="store_true", help="skip the randomized-inclusion ground-truth model")
    p.add_argument("--seed", type=int, default=0)
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
    from llm_audit.demo import demo_summary, run_demo
    from llm_audit.report.markdown import for_terminal

    result = run_demo(small=args.small, runs_dir=args.runs_dir, cache_dir=args.cache_dir, seed=args.seed,
                      truth=not args.no_truth, log=lambda m: print(f"llm-audit: {m}", file=sys.stderr))
    print(for_terminal(demo_summary(result)))
    return 0
