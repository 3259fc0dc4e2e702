"""`llm-audit score`: step 1, the scores table of a corpus under a causal LM."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from llm_audit.errors import AuditError


def _float_list(value: str) -> list[float]:
    try:
        return [float(v) for v in value.split(",") if v.strip()]
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected comma-separated numbers, got {value!r}") from None


def add_parser(subparsers: argparse._SubParsersAction) -> None:
    p = subparsers.add_parser("score", help="score every text under a causal LM (loss, zlib, Min-K%%, Min-K%%++, ReCaLL, DC-PDD, ...)")
    p.add_argument("corpus", help="JSONL(.gz), CSV, Parquet, a datasets folder, or a datasets hub name")
    p.add_argument("--model", required=True, help="local model folder, .gguf file, or hub id")
    p.add_argument("--gguf-file", help="GGUF file inside the model folder / hub repo")
    p.add_argument("--revision", help="hub revision (branch, tag or commit)")
    p.add_argument("--dtype", default="auto", help="auto (fp32 on CPU, bf16/fp16 on GPU), float32, bfloat16, float16")
    p.add_argument("--device", default="auto", help="auto (cuda, mps, cpu), or a torch device")
    p.add_argument("--device-map", choices=("auto", "balanced", "balanced_low_0", "sequential"),
                   help="spread a model too large for one GPU over all GPUs, then CPU, then --offload-folder")
    p.add_argument("--offload-folder", help="folder for the weights --device-map offloads to disk")
    p.add_argument("--allow-pickle", action="store_true", help="allow pickled .bin weights (runs code on load)")
    p.add_argument("--trust-remote-code", action="store_true")
    p.add_argument("--text-column", default="text")
    p.add_argument("--label-column", default="member")
    p.add_argument("--id-column", default="id")
    p.add_argument("--split", help="split of a datasets source")
    p.add_argument("--empty", choices=("error", "skip"), default="error",
                   help="texts too short to score (empty, or fewer than 2 tokens under the model's tokenizer): "
                   "refuse the corpus (default) or leave them out")
    p.add_argument("--scores", default="loss,zlib,mink,minkpp", help="attack families (default: %(default)s)")
    p.add_argument("--k", type=_float_list, default=[0.1, 0.2, 0.5], help="k grid for mink/minkpp (default: 0.1,0.2,0.5)")
    p.add_argument("--max-tokens", type=int, help="truncate texts to this many tokens (recorded in `truncated`)")
    p.add_argument("--stride", type=int, help="sliding-window stride for texts longer than the context (default: context/2)")
    p.add_argument("--context", type=int, help="window length (default: the model's context)")
    p.add_argument("--batch-tokens", type=int,
                   help="token budget of a batch, padding included (default: 2048 on a CPU, 8192 on a GPU)")
    p.add_argument("--cache-dir", help="score cache: re-runs and interrupted runs only score what is missing")
    p.add_argument("--lowercase", action="store_true", help="add the lowercase score (a second pass)")
    p.add_argument("--ref-model", help="reference model for the `ref` score (its own tokenizer)")
    p.add_argument("--recall-prefix", metavar="FILE",
                   help="corpus file of known non-member texts: their concatenation is the ReCaLL prefix (adds `recall`)")
    p.add_argument("--dcpdd-reference", metavar="FILE",
                   help="local reference corpus file for DC-PDD's token frequencies (adds `dcpdd`)")
    p.add_argument("--dcpdd-clip", type=float, default=0.01, help="DC-PDD's clip a of each token's term (default: %(default)s)")
    p.add_argument("--out", required=True, help="scores table, .parquet or .csv")
    p.add_argument("--overwrite", action="store_true", help="replace an existing --out")
    p.add_argument("--no-progress", action="store_true")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from llm_audit.corpus import load_corpus
    from llm_audit.scoring.attacks import choose
    from llm_audit.tables import check_target, table_format, write_table

    out = Path(args.out)
    table_format(out)
    check_target(out, overwrite=args.overwrite)
    families = [s.strip() for s in args.scores.split(",") if s.strip()] + (["lowercase"] if args.lowercase else [])
    side = {"reference": args.ref_model, "recall_prefix": args.recall_prefix, "dcpdd_reference": args.dcpdd_reference}
    choose(families, [name for name, path in side.items() if path])  # refuse unknown names, missing side data
    if not args.dcpdd_clip > 0:
        raise AuditError(f"--dcpdd-clip: must be positive, got {args.dcpdd_clip}")
    corpus = load_corpus(args.corpus, text_column=args.text_column, label_column=args.label_column,
                         id_column=args.id_column, split=args.split, empty=args.empty)
    # Side corpora: read like the scored corpus (same text column), their labels and ids unused.
    prefix = reference_texts = None
    if args.recall_prefix:
        prefix = list(load_corpus(args.recall_prefix, text_column=args.text_column)["text"])
    if args.dcpdd_reference:
        reference_texts = list(load_corpus(args.dcpdd_reference, text_column=args.text_column)["text"])

    from llm_audit.scorable import drop_unscorable
    from llm_audit.scoring import load_model, score_corpus
    from llm_audit.scoring.runner import distributed_state

    if args.offload_folder and not args.device_map:
        raise AuditError("--offload-folder: only with --device-map")
    options = dict(dtype=args.dtype, device=args.device, trust_remote_code=args.trust_remote_code,
                   allow_pickle=args.allow_pickle, device_map=args.device_map, offload_folder=args.offload_folder)
    target = load_model(args.model, gguf_file=args.gguf_file, revision=args.revision, **options)
    reference = load_model(args.ref_model, **options) if args.ref_model else None
    corpus = drop_unscorable(corpus, target.tokenizer, skip=args.empty == "skip", remedy="--empty skip")
    if corpus.attrs["unscorable"]:
        print(f"llm-audit: {corpus.attrs['unscorable']} text(s) of fewer than 2 tokens left out (--empty skip)",
              file=sys.stderr)
    table = score_corpus(corpus, target, scores=families, k_grid=args.k, max_tokens=args.max_tokens,
                         stride=args.stride, context=args.context, max_batch_tokens=args.batch_tokens,
                         cache_dir=args.cache_dir, reference=reference,
                         recall_prefix=prefix, dcpdd_reference=reference_texts, dcpdd_clip=args.dcpdd_clip,
                         progress=not args.no_progress)
    state = distributed_state()
    if state is None or state.is_main_process:
        write_table(table, out, overwrite=args.overwrite)
        print(f"wrote {len(table)} rows x {len([c for c in table.columns if c not in ('id', 'text', 'member')])} "
              f"columns to {out}")
    return 0
