"""``python -m llm_audit.corpora``: build a benchmark corpus as JSON Lines for ``llm-audit`` to read.

    python -m llm_audit.corpora sotu --out runs/inputs/sotu_w128.jsonl.gz
    python -m llm_audit.corpora smollm2 --link runs/inputs
    python -m llm_audit.corpora wikimia --length 64 --out runs/inputs/wikimia64.jsonl
    python -m llm_audit.corpora mimir --subset temporal_arxiv --split 2021_06 --out runs/inputs/mimir.jsonl
    python -m llm_audit.corpora hubble --out runs/inputs/hubble_passages.jsonl
    python -m llm_audit.corpora toaa --out runs/inputs/toaa_canaries.jsonl
"""

from __future__ import annotations

import argparse
import sys

from llm_audit.errors import AuditError


def build_parser() -> argparse.ArgumentParser:
    from llm_audit.corpora import hubble, mimir, sotu, toaa, wikimia

    parser = argparse.ArgumentParser(prog="python -m llm_audit.corpora", description=__doc__.splitlines()[0])
    sub = parser.add_subparsers(dest="corpus", required=True)

    p = sub.add_parser("sotu", help="State of the Union chunks, member = delivered before the cutoff")
    p.add_argument("--out", required=True)
    p.add_argument("--cutoff", default=sotu.SMOLLM2_CUTOFF, help=f"ISO date (default: SmolLM2's, {sotu.SMOLLM2_CUTOFF})")
    p.add_argument("--words", type=int, default=sotu.DEFAULT_WORDS, help="words per chunk")
    p.add_argument("--max-members", type=int, help="draw at most this many member chunks")
    p.add_argument("--max-nonmembers", type=int, help="draw at most this many non-member chunks")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--include-related", action="store_true", help="also the related documents the package carries")

    p = sub.add_parser("smollm2", help="print (and with --link, link into a folder) the SmolLM2 GGUF file")
    p.add_argument("--link", metavar="FOLDER", help="make FOLDER/<file>.gguf a symlink to the installed file")

    p = sub.add_parser("wikimia", help="a WikiMIA split (fields input/label)")
    p.add_argument("--source", default=wikimia.WIKIMIA_HUB, help="hub id or local copy")
    p.add_argument("--length", type=int, default=64, choices=wikimia.LENGTHS)
    p.add_argument("--out", required=True)

    p = sub.add_parser("mimir", help="a MIMIR subset/split (member = the Pile's train split)")
    p.add_argument("--source", default=mimir.MIMIR_HUB, help="hub id or local copy")
    p.add_argument("--subset", default="pile_cc", choices=list(mimir.SPLITS))
    p.add_argument("--split", default="ngram_13_0.8")
    p.add_argument("--revision")
    p.add_argument("--out", required=True)

    p = sub.add_parser("hubble", help="Hubble's inserted passages (member = seen by the perturbed model)")
    p.add_argument("--source", default=hubble.HUBBLE_OWNER, help="hub owner or local folder of the passage files")
    p.add_argument("--datasets", nargs="+", default=list(hubble.PASSAGES), choices=list(hubble.PASSAGES))
    p.add_argument("--revision")
    p.add_argument("--out", required=True)

    p = sub.add_parser("toaa", help="TOAA canaries of OLMo-2-179M (member = inserted into the experiment model)")
    p.add_argument("--source", default=toaa.TOAA_HUB, help="hub id, local copy or parquet file")
    p.add_argument("--tokenizer", default=toaa.TOKENIZER, help="the OLMo-2 tokenizer that decodes input_ids")
    p.add_argument("--conditions", nargs="+", help="keep only these conditions, e.g. rare_8tok_16x")
    p.add_argument("--revision")
    p.add_argument("--out", required=True)

    for p in sub.choices.values():
        if p.prog.endswith("smollm2"):
            continue
        p.add_argument("--overwrite", action="store_true", help="replace --out if it exists")
    return parser


def main(argv: list[str] | None = None) -> int:
    from llm_audit.corpora import (build_sotu, link_smollm2, load_hubble, load_mimir, load_toaa, load_wikimia,
                                   smollm2_gguf, write_jsonl)

    args = build_parser().parse_args(argv)
    try:
        if args.corpus == "smollm2":
            print(link_smollm2(args.link) if args.link else smollm2_gguf())
            return 0
        if args.corpus == "sotu":
            corpus = build_sotu(args.cutoff, args.words, max_members=args.max_members,
                                max_nonmembers=args.max_nonmembers, seed=args.seed,
                                include_related=args.include_related, out=args.out, overwrite=args.overwrite)
        else:
            if args.corpus == "wikimia":
                corpus = load_wikimia(args.source, args.length)
            elif args.corpus == "hubble":
                corpus = load_hubble(args.source, args.datasets, args.revision)
            elif args.corpus == "toaa":
                corpus = load_toaa(args.source, args.tokenizer, conditions=args.conditions, revision=args.revision)
            else:
                corpus = load_mimir(args.source, args.subset, args.split, args.revision)
            write_jsonl(corpus, args.out, overwrite=args.overwrite)
    except AuditError as exc:
        print(f"llm-audit: error: {exc}", file=sys.stderr)
        return 2
    n1 = int(corpus["member"].sum())
    print(f"wrote {len(corpus)} texts ({n1} members, {len(corpus) - n1} non-members) to {args.out}")
    print(corpus.attrs.get("membership", ""))
    return 0


if __name__ == "__main__":
    sys.exit(main())
