"""`llm-audit oracle`: grade the zero-run estimator against the exact truth of a model pair (docs/paired.md).

Two scores tables of the same candidate texts (under the model that saw the inserted ones, and under the one
that did not) give the oracle; confounded member sets drawn with a stated propensity on the covariates are then
audited like any corpus, and every method's interval is graded against the oracle."""

from __future__ import annotations

import argparse
from typing import TYPE_CHECKING

from llm_audit.cli._options import add_options, gather
from llm_audit.errors import AuditError

if TYPE_CHECKING:
    from llm_audit.estimate.options import EstimateConfig
    from llm_audit.estimate.oracle import OracleResult

SECTIONS = ("estimate",)
# Set by the harness itself: its seed draws the member sets, its FPR targets grade; the truth is the whole
# pool's (target ate) under the zero-run estimator.
HARNESS_KEYS = ("seed", "fpr", "regime", "inclusion", "inclusion_p")


def _terms(text: str) -> dict[str, float]:
    """``n_tokens:-1,domain=github:1.5`` -> {"n_tokens": -1.0, "domain=github": 1.5}."""
    out = {}
    for part in (p.strip() for p in text.split(",") if p.strip()):
        key, sep, coef = part.rpartition(":")
        try:
            out[key] = float(coef)
        except ValueError:
            raise argparse.ArgumentTypeError(f"expected COVARIATE:COEF or COLUMN=VALUE:COEF, got {part!r}") from None
        if not sep or not key:
            raise argparse.ArgumentTypeError(f"expected COVARIATE:COEF or COLUMN=VALUE:COEF, got {part!r}")
    return out


def add_parser(subparsers: argparse._SubParsersAction) -> None:
    p = subparsers.add_parser(
        "oracle",
        help="grade the zero-run estimator against the exact truth of a model pair (docs/paired.md)",
        description="Read the scores of the same candidate texts under two models (one saw the inserted texts, "
        "the other did not) and their covariates; write the pair's oracle (the exact causal AUC of the inserted "
        "texts), then audit DRAWS confounded member sets drawn with the stated propensity and grade every "
        "method's interval against the oracle. The estimate options (--config, --set, flags) are those of every "
        "draw's zero-run estimate; --seed draws the member sets, --fpr sets the graded TPR targets.",
    )
    p.add_argument("--scores-with", required=True, help="scores table under the model that saw the inserted texts "
                   "(its `member` column: 1 = inserted)")
    p.add_argument("--scores-without", required=True, help="scores table of the same ids under the other model")
    p.add_argument("--covariates", required=True, help="covariates table keyed by id")
    p.add_argument("--selection", required=True, type=_terms, metavar="TERMS",
                   help="the stated propensity of the drawn member sets, logit of the member probability: comma-separated COVARIATE:COEF (standardized numeric "
                   "covariate) or COLUMN=VALUE:COEF (indicator), e.g. n_tokens:-1,domain=github:1.5")
    p.add_argument("--strength", type=float, default=1.0, help="multiplies the terms (default 1)")
    p.add_argument("--share", type=float, default=0.5, help="expected share of members among the inserted texts")
    p.add_argument("--hidden", default="", help="comma-separated covariates the propensity uses but the estimator "
                   "does not see (unmeasured confounding)")
    p.add_argument("--draws", type=int, default=100, help="confounded member sets to audit (default 100)")
    p.add_argument("--truth-bootstrap", type=int, default=1000, help="bootstrap replicates of the oracle's own "
                   "interval (default 1000)")
    p.add_argument("--draw-jobs", type=int, default=1, help="draws audited in parallel processes (default 1; each "
                   "estimate also takes --jobs)")
    p.add_argument("--out-dir", required=True, help="folder for oracle.json, grades.parquet, draws.parquet, "
                   "coverage.md")
    p.add_argument("--overwrite", action="store_true", help="replace existing files in --out-dir")
    add_options(p, SECTIONS)
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from pathlib import Path

    from llm_audit.tables import atomic_write_text, check_target, write_table

    out = Path(args.out_dir)
    files = {name: out / name for name in ("oracle.json", "grades.parquet", "draws.parquet", "coverage.md")}
    if out.exists() and not out.is_dir():
        raise AuditError(f"--out-dir: {out} is not a folder")
    if out.is_dir():
        for path in files.values():
            check_target(path, overwrite=args.overwrite)
    if not 0 < args.share < 1:
        raise AuditError(f"--share: must be in (0, 1), got {args.share}")
    options = gather(args, SECTIONS)["estimate"]
    if options.regime != "zero-run":
        raise AuditError(f"--regime: the harness grades the zero-run estimator, got {options.regime}")
    if options.target != "ate":
        raise AuditError(f"--target: the oracle truth is the whole pool's (ate), got {options.target}")
    try:
        result = _audit(args, options)
    except AuditError as exc:  # the harness names the stated propensity by role; here it is --selection
        message = str(exc)
        raise AuditError(f"--selection{message[len('propensity'):]}" if message.startswith("propensity:")
                         else message) from None
    out.mkdir(parents=True, exist_ok=True)
    result.truth.save(files["oracle.json"], overwrite=args.overwrite)
    write_table(result.grades, files["grades.parquet"], overwrite=args.overwrite)
    write_table(result.draws, files["draws.parquet"], overwrite=args.overwrite)
    atomic_write_text(files["coverage.md"], result.summary() + "\n", overwrite=args.overwrite)
    print(result.summary())
    print(f"\nwrote {', '.join(str(p) for p in files.values())}")
    return 0


def _audit(args: argparse.Namespace, options: EstimateConfig) -> OracleResult:
    from dataclasses import asdict

    from llm_audit.estimate.oracle import Propensity, oracle_audit
    from llm_audit.tables import read_table

    return oracle_audit(
        read_table(args.scores_with), read_table(args.scores_without), read_table(args.covariates),
        Propensity(args.selection, strength=args.strength, share=args.share), draws=args.draws,
        hidden=[h.strip() for h in args.hidden.split(",") if h.strip()], seed=options.seed, fpr=options.fpr,
        truth_bootstrap=args.truth_bootstrap, n_jobs=args.draw_jobs,
        estimate_options={k: v for k, v in asdict(options).items() if k not in HARNESS_KEYS},
    )
