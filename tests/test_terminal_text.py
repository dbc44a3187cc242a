"""Issue #12, item 6: control characters and escape sequences from a corpus or a checkpoint's
vocabulary are shown, never sent to the terminal, in the CLI and in the app; JSON stays strict."""
import json
import math
import unicodedata

import pytest
from app_support import TINY, train_to_end, wait_for
from textual.geometry import Region

from engine.checkpoint_file import read_checkpoint, write_checkpoint
from engine.escape import json_line, printable
from robustness_support import cli
from tui.app import create_app
from tui.panes.generate import GeneratePane

# clears the screen, sets the window title, rings the bell, moves the cursor, CSI in C1, bidi override
HOSTILE = "\x1b[2J\x1b]0;pwned\x07\x1b[10;10H\x9b31m\u202eevil"
# what a terminal acts on: C0 (tab and newline included), DEL, C1, and the bidirectional controls
ACTED_ON = [chr(c) for c in (*range(0x20), 0x7F, *range(0x80, 0xA0), 0x061C, 0x200E, 0x200F, *range(0x202A, 0x202F),
                             *range(0x2066, 0x206A))]


def acts_on_terminal(text: str) -> list[str]:
    """The characters of ``text`` that a terminal would obey rather than show (newlines between
    lines are the output's own)."""
    return sorted({ch for ch in text.replace("\n", "") if ch in ACTED_ON})


def test_printable_shows_every_control_and_keeps_everything_else():
    shown = printable("".join(ACTED_ON))
    assert acts_on_terminal(shown) == [] and "\x1b" not in shown
    assert printable("\x1b") == "\u241b" and printable("\t") == "\u2409" and printable("\x9b") == "\\x9b"
    assert printable("\u202e") == "\\u202e" and printable("\x7f") == "\u2421"
    ordinary = "the time traveller 故乡 Ελλάδα ́é ␛ [bold]"
    assert printable(ordinary) == ordinary
    assert all(unicodedata.category(ch) in ("Cc", "Cf") for ch in ACTED_ON)  # the list is all controls


def test_json_line_is_strict_and_keeps_the_data():
    value = {"text": HOSTILE, "nan": math.nan, "inf": [math.inf, -math.inf, 1.5], "n": 3, "ok": None}

    def refuse(constant):
        raise AssertionError(f"{constant} is not JSON")

    line = json_line(value)
    assert acts_on_terminal(line) == [] and "\n" not in line
    assert json.loads(line, parse_constant=refuse) == {"text": HOSTILE, "nan": None, "inf": [None, None, 1.5],
                                                       "n": 3, "ok": None}


@pytest.fixture
def raw_corpus(tmp_path):
    path = tmp_path / "hostile.txt"
    path.write_text(("the time traveller " + HOSTILE + " ") * 20, encoding="utf-8")
    return path


@pytest.mark.parametrize("token", ["char", "word"])
def test_stats_of_a_raw_corpus_show_its_controls(raw_corpus, capsys, token):
    assert cli(["stats", "--corpus", str(raw_corpus), "--mode", "raw", "--token", token]) == 0
    out = capsys.readouterr().out
    assert acts_on_terminal(out) == [] and "\u241b" in out
    assert cli(["stats", "--corpus", str(raw_corpus), "--mode", "raw", "--token", token, "--json"]) == 0
    out = capsys.readouterr().out
    assert acts_on_terminal(out) == []
    grams = [gram for grams in json.loads(out)["top"].values() for gram, _ in grams]
    assert any("\x1b" in gram for gram in grams)  # the data itself is unchanged


def test_training_samples_and_generated_text_show_the_controls(raw_corpus, tmp_path, capsys):
    path = tmp_path / "run.safetensors"
    assert cli(["train", "--corpus", str(raw_corpus), "--mode", "raw", "--hidden", "16", "--steps", "8",
                "--batch", "4", "--epochs", "2", "--lr", "0.02", "--optimizer", "adam", "--device", "cpu",
                "--save", str(path)]) == 0
    captured = capsys.readouterr()
    assert acts_on_terminal(captured.out + captured.err) == []
    # a checkpoint whose vocabulary is made of escape sequences, with weights that always pick them
    tensors, meta = read_checkpoint(path)
    meta["vocab"] = ["<unk>"] + [HOSTILE + str(i) for i in range(len(meta["vocab"]) - 1)]
    hostile = write_checkpoint(tmp_path / "hostile.safetensors", tensors,
                               {k: v for k, v in meta.items() if k not in ("format", "version")})
    assert cli(["generate", "--checkpoint", str(hostile), "--prefix", "a\x1b[31mb", "--chars", "20",
                "--temperature", "1", "--seed", "1"]) == 0
    captured = capsys.readouterr()
    assert acts_on_terminal(captured.out + captured.err) == [] and captured.out.count("\u241b[2J") == 20


def drawn(widget) -> str:
    """The text a widget sends to the terminal: its lines as the compositor gets them."""
    return "\n".join(strip.text for strip in widget.render_lines(Region(0, 0, *widget.size)))


async def test_the_apps_panes_show_the_controls(raw_corpus, tmp_path):
    app = create_app(corpus=str(raw_corpus), given=dict(TINY, mode="raw"))
    async with app.run_test(size=(120, 40)) as pilot:
        await wait_for(pilot, lambda: bool(app.stats), what="the statistics")
        await pilot.pause()
        ngrams = drawn(app.query_one("#corpus-ngrams"))
        assert "\u241b" in ngrams and acts_on_terminal(ngrams) == []
        await train_to_end(pilot, app)
        app.query_one(GeneratePane).write("x\x1b[2Jy")
        await wait_for(pilot, lambda: "characters" in str(app.query_one("#gen-status").render()),
                       what="the generated text")
        await pilot.pause()
        output = drawn(app.query_one("#gen-output"))
        assert output.startswith("x\u241b[2Jy") and acts_on_terminal(output) == []
        assert acts_on_terminal(drawn(app.query_one("#corpus-summary"))) == []
