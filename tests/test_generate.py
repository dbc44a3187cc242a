"""Generation: the greedy chain, sampling, <unk> handling, empty and foreign prefixes."""
import pytest
import torch

from engine import ConfigError, RNNConcise, RNNScratch, generate
from engine.generate import unknown_in_prefix
from engine.vocab import Vocab, corpus_from_text

_, CHARS = corpus_from_text("the time traveller for so it will be convenient to speak of him")


def trained_like(vocab, seed=0, scale=0.8):
    model = RNNScratch(len(vocab), 16)
    g = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for p in model.params:
            p.copy_(torch.randn(p.shape, generator=g) * scale)
    return model


def greedy_reference(model, vocab, prefix, n):
    """d2l 8.5.4's predict: feed the prefix one token at a time, then the argmax, step by step."""
    state = model.begin_state(1)
    with torch.no_grad():
        for ch in prefix:
            logits, state = model(torch.tensor([[vocab[ch]]]), state)
        out = []
        for _ in range(n):
            scores = logits[0, -1].clone()
            scores[vocab.unk] = -torch.inf
            index = int(scores.argmax())
            out.append(vocab.to_tokens(index))
            logits, state = model(torch.tensor([[index]]), state)
    return "".join(out)


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_greedy_equals_the_argmax_chain_step_by_step(seed):
    model = trained_like(CHARS, seed)
    got = list(generate(model, CHARS, "time tr", 40))
    assert len(got) == 40 and all(len(ch) == 1 for ch in got)
    assert "".join(got) == greedy_reference(model, CHARS, "time tr", 40)


def test_unk_is_never_produced_even_when_likeliest():
    model = trained_like(CHARS)
    with torch.no_grad():
        model.b_q[CHARS.unk] = 1e4
    text = "".join(generate(model, CHARS, "the", 30, temperature=1.0, generator=torch.Generator().manual_seed(0)))
    text += "".join(generate(model, CHARS, "the", 30))
    assert "<unk>" not in text and len(text) == 60


def test_foreign_prefix_characters_are_reported_and_read_as_unk():
    model = trained_like(CHARS)
    assert unknown_in_prefix(CHARS, "Thé time!é", "char") == ["T", "é", "!"]
    assert unknown_in_prefix(CHARS, "the time") == []
    text = "".join(generate(model, CHARS, "Thé time", 10))
    assert len(text) == 10
    # the same as the prefix with <unk> in those places
    assert text == greedy_reference(model, CHARS, ["<unk>", "h", "<unk>", " ", "t", "i", "m", "e"], 10)


def test_empty_prefix_starts_from_a_space():
    model = trained_like(CHARS)
    assert "".join(generate(model, CHARS, "", 12)) == greedy_reference(model, CHARS, " ", 12)
    assert list(generate(model, CHARS, "the", 0)) == []


def test_sampling_is_seedable_and_top_k_one_is_greedy():
    model = trained_like(CHARS, scale=0.3)

    def sample(seed, **kw):
        return "".join(generate(model, CHARS, "the ", 60, generator=torch.Generator().manual_seed(seed), **kw))
    assert sample(5, temperature=1.0) == sample(5, temperature=1.0)
    assert sample(5, temperature=1.0) != sample(6, temperature=1.0)
    assert sample(5, temperature=1.5, top_k=1) == "".join(generate(model, CHARS, "the ", 60))


def test_top_k_restricts_to_the_likeliest():
    V = len(CHARS)
    model = RNNScratch(V, 4)
    with torch.no_grad():  # constant logits: tokens 1..V-1 in falling order of likelihood
        for p in model.params:
            p.zero_()
        model.b_q.copy_(-torch.arange(V, dtype=torch.float32))
    text = generate(model, CHARS, "t", 300, temperature=5.0, top_k=3, generator=torch.Generator().manual_seed(0))
    assert set(text) == set(CHARS.to_tokens([1, 2, 3]))


def test_word_level_tokens_carry_their_space():
    _, words = corpus_from_text("the time traveller for so it will be the time", token="word")
    model = trained_like(words)
    got = list(generate(model, words, "the time", 5))
    assert all(w.startswith(" ") and w.strip() in words for w in got)
    assert list(generate(model, words, "the time ", 1))[0][0] != " "
    assert unknown_in_prefix(words, "the zebra time zebra") == ["zebra"]


def test_works_with_the_concise_twin():
    model = RNNConcise(len(CHARS), 8, generator=torch.Generator().manual_seed(0))
    assert "".join(generate(model, CHARS, "time ", 15)) == greedy_reference(model, CHARS, "time ", 15)


@pytest.mark.parametrize("kw", [dict(num_chars=-1), dict(temperature=-0.5), dict(top_k=0)])
def test_bad_arguments_are_config_errors(kw):
    args = dict(num_chars=5)
    args.update(kw)
    with pytest.raises(ConfigError):
        list(generate(trained_like(CHARS), CHARS, "the", args.pop("num_chars"), **args))


def test_unknown_in_prefix_infers_the_token_level_from_the_vocabulary():
    vocab = Vocab.from_tokens_list(["<unk>", "a", "b"])
    assert unknown_in_prefix(vocab, "abc") == ["c"]


def test_no_autograd_and_no_grad_mode_leaks_between_tokens():
    model = trained_like(CHARS)  # parameters that require grad, as during training
    stream = generate(model, CHARS, "the", 3)
    next(stream)
    assert torch.is_grad_enabled() and not torch.is_inference_mode_enabled()
    step = model.stepper()
    logits, h = step(1, model.begin_state(1))
    assert not logits.requires_grad and not h.requires_grad


def test_bad_arguments_fail_before_the_first_token():
    with pytest.raises(ConfigError, match="temperature"):
        generate(trained_like(CHARS), CHARS, "the", 5, temperature=-1)
