"""The word split a GGUF file names, rebuilt on the tokenizer that transformers makes from the file.

A GGUF file holds a byte-level BPE vocabulary and its merges, but only the *name* of the rule that cuts a
text into words before the merges apply (``tokenizer.ggml.pre``; llama.cpp keeps the rules in its source,
``src/llama-vocab.cpp``). transformers knows some names and splits the others the GPT-2 way, so a text can
come out as a token sequence the model never saw in training. Under SmolLM2 (``smollm``: every number
character is a word of its own) the ``" ½"`` of ``It weighs ½ pound.`` became ``ĠÂ`` + ``½`` (the space glued
to the first byte of ½) instead of ``Ġ`` + ``Â½``: loss -11.08 instead of the model's own -6.81. Fractions,
superscripts and non-ASCII digits after a space are hit.

Each name below maps to what the ``tokenizer.json`` of that model family on the Hugging Face hub does before
the merges (normalizer, pre-tokenizer, BPE ``ignore_merges``): the tokenization the model was trained with.
Its words agree with llama.cpp's regex list for the name; ``tests/test_gguf_tokenizer.py`` checks both
against a plain re-implementation. A name outside the table is refused rather than guessed.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable

from tokenizers import Regex, normalizers, pre_tokenizers

from llm_audit.errors import AuditError

# The split regexes of the families' tokenizer.json files (llama.cpp spells the case-insensitive
# contractions out as '[sS]... for its regex engine; the words are the same).
LLAMA3_SPLIT = (r"(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}{1,3}| ?[^\s\p{L}\p{N}]+[\r\n]*"
                r"|\s*[\r\n]+|\s+(?!\S)|\s+")
QWEN2_SPLIT = (r"(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}| ?[^\s\p{L}\p{N}]+[\r\n]*"
               r"|\s*[\r\n]+|\s+(?!\S)|\s+")


def _gpt2() -> Any:
    """GPT-2's split, built into ByteLevel (``use_regex``), then the byte-to-character mapping."""
    return pre_tokenizers.ByteLevel(add_prefix_space=False, use_regex=True)


def _digits_then_gpt2() -> Any:
    """Every character of Unicode category N alone (``Digits``), then GPT-2's split (SmolLM, StarCoder)."""
    return pre_tokenizers.Sequence([pre_tokenizers.Digits(individual_digits=True), _gpt2()])


def _split(pattern: str) -> Callable[[], Any]:
    """Each match of ``pattern`` is a word, and so is each stretch between matches; then the byte mapping."""
    return lambda: pre_tokenizers.Sequence([pre_tokenizers.Split(Regex(pattern), behavior="isolated"),
                                            pre_tokenizers.ByteLevel(add_prefix_space=False, use_regex=False)])


@dataclass(frozen=True)
class Pretokenization:
    """What a family's tokenizer does to a text before the BPE merges."""

    pre_tokenizer: Callable[[], Any]
    nfc: bool = False  # Unicode NFC first (composed accents)
    ignore_merges: bool = False  # a word that is itself in the vocabulary is one token, whatever the merges say


_GPT2 = Pretokenization(_gpt2)
_DIGITS_GPT2 = Pretokenization(_digits_then_gpt2)
_LLAMA3 = Pretokenization(_split(LLAMA3_SPLIT), ignore_merges=True)
_QWEN2 = Pretokenization(_split(QWEN2_SPLIT), nfc=True)

# llama.cpp's names (tokenizer.ggml.pre) -> the family's own pipeline. Only names whose hub tokenizer.json
# could be checked are listed; a name llama.cpp shares between families that differ (a normalizer, say) is not.
PRETOKENIZATIONS: dict[str, Pretokenization] = {
    "gpt-2": _GPT2,
    "phi-2": _GPT2,
    "smollm": _DIGITS_GPT2,
    "starcoder": _DIGITS_GPT2,
    "llama-bpe": _LLAMA3,
    "llama3": _LLAMA3,
    "llama-v3": _LLAMA3,
    "qwen2": _QWEN2,
}


def gguf_tokenizer_names(path: str | Path) -> tuple[str | None, str | None]:
    """``tokenizer.ggml.model`` (the vocabulary kind: ``gpt2`` is byte-level BPE) and ``tokenizer.ggml.pre``
    of a GGUF file; None where the file has no such key."""
    from gguf import GGUFReader  # transformers needs the package to read a GGUF file at all

    fields = GGUFReader(str(path)).fields

    def text(key: str) -> str | None:
        field = fields.get(key)
        return None if field is None else bytes(field.parts[field.data[0]]).decode("utf-8")

    return text("tokenizer.ggml.model"), text("tokenizer.ggml.pre")


def apply_gguf_pretokenizer(tokenizer: Any, path: str | Path) -> Any:
    """``tokenizer`` (a fast tokenizer transformers built from the GGUF file ``path``) with the normalizer,
    pre-tokenizer and merge rule of the family the file names; AuditError for a name not in the table.

    Only byte-level BPE vocabularies have a pre-tokenizer; SentencePiece and other vocabularies are left
    as transformers built them. The change shows in the tokenizer's JSON, hence in the model fingerprint
    and the score-cache key: scores cached under the old split are not reused."""
    kind, name = gguf_tokenizer_names(path)
    if kind != "gpt2":
        return tokenizer
    known = ", ".join(sorted(PRETOKENIZATIONS))
    if name is None:
        raise AuditError(f"{path}: no tokenizer.ggml.pre key, so the word split the model was trained with is "
                         f"unknown; use a GGUF file that names it ({known}) or the model's folder with tokenizer.json")
    rule = PRETOKENIZATIONS.get(name)
    if rule is None:
        raise AuditError(f"{path}: tokenizer.ggml.pre '{name}' is a word split llm-audit does not reproduce "
                         f"(it does {known}); load the model from its folder with tokenizer.json instead")
    backend = tokenizer.backend_tokenizer
    backend.normalizer = normalizers.NFC() if rule.nfc else None
    backend.pre_tokenizer = rule.pre_tokenizer()
    backend.model.ignore_merges = rule.ignore_merges
    return tokenizer
