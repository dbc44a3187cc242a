"""Data-parallel training (engine/distributed.py): two gloo ranks on the CPU against one process.

The reference is an ordinary single-process Trainer with the global batch W b on the same
seeded streams: after several steps (across an epoch's end, so validation and the carried state
are in play) the two ranks' parameters must equal its parameters, for every cell, iterator and
optimizer, with clipping biting at some steps.  Checkpoints cross world sizes both ways.
"""
import pytest
import torch

from distributed_support import CASES, PER_RANK, RESUME_AT, STEPS, TEXT, WORLD, finish, launch, train_to, trainer
from engine.train import Trainer
from engine.vocab import corpus_from_text

pytestmark = pytest.mark.usefixtures("one_thread")
# float32 sums in another order: Adam divides by the gradients' own scale, so rounding shows up to
# ~1e-5 after a few steps, a thousandth of its step (lr 0.01); a wrong shard or average moves far more
CLOSE = dict(rtol=1e-4, atol=3e-5)


@pytest.fixture(scope="module")
def two_ranks(tmp_path_factory):
    """Everything the two ranks computed: one launch for the whole module.  Before it, the W=1
    checkpoints the ranks resume with W=2."""
    out = tmp_path_factory.mktemp("ddp")
    torch.set_num_threads(1)
    for case in (("lstm", "sequential", "adam"), ("gru", "sequential", "sgd")):
        t = trainer(case, WORLD * PER_RANK)
        train_to(t, RESUME_AT)
        t.save(out / f"{'-'.join(case)}-w1.safetensors")
    results = finish(launch(["tests/distributed_support.py", str(out)]))
    for rc, _, err in results:
        assert rc == 0, err[-3000:]
    return out, torch.load(out / "results.pt")


@pytest.mark.parametrize("case", CASES, ids="-".join)
def test_two_ranks_take_the_single_process_step_of_the_global_batch(two_ranks, case):
    _, results = two_ranks
    params, clipped, epochs = results["cases"]["-".join(case)]
    alone = trainer(case, WORLD * PER_RANK)
    alone_clipped = train_to(alone, STEPS)
    assert alone.epoch >= 1 and epochs == alone.epoch  # an epoch ended: validation ran on rank 0
    # the global norm was clipped at the same steps, some and not all
    assert any(clipped) and not all(clipped) and clipped == alone_clipped
    for mine, reference in zip(params, alone.model.params):
        torch.testing.assert_close(mine, reference.detach(), **CLOSE)
    fresh = trainer(case, WORLD * PER_RANK)
    assert any(not torch.allclose(p, q) for p, q in zip(params, fresh.model.params))  # it did train


@pytest.mark.parametrize("name", ["lstm-sequential-adam", "gru-sequential-sgd"])
def test_a_two_rank_checkpoint_resumes_alone_as_an_uninterrupted_run(two_ranks, name):
    out, _ = two_ranks
    case = tuple(name.split("-"))
    uninterrupted = trainer(case, WORLD * PER_RANK)
    train_to(uninterrupted, STEPS)
    saved = Trainer.load(out / f"{name}-w2.safetensors", corpus=corpus_from_text(TEXT)[0])
    assert saved.global_step == RESUME_AT
    # the carried state was gathered from both ranks: the global batch's rows, as one process saves
    tensors = saved.state_dict()[0]
    assert tensors["state.h"].shape[-2] == WORLD * PER_RANK
    train_to(saved, STEPS)
    for mine, reference in zip(saved.model.params, uninterrupted.model.params):
        torch.testing.assert_close(mine.detach(), reference.detach(), **CLOSE)


@pytest.mark.parametrize("name", ["lstm-sequential-adam", "gru-sequential-sgd"])
def test_a_single_process_checkpoint_resumes_on_two_ranks_as_an_uninterrupted_run(two_ranks, name):
    _, results = two_ranks
    uninterrupted = trainer(tuple(name.split("-")), WORLD * PER_RANK)
    train_to(uninterrupted, STEPS)
    for mine, reference in zip(results["resumed"][name], uninterrupted.model.params):
        torch.testing.assert_close(mine, reference.detach(), **CLOSE)
