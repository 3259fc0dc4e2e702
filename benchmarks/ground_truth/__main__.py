"""``python -m benchmarks.ground_truth``: train, audit and print truth vs one-run vs zero-run."""

from __future__ import annotations

import argparse
import json
import os
import platform
import sys
from pathlib import Path

from benchmarks.ground_truth import data
from benchmarks.ground_truth.sizes import SIZES
from llm_audit.errors import AuditError

REPO = Path(__file__).resolve().parents[2]

ABOUT = """\
Does the zero-run correction match what retraining shows? `benchmarks/ground_truth/` trains small GPT-2
models on real text (Pile documents of 6 domains: the subset the package ships at `--small`, the
`pile_domains` folder it was cut from, 6 x 1000 documents, named by `LLM_AUDIT_PILE_DOMAINS` or `--data-dir`,
at the larger sizes) and compares, per score:

1. a byte-level BPE tokenizer and a base LM pretrained on documents outside the audit pool;
2. the audit pool: one chunk per document, 100 per domain at the default size, length drawn uniformly;
3. **truth** (multi-run): R fine-tunes of the base model, each on its own Bernoulli(1/2) half of the pool
   mixed with a fixed replay slice of base text; every model scores the whole pool
   (`llm_audit.scoring.score_corpus`); `llm_audit.estimate.regimes.multi_run` pools the (run, unit) pairs;
4. **one-run**: one more such fine-tune, `one_run` with p = 1/2;
5. **zero-run**: a fine-tune where P(member) = sigmoid(a z), z the standardized linear prediction of the base
   model's loss score from domain and length (members are the texts any model finds easy), audited with
   `llm_audit.estimate.estimate` on covariates length, domain, lexical and TF-IDF/SVD: naive, IPW and DR.

Every step is seeded and cached under `.cache/ground_truth/<size>-<hash>-<data>-seed<seed>/` (the pool, each
run's scores, `results.json`, `timings.json`): an interrupted run resumes, a finished one only prints.
`--small` (CI, `tests/test_ground_truth.py`) runs the same path with a 0.1M-parameter model on 240 texts;
`--threads 1` is much faster than torch's default when other jobs share the cores."""


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.ground_truth", description=__doc__.splitlines()[0])
    parser.add_argument("--size", choices=sorted(SIZES), default="default")
    parser.add_argument("--small", dest="size", action="store_const", const="small", help="same as --size small")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--cache-dir", type=Path, default=REPO / ".cache" / "ground_truth")
    parser.add_argument("--data-dir", type=Path, default=data.default_source(),
                        help=f"the pile_domains folder (default: ${data.DATA_ENV} if set, else the Pile subset the "
                        "package ships, which fits --small only)")
    parser.add_argument("--write-readme", action="store_true",
                        help="write the table into the 'Ground truth' section of benchmarks/README.md")
    parser.add_argument("--threads", type=int, help="torch CPU threads for this process (default: torch's); "
                        "1 is much faster for these small models when other jobs share the cores")
    parser.add_argument("--design-matched", action="store_true",
                        help="also R runs with the strongest confounded propensity (separates interference)")
    parser.add_argument("--quiet", action="store_true")
    return parser


def machine() -> str:
    return f"{platform.machine()}, {os.cpu_count()} CPU cores visible, {platform.system()} (shared with other jobs)"


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    size = SIZES[args.size]
    try:  # before torch is imported: data too small for the size is refused in a second
        documents = data.load_documents(args.data_dir)
        data.check_fits(documents, size, args.data_dir)
    except AuditError as exc:
        print(f"benchmarks.ground_truth: error: {exc}", file=sys.stderr)
        return 2
    # Imported here so that --help and a refusal stay fast.
    import torch

    from benchmarks.ground_truth.experiment import Context, run_benchmark
    from benchmarks.ground_truth.table import render, write_readme_section

    if args.threads:
        torch.set_num_threads(args.threads)
    # The cache folder names the data too: the shipped subset and pile_domains give different pools.
    folder = args.cache_dir / f"{size.key()}-{data.fingerprint(documents)}-seed{args.seed}"
    log = (lambda _: None) if args.quiet else (lambda msg: print(msg, file=sys.stderr, flush=True))
    log(f"ground truth benchmark, size {size.name}, seed {args.seed}, data {args.data_dir}, cache {folder}")
    results = run_benchmark(Context(size=size, seed=args.seed, folder=folder, documents=documents,
                                    design_matched=args.design_matched, log=log))
    table = render(results)
    print(table)
    timings = results["timings_s"]
    print(f"\nstep times (s): {json.dumps(timings)}; total {sum(timings.values()):.0f} s")
    if args.write_readme:
        threads = f" --threads {args.threads}" if args.threads else ""
        matched = " --design-matched" if args.design_matched else ""
        command = (f"python -m benchmarks.ground_truth --size {size.name} --seed {args.seed}{threads}{matched} "
                   "--write-readme")
        body = ABOUT + (
            f"\n\nMeasured: `{command}` (size `{size.name}`: {size.runs} runs, {6 * size.pool_per_domain} pool "
            f"texts of {size.chunk_tokens[0]}-{size.chunk_tokens[1]} tokens, GPT-2 d={size.d_model} x "
            f"{size.n_layer} layers, vocab {size.vocab_size}, {size.n_bootstrap} bootstrap replicates). Machine: "
            f"{machine()}. Step times: {sum(timings.values()) / 60:.1f} min in all.\n\n{table}\n")
        write_readme_section(REPO / "benchmarks" / "README.md", body)
    return 0


if __name__ == "__main__":
    sys.exit(main())
