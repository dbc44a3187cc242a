"""engine.minibatches: the previews are the iterators' own minibatches, drawn as the trainer draws them."""
import pytest
import torch

import engine.train
from engine.config import resolve
from engine.data import seq_data_iter_random, seq_data_iter_sequential
from engine.errors import ConfigError
from engine.minibatches import first_minibatches, tokens_text
from engine.train import Trainer, split_corpus
from engine.vocab import Vocab

pytestmark = pytest.mark.usefixtures("one_thread")

ITERATORS = {"random": seq_data_iter_random, "sequential": seq_data_iter_sequential}


def text_corpus(n=900, seed=0):
    return torch.randint(0, 20, (n,), generator=torch.Generator().manual_seed(seed)).tolist()


@pytest.mark.parametrize("iterator", ["random", "sequential"])
@pytest.mark.parametrize("seed", [0, 7])
def test_rows_are_the_iterators_minibatches_with_the_trainers_generator(iterator, seed):
    corpus, B, T = text_corpus(), 4, 9
    preview = first_minibatches(corpus, B, T, iterator, 5, seed=seed)
    train, _ = split_corpus(corpus, 0.1)
    want = ITERATORS[iterator](train, B, T, generator=torch.Generator().manual_seed(seed + 1))
    for minibatch, (X, Y) in zip(preview, want):
        assert [row.X for row in minibatch] == X.tolist()
        assert [row.Y for row in minibatch] == Y.tolist()
        for row in minibatch:  # the offset is where X sits in the training text
            assert train[row.start:row.start + T].tolist() == row.X
    assert len(preview) == 5 and [row.row for row in preview[2]] == list(range(B))


def test_sequential_rows_continue_one_another_exactly():
    corpus, B, T = text_corpus(), 3, 8
    preview = first_minibatches(corpus, B, T, "sequential", 6, seed=3)
    train, _ = split_corpus(corpus, 0.1)
    for i in range(B):
        rows = [minibatch[i] for minibatch in preview]
        assert [r.continues for r in rows] == [False] + [True] * 5
        assert all(b.start == a.start + T for a, b in zip(rows, rows[1:]))
        # row i read across the minibatches is one stretch of the text, and its targets too
        joined = sum((r.X for r in rows), [])
        assert joined == train[rows[0].start:rows[0].start + len(joined)].tolist()
        assert all(a.Y[-1] == b.X[0] for a, b in zip(rows, rows[1:]))


def test_random_rows_continue_only_where_they_happen_to():
    preview = first_minibatches(text_corpus(2000), 4, 5, "random", 20, seed=1)
    flags = [(b[i].continues, b[i].start == a[i].start + 5)
             for a, b in zip(preview, preview[1:]) for i in range(4)]
    assert all(flag == truth for flag, truth in flags)
    assert sum(flag for flag, _ in flags) < len(flags) / 4  # random sampling: rarely, by chance


@pytest.mark.parametrize("iterator", ["random", "sequential"])
def test_the_trainer_is_fed_the_previewed_minibatches(iterator, monkeypatch):
    """The trainer's own first epoch, observed by wrapping the iterator it calls."""
    fed = []

    def noted(make):
        def iterate(*args, **kwargs):
            batches = make(*args, **kwargs)
            fed.append(list(batches))
            return batches
        return iterate

    monkeypatch.setattr(engine.train, f"seq_data_iter_{iterator}", noted(ITERATORS[iterator]))
    corpus = text_corpus()
    config = resolve(hidden=4, steps=6, batch=3, epochs=1, seed=11, iterator=iterator, device="cpu")
    trainer = Trainer(config, corpus, Vocab([str(i) for i in range(20)]))
    next(trainer.run())
    first_epoch = fed[-1]
    preview = first_minibatches(corpus, 3, 6, iterator, 4, seed=11, val_fraction=config.val_fraction)
    for minibatch, (X, _) in zip(preview, first_epoch):
        assert [row.X for row in minibatch] == X.tolist()


def test_fewer_minibatches_when_the_epoch_has_fewer():
    preview = first_minibatches(list(range(50)), 2, 5, "sequential", 100, val_fraction=0)
    assert 1 <= len(preview) <= 4


@pytest.mark.parametrize("args,message", [
    ((0, 5, "random", 1), "batch 0"), ((2, 0, "random", 1), "steps 0"), ((2, 5, "random", 0), "count 0"),
    ((2, 5, "random", 101), "count 101"), ((2, 5, "shuffled", 1), "iterator 'shuffled'"),
    ((2, 5, "random", True), "count True"), ((400, 5, "random", 1), "too few for one minibatch"),
])
def test_bad_values_are_one_line_errors(args, message):
    with pytest.raises(ConfigError, match=message) as info:
        first_minibatches(text_corpus(), *args)
    assert "\n" not in str(info.value)
    with pytest.raises(ConfigError, match="val_fraction"):
        first_minibatches(text_corpus(), 2, 5, "random", 1, val_fraction=0.9)


def test_tokens_text_joins_characters_and_words():
    chars, words = Vocab(list("abc")), Vocab(["the", "time"])
    assert tokens_text(chars, chars[list("cab ")], "char") == "cab<unk>"
    assert tokens_text(words, words[["time", "the"]], "word") == "time the"
