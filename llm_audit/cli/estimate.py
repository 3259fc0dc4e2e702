"""`llm-audit estimate`: step 3, naive vs causally corrected memorization (docs/method.md §5-§7)."""

from __future__ import annotations

import argparse
import sys
from typing import TYPE_CHECKING

from llm_audit.cli._options import add_options, gather
from llm_audit.errors import AuditError

if TYPE_CHECKING:
    import pandas as pd


def _naming_files(exc: AuditError, tables: dict[str, str | None]) -> AuditError:
    """The estimators name their inputs by role ("scores table: ..."); on the command line, name the file."""
    message = str(exc)
    for label, path in tables.items():
        if path is None:
            continue
        if message.startswith(f"{label}:"):
            message = f"{path}{message[len(label):]}"
        if label.endswith(" table"):  # "ids: 2 id(s) in the scores table are missing from the covariates table"
            message = message.replace(f"the {label} ", f"{path} ").replace(f"the {label},", f"{path},")
    return AuditError(message)


def _on_common_ids(scores: pd.DataFrame, covariates: pd.DataFrame, scores_path: str, covariates_path: str,
                   common: bool) -> tuple[pd.DataFrame, pd.DataFrame]:
    """(scores, covariates) on the ids both tables hold. Tables with different id sets are refused, saying
    how many ids are in one table only, unless ``common`` (``--common-ids``): then both are cut to the common
    ids and a note in estimates.json says what was left out."""
    if "id" not in scores.columns or "id" not in covariates.columns:
        return scores, covariates  # the estimator names the missing column
    s_ids, c_ids = scores["id"].astype(str), covariates["id"].astype(str)
    if s_ids.duplicated().any() or c_ids.duplicated().any():
        return scores, covariates  # and the repeated ids
    in_both = set(s_ids) & set(c_ids)
    only_s, only_c = int((~s_ids.isin(in_both)).sum()), int((~c_ids.isin(in_both)).sum())
    if not only_s and not only_c:
        return scores, covariates
    only = f"{only_s} id(s) only in {scores_path}, {only_c} only in {covariates_path}"
    if not in_both:
        raise AuditError(f"ids: {only}, none in both")
    if not common:
        raise AuditError(f"ids: {only}, {len(in_both)} in both; pass --common-ids to estimate on those")
    note = f"--common-ids: estimated on the {len(in_both)} ids in both tables; left out {only}"
    print(f"llm-audit: note: {note}", file=sys.stderr)
    covariates = covariates[c_ids.isin(in_both).to_numpy()].reset_index(drop=True)
    covariates.attrs["notes"] = [*covariates.attrs.get("notes", []), note]
    return scores[s_ids.isin(in_both).to_numpy()].reset_index(drop=True), covariates


SECTIONS = ("estimate",)


def add_parser(subparsers: argparse._SubParsersAction) -> None:
    p = subparsers.add_parser(
        "estimate",
        help="naive and confounding-corrected (IPW, doubly robust) MIA metrics with intervals and diagnostics",
        description="Join a scores table and a covariates table on id and write estimates.json: per score the "
        "naive, IPW and doubly robust AUC, TPR@FPR, advantage and mean difference with 95% intervals, and the "
        "overlap, balance, placebo and sensitivity diagnostics. The method, the diagnostics and the verdict rules "
        "are described in docs/method.md of the llm-audit repository (§4 regimes, §5 estimators, §6 diagnostics, "
        "§7 verdicts).",
    )
    p.add_argument("--scores", required=True, help="scores table (.parquet or .csv) with id, member and score columns; "
                   "multi-run: a long table (run, id, score columns), one row per run and text")
    p.add_argument("--covariates", help="covariates table (.parquet or .csv) keyed by id (zero-run only; required there)")
    p.add_argument("--scores-without", help="paired regime: the same ids scored by the model that did not see the "
                   "inserted texts (--scores: by the model that did, its `member` column = inserted)")
    p.add_argument("--common-ids", action="store_true",
                   help="tables with different id sets: estimate on the ids both hold (default: refuse, with the counts)")
    p.add_argument("--scores-cols", help="comma-separated score columns (default: every numeric non-reserved column)")
    p.add_argument("--out", required=True, help="output estimates.json")
    p.add_argument("--overwrite", action="store_true", help="replace --out if it exists")
    add_options(p, SECTIONS)
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from pathlib import Path

    from llm_audit import steps
    from llm_audit.tables import check_target, read_table, write_table

    out = Path(args.out)
    if out.suffix.lower() != ".json":  # before any work: the estimates are JSON whatever the name says
        raise AuditError(f"--out: {args.out}: must end in .json (the estimates are written as JSON)")
    options = gather(args, SECTIONS)["estimate"]
    per_unit_out = out.with_name(f"{out.stem}_per_unit.parquet") if options.regime in ("multi-run", "paired") else None
    for path in (out, per_unit_out):
        if path is not None:
            check_target(path, overwrite=args.overwrite)
    if options.regime == "zero-run" and not args.covariates:
        raise AuditError("--covariates: required for the zero-run regime")
    if (options.regime == "paired") != bool(args.scores_without):
        raise AuditError("--scores-without: required for, and only for, --regime paired")
    scores = read_table(args.scores)
    cols = [c.strip() for c in args.scores_cols.split(",") if c.strip()] if args.scores_cols else None
    tables = {"scores table": args.scores, "covariates table": args.covariates, "scores": args.scores,
              "scores (model with the texts)": args.scores, "scores (model without them)": args.scores_without,
              "inclusion": options.inclusion, "inclusion probabilities": options.inclusion}
    try:
        covariates = None
        if options.regime == "zero-run":
            scores, covariates = _on_common_ids(scores, read_table(args.covariates), args.scores, args.covariates,
                                                args.common_ids)
        without = read_table(args.scores_without) if args.scores_without else None
        est = steps.estimate(scores, covariates, options, score_columns=cols, scores_without=without)
    except AuditError as exc:
        raise _naming_files(exc, tables) from None
    if args.covariates and options.regime != "zero-run":
        why = ("the pair observes both potential scores of every text" if options.regime == "paired"
               else f"membership was randomized ({options.regime})")
        est.add_note(f"--covariates ignored: {why}, so no covariate correction is made")
    if per_unit_out is not None:
        write_table(est.tables["per_unit"], per_unit_out)
    est.save(out, overwrite=args.overwrite)
    print(est.summary())
    print(f"\nwrote {out}" + (f" and {per_unit_out}" if per_unit_out is not None else ""))
    return 0
