"""Text features by hand, units ranked against torch.corrcoef and a planted unit, gate saturation
against counted fractions."""
import pytest
import torch

from engine.errors import ConfigError
from engine.unit_features import gate_saturation, rank_units, text_features, top_per_feature

TEXT = 'Ab "c d" (e)\nf. '


def test_char_features_by_hand():
    got = {name: values.tolist() for name, values in text_features(TEXT).items()}
    #          A  b  ␣  "  c  ␣  d  "  ␣  (  e  )  ⏎  f  .  ␣
    expected = {
        "in_quotes":     [0, 0, 0, 1, 1, 1, 1, 0, 0, 0, 0, 0, 0, 0, 0, 0],
        "in_parens":     [0, 0, 0, 0, 0, 0, 0, 0, 0, 1, 1, 0, 0, 0, 0, 0],
        "line_position": [1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 0, 1, 2, 3],
        "word_position": [1, 2, 0, 0, 1, 0, 1, 0, 0, 0, 1, 0, 0, 1, 0, 0],
        "is_space":      [0, 0, 1, 0, 0, 1, 0, 0, 1, 0, 0, 0, 1, 0, 0, 1],
        "is_vowel":      [1, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1, 0, 0, 0, 0, 0],
        "word_start":    [1, 0, 0, 0, 1, 0, 1, 0, 0, 0, 1, 0, 0, 1, 0, 0],
        "sentence_end":  [0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1, 0],
    }
    assert got == {name: [float(v) for v in values] for name, values in expected.items()}


def test_curly_quotes_open_and_close_and_no_line_position_without_newlines():
    features = text_features("a “b” c")
    assert features["in_quotes"].tolist() == [0, 0, 1, 1, 0, 0, 0]
    assert "line_position" not in features


def test_a_word_takes_the_features_of_its_last_character():
    words = text_features('say "hello there" now.', token="word")
    assert words["in_quotes"].tolist() == [0, 1, 0, 0]  # "hello: inside; there": closed
    assert words["word_position"].tolist() == [3, 5, 0, 0]  # there" and now. end in punctuation
    assert words["sentence_end"].tolist() == [0, 0, 0, 1]
    assert len(words["is_space"]) == 4


def random_acts(T=40, H=5, seed=0):
    g = torch.Generator().manual_seed(seed)
    return {"l1.h": torch.randn(T, H, generator=g).tanh(), "l1.c": torch.randn(T, H, generator=g) * 3}


def test_r_is_pearsons_as_torch_computes_it():
    acts = random_acts()
    g = torch.Generator().manual_seed(1)
    features = {"a": torch.randn(40, generator=g), "b": (torch.rand(40, generator=g) > 0.5).float()}
    ranked = rank_units(acts, features)
    assert len(ranked) == 2 * 2 * 5
    for score in ranked:
        pair = torch.stack([acts[score.key][:, score.unit].double(), features[score.feature].double()])
        assert score.r == pytest.approx(float(torch.corrcoef(pair)[0, 1]), abs=1e-6)
    assert [abs(s.r) for s in ranked] == sorted((abs(s.r) for s in ranked), reverse=True)


def test_a_unit_planted_on_the_in_quotes_feature_ranks_first():
    text = 'he said "go now" and "stay" then left "at once"'
    features = text_features(text)
    acts = random_acts(T=len(text), H=8)
    acts["l1.c"][:, 6] = features["in_quotes"] * 2 - 1
    best = rank_units(acts, features)[0]
    assert (best.feature, best.key, best.unit) == ("in_quotes", "l1.c", 6)
    assert best.r == pytest.approx(1.0)
    assert top_per_feature(rank_units(acts, features, keys=["l1.c"]), n=2)["in_quotes"][0].unit == 6


def test_constant_features_and_units_are_left_out():
    acts = random_acts()
    acts["l1.h"][:, 3] = 0.25  # a unit stuck at one value
    features = {"none": torch.zeros(40), "some": torch.arange(40.0)}
    ranked = rank_units(acts, features)
    assert {s.feature for s in ranked} == {"some"}
    assert ("l1.h", 3) not in {(s.key, s.unit) for s in ranked}
    assert len(ranked) == 9
    with pytest.raises(ConfigError, match="no quantity 'l2.h'"):
        rank_units(acts, features, keys=["l2.h"])


def test_top_per_feature_keeps_the_ranking_order():
    acts = random_acts()
    g = torch.Generator().manual_seed(2)
    features = {name: torch.randn(40, generator=g) for name in ("x", "y")}
    ranked = rank_units(acts, features)
    top = top_per_feature(ranked, n=3)
    for name in ("x", "y"):
        assert top[name] == [s for s in ranked if s.feature == name][:3]


def test_saturation_fractions_are_counted():
    g = torch.Generator().manual_seed(3)
    acts = {"l1.i": torch.rand(50, 4, generator=g), "l1.f": torch.rand(50, 4, generator=g) ** 0.2,
            "l1.o": torch.rand(50, 4, generator=g), "l1.c": torch.randn(50, 4, generator=g),
            "l1.h": torch.rand(50, 4, generator=g), "l2.z": torch.rand(50, 4, generator=g)}
    got = gate_saturation(acts, low=0.1, high=0.9)
    assert set(got) == {"l1.i", "l1.f", "l1.o", "l2.z"}
    for key, (low, high) in got.items():
        for unit in range(4):
            column = acts[key][:, unit].tolist()
            assert low[unit] == pytest.approx(sum(v < 0.1 for v in column) / 50)
            assert high[unit] == pytest.approx(sum(v > 0.9 for v in column) / 50)
    assert got["l1.f"][1].mean() > got["l1.i"][1].mean()  # the skewed gate sits open more often
    with pytest.raises(ConfigError, match="thresholds"):
        gate_saturation(acts, low=0.9, high=0.1)
