"""What the robustness tests share: a tiny trainer and checkpoint, and the CLI's one-line check."""
import torch

from engine import Trainer, resolve
from engine.vocab import corpus_from_text
from tui.cli import main

TEXT = ("the time traveller for so it will be convenient to speak of him was expounding a recondite "
        "matter to us his grey eyes shone and twinkled ") * 4
TINY = dict(hidden=12, steps=5, batch=4, epochs=1, device="cpu", optimizer="adam", lr=0.01, seed=1)


def tiny_trainer(text: str = TEXT, token: str = "char", hooks=None, **overrides) -> Trainer:
    corpus, vocab = corpus_from_text(text, token=token)
    return Trainer(resolve(**{**TINY, "token": token, **overrides}), corpus, vocab, corpus_name="", hooks=hooks)


def tiny_checkpoint(path, **overrides) -> Trainer:
    """A trained-for-one-epoch run saved at ``path``."""
    trainer = tiny_trainer(**overrides)
    list(trainer.run())
    trainer.save(path)
    return trainer


def params(trainer_or_model) -> list[torch.Tensor]:
    source = getattr(trainer_or_model, "model", trainer_or_model)
    return [p.detach().clone() for p in source.params]


def cpu_allocation_error() -> RuntimeError:
    """The error torch's CPU allocator really raises when an allocation fails."""
    try:
        torch.empty(2 ** 60, dtype=torch.uint8)
    except RuntimeError as exc:
        return exc
    raise AssertionError("an exabyte was allocated")


def cli(argv) -> int:
    """``rnnplay argv``'s exit status, whether main returns it or argparse exits."""
    try:
        return main(argv)
    except SystemExit as exc:
        return exc.code


def fails_in_one_line(capsys, argv, *fragments, code=2) -> str:
    """Run ``rnnplay argv``: it must exit with ``code`` and one stderr line holding ``fragments``."""
    assert cli(argv) == code
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and "Traceback" not in err, err
    for fragment in fragments:
        assert fragment in err, err
    return err
