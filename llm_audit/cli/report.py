"""`llm-audit report`: report.md and report.html from a run folder or from an estimates.json."""

from __future__ import annotations

import argparse
from pathlib import Path

from llm_audit.cli._options import add_options, gather
from llm_audit.errors import AuditError

SECTIONS = ("report",)


def add_parser(subparsers: argparse._SubParsersAction) -> None:
    p = subparsers.add_parser("report", help="write report.md / report.html from a run folder or an estimates.json")
    p.add_argument("run_dir", nargs="?", help="a run folder (reads its estimates.json)")
    p.add_argument("--estimates", help="an estimates.json (instead of a run folder)")
    p.add_argument("--out-dir", help="where to write the reports (default: the run folder, or the estimates' folder)")
    p.add_argument("--title", help="the report's title")
    p.add_argument("--overwrite", action="store_true", help="replace existing report files in the output folder")
    add_options(p, SECTIONS)
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from llm_audit.estimate.results import Estimates
    from llm_audit.report import write_report
    from llm_audit.tables import check_target

    if (args.run_dir is None) == (args.estimates is None):
        raise AuditError("report: give a run folder or --estimates FILE (one of the two)")
    formats = gather(args, SECTIONS)["report"].formats
    if args.run_dir is not None:
        run_dir = Path(args.run_dir)
        if not run_dir.is_dir():
            raise AuditError(f"{run_dir}: no such run folder")
        estimates_path = run_dir / "estimates.json"
        out_dir = Path(args.out_dir) if args.out_dir else run_dir
        title = args.title or f"llm-audit: {run_dir.name}"
    else:
        estimates_path = Path(args.estimates)
        out_dir = Path(args.out_dir) if args.out_dir else estimates_path.parent
        title = args.title or "llm-audit report"
    if out_dir.is_dir():  # a missing folder is created below; existing reports are kept unless asked
        for fmt in formats:
            check_target(out_dir / f"report.{fmt}", overwrite=args.overwrite)
    estimates = Estimates.load(estimates_path)
    for path in write_report(estimates, out_dir, formats=formats, title=title):
        print(f"report: {path}")
    return 0
