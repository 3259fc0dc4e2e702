"""The `llm-audit` command line.

Each subcommand is one module in this package with ``add_parser(subparsers)`` that registers itself and
sets ``func``. Modules import their heavy dependencies (torch, transformers) inside the command function,
so ``llm-audit estimate`` never loads torch.
"""

from __future__ import annotations

import argparse
import importlib
import os
import pkgutil
import sys

from llm_audit import __version__
from llm_audit.errors import AuditError

# The order they are listed in `llm-audit --help`; any other module in this package follows.
_ORDER = ["run", "demo", "score", "covariates", "estimate", "report", "compare"]


def _command_modules() -> list[str]:
    found = {m.name for m in pkgutil.iter_modules(__path__) if not m.name.startswith("_")}
    return [n for n in _ORDER if n in found] + sorted(found - set(_ORDER))


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="llm-audit",
        description="Audit a causal LM for memorization of texts: naive and confounding-corrected MIA metrics.",
    )
    parser.add_argument("--version", action="version", version=f"llm-audit {__version__}")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for name in _command_modules():
        importlib.import_module(f"{__name__}.{name}").add_parser(sub)
    return parser


def quiet_loading() -> None:
    """--no-progress also silences the libraries' own bars (weights loading, GGUF dequantizing)."""
    os.environ["HF_HUB_DISABLE_PROGRESS_BARS"] = "1"
    os.environ["TQDM_DISABLE"] = "1"


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    if getattr(args, "no_progress", False):
        quiet_loading()
    try:
        return int(args.func(args) or 0)
    except AuditError as exc:
        print(f"llm-audit: error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("llm-audit: interrupted", file=sys.stderr)
        return 130
    except BrokenPipeError:  # `llm-audit compare ... | head`: the reader left; stop without a traceback
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())  # (the Python docs' recipe)
        return 1


if __name__ == "__main__":
    sys.exit(main())
