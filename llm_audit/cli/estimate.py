"""`llm-audit estimate`: step 3, naive vs causally corrected memorization (SPEC §4-§5)."""

from __future__ import annotations

import argparse

from llm_audit.errors import AuditError


def _floats(text: str) -> tuple[float, ...]:
    try:
        return tuple(float(x) for x in text.split(",") if x.strip())
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected comma-separated numbers, got '{text}'") from None


def add_parser(subparsers: argparse._SubParsersAction) -> None:
    p = subparsers.add_parser(
        "estimate",
        help="naive and confounding-corrected (IPW, doubly robust) MIA metrics with intervals and diagnostics",
        description="Join a scores table and a covariates table on id and write estimates.json: per score the "
        "naive, IPW and doubly robust AUC, TPR@FPR, advantage and mean difference with 95%% intervals, and the "
        "overlap, balance, placebo and sensitivity diagnostics.",
    )
    p.add_argument("--scores", required=True, help="scores table (.parquet or .csv) with id, member and score columns")
    p.add_argument("--covariates", required=True, help="covariates table (.parquet or .csv) keyed by id")
    p.add_argument("--out", required=True, help="output estimates.json")
    p.add_argument("--target", default="ate", choices=["ate", "att", "atc"], help="target population (default ate)")
    p.add_argument("--eta", type=float, default=0.02, help="propensity clip bound (default 0.02)")
    p.add_argument("--trim", action="store_true", help="drop units with propensity outside [eta, 1-eta] instead of clipping")
    p.add_argument("--folds", type=int, default=5, help="cross-fitting folds (default 5)")
    p.add_argument("--propensity", default="logistic", choices=["logistic", "hgb"], help="propensity model (default logistic)")
    p.add_argument("--outcome", default="linear", choices=["linear", "hgb"], help="DR outcome model (default linear)")
    p.add_argument("--bootstrap", type=int, default=1000, help="bootstrap replicates (default 1000; 0: no intervals)")
    p.add_argument("--fpr", type=_floats, default=(0.001, 0.01, 0.05), help="FPR targets (default 0.001,0.01,0.05)")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--dp-epsilon", type=float, help="the model was trained with (epsilon, delta)-DP: check the AUC bound")
    p.add_argument("--dp-delta", type=float, default=0.0)
    p.add_argument("--scores-cols", help="comma-separated score columns (default: every numeric non-reserved column)")
    p.add_argument("--refit-propensity", action="store_true",
                   help="refit the cross-fitted propensity inside each bootstrap replicate (slow; default: kept fixed)")
    p.add_argument("--jobs", type=int, default=-1, help="parallel bootstrap jobs (default: all cores)")
    p.add_argument("--overwrite", action="store_true", help="replace --out if it exists")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from pathlib import Path

    from llm_audit.estimate import estimate
    from llm_audit.tables import read_table

    out = Path(args.out)
    if out.exists() and not args.overwrite:
        raise AuditError(f"{out}: already exists (pass --overwrite to replace it)")
    if not out.parent.is_dir():
        raise AuditError(f"{out}: folder {out.parent} does not exist")
    scores = read_table(args.scores)
    covariates = read_table(args.covariates)
    cols = [c.strip() for c in args.scores_cols.split(",") if c.strip()] if args.scores_cols else None
    est = estimate(
        scores, covariates, scores=cols, target=args.target, eta=args.eta, trim=args.trim, folds=args.folds,
        propensity=args.propensity, outcome=args.outcome, n_bootstrap=args.bootstrap, fpr=args.fpr,
        seed=args.seed, dp_epsilon=args.dp_epsilon, dp_delta=args.dp_delta, n_jobs=args.jobs,
        refit_propensity=args.refit_propensity,
    )
    est.save(out, overwrite=args.overwrite)
    print(est.summary())
    print(f"\nwrote {out}")
    return 0
