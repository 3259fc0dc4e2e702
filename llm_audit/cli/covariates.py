"""`llm-audit covariates`: step 2, the covariates table of a corpus (SPEC §1)."""

from __future__ import annotations

import argparse
import sys

from llm_audit.errors import AuditError

_DEFAULT = "length,date,domain,lexical,tfidf,negative_control"


def add_parser(subparsers: argparse._SubParsersAction) -> None:
    p = subparsers.add_parser(
        "covariates",
        help="compute the covariates of each text (length, date, domain, lexical, TF-IDF/SVD) and the negative-control score",
        description="Write a covariates table keyed by id: properties of each text that do not depend on the "
        "audited model. Missing values are imputed with a <col>_missing indicator. With membership labels, also the "
        "negative_control column: a model-free text classifier's out-of-fold P(member | text), never a covariate.",
    )
    p.add_argument("corpus", help="corpus file (.jsonl[.gz], .csv, .parquet), datasets folder or hub name")
    p.add_argument("--out", required=True, help="output table (.parquet or .csv)")
    p.add_argument("--extractors", default=_DEFAULT, help=f"comma-separated extractors (default {_DEFAULT}; also ref_loss)")
    p.add_argument("--tokenizer", help="tokenizer for n_tokens: a local folder, a .gguf file or a hub id")
    p.add_argument("--date-column", help="metadata column holding dates (ISO dates, years or unix timestamps)")
    p.add_argument("--domain-column", help="metadata column holding the source/domain (or URLs: their host)")
    p.add_argument("--tfidf-k", type=int, default=32, help="TF-IDF/SVD components (default 32)")
    p.add_argument("--seed", type=int, default=0, help="seed of the SVD (default 0)")
    p.add_argument("--reference-scores", help="scores table of an independent reference model (for ref_loss)")
    p.add_argument("--text-column", default="text")
    p.add_argument("--label-column", default="member")
    p.add_argument("--id-column", default="id")
    p.add_argument("--split", help="split of a datasets folder or hub dataset")
    p.add_argument("--empty", choices=("error", "skip"), default="error",
                   help="empty or whitespace-only texts: refuse the corpus (default) or leave them out")
    p.add_argument("--overwrite", action="store_true", help="replace --out if it exists")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from pathlib import Path

    from llm_audit.corpus import load_corpus
    from llm_audit.covariates import extract_covariates
    from llm_audit.tables import check_target, read_table, table_format, write_table

    out = Path(args.out)
    table_format(out)
    check_target(out, overwrite=args.overwrite)
    extractors = [e.strip() for e in args.extractors.split(",") if e.strip()]
    reference = read_table(args.reference_scores) if args.reference_scores else None
    if "ref_loss" in extractors and reference is None:
        raise AuditError("--extractors ref_loss needs --reference-scores")
    corpus = load_corpus(
        args.corpus,
        text_column=args.text_column,
        label_column=args.label_column,
        id_column=args.id_column,
        split=args.split,
        empty=args.empty,
    )
    table = extract_covariates(
        corpus,
        extractors,
        tokenizer=args.tokenizer,
        date_column=args.date_column,
        domain_column=args.domain_column,
        tfidf_k=args.tfidf_k,
        seed=args.seed,
        reference_scores=reference,
    )
    write_table(table, out, overwrite=args.overwrite)
    for note in table.attrs.get("notes", []):
        print(f"llm-audit: note: {note}", file=sys.stderr)
    print(f"wrote {len(table)} rows x {table.shape[1] - 1} covariates to {out}")
    return 0
