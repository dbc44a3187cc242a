"""Minibatch iterators (d2l 8.3) checked as properties.

The corpus is ``list(range(N))`` so every value names its own position: a
minibatch shows where each subsequence starts, which reveals the epoch's
random offset k.
"""
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from engine.data import num_minibatches, seq_data_iter_random, seq_data_iter_sequential
from engine.errors import ConfigError

ITERATORS = [seq_data_iter_random, seq_data_iter_sequential]


@st.composite
def configs(draw):
    batch_size = draw(st.integers(1, 6))
    num_steps = draw(st.integers(1, 8))
    n = draw(st.integers(batch_size * num_steps + 1, batch_size * num_steps * 6 + 20))
    return n, batch_size, num_steps, draw(st.integers(0, 2**31 - 1))


def epoch(iterator, n, batch_size, num_steps, seed):
    gen = torch.Generator().manual_seed(seed)
    return list(iterator(list(range(n)), batch_size, num_steps, generator=gen))


@settings(max_examples=150, deadline=None)
@given(configs())
def test_random_sampling(config):
    n, batch_size, num_steps, seed = config
    batches = epoch(seq_data_iter_random, n, batch_size, num_steps, seed)
    assert batches, "a corpus long enough for one minibatch must give one"
    for X, Y in batches:
        assert X.dtype == Y.dtype == torch.long
        assert X.shape == Y.shape == (batch_size, num_steps)
        assert torch.equal(Y, X + 1)  # Y is X shifted by one token
        assert torch.equal(X, X[:, :1] + torch.arange(num_steps))  # each row is a contiguous run
    starts = torch.cat([X[:, 0] for X, _ in batches]).tolist()
    k = starts[0] % num_steps
    assert 0 <= k < num_steps and k <= n - 1 - batch_size * num_steps
    # non-overlapping subsequences on the grid k, k + num_steps, ... that fit in the corpus
    assert len(set(starts)) == len(starts)
    assert all((s - k) % num_steps == 0 and s + num_steps <= n - 1 for s in starts)
    assert len(batches) == ((n - 1 - k) // num_steps) // batch_size
    assert len(batches) == num_minibatches(n, batch_size, num_steps, k, sequential=False)


@settings(max_examples=150, deadline=None)
@given(configs())
def test_sequential_partitioning(config):
    n, batch_size, num_steps, seed = config
    batches = epoch(seq_data_iter_sequential, n, batch_size, num_steps, seed)
    assert batches
    X0 = batches[0][0]
    k = int(X0[0, 0])
    assert 0 <= k < num_steps and k <= n - 1 - batch_size * num_steps
    row_len = (n - 1 - k) // batch_size
    assert X0[:, 0].tolist() == [k + i * row_len for i in range(batch_size)]
    assert len(batches) == row_len // num_steps
    assert len(batches) == num_minibatches(n, batch_size, num_steps, k, sequential=True)
    for X, Y in batches:
        assert X.dtype == Y.dtype == torch.long
        assert X.shape == Y.shape == (batch_size, num_steps)
        assert torch.equal(Y, X + 1)
        assert torch.equal(X, X[:, :1] + torch.arange(num_steps))
    for (X, _), (X_next, _) in zip(batches, batches[1:]):
        assert torch.equal(X_next[:, 0], X[:, -1] + 1)  # row i continues row i
    assert int(batches[-1][1].max()) <= n - 1


@pytest.mark.parametrize("iterator", ITERATORS)
def test_offset_varies_between_epochs_and_covers_its_range(iterator):
    num_steps = 5
    ks = set()
    for seed in range(60):
        X, _ = epoch(iterator, 1000, 4, num_steps, seed)[0]
        ks.add(int(X.min()) % num_steps if iterator is seq_data_iter_random else int(X[0, 0]))
    assert ks == set(range(num_steps))


@pytest.mark.parametrize("iterator", ITERATORS)
def test_same_seed_same_epoch(iterator):
    first = epoch(iterator, 500, 3, 7, seed=11)
    second = epoch(iterator, 500, 3, 7, seed=11)
    assert all(torch.equal(a, c) and torch.equal(b, d) for (a, b), (c, d) in zip(first, second))
    assert len(first) == len(second)


def test_random_order_is_shuffled():
    batches = epoch(seq_data_iter_random, 2000, 8, 5, seed=3)
    starts = torch.cat([X[:, 0] for X, _ in batches]).tolist()
    assert starts != sorted(starts)


@pytest.mark.parametrize("iterator", ITERATORS)
def test_corpus_of_exactly_one_minibatch_forces_offset_zero(iterator):
    for seed in range(10):
        batches = epoch(iterator, 3 * 4 + 1, 3, 4, seed)
        assert len(batches) == 1
        assert int(batches[0][0].min()) == 0


@pytest.mark.parametrize("iterator", ITERATORS)
def test_too_short_corpus_is_a_config_error(iterator):
    with pytest.raises(ConfigError, match=r"12 tokens, too few for one minibatch of 3 x 4 \(needs 13\)"):
        iterator(list(range(12)), 3, 4)


@pytest.mark.parametrize("iterator", ITERATORS)
@pytest.mark.parametrize("batch_size,num_steps", [(0, 5), (2, 0), (-1, 3)])
def test_non_positive_sizes_are_config_errors(iterator, batch_size, num_steps):
    with pytest.raises(ConfigError, match="at least 1"):
        iterator(list(range(100)), batch_size, num_steps)


@pytest.mark.parametrize("iterator", ITERATORS)
def test_tensor_corpus_gives_the_same_batches(iterator):
    as_list = epoch(iterator, 300, 2, 6, seed=5)
    gen = torch.Generator().manual_seed(5)
    as_tensor = list(iterator(torch.arange(300), 2, 6, generator=gen))
    assert all(torch.equal(a, c) and torch.equal(b, d) for (a, b), (c, d) in zip(as_list, as_tensor))


@pytest.mark.parametrize("iterator", ITERATORS)
@pytest.mark.parametrize("dtype", [torch.uint8, torch.uint16, torch.uint32, torch.int32])
def test_a_narrow_tensor_corpus_gives_the_same_int64_batches(iterator, dtype):
    # a token file maps uint8/16/32; its windows are widened as they are read, never the whole corpus
    tokens = [i * 37 % 251 for i in range(600)]
    as_list = list(iterator(tokens, 3, 7, generator=torch.Generator().manual_seed(2)))
    narrow = torch.tensor(tokens).to(dtype)
    batches = iterator(narrow, 3, 7, generator=torch.Generator().manual_seed(2))
    assert batches.data is narrow  # no copy of the corpus
    assert len(batches) == len(as_list)
    for (X, Y), (X_ref, Y_ref) in zip(batches, as_list):
        assert X.dtype == Y.dtype == torch.long
        assert torch.equal(X, X_ref) and torch.equal(Y, Y_ref)


@pytest.mark.parametrize("iterator", ITERATORS)
def test_slicing_skips_minibatches_as_a_resumed_epoch_does(iterator):
    batches = iterator(list(range(400)), 2, 5, generator=torch.Generator().manual_seed(4))
    rest = batches[3:]
    assert len(rest) == len(batches) - 3
    assert all(torch.equal(a[0], b[0]) for a, b in zip(rest, list(batches)[3:]))


@pytest.mark.parametrize("iterator", ITERATORS)
@pytest.mark.parametrize("world_size", [1, 2, 4])
def test_shards_split_every_minibatch_into_contiguous_rows(iterator, world_size):
    batches = iterator(list(range(1000)), 8, 6, generator=torch.Generator().manual_seed(9))
    shards = [batches.shard(rank, world_size) for rank in range(world_size)]
    assert all(len(shard) == len(batches) for shard in shards)
    for b, (X, Y) in enumerate(batches):
        assert torch.equal(torch.cat([shard[b][0] for shard in shards]), X)
        assert torch.equal(torch.cat([shard[b][1] for shard in shards]), Y)
    if iterator is seq_data_iter_sequential:  # each worker's rows still continue from minibatch to minibatch
        for shard in shards:
            assert all(torch.equal(B[0][:, 0], A[0][:, -1] + 1) for A, B in zip(shard, shard[1:]))


def test_a_world_size_that_does_not_divide_the_rows_is_refused():
    batches = seq_data_iter_sequential(list(range(200)), 6, 5)
    with pytest.raises(ConfigError, match="4 workers cannot share minibatches of 6 rows evenly"):
        batches.shard(0, 4)
    with pytest.raises(ConfigError, match="rank 3 is not one of the 3 workers"):
        batches.shard(3, 3)
