"""Packing score requests into batches, and log-probabilities from logits rows."""

import math

import numpy as np
import pytest

from harness.backends.base import ScoreRequest
from harness.backends.packing import pack
from harness.backends.scoring import RowStats, score_rows

LIMITS = dict(max_tokens=100, max_seqs=8, max_rows=100, max_parts=4)


def R(ctx, cont):
    return ScoreRequest(tuple(ctx), tuple(cont))


def covered(batches):
    return sorted(i for b in batches for p in b.parts for i in p.indices)


def test_shared_context_is_one_part_with_one_sequence_per_continuation():
    reqs = [R([1, 2, 3], [4, 5]), R([1, 2, 3], [6]), R([1, 2, 3], [7, 8, 9])]
    (batch,) = pack(reqs, **LIMITS)
    (part,) = batch.parts
    assert part.indices == [0, 1, 2]
    # context once (3) + continuations without their last token (1 + 0 + 2)
    assert part.n_tokens == batch.n_tokens == 6
    # the context's last position, then one row per fed continuation token
    assert part.n_rows == batch.n_rows == 4 and batch.n_seqs == 3


def test_parts_get_consecutive_sequences_and_rows():
    reqs = [R([1], [2, 3]), R([1], [4]), R([5, 6], [7, 8, 9])]
    (batch,) = pack(reqs, **LIMITS)
    a, b = batch.parts
    assert (a.first_seq, a.first_row) == (0, 0)
    assert (b.first_seq, b.first_row) == (2, a.n_rows) == (2, 2)


@pytest.mark.parametrize("limit, value", [("max_parts", 1), ("max_tokens", 5),
                                          ("max_seqs", 2), ("max_rows", 3)])
def test_each_limit_starts_a_new_batch(limit, value):
    reqs = [R([1, 2], [3, 4]), R([1, 2], [5]), R([6, 7], [8, 9])]
    batches = list(pack(reqs, **{**LIMITS, limit: value}))
    assert [[p.indices for p in b.parts] for b in batches] == [[[0, 1]], [[2]]]


def test_a_context_with_too_many_choices_is_split_and_each_part_repeats_it():
    reqs = [R([1, 2], [i, i]) for i in range(10, 15)]
    batches = list(pack(reqs, **{**LIMITS, "max_seqs": 2}))
    parts = [p for b in batches for p in b.parts]
    assert [p.indices for p in parts] == [[0, 1], [2, 3], [4]]
    assert all(b.n_seqs <= 2 for b in batches)


def test_an_oversized_request_still_gets_a_batch_of_its_own():
    reqs = [R([1], [2]), R(list(range(50)), list(range(80))), R([3], [4])]
    batches = list(pack(reqs, **LIMITS))
    assert covered(batches) == [0, 1, 2]
    big = next(b for b in batches if 1 in b.parts[0].indices)
    assert len(big.parts) == 1 and big.n_tokens == 129 > LIMITS["max_tokens"]


def test_every_request_covered_once_under_random_limits():
    rng = np.random.default_rng(1)
    for _ in range(50):
        contexts = [tuple(rng.integers(0, 5, rng.integers(1, 6))) for _ in range(4)]
        reqs = [R(contexts[rng.integers(0, 4)], rng.integers(0, 9, rng.integers(0, 7)))
                for _ in range(20)]
        limits = dict(max_tokens=int(rng.integers(1, 40)), max_seqs=int(rng.integers(1, 6)),
                      max_rows=int(rng.integers(1, 30)), max_parts=int(rng.integers(1, 4)))
        batches = list(pack(reqs, **limits))
        assert covered(batches) == list(range(20))
        for b in batches:
            assert all(len({reqs[i].context for i in p.indices}) == 1 for p in b.parts)
            if len(b.parts) > 1:
                assert b.n_tokens <= limits["max_tokens"] and b.n_seqs <= limits["max_seqs"]


def test_row_stats_equal_a_direct_log_softmax():
    rng = np.random.default_rng(0)
    rows = rng.normal(0, 4, (150, 37)).astype(np.float32)  # more rows than one block
    toks = rng.integers(0, 37, 150)
    ref = rows.astype(np.float64)
    ref = ref - np.log(np.exp(ref).sum(axis=1, keepdims=True))
    res = score_rows(rows, toks)
    assert res.logprob == pytest.approx(ref[np.arange(150), toks].sum(), rel=1e-6)
    assert res.n_tokens == 150 and res.is_greedy is False
    greedy = rows.argmax(axis=1)
    assert score_rows(rows, greedy).is_greedy is True


def test_a_shared_row_is_picked_by_several_continuations():
    rows = np.log(np.array([[0.5, 0.25, 0.25], [0.1, 0.8, 0.1]], dtype=np.float32))
    stats = RowStats(rows)
    assert stats.pick([0, 0], [0, 1])[0] == pytest.approx(math.log(0.5 * 0.25), abs=1e-6)
    assert stats.pick([0, 1], [0, 1]) == (pytest.approx(math.log(0.4), abs=1e-6), True)
    assert stats.pick([], []) == (0.0, True)


def test_nan_logits_raise():
    rows = np.zeros((2, 4), dtype=np.float32)
    rows[1, 2] = np.nan
    with pytest.raises(FloatingPointError, match="NaN"):
        score_rows(rows, [0, 1])


def test_whole_windows_feed_their_last_token_and_four_fill_2048_tokens():
    """llama-perplexity's chunks: 257 context + 255 continuation tokens, all 512 fed (the
    last one without logits), so four windows are exactly four 512-token ubatches."""
    wins = [ScoreRequest(tuple(range(k, k + 257)), tuple(range(k + 257, k + 512)), whole=True)
            for k in range(0, 4000, 512)]
    batches = list(pack(wins, max_tokens=2048, max_seqs=64, max_rows=1024, max_parts=4))
    assert [len(b.parts) for b in batches] == [4, 4]
    assert all(b.n_tokens == 2048 and b.n_rows == 4 * 255 for b in batches)
    plain = [ScoreRequest(w.context, w.continuation) for w in wins]
    (first, *_) = pack(plain, max_tokens=2048, max_seqs=64, max_rows=1024, max_parts=4)
    assert first.n_tokens == 4 * 511  # without `whole` the last token is not fed


def test_skipped_requests_are_left_out_of_every_batch():
    reqs = [R([1, 2], [3]), R([1, 2], [4, 5]), R([1], [2]), R([7], [8])]
    batches = list(pack(reqs, skip={2}, **LIMITS))
    assert covered(batches) == [0, 1, 3]
