"""The named passes of the attack registry as the engine runs them: which model reads which tokens.

A pass is a forward pass over every text: ``main`` (the text under the audited model), ``lowercased`` (the
lowercased text), ``reference`` (the text under the reference model, tokenized by its own tokenizer) and
``prefixed`` (ReCaLL's prefix of known non-member texts in front of every window of the text). Long texts
are scored by the sliding window of ``batching``; ``key`` says what, besides the text, the pass's numbers
depend on (for the score cache).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Callable, Collection, Mapping, Sequence

from llm_audit.corpus import text_hash
from llm_audit.errors import AuditError
from llm_audit.scoring.attacks import PASSES
from llm_audit.scoring.batching import check_window_params
from llm_audit.scoring.model import LoadedModel

PREFIX_SEPARATOR = "\n\n"  # between the texts of the ReCaLL prefix, so that they read as separate documents


@dataclass(frozen=True)
class PassRun:
    """``lm`` reads ``prefix`` then windows of up to ``room`` text tokens, one every ``stride`` tokens; the
    text is lowercased first when ``lowercase``."""

    lm: LoadedModel
    lowercase: bool
    prefix: tuple[int, ...]
    room: int
    stride: int
    key: dict[str, Any]


def model_context(model: Any, tokenizer: Any) -> int:
    config = model.config
    for attr in ("max_position_embeddings", "n_positions", "max_sequence_length", "seq_length"):
        value = getattr(config, attr, None)
        if isinstance(value, int) and value > 0:
            return value
    limit = getattr(tokenizer, "model_max_length", None)
    if isinstance(limit, int) and 0 < limit < 10**7:
        return limit
    raise AuditError("context: the model config gives no context length; pass context= / --context")


def resolve_context(lm: LoadedModel, context: int | None) -> int:
    """``context`` or the model's own; a longer one than the model has positions would fail mid-forward."""
    if context is None:
        return model_context(lm.model, lm.tokenizer)
    try:
        limit = model_context(lm.model, lm.tokenizer)
    except AuditError:  # the model states no length: the caller's context is all there is
        return context
    if context > limit:
        raise AuditError(f"context: {context} tokens, more than the model's {limit} positions")
    return context


def prefixed_window(context: int, stride: int, prefix_tokens: int) -> tuple[int, int]:
    """Text tokens per window and stride when ``prefix_tokens`` sit in front of every window.

    The prefix takes its room from the context; long texts are then scored by the sliding window over the
    text with the prefix kept in front (not truncated: every token gets the same conditioning). The stride
    is kept unless it no longer fits the smaller window, then half of it."""
    room = context - prefix_tokens
    if prefix_tokens > context // 2:
        raise AuditError(f"recall_prefix: {prefix_tokens} tokens, more than half the context ({context}); "
                         "use fewer or shorter prefix texts")
    return room, stride if stride < room else max(1, room // 2)


def _plain(lm: LoadedModel, context: int | None, stride: int | None, lowercase: bool = False) -> PassRun:
    ctx = resolve_context(lm, context)
    used = check_window_params(ctx, stride)
    return PassRun(lm, lowercase, (), ctx, used, {"model": lm.fingerprint["id"], "context": ctx, "stride": used})


def _prefixed(target: LoadedModel, side: Mapping[str, Any], context: int | None, stride: int | None) -> PassRun:
    prefix_text = PREFIX_SEPARATOR.join(side["recall_prefix"])
    # Tokenized as the texts are (special tokens included) and put in front of the text's own tokens, as the
    # authors' code concatenates the two tokenizations.
    prefix = tuple(target.tokenizer(prefix_text, add_special_tokens=True, split_special_tokens=True)["input_ids"])
    plain = _plain(target, context, stride)
    room, used = prefixed_window(plain.room, plain.stride, len(prefix))
    return PassRun(target, False, prefix, room, used, {"model": target.fingerprint["id"], "context": room,
                                                       "stride": used, "recall_prefix_sha256": text_hash(prefix_text)})


_BUILDERS: dict[str, Callable[[LoadedModel, Mapping[str, Any], int | None, int | None], PassRun]] = {
    "main": lambda target, side, context, stride: _plain(target, context, stride),
    "lowercased": lambda target, side, context, stride: _plain(target, context, stride, lowercase=True),
    "reference": lambda target, side, context, stride: _plain(side["reference"], context, stride),
    "prefixed": _prefixed,
}


def build_passes(names: Collection[str], target: LoadedModel, side: Mapping[str, Any], context: int | None,
                 stride: int | None) -> dict[str, PassRun]:
    """The passes ``names``, in ``PASSES`` order, from the audited model and the prepared side data
    (``reference``: a ``LoadedModel``; ``recall_prefix``: the non-empty prefix texts). Refuses a context or
    stride a model cannot take and a prefix too long for the context, before any pass runs."""
    return {name: _BUILDERS[name](target, side, context, stride) for name in PASSES if name in names}


def encode(run: PassRun, texts: Sequence[str], max_tokens: int | None) -> tuple[list[list[int]], list[int]]:
    """The token ids of ``texts`` as ``run`` reads them (cut to ``max_tokens``) and their uncut lengths.

    split_special_tokens: a text that contains "<|endoftext|>" is scored as those characters, not as the
    control token (the tokenizer's own BOS/EOS are still added)."""
    if not texts:
        return [], []
    if run.lowercase:
        texts = [t.lower() for t in texts]
    encoded = run.lm.tokenizer(list(texts), add_special_tokens=True, split_special_tokens=True,
                               verbose=False)["input_ids"]
    lengths = [len(ids) for ids in encoded]
    if max_tokens is not None:
        encoded = [ids[:max_tokens] for ids in encoded]
    return encoded, lengths
