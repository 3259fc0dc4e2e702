"""Length covariates: characters, whitespace words and, with a tokenizer, tokens.

Longer texts get lower per-token losses under any LM, so length confounds every loss-based score.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pandas as pd

from llm_audit.covariates.options import Extracted, ExtractorInput
from llm_audit.errors import AuditError
from llm_audit.paths import local_or_hub
from llm_audit.scorable import token_counts


def length_covariates(corpus: pd.DataFrame, given: ExtractorInput) -> Extracted:
    texts = corpus["text"]
    out = pd.DataFrame(index=corpus.index)
    out["n_chars"] = texts.str.len().astype("float64")
    out["n_words"] = texts.map(lambda t: len(t.split())).astype("float64")
    if given.tokenizer is not None:
        tokenizer = load_tokenizer(given.tokenizer)
        out["n_tokens"] = [float(n) for n in token_counts(tokenizer, texts.tolist(), special_tokens=False)]
    return out, []


def load_tokenizer(spec: Any) -> Any:
    """A tokenizer object from a loaded tokenizer, a local folder, a local .gguf file, or a hub id.

    Local paths are loaded with ``local_files_only=True`` so that they never touch the network.
    """
    if not isinstance(spec, (str, Path)):
        return spec
    from llm_audit.scoring.model import load_tokenizer as load_model_tokenizer  # as the scoring step loads it

    found, local = local_or_hub(spec, missing="tokenizer {name}: no such file or folder")
    path = Path(found)
    try:
        if path.is_file() and path.suffix == ".gguf":
            return load_model_tokenizer(str(path.parent), local=True, gguf_file=path.name)
        return load_model_tokenizer(found, local=local)
    except (OSError, ValueError) as exc:
        first = (str(exc).strip().splitlines() or [type(exc).__name__])[0]
        raise AuditError(f"tokenizer {spec}: cannot be loaded ({first})") from None
