"""`llm-audit compare RUN_DIR...`: naive vs corrected AUC and TPR@1%FPR across runs and scores."""

from __future__ import annotations

import argparse
from pathlib import Path

from llm_audit.errors import AuditError


def add_parser(subparsers: argparse._SubParsersAction) -> None:
    p = subparsers.add_parser("compare", help="table of naive vs corrected AUC and TPR@1%%FPR across run folders")
    p.add_argument("runs", nargs="+", help="run folders (or estimates.json files)")
    p.add_argument("--csv", help="also write the table as CSV here")
    p.add_argument("--overwrite", action="store_true", help="replace an existing --csv file")
    p.add_argument("--fpr", default="0.01", help="FPR target of the TPR columns (default: %(default)s)")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from llm_audit.estimate.results import Estimates
    from llm_audit.report.compare import compare_markdown, compare_table
    from llm_audit.report.markdown import for_terminal
    from llm_audit.tables import check_target, table_format, write_table

    if args.csv:
        table_format(Path(args.csv))
        check_target(Path(args.csv), overwrite=args.overwrite)
    by_run = {}
    for item in args.runs:
        path = Path(item)
        estimates_path = path / "estimates.json" if path.is_dir() else path
        if path.is_dir() and not estimates_path.is_file():
            raise AuditError(f"{path}: no estimates.json in this run folder (has the run finished?)")
        name = path.name if path.is_dir() else str(path)
        if name in by_run:
            name = str(path)
        by_run[name] = Estimates.load(estimates_path)
    fpr = format(float(args.fpr), "g")
    table = compare_table(by_run, fpr=fpr)
    print(for_terminal(compare_markdown(table, fpr=fpr)))
    if args.csv:
        write_table(table, Path(args.csv), overwrite=args.overwrite)
        print(f"csv: {args.csv}")
    return 0
