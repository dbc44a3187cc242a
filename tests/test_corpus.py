"""Corpus sources: user files refused with clear messages, built-ins, the download and its fallback."""
import codecs
import hashlib
import io
from pathlib import Path

import pytest

from engine import corpus as corpus_mod
from engine.corpus import (PYTHON_DOCS, TIMEMACHINE, open_source, preprocess, python_docs_text, read_source,
                           read_text_file)
from engine.errors import CorpusError
from engine.tokenfile import load_corpus


def write(tmp_path, data: bytes, name="text.txt") -> Path:
    path = tmp_path / name
    path.write_bytes(data)
    return path


# ----------------------------------------------------------- preprocessing ----

def test_book_mode_keeps_letters_lowercased_and_joins_lines_with_one_space():
    text = "The Time-Machine,\n\n  by H. G. Wells [1898]  \r\nI.\n"
    assert preprocess(text, "book") == ["the time machine by h g wells i"]


def test_raw_mode_keeps_case_and_punctuation_and_turns_newlines_into_spaces():
    assert preprocess("Hi, Bob!\r\nBye.\rOk\n", "raw") == ["Hi, Bob! Bye. Ok "]


def test_unknown_mode_is_refused():
    with pytest.raises(CorpusError, match="unknown preprocessing mode 'fancy'"):
        preprocess("x", "fancy")


# ----------------------------------------------------------- user files -----

def test_plain_utf8_file_is_read(tmp_path):
    path = write(tmp_path, "naïve café\n".encode())
    assert read_text_file(path) == "naïve café\n"
    assert read_source(str(path)).name == str(path)


def test_missing_file(tmp_path):
    with pytest.raises(CorpusError, match="no such file"):
        read_source(str(tmp_path / "nope.txt"))


def test_folder_is_not_a_file(tmp_path):
    with pytest.raises(CorpusError, match="not a regular file"):
        read_source(str(tmp_path))


def test_empty_file(tmp_path):
    with pytest.raises(CorpusError, match="empty"):
        read_text_file(write(tmp_path, b""))


def test_white_space_only_file(tmp_path):
    with pytest.raises(CorpusError, match="only white space"):
        read_text_file(write(tmp_path, b" \n\t\n"))


def test_nul_bytes_mean_binary(tmp_path):
    with pytest.raises(CorpusError, match="binary"):
        read_text_file(write(tmp_path, b"abc\x00def"))


def test_invalid_utf8_reports_the_offset_of_the_first_bad_byte(tmp_path):
    path = write(tmp_path, "héllo ".encode() + b"w\xe9rld")  # é is 2 bytes: the bad byte is at 8
    with pytest.raises(CorpusError, match=r"not valid UTF-8 \(first bad byte at offset 8\).*--encoding"):
        read_text_file(path)


def test_invalid_utf8_offset_counts_the_bom(tmp_path):
    path = write(tmp_path, codecs.BOM_UTF8 + b"ab\xff")
    with pytest.raises(CorpusError, match="offset 5"):
        read_text_file(path)


def test_latin1_with_encoding(tmp_path):
    path = write(tmp_path, "café crème".encode("latin-1"))
    with pytest.raises(CorpusError, match="not valid UTF-8"):
        read_text_file(path)
    assert read_text_file(path, encoding="latin-1") == "café crème"


def test_unknown_encoding(tmp_path):
    with pytest.raises(CorpusError, match="unknown encoding 'klingon'"):
        read_text_file(write(tmp_path, b"abc"), encoding="klingon")


def test_utf8_bom_is_dropped(tmp_path):
    path = write(tmp_path, codecs.BOM_UTF8 + "Ünïcode".encode())
    assert read_text_file(path) == "Ünïcode"
    assert read_text_file(path, encoding="utf-8") == "Ünïcode"


@pytest.mark.parametrize("codec", ["utf-16-le", "utf-16-be"])
def test_utf16_with_bom_is_decoded(tmp_path, codec):
    bom = codecs.BOM_UTF16_LE if codec.endswith("le") else codecs.BOM_UTF16_BE
    path = write(tmp_path, bom + "time machine".encode(codec))
    assert read_text_file(path) == "time machine"


def test_file_over_the_cap_is_refused_without_reading_it(tmp_path, monkeypatch):
    path = tmp_path / "huge.txt"
    with open(path, "wb") as fh:  # sparse: 65 MiB of size and no data on disk
        fh.truncate(65 * 1024 * 1024)

    def no_read(*args, **kwargs):
        raise AssertionError("the file was read")

    monkeypatch.setattr(Path, "read_bytes", no_read)
    monkeypatch.setattr(Path, "open", no_read)
    with pytest.raises(CorpusError, match=r"68,157,440 bytes is over the 67,108,864-byte cap.*--max-bytes"):
        read_text_file(path)
    with pytest.raises(CorpusError, match="over the 100-byte cap"):
        read_source(str(path), max_bytes=100)


def test_cap_is_configurable(tmp_path):
    path = write(tmp_path, b"x" * 101)
    with pytest.raises(CorpusError, match="101 bytes is over the 100-byte cap"):
        read_text_file(path, max_bytes=100)
    assert len(read_text_file(path, max_bytes=101)) == 101


def test_load_corpus_reads_a_user_file(tmp_path):
    path = write(tmp_path, b"Abc, abd!")
    corpus, vocab = load_corpus(str(path))
    assert "".join(vocab.to_tokens(corpus)) == "abc abd"


# ----------------------------------------------------------- built-ins ------

def test_python_docs_is_offline_and_large():
    text = python_docs_text()
    assert 300_000 < len(text) < 2_000_000
    source = read_source(PYTHON_DOCS)
    assert (source.name, source.notice) == (PYTHON_DOCS, "")


def test_cached_timemachine_is_used(timemachine):
    source = read_source(TIMEMACHINE)
    assert source.name == TIMEMACHINE and source.text.startswith("The Time Machine, by H. G. Wells")
    assert open_source(None).name == TIMEMACHINE


def test_offline_default_falls_back_to_python_docs_and_caches_nothing(hermetic_dirs):
    source = open_source(None)
    assert source.name == PYTHON_DOCS
    assert "timemachine is unavailable" in source.notice and "python-docs" in source.notice
    assert "\n" not in source.notice
    assert list(hermetic_dirs.iterdir()) == []


def test_offline_timemachine_is_one_clear_error(hermetic_dirs):
    with pytest.raises(CorpusError, match="could not download timemachine.*--corpus python-docs"):
        read_source(TIMEMACHINE)


class FakeResponse(io.BytesIO):
    """What urlopen returns: a readable context manager."""


def serve(monkeypatch, data: bytes):
    calls = []

    def urlopen(url, timeout=None):
        calls.append(url)
        return FakeResponse(data)

    monkeypatch.setattr("urllib.request.urlopen", urlopen)
    return calls


def test_mismatched_download_caches_nothing(hermetic_dirs, monkeypatch):
    calls = serve(monkeypatch, b"not the time machine")
    with pytest.raises(CorpusError, match="does not match SHA-1 090b5e7e.*nothing was cached"):
        read_source(TIMEMACHINE)
    assert calls == [corpus_mod.TIMEMACHINE_URL]
    assert list(hermetic_dirs.iterdir()) == []
    assert open_source(None).name == PYTHON_DOCS


def test_verified_download_is_cached_and_reused(timemachine, hermetic_dirs, monkeypatch):
    data = timemachine.read_bytes()
    timemachine.unlink()  # the fixture's copy only lends the right bytes to the fake server
    assert hashlib.sha1(data).hexdigest() == corpus_mod.TIMEMACHINE_SHA1
    calls = serve(monkeypatch, data)
    assert read_source(TIMEMACHINE).text == data.decode()
    assert [p.name for p in hermetic_dirs.iterdir()] == ["timemachine.txt"]
    read_source(TIMEMACHINE)
    assert len(calls) == 1  # the second read used the cache


def test_corrupt_cache_is_not_trusted(hermetic_dirs):
    (hermetic_dirs / "timemachine.txt").write_text("tampered")
    assert open_source(None).name == PYTHON_DOCS


def test_data_dir_follows_the_environment(tmp_path, monkeypatch):
    monkeypatch.setenv("RNNPLAY_DATA_DIR", str(tmp_path / "elsewhere"))
    assert corpus_mod.timemachine_path() == tmp_path / "elsewhere" / "timemachine.txt"
