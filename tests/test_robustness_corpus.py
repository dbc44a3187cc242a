"""Issue #7, corpus rows: odd texts and prompts give a result or one clear line, never a traceback.

Covered elsewhere: the reader's refusals one by one (tests/test_corpus.py: empty file, BOM,
invalid UTF-8 offsets, UTF-16, NUL bytes, the sparse file over the cap), a train or validation
split too short (tests/test_train.py::test_too_little_text_is_a_config_error), the explicit word
vocabulary cap (tests/test_vocab.py), foreign and empty prompts in the engine (tests/test_generate.py).
"""
import codecs
import json
import sys
from dataclasses import replace
from pathlib import Path

import pytest
import torch

from engine import ConfigError, CorpusError, Trainer, generate, resolve
from engine.corpus import PREPARED_MAX_BYTES
from engine.train import StepRecord, TrainHooks
from engine.vocab import DEFAULT_MAX_VOCAB, corpus_from_text
from robustness_support import TEXT, cli, fails_in_one_line, tiny_checkpoint

BIG = 200 * 1024 * 1024


def sparse(path: Path, size: int) -> Path:
    with open(path, "wb") as fh:  # no data on disk, only a size
        fh.truncate(size)
    return path


# ------------------------------------------------------------ minibatch edges ----

@pytest.mark.parametrize("iterator", ["random", "sequential"])
def test_exactly_num_steps_plus_one_tokens_is_one_minibatch_per_epoch(iterator):
    corpus, vocab = corpus_from_text("abcdef")  # 6 tokens = num_steps + 1
    config = resolve(hidden=4, steps=5, batch=1, epochs=3, val_fraction=0, iterator=iterator, device="cpu")
    seen = []
    trainer = Trainer(config, corpus, vocab, hooks=TrainHooks(batch=lambda X, Y: seen.append((X, Y)) or (X, Y)))
    steps = [r for r in trainer.run() if isinstance(r, StepRecord)]
    assert [(s.epoch, s.step, s.steps_per_epoch) for s in steps] == [(1, 1, 1), (2, 1, 1), (3, 1, 1)]
    for X, Y in seen:  # the offset is forced to 0: inputs are tokens 0..4, targets 1..5
        assert X.tolist() == [corpus[:5]] and Y.tolist() == [corpus[1:]]
    with pytest.raises(ConfigError, match=r"5 tokens, too few for one minibatch of 1 x 5 \(needs 6\)"):
        Trainer(config, corpus[:5], vocab)


def test_a_batch_larger_than_the_number_of_subsequences_is_refused_with_advice():
    corpus, vocab = corpus_from_text("abcdefghij" * 6)  # 60 tokens: 11 subsequences of 5
    config = resolve(hidden=4, steps=5, batch=11, epochs=1, val_fraction=0, device="cpu")
    records = list(Trainer(config, corpus, vocab).run())
    assert [r.steps_per_epoch for r in records if isinstance(r, StepRecord)] == [1]
    with pytest.raises(ConfigError, match="too few for one minibatch of 12 x 5.*lower --batch or --steps"):
        Trainer(replace(config, batch=12), corpus, vocab)


# --------------------------------------------------------- files from the CLI ----

BAD_FILES = {
    "empty": (b"", "the file is empty"),
    "latin-1": ("caf\u00e9 cr\u00e8me".encode("latin-1"), "first bad byte at offset 3"),
    "binary": (b"\x7fELF\x02\x01\x01\x00\x00" * 50, "looks binary"),
    "no letters": (b"1234 5678 -- !!!\n", "no tokens after preprocessing"),
}


@pytest.mark.parametrize("name", BAD_FILES)
@pytest.mark.parametrize("command", ["train", "stats"])
def test_bad_corpus_files_are_one_line_errors_from_every_command(tmp_path, capsys, name, command):
    data, message = BAD_FILES[name]
    path = tmp_path / f"{name}.txt"
    path.write_bytes(data)
    fails_in_one_line(capsys, [command, "--corpus", str(path)], message, str(path) if name != "no letters" else "")


@pytest.mark.parametrize("command", ["train", "stats", "prepare"])
@pytest.mark.parametrize("size,cap", [(PREPARED_MAX_BYTES + 1, []), (BIG, ["--max-bytes", "64M"])])
def test_a_file_over_the_cap_is_refused_without_being_read(tmp_path, capsys, monkeypatch, command, size, cap):
    path = sparse(tmp_path / "huge.txt", size)

    def no_read(*args, **kwargs):
        raise AssertionError("the file was read")

    monkeypatch.setattr(Path, "read_bytes", no_read)
    monkeypatch.setattr(Path, "read_text", no_read)
    monkeypatch.setattr("builtins.open", no_read)
    fails_in_one_line(capsys, [command, "--corpus", str(path), *cap], f"{size:,} bytes is over the", "--max-bytes")


def test_train_takes_the_encoding_and_cap_its_messages_point_at(tmp_path, capsys):
    path = tmp_path / "latin.txt"
    path.write_bytes(("caf\u00e9 cr\u00e8me br\u00fbl\u00e9e " * 30).encode("latin-1"))
    save = tmp_path / "latin.safetensors"
    small = ["--hidden", "8", "--steps", "5", "--batch", "4", "--epochs", "1", "--device", "cpu",
             "--save", str(save), "--json"]
    fails_in_one_line(capsys, ["train", "--corpus", str(path), *small, "--max-bytes", "100"], "over the 100-byte cap")
    assert cli(["train", "--corpus", str(path), "--encoding", "latin-1", *small]) == 0
    assert json.loads(capsys.readouterr().out.splitlines()[-1])["epochs"] == 1
    # resuming reads the file again: with its encoding it works, without it says what to pass
    fails_in_one_line(capsys, ["train", "--resume", str(save), "--epochs", "2"], "--encoding")
    assert cli(["train", "--resume", str(save), "--epochs", "2", "--encoding", "latin-1", "--json"]) == 0
    assert json.loads(capsys.readouterr().out.splitlines()[-1])["epochs"] == 2


def test_utf8_and_utf16_with_boms_train_the_same_model(tmp_path):
    runs = []
    for data in (codecs.BOM_UTF8 + TEXT.encode(), codecs.BOM_UTF16_LE + TEXT.encode("utf-16-le")):
        path = tmp_path / "bom.txt"
        path.write_bytes(data)
        save = tmp_path / "bom.safetensors"
        assert cli(["train", "--corpus", str(path), "--hidden", "8", "--steps", "5", "--batch", "4",
                    "--epochs", "1", "--device", "cpu", "--save", str(save)]) == 0
        runs.append(Trainer.load(save))
    assert runs[0].vocab.idx_to_token == runs[1].vocab.idx_to_token and "\ufeff" not in runs[0].vocab
    assert all(torch.equal(p, q) for p, q in zip(runs[0].model.params, runs[1].model.params))


# --------------------------------------------------------------- vocabulary ----

def test_the_word_vocabulary_is_capped_by_default(tmp_path, capsys):
    words = " ".join(f"w{i:x}" for i in range(DEFAULT_MAX_VOCAB + 10))  # all distinct
    with pytest.raises(CorpusError, match="word-level vocabulary has 30,011 entries, over the cap of 30,000"):
        corpus_from_text(words, token="word", mode="raw")
    assert len(corpus_from_text(words, token="word", mode="raw", max_vocab=None)[1]) == DEFAULT_MAX_VOCAB + 11
    path = tmp_path / "hashes.txt"
    path.write_text(" ".join(f"{chr(97 + i % 26)}{chr(97 + i // 26 % 26)}{chr(97 + i // 676 % 26)}"
                             f"{chr(97 + i // 17576)}" for i in range(DEFAULT_MAX_VOCAB + 10)))
    fails_in_one_line(capsys, ["train", "--corpus", str(path), "--token", "word"], "over the cap", "--token char")


# ------------------------------------------------------------------ prompts ----

def test_a_prompt_longer_than_any_training_sequence_and_the_warm_up_chunks(tmp_path, monkeypatch):
    trainer = tiny_checkpoint(tmp_path / "run.safetensors")  # trained on 5-step sequences
    model, vocab = trainer.snapshot_model(), trainer.vocab
    prefix = (TEXT * 8)[:2500]
    expected = "".join(generate(model, vocab, prefix, 30))
    # the same text when the prefix is fed in small chunks, and no forward call sees more than one chunk
    monkeypatch.setattr(sys.modules["engine.generate"], "WARMUP_CHUNK", 64)  # the module, not the function
    lengths = []
    forward = model.forward
    model.forward = lambda X, state: lengths.append(X.shape[1]) or forward(X, state)
    assert "".join(generate(model, vocab, prefix, 30)) == expected
    assert max(lengths) == 64 and sum(lengths) == len(prefix)
    # and the reference: the book's one-token-at-a-time warm-up
    state = model.begin_state(1)
    with torch.no_grad():
        for ch in prefix:
            logits, state = forward(torch.tensor([[vocab[ch]]]), state)
    logits = logits[0, -1].clone()
    logits[vocab.unk] = -torch.inf
    assert vocab.to_tokens(int(logits.argmax())) == expected[0]


@pytest.mark.parametrize("prefix, chars, unknown", [("", 12, None), ("\u00c9t\u00e9 \u2603\U0001F600 ", 12, "'\u2603'"),
                                                      ("the time " * 300, 5, None)])
def test_odd_prompts_from_the_cli(tmp_path, capsys, prefix, chars, unknown):
    path = tmp_path / "run.safetensors"
    tiny_checkpoint(path)
    assert cli(["generate", "--checkpoint", str(path), "--prefix", prefix, "--chars", str(chars)]) == 0
    captured = capsys.readouterr()
    assert captured.out.startswith(prefix) and len(captured.out) == len(prefix) + chars + 1
    assert (unknown in captured.err) if unknown else captured.err == ""
