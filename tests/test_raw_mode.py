"""Issue #12, item 6, text that is not Latin: ``--mode raw`` for train, compare and the app's form."""
import json

import pytest
from app_support import TINY, train_to_end, wait_for

from engine import CorpusError, Trainer
from engine.checkpoint import load_model
from engine.checkpoint_file import read_checkpoint, write_checkpoint
from engine.vocab import corpus_from_text, text_tokens
from robustness_support import cli, fails_in_one_line, tiny_checkpoint
from tui.app import create_app

# Lu Xun's opening of 《故乡》 (1921), written out here: about 70 distinct characters, none of them a-z
CHINESE = ("我冒了严寒，回到相隔二千余里，别了二十余年的故乡去。时候既然是深冬；渐近故乡时，天气又阴晦了，"
           "冷风吹进船舱中，呜呜的响，从篷隙向外一望，苍黄的天底下，远近横着几个萧索的荒村，没有一些活气。"
           "我的心禁不住悲凉起来了。阿！这不是我二十年来时时记得的故乡？") * 4
TINY_ARGS = ["--hidden", "16", "--steps", "8", "--batch", "4", "--device", "cpu"]


@pytest.fixture
def chinese(tmp_path):
    path = tmp_path / "guxiang.txt"
    path.write_text(CHINESE, encoding="utf-8")
    return path


def test_book_mode_keeps_nothing_of_a_chinese_text_and_says_to_use_raw(chinese, capsys):
    with pytest.raises(CorpusError, match="use raw mode"):
        corpus_from_text(CHINESE)
    fails_in_one_line(capsys, ["train", "--corpus", str(chinese), *TINY_ARGS], "--mode raw")


def test_raw_mode_trains_on_chinese_saves_the_mode_and_resumes_with_it(chinese, tmp_path, capsys):
    path = tmp_path / "zh.safetensors"
    assert cli(["train", "--corpus", str(chinese), "--mode", "raw", *TINY_ARGS, "--epochs", "2",
                "--save", str(path), "--json"]) == 0
    summary = json.loads(capsys.readouterr().out.splitlines()[-1])
    _, vocab = corpus_from_text(CHINESE, mode="raw")
    assert summary["sample"].startswith("time traveller ")
    model, saved_vocab, meta = load_model(path)
    assert meta["config"]["mode"] == "raw" and saved_vocab.idx_to_token == vocab.idx_to_token
    assert {"故", "乡", "，"} <= set(saved_vocab.idx_to_token)
    # resume reads the text again in raw mode (book mode would find no tokens in it)
    assert cli(["train", "--resume", str(path), "--epochs", "3"]) == 0
    assert Trainer.load(path).epoch == 3
    capsys.readouterr()
    assert cli(["generate", "--checkpoint", str(path), "--prefix", "故乡", "--chars", "10"]) == 0
    out = capsys.readouterr().out.strip()
    assert out.startswith("故乡") and len(out) == 12 and set(out) <= set(vocab.idx_to_token)


def test_a_checkpoint_from_before_the_mode_option_reads_as_book_mode(tmp_path):
    path = tmp_path / "run.safetensors"
    tiny_checkpoint(path)
    tensors, meta = read_checkpoint(path)
    del meta["config"]["mode"]
    old = write_checkpoint(tmp_path / "old.safetensors", tensors,
                           {k: v for k, v in meta.items() if k not in ("format", "version")})
    assert load_model(old)[2]["config"].get("mode") is None
    corpus, _ = corpus_from_text(("the time traveller for so it will be convenient to speak of him was expounding "
                                  "a recondite matter to us his grey eyes shone and twinkled ") * 4)
    assert Trainer.load(old, corpus=corpus).config.mode == "book"


def test_paths_inspect_and_batches_read_a_raw_run_as_it_was_trained(chinese, tmp_path, capsys):
    """They read the run's text through its token file at the run's mode (book mode would read nothing)."""
    path = tmp_path / "zh.safetensors"
    assert cli(["train", "--corpus", str(chinese), "--mode", "raw", *TINY_ARGS, "--epochs", "1",
                "--save", str(path)]) == 0
    capsys.readouterr()
    tokens = text_tokens(CHINESE, "char", "raw")  # the in-memory tokenizer, as a reference
    assert cli(["paths", "--checkpoint", str(path), "--row", "2", "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["rows"][0]["text"] == "".join(tokens[16:24])  # T = 8
    assert cli(["inspect", "--checkpoint", str(path), "--from-corpus", "5:10", "--json"]) == 0
    assert json.loads(capsys.readouterr().out.splitlines()[-1])["tokens"] == tokens[5:15]
    assert cli(["batches", "--corpus", str(chinese), "--mode", "raw", "--batch", "2", "--steps", "8",
                "--count", "2", "--json"]) == 0
    rows = json.loads(capsys.readouterr().out)["rows"]
    assert len(rows) == 4 and all(row["X_text"] == "".join(tokens[row["start"]:row["start"] + 8]) for row in rows)


def test_compare_takes_the_mode(chinese, capsys):
    chinese.write_text(CHINESE * 3, encoding="utf-8")  # one minibatch of compare's defaults, 16 x 64
    assert cli(["compare", "--cells", "rnn", "--budget", "0.3", "--corpus", str(chinese), "--mode", "raw",
                "--json"]) == 0
    result = json.loads(capsys.readouterr().out.splitlines()[-1])
    assert result["results"][0]["cell"] == "rnn" and result["ngram_best"]["val_perplexity"] > 1
    fails_in_one_line(capsys, ["compare", "--cells", "rnn", "--budget", "0.3", "--corpus", str(chinese)], "raw")


async def test_the_apps_form_has_the_mode_and_the_corpus_pane_follows_it(chinese):
    app = create_app(corpus=str(chinese), given=TINY)
    async with app.run_test(size=(120, 40)) as pilot:
        await wait_for(pilot, lambda: "use raw mode" in str(app.query_one("#corpus-error").render()),
                       what="book mode's refusal")
        assert app.corpus_text is None
        app.query_one("#field-mode").value = "raw"
        await wait_for(pilot, lambda: bool(app.stats), what="raw statistics")
        assert app.stats["char"].mode == "raw" and app.stats["char"].vocab_size > 60
        await train_to_end(pilot, app)
        assert app.trainer.config.mode == "raw" and "故" in app.trainer.vocab.idx_to_token
