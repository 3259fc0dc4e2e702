"""`llm-audit covariates`: step 2, the covariates table of a corpus (docs/method.md §9)."""

from __future__ import annotations

import argparse
import sys

from llm_audit.cli._options import add_options, gather

SECTIONS = ("corpus", "covariates")
POSITIONAL = {"corpus.path": "corpus"}


def add_parser(subparsers: argparse._SubParsersAction) -> None:
    p = subparsers.add_parser(
        "covariates",
        help="compute the covariates of each text (length, date, domain, lexical, TF-IDF/SVD) and the negative-control score",
        description="Write a covariates table keyed by id: properties of each text that do not depend on the "
        "audited model. Missing values are imputed with a <col>_missing indicator. With membership labels, also the "
        "negative_control column: a model-free text classifier's out-of-fold P(member | text), never a covariate. "
        "With --config, the tokenizer of n_tokens defaults to the config's model, as in `llm-audit run`.",
    )
    p.add_argument("--out", required=True, help="output table (.parquet or .csv)")
    p.add_argument("--overwrite", action="store_true", help="replace --out if it exists")
    add_options(p, SECTIONS, positional=POSITIONAL)
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from pathlib import Path

    from llm_audit import steps
    from llm_audit.corpus import load_corpus_section
    from llm_audit.scoring.options import ModelConfig
    from llm_audit.tables import check_target, table_format, write_table

    out = Path(args.out)
    table_format(out)
    check_target(out, overwrite=args.overwrite)
    o = gather(args, SECTIONS, positional=POSITIONAL)
    options, empty = o["covariates"], o["corpus"].empty
    corpus = load_corpus_section(o["corpus"])
    tokenizer = steps.covariates_tokenizer(options, o["config"].model if o["config"] else ModelConfig())
    if tokenizer is not None:
        from llm_audit.covariates.length import load_tokenizer
        from llm_audit.scorable import drop_unscorable

        # The scorer's rule, so that `score` and `covariates` leave out the same texts.
        tokenizer = load_tokenizer(tokenizer)
        corpus = drop_unscorable(corpus, tokenizer, skip=empty == "skip", remedy="--empty skip")
        if corpus.attrs["unscorable"]:
            print(f"llm-audit: {corpus.attrs['unscorable']} text(s) of fewer than 2 tokens left out (--empty skip)",
                  file=sys.stderr)
    elif empty == "skip":
        print("llm-audit: note: without --tokenizer, texts too short to score (fewer than 2 tokens) cannot be "
              "found and are kept; give the audited model's tokenizer to leave out what `llm-audit score` leaves out",
              file=sys.stderr)
    table = steps.covariates(corpus, options, tokenizer=tokenizer)
    write_table(table, out, overwrite=args.overwrite)
    for note in table.attrs.get("notes", []):
        print(f"llm-audit: note: {note}", file=sys.stderr)
    print(f"wrote {len(table)} rows x {table.shape[1] - 1} covariates to {out}")
    return 0
