"""Per-token moments against explicit sums over the vocabulary; windows score every token once."""

from __future__ import annotations

import math
import zlib

import numpy as np
import pytest
import torch

from llm_audit.errors import AuditError
from llm_audit.scoring.attacks import AttackInput
from llm_audit.scoring.attacks.mink import mink, n_smallest
from llm_audit.scoring.attacks.minkpp import minkpp
from llm_audit.scoring.attacks.zlib_ratio import zlib_ratio
from llm_audit.scoring.batching import MIN_FILL, Window, check_window_params, collate, length_blocks, pack, plan_windows
from llm_audit.scoring.stats import TokenStats, head_stats, logits_stats


def explicit(logits: torch.Tensor, targets: torch.Tensor):
    lp = torch.log_softmax(logits.double(), dim=-1)
    p = lp.exp()
    mean = (p * lp).sum(-1)
    var = (p * lp * lp).sum(-1) - mean**2
    return lp.gather(1, targets[:, None])[:, 0], mean, var


@pytest.mark.parametrize("scale", [0.05, 1.0, 8.0])
@pytest.mark.parametrize("row_chunk, vocab_chunk", [(7, 100), (1024, 2048), (3, 1001)])
def test_head_moments_equal_explicit_sums(scale, row_chunk, vocab_chunk):
    gen = torch.Generator().manual_seed(0)
    hidden = torch.randn(37, 16, generator=gen)
    weight = torch.randn(1001, 16, generator=gen) * scale
    bias = torch.randn(1001, generator=gen) * scale
    targets = torch.randint(0, 1001, (37,), generator=gen)
    got = head_stats(hidden, weight, targets, bias=bias, row_chunk=row_chunk, vocab_chunk=vocab_chunk)
    want = explicit(hidden.double() @ weight.double().T + bias.double(), targets)
    for g, w in zip(got, want):
        np.testing.assert_allclose(g.double().numpy(), w.numpy(), atol=1e-5, rtol=1e-5)


@pytest.mark.parametrize("threads", [1, 2, 3])
def test_row_blocks_on_several_threads_give_the_same_moments(threads):
    gen = torch.Generator().manual_seed(2)
    hidden = torch.randn(301, 16, generator=gen)
    weight = torch.randn(777, 16, generator=gen) * 2
    targets = torch.randint(0, 777, (301,), generator=gen)
    before = torch.get_num_threads()
    torch.set_num_threads(threads)
    try:
        got = head_stats(hidden, weight, targets, row_chunk=50, vocab_chunk=128)
    finally:
        torch.set_num_threads(before)
    assert torch.get_num_threads() == before
    for g, w in zip(got, explicit(hidden.double() @ weight.double().T, targets)):
        np.testing.assert_allclose(g.double().numpy(), w.numpy(), atol=1e-5)


def test_softcap_and_logits_fallback_match_explicit_sums():
    gen = torch.Generator().manual_seed(1)
    hidden = torch.randn(11, 8, generator=gen)
    weight = torch.randn(300, 8, generator=gen) * 5
    targets = torch.randint(0, 300, (11,), generator=gen)
    capped = 3.0 * torch.tanh((hidden @ weight.T) / 3.0)
    want = explicit(capped, targets)
    for got in (head_stats(hidden, weight, targets, softcap=3.0, vocab_chunk=64),
                logits_stats(capped, targets, vocab_chunk=77)):
        for g, w in zip(got, want):
            np.testing.assert_allclose(g.double().numpy(), w.numpy(), atol=1e-5)


@pytest.mark.parametrize("n_tokens", [1, 2, 5, 64, 65, 200])
@pytest.mark.parametrize("stride", [1, 7, 32, 63])
def test_windows_score_every_token_once_within_the_context(n_tokens, stride):
    windows = plan_windows(0, n_tokens, 64, stride)
    scored = [j for w in windows for j in range(w.first, w.end)]
    assert scored == list(range(1, n_tokens))
    for w in windows:
        assert w.end - w.begin <= 64 and w.begin < w.first


def test_stride_must_leave_context():
    assert check_window_params(64, None) == 32
    for bad in (0, 64, 100):
        with pytest.raises(AuditError, match="stride"):
            check_window_params(64, bad)


@pytest.mark.parametrize("side", ["right", "left"])
def test_collate_masks_padding_and_restarts_positions(side):
    tokens = [list(range(10, 20)), [5, 6, 7]]
    windows = plan_windows(0, 10, 6, 3) + plan_windows(1, 3, 6, 3)
    batches = pack(windows, max_batch_tokens=12)  # lengths 6, 6, 4, 3: 4 and 3 fill less than 0.85 of 6 and 4
    assert [len(b) for b in batches] == [2, 1, 1]
    batch = collate(windows, tokens, pad_id=0, padding_side=side)
    assert int(batch.attention_mask.sum()) == sum(w.end - w.begin for w in windows)
    assert int(batch.predict.sum()) == 9 + 2
    for r, w in enumerate(windows):
        real = batch.attention_mask[r].bool()
        assert batch.input_ids[r][real].tolist() == tokens[w.text][w.begin : w.end]
        assert batch.position_ids[r][real].tolist() == list(range(w.end - w.begin))
        targets = batch.input_ids[r, 1:][batch.predict[r]].tolist()
        assert targets == tokens[w.text][w.first : w.end]


def _fits(rows: list[int], budget: int) -> bool:
    """The packing rule, stated directly: rows x widest within the budget, every row >= MIN_FILL of the widest."""
    return len(rows) * max(rows) <= budget and min(rows) >= MIN_FILL * max(rows)


@pytest.mark.parametrize("seed", range(5))
def test_pack_grows_each_batch_while_the_budget_and_the_width_bound_hold(seed):
    rng = np.random.default_rng(seed)
    lengths = np.sort(rng.integers(1, 300, size=200))[::-1].tolist()
    lengths[50:50] = [400, 400, 123]  # out of order, as a long text's last window is
    windows = [Window(i, 0, n, 1) for i, n in enumerate(lengths)]
    batches = pack(windows, 2048)
    assert [w for b in batches for w in b] == windows  # every window once, in the given order
    for b, after in zip(batches, batches[1:] + [None]):
        rows = [w.end - w.begin for w in b]
        assert len(rows) == 1 or _fits(rows, 2048)
        if after is not None:  # greedy: the next window would have broken the rule
            assert not _fits(rows + [after[0].end - after[0].begin], 2048)
    assert pack([Window(0, 0, 5000, 1)], 2048) == [[Window(0, 0, 5000, 1)]]  # longer than the budget: alone


def test_length_blocks_sort_windows_by_length_within_consecutive_blocks():
    lengths = [512, 512, 300, 512, 200, 100, 512, 90, 80, 64, 70]
    order = length_blocks(lengths, 1500)
    # blocks close once they hold >= 1500 tokens: [0, 1, 2, 3] (1836), [4..10]
    assert order == [0, 1, 3, 2, 6, 4, 5, 7, 8, 10, 9]
    assert length_blocks([], 100) == []


def test_reductions_on_known_values():
    logp = np.array([-1.0, -5.0, -2.0, -0.5, -3.0, -4.0, -0.1, -0.2, -0.3, -0.4])
    stats = TokenStats(logp, logp - 1.0, np.full(10, 4.0))

    def view(stats: TokenStats, text: str = "") -> AttackInput:
        return AttackInput({"main": stats}, text, np.zeros(len(stats.logp), dtype=np.int64))

    assert n_smallest(10, 0.1) == 1 and n_smallest(30, 0.1) == 3 and n_smallest(7, 0.2) == 2
    assert mink(view(stats), 0.2) == pytest.approx((-5.0 - 4.0) / 2)
    assert minkpp(view(stats), 0.5) == pytest.approx(0.5)  # (l - (l-1)) / 2 for every token
    text = "héllo wörld " * 5
    assert zlib_ratio(view(stats, text), None) == pytest.approx(logp.mean() / len(zlib.compress(text.encode("utf-8"))))
    assert math.isnan(mink(view(TokenStats(np.zeros(0), np.zeros(0), np.zeros(0))), 0.2))
