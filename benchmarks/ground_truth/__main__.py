"""``python -m benchmarks.ground_truth``: train, audit and print truth vs one-run vs zero-run."""

from __future__ import annotations

import argparse
import json
import os
import platform
import sys
from pathlib import Path

from benchmarks.ground_truth.data import DATA_DIR
from benchmarks.ground_truth.sizes import SIZES

REPO = Path(__file__).resolve().parents[2]


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.ground_truth", description=__doc__.splitlines()[0])
    parser.add_argument("--size", choices=sorted(SIZES), default="default")
    parser.add_argument("--small", dest="size", action="store_const", const="small", help="same as --size small")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--cache-dir", type=Path, default=REPO / ".cache" / "ground_truth")
    parser.add_argument("--data-dir", type=Path, default=DATA_DIR, help="the pile_domains folder")
    parser.add_argument("--write-readme", action="store_true",
                        help="write the table into the 'Ground truth' section of benchmarks/README.md")
    parser.add_argument("--threads", type=int, help="torch CPU threads for this process (default: torch's); "
                        "1 is much faster for these small models when other jobs share the cores")
    parser.add_argument("--quiet", action="store_true")
    return parser


def machine() -> str:
    return f"{platform.machine()}, {os.cpu_count()} CPU cores visible, {platform.system()} (shared with other jobs)"


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    # Imported here so that --help stays fast.
    import torch

    from benchmarks.ground_truth.experiment import Context, run_benchmark
    from benchmarks.ground_truth.table import render, write_readme_section

    if args.threads:
        torch.set_num_threads(args.threads)
    size = SIZES[args.size]
    folder = args.cache_dir / f"{size.key()}-seed{args.seed}"
    log = (lambda _: None) if args.quiet else (lambda msg: print(msg, file=sys.stderr, flush=True))
    log(f"ground truth benchmark, size {size.name}, seed {args.seed}, cache {folder}")
    results = run_benchmark(Context(size=size, seed=args.seed, folder=folder, data_dir=args.data_dir, log=log))
    table = render(results)
    print(table)
    timings = results["timings_s"]
    print(f"\nstep times (s): {json.dumps(timings)}; total {sum(timings.values()):.0f} s")
    if args.write_readme:
        threads = f" --threads {args.threads}" if args.threads else ""
        command = f"python -m benchmarks.ground_truth --size {size.name} --seed {args.seed}{threads} --write-readme"
        body = (f"Command: `{command}` (size `{size.name}`: {size.runs} runs, "
                f"{6 * size.pool_per_domain} pool texts, GPT-2 d={size.d_model} x {size.n_layer} layers, "
                f"vocab {size.vocab_size}). Machine: {machine()}. Wall time of the steps: "
                f"{sum(timings.values()) / 60:.1f} min.\n\n{table}")
        write_readme_section(REPO / "benchmarks" / "README.md", body)
    return 0


if __name__ == "__main__":
    sys.exit(main())
