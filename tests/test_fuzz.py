"""Property-based tests and a bounded fuzz of everything that reads untrusted input (issue #7).

Any input yields a result or the project's own error type, never another exception.  The
targets (``read_corpus_bytes``, ``load_checkpoint_bytes``) are plain functions of bytes, so
scripts/fuzz_long.py runs the same ones for longer, under atheris when it is installed.
"""
import collections
import json
import os
from pathlib import Path

import pytest
import torch
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from engine import Trainer, resolve
from engine.checkpoint import load_model
from engine.checkpoint_file import read_checkpoint, write_checkpoint
from engine.corpus import preprocess, read_text_file
from engine.data import num_minibatches, seq_data_iter_random, seq_data_iter_sequential
from engine.errors import CheckpointError, ConfigError, CorpusError, RnnplayError
from engine.vocab import UNK, Vocab, corpus_from_text, tokenize

# scripts/fuzz_long.py raises the number of examples through the environment
FUZZ = settings(max_examples=int(os.environ.get("RNNPLAY_FUZZ_EXAMPLES", "150")), deadline=None,
                suppress_health_check=[HealthCheck.function_scoped_fixture])
# Codecs a user may name with --encoding: text ones, and ones that are not text at all.
ENCODINGS = [None, "utf-8", "utf-8-sig", "latin-1", "cp1252", "ascii", "utf-16", "utf-32", "idna",
             "punycode", "unicode_escape", "rot13", "hex", "base64", "zlib", "klingon"]


# ------------------------------------------------------------------- targets ----

def read_corpus_bytes(data: bytes, encoding: str | None, path: Path) -> None:
    """Read ``data`` as a corpus file and build both vocabularies; only CorpusError may escape."""
    path.write_bytes(data)
    try:
        text = read_text_file(path, encoding=encoding)
    except CorpusError as exc:
        assert "\n" not in str(exc)
        return
    assert isinstance(text, str) and text.strip() and "\x00" not in text and not text.startswith("\ufeff")
    for token in ("char", "word"):
        for mode in ("book", "raw"):
            try:
                corpus, vocab = corpus_from_text(text, token=token, mode=mode)
            except CorpusError:
                continue
            assert len(corpus) > 0 and max(corpus) < len(vocab)


def load_checkpoint_bytes(data: bytes, path: Path, corpus) -> None:
    """Load ``data`` as a checkpoint for writing, and for resuming a step or two; only RnnplayError
    may escape."""
    path.write_bytes(data)
    try:
        model, vocab, _ = load_model(path)
        assert len(vocab) == model.W_xh.shape[0]
    except CheckpointError as exc:
        assert "\n" not in str(exc)
    try:
        trainer = Trainer.load(path, corpus=corpus)
        for _ in zip(range(2), trainer.run()):  # a resumed run must also be able to go on
            pass
    except RnnplayError as exc:
        assert "\n" not in str(exc)


def seed_checkpoint(path: Path):
    """A small real checkpoint to mutate, and the corpus it was trained on: saved in the middle
    of its second epoch, so it holds every kind of state (best weights, Adam's moments, the
    epoch's random state, the carried hidden state)."""
    corpus, vocab = corpus_from_text("the time traveller for so it will be convenient to speak of him " * 3)
    config = resolve(hidden=6, steps=4, batch=2, epochs=3, iterator="sequential", device="cpu")
    trainer = Trainer(config, corpus, vocab)
    for record in trainer.run():
        if record.epoch == 2 and getattr(record, "step", 0) == 3:
            break
    trainer.save(path)
    return corpus


@pytest.fixture(scope="module")
def seed(tmp_path_factory):
    path = tmp_path_factory.mktemp("seed") / "seed.safetensors"
    torch.set_num_threads(1)
    corpus = seed_checkpoint(path)
    return path.read_bytes(), corpus


# ----------------------------------------------------------------- iterators ----

@FUZZ
@given(n=st.integers(0, 300), batch=st.integers(-1, 10), steps=st.integers(-1, 10),
       seed=st.integers(0, 2**32), sequential=st.booleans())
def test_iterators_on_any_sizes(n, batch, steps, seed, sequential):
    iterator = seq_data_iter_sequential if sequential else seq_data_iter_random
    try:
        batches = list(iterator(list(range(n)), batch, steps, generator=torch.Generator().manual_seed(seed)))
    except ConfigError:
        assert batch < 1 or steps < 1 or n < batch * steps + 1
        return
    assert batches and all(X.shape == Y.shape == (batch, steps) for X, Y in batches)
    assert all(torch.equal(Y, X + 1) for X, Y in batches)  # targets are the next tokens
    assert int(max(Y.max() for _, Y in batches)) <= n - 1
    starts = torch.cat([X[:, 0] for X, _ in batches]).tolist()
    k = starts[0] % steps if not sequential else starts[0]
    assert 0 <= k < steps
    assert len(batches) == num_minibatches(n, batch, steps, k, sequential=sequential)
    if sequential:  # row i of minibatch b + 1 continues row i of minibatch b
        assert all(torch.equal(A[:, -1] + 1, B[:, 0]) for (A, _), (B, _) in zip(batches, batches[1:]))
    else:  # non-overlapping subsequences on one grid
        assert len(set(starts)) == len(starts) and all(s % steps == k for s in starts)


# ---------------------------------------------------------------- vocabulary ----

@FUZZ
@given(text=st.text(max_size=200), token=st.sampled_from(["char", "word"]), mode=st.sampled_from(["book", "raw"]))
def test_vocabulary_on_any_text(text, token, mode):
    tokens = [tok for line in tokenize(preprocess(text, mode), token) for tok in line]
    try:
        corpus, vocab = corpus_from_text(text, token=token, mode=mode)
    except CorpusError:
        assert not tokens
        return
    assert vocab.to_tokens(corpus) == tokens  # every token is in the vocabulary built on them
    assert vocab.idx_to_token[0] == UNK and len(set(vocab.idx_to_token)) == len(vocab)
    assert len(vocab) == len(set(tokens) | {UNK})
    assert dict(vocab.token_freqs) == collections.Counter(tokens)  # brute-force counts
    freqs = [f for _, f in vocab.token_freqs]
    assert freqs == sorted(freqs, reverse=True)
    again = Vocab.from_tokens_list(vocab.idx_to_token)
    assert [again[t] for t in tokens] == corpus


# ------------------------------------------------------------- corpus reader ----

BOMS = st.sampled_from([b"", b"\xef\xbb\xbf", b"\xff\xfe", b"\xfe\xff", b"\xff\xfe\x00\x00"])
TEXT_BYTES = st.builds(lambda bom, text, codec: bom + text.encode(codec, "replace"), BOMS, st.text(max_size=60),
                       st.sampled_from(["utf-8", "utf-16-le", "latin-1", "utf-32-le"]))


@FUZZ
@given(data=st.one_of(st.binary(max_size=300), TEXT_BYTES), encoding=st.sampled_from(ENCODINGS))
def test_corpus_reader_on_any_bytes(tmp_path, data, encoding):
    read_corpus_bytes(data, encoding, tmp_path / "fuzz.txt")


# --------------------------------------------------------- checkpoint loader ----

JSON = st.recursive(st.none() | st.booleans() | st.integers(-3, 40) | st.floats() | st.text(max_size=4),
                    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=4), inner,
                                                                                 max_size=3), max_leaves=6)
TENSORS = st.builds(lambda shape, fill, dtype: torch.full(shape, fill).to(dtype),
                    st.lists(st.integers(0, 7), max_size=3).map(tuple), st.floats(width=32),
                    st.sampled_from([torch.float32, torch.float64, torch.int64, torch.uint8, torch.bool]))


@FUZZ
@given(data=st.binary(max_size=400))
def test_checkpoint_loader_on_random_bytes(tmp_path, seed, data):
    load_checkpoint_bytes(data, tmp_path / "fuzz.safetensors", seed[1])


@FUZZ
@given(cut=st.integers(0, 10**6), flips=st.lists(st.tuples(st.integers(0, 10**6), st.integers(1, 255)), max_size=4))
def test_checkpoint_loader_on_damaged_checkpoints(tmp_path, seed, cut, flips):
    data = bytearray(seed[0][:max(1, cut % (len(seed[0]) + 1))])
    for at, mask in flips:
        if data:
            data[at % len(data)] ^= mask
    load_checkpoint_bytes(bytes(data), tmp_path / "fuzz.safetensors", seed[1])


@FUZZ
@given(section=st.sampled_from(["config", "vocab", "corpus", "progress"]), key=st.text(max_size=12),
       known_key=st.booleans(), value=JSON, tensor=st.none() | st.tuples(st.integers(0, 100), TENSORS | st.none()))
def test_checkpoint_loader_on_well_formed_files_with_odd_contents(tmp_path, seed, section, key, known_key, value,
                                                                  tensor):
    original = tmp_path / "orig.safetensors"
    original.write_bytes(seed[0])
    tensors, meta = read_checkpoint(original)
    meta = {k: v for k, v in meta.items() if k not in ("format", "version")}
    part = meta[section]
    if isinstance(part, dict) and known_key:  # change a field the loader reads
        key = sorted(part)[len(key) % len(part)]
    if isinstance(part, dict):
        part[key] = value
    else:
        meta[section] = value
    if tensor is not None:  # replace (or drop) one tensor
        index, replacement = tensor
        name = sorted(tensors)[index % len(tensors)]
        if replacement is None:
            del tensors[name]
        else:
            tensors[name] = replacement
    path = write_checkpoint(tmp_path / "odd.safetensors", tensors, json.loads(json.dumps(meta)))
    load_checkpoint_bytes(path.read_bytes(), path, seed[1])
