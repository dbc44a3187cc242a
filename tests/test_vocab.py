"""tokenize, Vocab and load_corpus: the book's semantics and its figures on *The Time Machine*."""
import pytest

from engine.errors import ConfigError, CorpusError
from engine.tokenfile import load_corpus
from engine.vocab import Vocab, corpus_from_text, tokenize


def test_tokenize_char_and_word():
    lines = ["the time", "", "machine"]
    assert tokenize(lines, "word") == [["the", "time"], [], ["machine"]]
    assert tokenize(lines, "char") == [list("the time"), [], list("machine")]


def test_tokenize_rejects_unknown_level():
    with pytest.raises(ConfigError, match="token level"):
        tokenize(["x"], "byte")


def test_vocab_order_unk_then_reserved_then_by_frequency_ties_in_first_occurrence_order():
    tokens = list("bcacbdcee")  # c:3, b:2, e:2, a:1, d:1; b before e, a before d
    vocab = Vocab(tokens, reserved_tokens=["<pad>", "<bos>"])
    assert vocab.to_tokens(list(range(len(vocab)))) == ["<unk>", "<pad>", "<bos>", "c", "b", "e", "a", "d"]
    assert len(vocab) == 8
    assert vocab.unk == 0
    assert vocab.token_freqs == [("c", 3), ("b", 2), ("e", 2), ("a", 1), ("d", 1)]


def test_vocab_lookup_of_tokens_lists_and_unknowns():
    vocab = Vocab(list("abbab"))
    assert vocab["b"] == 1 and vocab["a"] == 2
    assert vocab["z"] == 0
    assert vocab[["a", "z", "b"]] == [2, 0, 1]
    assert vocab[("a", "b")] == [2, 1]
    assert vocab.to_tokens(2) == "a"
    assert vocab.to_tokens([1, 0]) == ["b", "<unk>"]
    assert "a" in vocab and "z" not in vocab


def test_vocab_min_freq_leaves_rare_tokens_out():
    vocab = Vocab(list("aaabbc"), min_freq=2)
    assert vocab.to_tokens(list(range(len(vocab)))) == ["<unk>", "a", "b"]
    assert vocab["c"] == vocab.unk
    assert dict(vocab.token_freqs)["c"] == 1  # the frequencies still count every token


def test_vocab_counts_lines_of_tokens_like_a_flat_list():
    assert Vocab([["a", "b"], ["b"]]).to_tokens([1, 2]) == ["b", "a"]


def test_vocab_reserved_duplicates_and_unk_take_one_index():
    vocab = Vocab(list("xy"), reserved_tokens=["<unk>", "<pad>", "<pad>"])
    assert vocab.to_tokens(list(range(len(vocab)))) == ["<unk>", "<pad>", "x", "y"]
    assert vocab["<pad>"] == 1


def test_vocab_from_tokens_list_round_trips_and_refuses_bad_lists():
    vocab = Vocab(list("hello"))
    rebuilt = Vocab.from_tokens_list(vocab.idx_to_token)
    assert rebuilt[list("hole")] == vocab[list("hole")]
    with pytest.raises(ValueError):
        Vocab.from_tokens_list(["a", "<unk>"])
    with pytest.raises(ValueError):
        Vocab.from_tokens_list(["<unk>", "a", "a"])


def test_timemachine_char_level(timemachine):
    corpus, vocab = load_corpus("timemachine")
    assert len(corpus) == 173_427
    assert len(vocab) == 28
    assert vocab.to_tokens(list(range(6))) == ["<unk>", " ", "e", "t", "a", "i"]
    assert "".join(vocab.to_tokens(corpus[:20])) == "the time machine by "


def test_timemachine_word_level_matches_the_book(timemachine):
    corpus, vocab = load_corpus("timemachine", token="word")
    assert len(corpus) == 32_775
    assert len(vocab) == 4_580
    assert [tok for tok, _ in vocab.token_freqs[:5]] == ["the", "i", "and", "of", "a"]
    assert vocab.token_freqs[0] == ("the", 2261)
    assert vocab.unk not in corpus


def test_max_tokens_truncates_the_corpus_not_the_vocabulary(timemachine):
    full, vocab = load_corpus("timemachine")
    short, short_vocab = load_corpus("timemachine", max_tokens=1000)
    assert short.tolist() == full[:1000].tolist()
    assert short_vocab.idx_to_token == vocab.idx_to_token


def test_raw_mode_keeps_case_and_punctuation():
    corpus, vocab = corpus_from_text("Hi, Bob!\nBye.", mode="raw")
    assert "".join(vocab.to_tokens(corpus)) == "Hi, Bob! Bye."


def test_max_vocab_guards_word_vocabulary():
    with pytest.raises(CorpusError, match="over the cap of 2"):
        corpus_from_text("one two three", token="word", max_vocab=2)


def test_text_without_letters_is_refused_in_book_mode():
    with pytest.raises(CorpusError, match="no tokens"):
        corpus_from_text("1234 -- 5678\n!!!")
