"""`llm-audit run CONFIG.yaml`: the whole audit (score, covariates, estimate, report) into a run folder."""

from __future__ import annotations

import argparse
import sys


def add_parser(subparsers: argparse._SubParsersAction) -> None:
    p = subparsers.add_parser("run", help="run a whole audit from a YAML config into runs/<name>/")
    p.add_argument("config", help="the audit config (YAML); see the README's config reference")
    p.add_argument("--runs-dir", default="runs", help="folder of run folders (default: %(default)s)")
    p.add_argument("--force", action="store_true",
                   help="redo every step (the score cache still spares re-scoring), or replace a run of another config")
    p.add_argument("--set", dest="set_options", action="append", default=[], metavar="SECTION.KEY=VALUE",
                   help="override one key of the config (repeatable), e.g. estimate.bootstrap=200")
    p.add_argument("--no-progress", action="store_true", help="no progress bar")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from pathlib import Path

    from llm_audit.cli._options import apply_sets
    from llm_audit.config import load_config
    from llm_audit.pipeline import run_audit
    from llm_audit.estimate.results import Estimates
    from llm_audit.report import headline_markdown, summarize
    from llm_audit.report.markdown import for_terminal

    config = load_config(args.config, check=not args.set_options)
    if args.set_options:
        config = apply_sets(config, args.set_options, Path(args.config).name)
    run_dir = run_audit(config, runs_dir=args.runs_dir, force=args.force,
                        log=lambda msg: print(f"llm-audit: {msg}", file=sys.stderr), progress=not args.no_progress)
    summary = summarize(Estimates.load(run_dir / "estimates.json"))
    print(summary.lead)
    print()
    print(for_terminal(headline_markdown(summary)))
    print()
    print(summary.verdict_text)
    for fmt in config.report.formats:
        print(f"report: {run_dir / f'report.{fmt}'}")
    return 0
