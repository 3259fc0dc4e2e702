"""Token frequencies of a local reference corpus under the audited model's tokenizer (DC-PDD's calibration).

f(t) = (count(t) + 1) / (total + |V|): add-one smoothing as in the DC-PDD authors' code, so a token absent
from the reference corpus gets a finite log(1/f). |V| is ``len(tokenizer)``, every id the tokenizer can
produce. Texts are tokenized without special tokens (a BOS counted once per document is not a frequency of
the language) and in full (no truncation: the whole local corpus is the estimate).
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from typing import Any, Sequence

import numpy as np

from llm_audit.errors import AuditError

DEFAULT_CLIP = 0.01
_CHUNK = 1000  # texts per tokenizer call: bounds the memory of the id lists


@dataclass(frozen=True)
class TokenFrequencies:
    """Counts per token id, DC-PDD's clip ``a``, and the derived log(1/f)."""

    counts: np.ndarray
    clip: float = DEFAULT_CLIP
    log_inverse: np.ndarray = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        if not self.clip > 0:
            raise AuditError(f"dcpdd_clip: must be positive, got {self.clip}")
        counts = np.asarray(self.counts, dtype=np.int64)
        object.__setattr__(self, "counts", counts)
        frequency = (counts + 1) / (counts.sum() + len(counts))
        object.__setattr__(self, "log_inverse", -np.log(frequency))

    def key(self) -> dict[str, Any]:
        """What the score cache must tell apart: the table (by hash) and the clip."""
        return {"dcpdd_counts_sha256": hashlib.sha256(self.counts.tobytes()).hexdigest(), "dcpdd_clip": self.clip}


def count_tokens(texts: Sequence[str], tokenizer: Any, *, clip: float = DEFAULT_CLIP, source: str = "dcpdd_reference") -> TokenFrequencies:
    """The token counts of ``texts`` under ``tokenizer``; ``source`` names the input in errors."""
    texts = [t for t in texts if isinstance(t, str) and t]
    if not texts:
        raise AuditError(f"{source}: the reference corpus has no text")
    counts = np.zeros(len(tokenizer), dtype=np.int64)
    for start in range(0, len(texts), _CHUNK):
        ids = tokenizer(texts[start : start + _CHUNK], add_special_tokens=False, split_special_tokens=True,
                        verbose=False)["input_ids"]
        flat = np.fromiter((i for row in ids for i in row), dtype=np.int64)
        counts += np.bincount(flat, minlength=len(counts))[: len(counts)]
    if not counts.sum():
        raise AuditError(f"{source}: the reference corpus has no token")
    return TokenFrequencies(counts, clip)
