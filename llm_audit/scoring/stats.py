"""Per-token statistics of a causal LM: log-prob of the actual token and the moments of log p.

For each scored position, with z the next-token logits and p = softmax(z):
``l = log p(target)``, ``mu = sum_v p log p`` and ``var = sum_v p (log p)^2 - mu^2``. Every score of docs/method.md §8
is a reduction of these three arrays.

Why not ``log_softmax`` on the full logits: a B x T x V tensor for a 50k vocabulary is hundreds of MB and
every elementwise pass over it is memory-bound. Here the LM head is applied tile by tile (rows x a slice of
the vocabulary, a few MB that stay in cache) and each tile is folded into running sums of a streaming
("online") softmax: the running max m, S0 = sum e^(z-m), S1 = sum e^(z-m)(z-m), S2 = sum e^(z-m)(z-m)^2.
Since log p = z - logsumexp(z), the variance of log p is the variance of z under p: var = S2/S0 - (S1/S0)^2,
and mu = S1/S0 - log S0. Centering at the running max keeps S1, S2 on the scale of the spread of z, so the
subtraction stays exact to ~1e-6 in fp32.
"""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from typing import Any, NamedTuple

import torch


class TokenStats(NamedTuple):
    """Per scored token: log-prob of the actual token, mean and variance of log p.

    1-D float tensors inside the engine; per text, float64 numpy arrays (what the attacks reduce)."""

    logp: Any
    mean: Any
    var: Any


def _fold(state: tuple[torch.Tensor, ...] | None, z: torch.Tensor) -> tuple[torch.Tensor, ...]:
    """Fold one tile of fp32 logits (rows x vocab slice; overwritten) into the running (m, S0, S1, S2)."""
    tile_max = z.amax(dim=-1)
    if state is None:
        m = tile_max
        s0 = s1 = s2 = None
    else:
        m_old, s0, s1, s2 = state
        m = torch.maximum(m_old, tile_max)
        d = m_old - m  # <= 0: re-express the old sums around the new max
        scale = torch.exp(d)
        s2 = scale * (s2 + d * (2 * s1 + d * s0))
        s1 = scale * (s1 + d * s0)
        s0 = scale * s0
    z.sub_(m.unsqueeze(-1))
    e = torch.exp(z)
    t0 = e.sum(dim=-1)
    t1 = torch.linalg.vecdot(e, z)
    t2 = torch.linalg.vecdot(e.mul_(z), z)
    if s0 is None:
        return m, t0, t1, t2
    return m, s0 + t0, s1 + t1, s2 + t2


def _finish(state: tuple[torch.Tensor, ...], target_logit: torch.Tensor) -> TokenStats:
    m, s0, s1, s2 = state
    log_s0 = torch.log(s0)
    ez = s1 / s0
    var = (s2 / s0 - ez * ez).clamp_min(0.0)
    return TokenStats(logp=target_logit - m - log_s0, mean=ez - log_s0, var=var)


def default_tile(device: torch.device) -> tuple[int, int]:
    """(rows, vocabulary entries) of one logits tile. CPU: 256 x 1024 fp32 (1 MB, stays in a core's L2 cache).
    Accelerators: 4096 x 16384 (256 MB), so that each tile's matmul and elementwise kernels are large enough
    for launch overhead not to dominate; there memory bandwidth, not cache, is the limit."""
    return (256, 1024) if device.type == "cpu" else (4096, 16384)


def head_stats(
    hidden: torch.Tensor,
    weight: torch.Tensor,
    targets: torch.Tensor,
    *,
    bias: torch.Tensor | None = None,
    softcap: float | None = None,
    row_chunk: int | None = None,
    vocab_chunk: int | None = None,
) -> TokenStats:
    """Statistics of ``softmax(hidden @ weight.T + bias)`` at ``targets`` (see ``_head_stats_block``);
    tile sizes left at None follow ``default_tile``.

    On a multi-threaded CPU the rows are split into one block per thread, each block reduced by a
    single-threaded worker. Why: the tiles' elementwise passes are many short parallel regions, and each
    one waits for its slowest thread; on a busy machine a descheduled thread stalls every region (measured
    20x slower on 2 loaded cores), while independent single-threaded workers never wait for each other."""
    threads = torch.get_num_threads()
    rows, cols = default_tile(hidden.device)
    kwargs = dict(bias=bias, softcap=softcap, row_chunk=row_chunk or rows, vocab_chunk=vocab_chunk or cols)
    n = hidden.shape[0]
    if hidden.device.type != "cpu" or threads <= 1:
        return _head_stats_block(hidden, weight, targets, **kwargs)
    workers = max(1, min(threads, n // 64))
    blocks = [slice(i * n // workers, (i + 1) * n // workers) for i in range(workers)]
    torch.set_num_threads(1)
    try:
        if workers == 1:
            return _head_stats_block(hidden, weight, targets, **kwargs)
        def work(block: slice) -> TokenStats:
            with torch.inference_mode():  # grad mode is per thread: the workers do not inherit the caller's
                return _head_stats_block(hidden[block], weight, targets[block], **kwargs)

        with ThreadPoolExecutor(workers) as pool:
            parts = list(pool.map(work, blocks))
    finally:
        torch.set_num_threads(threads)
    return TokenStats(*(torch.cat(p) for p in zip(*parts)))


def _head_stats_block(
    hidden: torch.Tensor,
    weight: torch.Tensor,
    targets: torch.Tensor,
    *,
    bias: torch.Tensor | None = None,
    softcap: float | None = None,
    row_chunk: int = 256,
    vocab_chunk: int = 1024,
) -> TokenStats:
    """Statistics of ``softmax(hidden @ weight.T + bias)`` at ``targets``, never holding more than one
    ``row_chunk x vocab_chunk`` tile of logits. ``hidden`` is (n, d), ``targets`` (n,); results are fp32.

    The default tile (256 x 1024 fp32, 1 MB) stays in a core's L2 cache through the elementwise passes;
    the vocabulary slice is the outer loop so that its weights stay in cache across row chunks.
    ``softcap`` reproduces Gemma-style final logit soft-capping (``cap * tanh(z / cap)``).
    """
    n, vocab = hidden.shape[0], weight.shape[0]
    if n == 0:
        empty = hidden.new_zeros(0, dtype=torch.float32)
        return TokenStats(empty, empty, empty)
    rows = [slice(r, r + row_chunk) for r in range(0, n, row_chunk)]
    states: list[tuple[torch.Tensor, ...] | None] = [None] * len(rows)
    for v in range(0, vocab, vocab_chunk):
        w = weight[v : v + vocab_chunk]
        b = None if bias is None else bias[v : v + vocab_chunk]
        for i, r in enumerate(rows):
            z = torch.nn.functional.linear(hidden[r], w, b).float()
            if softcap is not None:
                z = softcap * torch.tanh(z / softcap)
            states[i] = _fold(states[i], z)
    # The target logit as its own dot product: cheaper than finding it inside the tiles.
    zt = torch.linalg.vecdot(hidden, weight[targets]).float()
    if bias is not None:
        zt = zt + bias[targets].float()
    if softcap is not None:
        zt = softcap * torch.tanh(zt / softcap)
    return TokenStats(*(torch.cat(parts) for parts in zip(*(_finish(st, zt[r]) for st, r in zip(states, rows)))))


def logits_stats(logits: torch.Tensor, targets: torch.Tensor, *, vocab_chunk: int | None = None) -> TokenStats:
    """The same statistics from already computed logits (n, V): the fallback for models whose LM head is
    not a plain linear layer."""
    vocab_chunk = vocab_chunk or default_tile(logits.device)[1]
    state = None
    for v in range(0, logits.shape[-1], vocab_chunk):
        state = _fold(state, logits[:, v : v + vocab_chunk].float().clone())
    zt = logits.gather(1, targets[:, None])[:, 0].float()
    return _finish(state, zt)
