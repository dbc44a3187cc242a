"""Token files (engine.tokenfile): the streamed tokeniser gives exactly the in-memory path's
vocabulary and indices wherever the chunks are cut; the cache is reused, and a stale, corrupt or
foreign token file is prepared again; a failed write leaves nothing behind."""
import hashlib
import json
import re
import struct
from pathlib import Path

import pytest
import torch
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

import engine.corpus as corpus_mod
import engine.tokenfile as tokenfile
from engine.checkpoint import corpus_fingerprint
from engine.corpus import preprocess
from engine.errors import ConfigError, CorpusError
from engine.tokenfile import load_corpus, prepare
from engine.vocab import Vocab, corpus_from_text, encode_text


def book_preprocess(text: str, mode: str) -> str:
    """The book's line-by-line clean-up (d2l 8.2) with lines joined by one space, and raw mode."""
    if mode == "book":
        lines = (re.sub("[^A-Za-z]+", " ", line).strip().lower() for line in text.splitlines())
        return " ".join(line for line in lines if line)
    return text.replace("\r\n", "\n").replace("\r", "\n").replace("\n", " ")


def prepared(tmp_path, text: str, token: str, mode: str, name="t.txt", **options):
    path = tmp_path / name
    path.write_bytes(text.encode("utf-8"))
    return prepare(str(path), token, mode, **options)


def assert_same_as_in_memory(tf, text: str, token: str, mode: str):
    corpus, vocab = corpus_from_text(text, token=token, mode=mode, max_vocab=None)
    assert tf.vocab.idx_to_token == vocab.idx_to_token
    assert tf.vocab.token_freqs == vocab.token_freqs
    assert tf.tokens.tolist() == corpus
    assert tf.chars == len(text)


# ------------------------------------------------------ the same tokens ----

TRICKY = "Naïve café\r\nThe Time-Machine, 日本語 ok\r\rA\n\nb  c\u2028d\x1ce <unk> <unk>x \r\n"


@settings(max_examples=150, deadline=None)
@given(text=st.text(st.characters(codec="utf-8", exclude_characters="\x00"), min_size=1, max_size=120))
def test_preprocess_is_the_books_on_any_text(text):
    for mode in ("book", "raw"):
        assert preprocess(text, mode) == [book_preprocess(text, mode)]


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(text=st.text(st.sampled_from("ab é日\r\n\t.,<>unk")
                    | st.characters(codec="utf-8", exclude_characters="\x00\ufeff"),  # a file's BOM is dropped
                    min_size=1, max_size=80),
       chunk=st.integers(1, 9), token=st.sampled_from(["char", "word"]), mode=st.sampled_from(["book", "raw"]))
def test_streamed_tokens_equal_the_in_memory_path_wherever_the_chunks_are_cut(tmp_path, monkeypatch, text,
                                                                               chunk, token, mode):
    monkeypatch.setattr(corpus_mod, "CHUNK_BYTES", chunk)
    try:
        corpus_from_text(text, token=token, mode=mode, max_vocab=None)
        refused = not text.strip()  # a file of white space only is refused (raw mode keeps its spaces)
    except CorpusError:  # no tokens: the token file refuses it too
        refused = True
    if refused:
        with pytest.raises(CorpusError):
            prepared(tmp_path, text, token, mode, max_vocab=None)
        return
    assert_same_as_in_memory(prepared(tmp_path, text, token, mode, max_vocab=None), text, token, mode)


@pytest.mark.parametrize("chunk", [1, 2, 3, 5, 7, 64])
@pytest.mark.parametrize("token", ["char", "word"])
@pytest.mark.parametrize("mode", ["book", "raw"])
def test_chunk_boundaries_inside_words_utf8_characters_and_crlf(tmp_path, monkeypatch, chunk, token, mode):
    # with 1..7-byte chunks every boundary falls somewhere inside a word, inside the 2- and 3-byte
    # characters, and between the \r and \n of each \r\n
    monkeypatch.setattr(corpus_mod, "CHUNK_BYTES", chunk)
    assert_same_as_in_memory(prepared(tmp_path, TRICKY * 3, token, mode), TRICKY * 3, token, mode)


def test_a_cut_crlf_is_one_space_in_raw_mode(tmp_path, monkeypatch):
    monkeypatch.setattr(corpus_mod, "CHUNK_BYTES", 2)  # "a\r" | "\nb"
    tf = prepared(tmp_path, "a\r\nb a\r\nb", "char", "raw")
    assert "".join(tf.vocab.to_tokens(tf.tokens)) == "a b a b"


def test_the_time_machine_at_every_setting(timemachine):
    text = timemachine.read_text(encoding="utf-8")
    for token in ("char", "word"):
        for mode in ("book", "raw"):
            assert_same_as_in_memory(prepare("timemachine", token, mode), text, token, mode)


def test_utf16_and_other_encodings_are_streamed(tmp_path, monkeypatch):
    monkeypatch.setattr(corpus_mod, "CHUNK_BYTES", 3)
    path = tmp_path / "u16.txt"
    path.write_bytes("\ufeffcafé crème".encode("utf-16"))
    assert "".join(prepare(str(path), mode="raw").vocab.to_tokens(prepare(str(path), mode="raw").tokens)) == \
        "café crème"
    path.write_bytes("café crème".encode("latin-1"))
    with pytest.raises(CorpusError, match="first bad byte at offset 3"):
        prepare(str(path))
    tf = prepare(str(path), mode="raw", encoding="latin-1")
    assert "".join(tf.vocab.to_tokens(tf.tokens)) == "café crème"


def test_dtypes_follow_the_vocabulary_size(tmp_path):
    assert prepared(tmp_path, "abc " * 30, "char", "book").tokens.dtype == torch.uint8
    words = " ".join(f"w{i}" for i in range(300))
    assert prepared(tmp_path, words, "word", "raw", name="w.txt").tokens.dtype == torch.uint16
    many = " ".join(f"w{i}" for i in range(70_000))
    tf = prepared(tmp_path, many, "word", "raw", name="many.txt", max_vocab=None)
    assert tf.tokens.dtype == torch.uint32 and len(tf.vocab) == 70_001
    assert tf.tokens[-3:].tolist() == [69_998, 69_999, 70_000]


def test_the_word_vocabulary_cap_stops_counting_early(tmp_path, monkeypatch):
    words = " ".join(f"w{i}" for i in range(200))
    with pytest.raises(CorpusError, match="word-level vocabulary has more than 100 entries, over the cap of 100"):
        prepared(tmp_path, words, "word", "raw", max_vocab=100)
    assert not list(tokenfile.tokens_dir().glob("*.tokens"))  # nothing written
    # a token file made without a cap is refused by a caller with one
    prepared(tmp_path, words, "word", "raw", max_vocab=None)
    with pytest.raises(CorpusError, match="has 201 entries, over the cap of 100"):
        prepared(tmp_path, words, "word", "raw", max_vocab=100)


@pytest.mark.parametrize("text,message", [("1234 -- !!", "no tokens after preprocessing"),
                                          (" \n\t ", "only white space")])
def test_texts_without_tokens_are_one_line_errors(tmp_path, text, message):
    with pytest.raises(CorpusError, match=message):
        prepared(tmp_path, text, "char", "book")


def test_unknown_settings_are_refused_before_any_work(tmp_path):
    with pytest.raises(ConfigError, match="unknown token level 'byte'"):
        prepared(tmp_path, "abc", "byte", "book")
    with pytest.raises(CorpusError, match="unknown preprocessing mode 'fancy'"):
        prepared(tmp_path, "abc", "char", "fancy")


# ------------------------------------------------------------ the cache ----

def header(tf) -> dict:
    return json.loads(tf.path.with_suffix(".json").read_text(encoding="utf-8"))


def test_the_header_says_what_the_array_is(timemachine):
    tf = prepare("timemachine")
    head = header(tf)
    assert head["source"] == "timemachine" and head["source_sha1"] == corpus_mod.TIMEMACHINE_SHA1
    assert (head["token"], head["mode"], head["dtype"], head["tokens"]) == ("char", "book", "uint8", 173_427)
    assert head["vocab"] == tf.vocab.idx_to_token and head["chars"] == 178_979
    assert head["tokens_sha1"] == tf.tokens_sha1 == hashlib.sha1(tf.path.read_bytes()).hexdigest()
    assert tf.path.parent == tokenfile.tokens_dir() and tf.path.name.startswith("timemachine-char-book-")


def test_a_prepared_corpus_is_reused_not_tokenised_again(tmp_path, monkeypatch):
    first = prepared(tmp_path, "the time machine " * 50, "char", "book")

    def no_tokenising(*args, **kwargs):
        raise AssertionError("tokenised again")

    monkeypatch.setattr(tokenfile, "count_tokens", no_tokenising)
    again = prepare(str(tmp_path / "t.txt"))
    assert again.path == first.path and torch.equal(again.tokens, first.tokens)
    # another token level or mode is another file
    monkeypatch.undo()
    assert prepare(str(tmp_path / "t.txt"), "word").path != first.path


def test_the_tokens_are_memory_mapped_from_the_file(tmp_path):
    maps = Path("/proc/self/maps")
    if not maps.exists():
        pytest.skip("no /proc/self/maps on this system")
    tf = prepared(tmp_path, "the time machine " * 5000, "char", "book")
    address = tf.tokens.data_ptr()
    mapped = [line.split(maxsplit=5) for line in maps.read_text().splitlines()]
    owners = [m[5] for m in mapped if len(m) == 6 and int(m[0].split("-")[0], 16) <= address
              < int(m[0].split("-")[1], 16)]
    assert owners == [str(tf.path)]


def test_an_edited_text_gets_a_new_token_file_and_the_old_one_goes(tmp_path):
    old = prepared(tmp_path, "the time machine " * 50, "char", "book")
    other_mode = prepare(str(tmp_path / "t.txt"), "char", "raw")
    new = prepared(tmp_path, "the space machine " * 50, "char", "book")
    assert new.path != old.path
    assert not old.path.exists() and not old.path.with_suffix(".json").exists()
    assert other_mode.path.exists()  # other settings of the same text stay
    assert "".join(new.vocab.to_tokens(new.tokens[:18])) == "the space machine "


def corrupt_array_in_place(tf):
    data = bytearray(tf.path.read_bytes())
    data[5] = (data[5] + 1) % len(tf.vocab)  # still a valid index: only the SHA-1 tells
    tf.path.write_bytes(bytes(data))


def truncate_array(tf):
    tf.path.write_bytes(tf.path.read_bytes()[:-3])


def garbage_header(tf):
    tf.path.with_suffix(".json").write_text("{not json")


def foreign_header(tf):
    # the header of another text's token file, copied over this one
    other = prepare("python-docs")
    tf.path.with_suffix(".json").write_bytes(other.path.with_suffix(".json").read_bytes())


def tampered_vocabulary(tf):
    head = header(tf)
    head["vocab"][1], head["vocab"][2] = head["vocab"][2], head["vocab"][1]
    tf.path.with_suffix(".json").write_text(json.dumps(head))


def index_outside_the_vocabulary(tf):
    data = bytearray(tf.path.read_bytes())
    data[0] = 250
    tf.path.write_bytes(bytes(data))
    head = header(tf)
    head["tokens_sha1"] = hashlib.sha1(bytes(data)).hexdigest()  # consistent, but not a valid array
    tf.path.with_suffix(".json").write_text(json.dumps(head))


def missing_array(tf):
    tf.path.unlink()


def other_settings(tf):
    head = header(tf)
    head["mode"] = "raw"
    tf.path.with_suffix(".json").write_text(json.dumps(head))


@pytest.mark.parametrize("damage", [corrupt_array_in_place, truncate_array, garbage_header, foreign_header,
                                    tampered_vocabulary, index_outside_the_vocabulary, missing_array,
                                    other_settings])
def test_a_stale_corrupt_or_foreign_token_file_is_prepared_again(tmp_path, damage):
    text = "The Time Traveller (for so it will be convenient to speak of him) " * 40
    good = prepared(tmp_path, text, "char", "book")
    expected = good.tokens.tolist()
    damage(good)
    again = prepare(str(tmp_path / "t.txt"))
    assert again.tokens.tolist() == expected and again.vocab.idx_to_token == good.vocab.idx_to_token
    assert header(again)["tokens_sha1"] == hashlib.sha1(again.path.read_bytes()).hexdigest()


def test_a_failed_write_leaves_no_file_and_is_one_line(tmp_path, monkeypatch):
    good = prepared(tmp_path, "the time machine " * 50, "char", "book")
    good.path.unlink()
    real = tokenfile.encode_tokens

    def crash_midway(*args):
        runs = real(*args)
        yield next(runs)
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(corpus_mod, "CHUNK_BYTES", 16)
    monkeypatch.setattr(tokenfile, "encode_tokens", crash_midway)
    with pytest.raises(CorpusError, match=r"cannot write the token file in .*No space left on device.*RNNPLAY_DATA_DIR"):
        prepare(str(tmp_path / "t.txt"))
    assert not good.path.exists()
    assert [p.name for p in tokenfile.tokens_dir().iterdir()] == [good.path.with_suffix(".json").name]


def test_a_cached_corpus_checks_its_text_every_time(tmp_path, monkeypatch):
    prepared(tmp_path, "abc " * 40, "char", "book")
    (tmp_path / "t.txt").write_bytes(b"abc \xc3\x28 not utf-8")
    with pytest.raises(CorpusError, match="not valid UTF-8"):
        prepare(str(tmp_path / "t.txt"))


# -------------------------------------------------------- what uses it ----

def test_lookup_reads_a_token_file_as_another_vocabulary_does(tmp_path):
    text = "The Time Machine, by H. G. Wells <unk>"
    tf = prepared(tmp_path, text, "word", "raw")
    model_vocab = Vocab(["Time", "by", "Wells", "Wells", "absent"])  # lacks most of the text's words
    assert tf.lookup(model_vocab)[tf.tokens.long()].tolist() == encode_text(text, model_vocab, "word", "raw")
    assert tf.lookup(tf.vocab)[tf.tokens.long()].tolist() == tf.tokens.tolist()



def test_load_corpus_cuts_the_corpus_not_the_vocabulary(timemachine):
    full, vocab = load_corpus("timemachine")
    short, short_vocab = load_corpus("timemachine", max_tokens=1000)
    assert short.tolist() == full[:1000].tolist() and short_vocab.idx_to_token == vocab.idx_to_token


def test_the_checkpoint_fingerprint_keeps_its_value_and_hashes_in_windows(timemachine, monkeypatch):
    corpus, _ = load_corpus("timemachine")
    as_list = corpus.tolist()
    reference = hashlib.sha1(struct.pack(f"<{len(as_list)}i", *as_list)).hexdigest()  # int32, little-endian
    monkeypatch.setattr("engine.checkpoint.FINGERPRINT_TOKENS", 1000)
    assert corpus_fingerprint(corpus) == corpus_fingerprint(as_list) == reference


def test_progress_is_reported_stage_by_stage(tmp_path, monkeypatch):
    monkeypatch.setattr(corpus_mod, "CHUNK_BYTES", 64)
    records = []
    prepared(tmp_path, "the time machine " * 40, "char", "book", progress=records.append)
    stages = list(dict.fromkeys(r.stage for r in records))
    assert stages == ["checking the text", "counting tokens", "writing tokens", "checking the token file"]
    for stage in stages:
        mine = [r for r in records if r.stage == stage]
        assert [r.done for r in mine] == sorted(r.done for r in mine) and mine[-1].done == mine[-1].total


@pytest.mark.parametrize("iterator", ["random", "sequential"])
def test_training_on_the_token_file_equals_training_on_the_list(tiny_corpus, one_thread, iterator):
    from engine import Trainer, resolve

    mapped, vocab = load_corpus(str(tiny_corpus))
    listed, listed_vocab = corpus_from_text(tiny_corpus.read_text(encoding="utf-8"))
    assert mapped.dtype == torch.uint8 and listed_vocab.idx_to_token == vocab.idx_to_token
    config = resolve(hidden=16, steps=8, batch=4, epochs=1, iterator=iterator, device="cpu")
    runs = []
    for corpus in (mapped, listed):
        trainer = Trainer(config, corpus, vocab)
        runs.append((trainer, [r for r in trainer.run()]))
    (a, records_a), (b, records_b) = runs
    assert [r.loss for r in records_a[:-1]] == [r.loss for r in records_b[:-1]]
    assert records_a[-1].val_perplexity == records_b[-1].val_perplexity
    assert all(torch.equal(p, q) for p, q in zip(a.model.params, b.model.params))


def test_resuming_on_a_text_of_another_vocabulary_is_one_line(tiny_corpus, tmp_path, capsys, one_thread):
    from tui.cli import main

    save = tmp_path / "run.safetensors"
    small = ["--hidden", "8", "--steps", "5", "--batch", "4", "--epochs", "1", "--device", "cpu"]
    assert main(["train", "--corpus", str(tiny_corpus), *small, "--save", str(save), "--json"]) == 0
    capsys.readouterr()
    tiny_corpus.write_text(tiny_corpus.read_text(encoding="utf-8") + " zz" * 2000, encoding="utf-8")  # z moves up
    assert main(["train", "--resume", str(save), "--epochs", "2"]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "has changed since the checkpoint was written (its vocabulary differs)" in err


FUZZ_ENCODINGS = [None, "utf-8", "utf-8-sig", "latin-1", "utf-16", "utf-32", "gbk", "shift_jis", "utf-7",
                  "unicode_escape", "punycode", "idna", "rot13", "zlib", "klingon"]


@settings(max_examples=120, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@example(data="bücher über café".encode("punycode"), encoding="punycode", chunk=2)  # decoded whole
@example(data="naïve\r\ncafé".encode("utf-16"), encoding=None, chunk=3)
@given(data=st.binary(min_size=1, max_size=60) | st.text(min_size=1, max_size=40).map(str.encode),
       encoding=st.sampled_from(FUZZ_ENCODINGS), chunk=st.integers(1, 5))
def test_any_bytes_give_the_in_memory_tokens_or_the_same_one_line_error(tmp_path, monkeypatch, data, encoding,
                                                                        chunk):
    from engine.corpus import read_text_file

    path = tmp_path / "fuzz.txt"
    path.write_bytes(data)
    try:
        text = read_text_file(path, encoding=encoding)  # the whole file at once
    except CorpusError:
        text = None
    monkeypatch.setattr(corpus_mod, "CHUNK_BYTES", chunk)
    for token, mode in (("char", "raw"), ("word", "book")):
        try:
            expected = corpus_from_text(text, token=token, mode=mode) if text is not None else None
        except CorpusError:
            expected = None
        if expected is None:
            with pytest.raises(CorpusError) as refused:
                prepare(str(path), token, mode, encoding=encoding)
            assert "\n" not in str(refused.value)
            continue
        tf = prepare(str(path), token, mode, encoding=encoding)
        assert tf.tokens.tolist() == expected[0] and tf.vocab.idx_to_token == expected[1].idx_to_token
