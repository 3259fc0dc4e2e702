"""One batched forward pass -> per-token statistics for every window in the batch.

The transformer body runs once on the padded batch; the LM head is applied only at the scored positions,
tile by tile (``stats.head_stats``), so the full B x T x V logits are never built. Models whose head is not a
plain linear layer over the body's last hidden state (checked numerically once per model) fall back to the
model's own logits, reduced in vocabulary slices.

A model spread over devices (``device_map``) keeps accelerate's hooks: inputs go to the embeddings' device,
the body's last hidden state moves to the head's device, and a head offloaded to CPU/disk (its weight on the
``meta`` device outside the hooks) is reached only through the model's own forward.
"""

from __future__ import annotations

import weakref
from typing import NamedTuple

import numpy as np
import torch

from llm_audit.scoring.batching import Batch
from llm_audit.scoring.stats import TokenStats, head_stats, logits_stats


class Head(NamedTuple):
    body: torch.nn.Module
    weight: torch.Tensor
    bias: torch.Tensor | None
    softcap: float | None


_HEADS: "weakref.WeakKeyDictionary[torch.nn.Module, Head | None]" = weakref.WeakKeyDictionary()


def resolve_head(model: torch.nn.Module) -> Head | None:
    """The (body, LM head) split of ``model`` when body + linear head reproduces its logits, else None.

    Checked once per model object (one 8-token forward), then remembered."""
    if model not in _HEADS:
        _HEADS[model] = _check_head(model)
    return _HEADS[model]


def _check_head(model: torch.nn.Module) -> Head | None:
    body = getattr(model, getattr(model, "base_model_prefix", ""), None)
    head = model.get_output_embeddings() if hasattr(model, "get_output_embeddings") else None
    if body is None or not isinstance(head, torch.nn.Linear) or head.weight.device.type == "meta":
        return None
    softcap = getattr(model.config, "final_logit_softcapping", None)
    candidate = Head(body, head.weight, head.bias, softcap)
    vocab = head.weight.shape[0]
    ids = (torch.arange(8, device=input_device(model)) * 7919 % vocab).unsqueeze(0)
    with torch.inference_mode():
        full = model(input_ids=ids, use_cache=False).logits[0].float()
        hidden = body(input_ids=ids, use_cache=False)[0][0].to(head.weight.device)
        mine = torch.nn.functional.linear(hidden, head.weight, head.bias).float()
        if softcap is not None:
            mine = softcap * torch.tanh(mine / softcap)
    full = full.to(mine.device)
    scale = full.abs().max().clamp_min(1.0)
    return candidate if torch.allclose(mine, full, rtol=0, atol=1e-3 * float(scale)) else None


def input_device(model: torch.nn.Module) -> torch.device:
    """Where the input ids go: the embeddings' device (for a model spread by ``device_map``, the device its
    hook computes them on when their weights are offloaded)."""
    embeddings = model.get_input_embeddings() if hasattr(model, "get_input_embeddings") else None
    if embeddings is None:
        return next(model.parameters()).device
    hook = getattr(embeddings, "_hf_hook", None)
    execution = getattr(hook, "execution_device", None)
    if execution is not None:
        return torch.device(execution if not isinstance(execution, int) else f"cuda:{execution}")
    return embeddings.weight.device


def batch_stats(
    model: torch.nn.Module,
    head: Head | None,
    batch: Batch,
    *,
    row_chunk: int | None = None,
    vocab_chunk: int | None = None,
) -> list[tuple[np.ndarray, np.ndarray, np.ndarray]]:
    """Per window of ``batch`` (in order): float64 arrays (logp, mean, var) of its scored tokens."""
    device = input_device(model)
    ids = batch.input_ids.to(device)
    kwargs = dict(
        input_ids=ids,
        attention_mask=batch.attention_mask.to(device),
        position_ids=batch.position_ids.to(device),
        use_cache=False,
    )
    predict = batch.predict.to(device)
    targets = ids[:, 1:][predict]
    with torch.inference_mode():
        if head is not None:
            out = head.weight.device
            hidden = head.body(**kwargs)[0][:, :-1].to(out)[predict.to(out)]
            stats = head_stats(hidden, head.weight, targets.to(out), bias=head.bias, softcap=head.softcap,
                               row_chunk=row_chunk, vocab_chunk=vocab_chunk)
        else:
            logits = model(**kwargs).logits[:, :-1]
            logits = logits[predict.to(logits.device)]
            stats = logits_stats(logits, targets.to(logits.device), vocab_chunk=vocab_chunk)
    counts = batch.predict.sum(dim=1).tolist()
    arrays = [t.double().cpu().numpy() for t in stats]
    splits = np.cumsum(counts)[:-1]
    return list(zip(*(np.split(a, splits) for a in arrays)))


def as_token_stats(parts: list[tuple[np.ndarray, np.ndarray, np.ndarray]]) -> TokenStats:
    """Join the per-window arrays of one text (in window order) into its statistics."""
    if not parts:
        empty = np.zeros(0)
        return TokenStats(empty, empty, empty)
    return TokenStats(*(np.concatenate(a) for a in zip(*parts)))
