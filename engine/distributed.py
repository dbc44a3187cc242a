"""Data-parallel training on torch.distributed: W processes (ranks) train one model together.

Each rank takes its own contiguous rows of every minibatch (``Minibatches.shard``: rows
``r B/W .. (r+1) B/W`` of the global ``--batch`` B), drawn with the same seeded data generator on
every rank, so with sequential partitioning row i still continues row i and the carried hidden state
of a row stays on one rank.  After each backward pass the ranks average their gradients with one
all-reduce, before clipping: each rank's loss is the mean over its b = B/W rows, so

    (1/W) sum_r grad(mean over rank r's b rows) = grad(mean over all W b rows),

exactly the single-process gradient, and every rank then clips the same global norm and takes the
same optimizer step.  Why an all-reduce of ``.grad`` rather than DistributedDataParallel: the cells'
backward passes are hand-derived autograd Functions (engine/bptt.py, engine/gated_bptt.py) that fill
``.grad`` of the model's parameters when ``loss.backward()`` returns; DDP's value is overlapping
bucketed all-reduces with that backward through per-parameter hooks, which buys nothing for a model
whose whole gradient arrives at once at the end, and one flat all-reduce (the gradients and the loss
in one buffer) is one message per step, the fewest there can be.

Validation and checkpoint writing happen on rank 0 (:meth:`DataParallel.main_only`), whose result, or
one-line error, every rank receives; the carried hidden state is gathered from all ranks into the
global (B, H) rows before saving and split again on load, so a checkpoint is the same as a single
process's and resumes on any world size.  A rank that dies or stalls ends the run on the others
with a :class:`WorkerLost` error (one line) at the next collective, at the latest after ``timeout``.

The environment is torchrun's: RANK, WORLD_SIZE, LOCAL_RANK, MASTER_ADDR, MASTER_PORT.  Backends:
gloo on the CPU; NCCL on CUDA (``cuda:LOCAL_RANK``), with a gloo group beside it for the small
values (results, errors, fingerprints) that go from rank to rank as JSON: torch's own object
collectives unpickle through numpy, which rnnplay does not depend on.
"""
from __future__ import annotations

import json
import os
import re
from datetime import timedelta

import torch
import torch.distributed as dist

from . import errors
from .errors import ConfigError, CorpusError, RnnplayError, TrainingError
from .tensor_bytes import tensor_bytes

DEFAULT_TIMEOUT = 600.0  # seconds a collective waits for a silent rank (a long validation included)
ENVIRONMENT = ("RANK", "WORLD_SIZE", "LOCAL_RANK")


class WorkerLost(TrainingError):
    """Another rank died, stalled past the timeout, or the network between ranks failed."""


def _first_line(exc: BaseException) -> str:
    """The gist of a backend's error: its first sentence, less the source location gloo puts first."""
    text = str(exc).strip().splitlines()
    line = re.sub(r"^\[[^\]]*\]\s*", "", text[0] if text else "") or type(exc).__name__
    return line.split(". ")[0][:200]


def launched() -> bool:
    """Whether this process was started by torchrun (or anything else that sets its environment)."""
    return "WORLD_SIZE" in os.environ


def _environment() -> tuple[int, int, int]:
    try:
        rank, world_size, local_rank = (int(os.environ.get(name, "0")) for name in ENVIRONMENT)
    except ValueError:
        raise ConfigError(f"{', '.join(ENVIRONMENT)} must be whole numbers (torchrun sets them); "
                          f"launch with torchrun or rnnplay train --nproc N") from None
    if world_size < 1 or not 0 <= rank < world_size or local_rank < 0:
        raise ConfigError(f"RANK {rank} is not one of WORLD_SIZE {world_size} ranks; launch with torchrun "
                          f"or rnnplay train --nproc N")
    return rank, world_size, local_rank


class DataParallel:
    """This process's place among the ranks, and the collectives data-parallel training needs.
    :meth:`start` joins the process group; :meth:`close` leaves it."""

    def __init__(self, rank: int, world_size: int, local_rank: int, device: torch.device, objects=None):
        self.rank, self.world_size, self.local_rank, self.device = rank, world_size, local_rank, device
        self._objects = objects  # the gloo group for the JSON values (None: the default group is gloo)

    @classmethod
    def start(cls, device: str = "auto", timeout: float = DEFAULT_TIMEOUT) -> DataParallel:
        """Join the process group torchrun's environment describes: gloo on the CPU, NCCL on CUDA
        (``device`` as --device: auto is CUDA when present), each rank on ``cuda:LOCAL_RANK``."""
        from .device import resolve_device

        rank, world_size, local_rank = _environment()
        where = resolve_device(device)
        backend = "gloo"
        if where.type == "cuda":
            if local_rank >= torch.cuda.device_count():
                raise ConfigError(f"LOCAL_RANK {local_rank}: only {torch.cuda.device_count()} CUDA device(s) on "
                                  f"this machine; start at most that many processes per node", "device")
            where, backend = torch.device("cuda", local_rank), "nccl"
            torch.cuda.set_device(where)
        wait = timedelta(seconds=timeout)
        try:
            dist.init_process_group(backend, timeout=wait, rank=rank, world_size=world_size,
                                    **({"device_id": where} if backend == "nccl" else {}))
            objects = dist.new_group(backend="gloo", timeout=wait) if backend != "gloo" else None
        except (RuntimeError, ValueError) as exc:  # the rendezvous failed or timed out
            raise WorkerLost(f"rank {rank}: could not join the other {world_size - 1} worker(s) at "
                             f"{os.environ.get('MASTER_ADDR', '?')}:{os.environ.get('MASTER_PORT', '?')} "
                             f"({_first_line(exc)}); check that every rank was started and the port is "
                             f"reachable") from None
        return cls(rank, world_size, local_rank, where, objects)

    def close(self) -> None:
        if dist.is_initialized():
            dist.destroy_process_group()

    @property
    def is_main(self) -> bool:
        return self.rank == 0

    # ------------------------------------------------------------ collectives ----
    def _collective(self, op, *args, **kwargs):
        try:
            return op(*args, **kwargs)
        except RuntimeError as exc:  # torch's DistBackendError and gloo's errors are RuntimeErrors
            raise WorkerLost(f"rank {self.rank}: lost the other workers ({_first_line(exc)}); one of them stopped "
                             f"or the network failed; the last checkpoint is intact: resume from it") from None

    def _gather_values(self, value) -> list:
        """Every rank's ``value`` (plain JSON data), in rank order."""
        data = torch.tensor(list(json.dumps(value).encode()), dtype=torch.uint8)
        sizes = [torch.zeros(1, dtype=torch.long) for _ in range(self.world_size)]
        self._collective(dist.all_gather, sizes, torch.tensor([len(data)]), group=self._objects)
        longest = int(max(sizes))
        parts = [torch.zeros(longest, dtype=torch.uint8) for _ in range(self.world_size)]
        padded = torch.cat([data, torch.zeros(longest - len(data), dtype=torch.uint8)])
        self._collective(dist.all_gather, parts, padded, group=self._objects)
        return [json.loads(tensor_bytes(part[:int(size)])) for part, size in zip(parts, sizes)]

    @staticmethod
    def _outcome(fn, *args) -> list:
        """``[result, None]``, or ``[None, [error class name, message]]`` for an RnnplayError."""
        try:
            return [fn(*args), None]
        except RnnplayError as exc:
            return [None, [type(exc).__name__, str(exc)]]

    @staticmethod
    def _raise_any(outcomes: list) -> None:
        for _, error in outcomes:
            if error is not None:
                kind = getattr(errors, error[0], None)
                raise (kind if isinstance(kind, type) and issubclass(kind, RnnplayError) else RnnplayError)(error[1])

    def main_only(self, fn, *args):
        """``fn(*args)`` on rank 0; every rank returns its result (plain JSON data), or raises its RnnplayError
        (e.g. a checkpoint that could not be written: one line on every rank, nobody waits)."""
        outcomes = self._gather_values(self._outcome(fn, *args) if self.is_main else [None, None])
        self._raise_any(outcomes)
        return outcomes[0][0]

    def local_main_first(self, fn, *args):
        """``fn(*args)`` on every rank, on each node's local rank 0 before the others (e.g. preparing
        a token file that the node's ranks then share); an error on any rank is raised on all."""
        outcome = [None, None]
        for turn in (True, False):
            if (self.local_rank == 0) == turn:
                outcome = self._outcome(fn, *args)
            self._raise_any(self._gather_values([None, outcome[1]]))  # the result stays here
        return outcome[0]

    def check_same(self, value, what: str) -> None:
        """Refuse to train when ``value`` (e.g. the token file's SHA-1) differs between ranks."""
        values = self._gather_values(value)
        odd = [rank for rank, v in enumerate(values) if v != values[0]]
        if odd:
            raise CorpusError(f"rank(s) {', '.join(map(str, odd))} have a different {what} from rank 0; every "
                              f"machine must train on the same text (copy the file, or run rnnplay prepare on "
                              f"each with the same source and --token)")

    def any_rank(self, flag: bool) -> bool:
        """Whether ``flag`` is true on any rank (e.g. asked to stop): the same answer on every rank."""
        total = torch.tensor([float(flag)])
        self._collective(dist.all_reduce, total, group=self._objects)
        return bool(total > 0)

    def check_batch(self, batch: int) -> None:
        if batch % self.world_size:
            raise ConfigError(f"--batch {batch} cannot be shared evenly by {self.world_size} workers; use a "
                              f"multiple of {self.world_size} (--batch is the global minibatch)", "batch")

    def shard(self, batches):
        """This rank's rows of every minibatch (``Minibatches.shard``)."""
        return batches.shard(self.rank, self.world_size)

    def average_gradients(self, params, loss: torch.Tensor, *values: float) -> list[float]:
        """Average every parameter's gradient, the loss and ``values`` (e.g. the run's clock) over
        the ranks with one all-reduce; returns the averaged loss (the global minibatch's) and values."""
        grads = [p.grad if p.grad is not None else torch.zeros_like(p) for p in params]
        tail = torch.tensor([float(loss.detach()), *values], dtype=grads[0].dtype, device=grads[0].device)
        flat = torch.cat([g.reshape(-1) for g in grads] + [tail])
        self._collective(dist.all_reduce, flat)
        flat /= self.world_size
        offset = 0
        for p, g in zip(params, grads):
            p.grad = g.copy_(flat[offset:offset + g.numel()].view_as(g))
            offset += g.numel()
        return flat[offset:].tolist()

    def gather_rows(self, state):
        """The global hidden state (rows along axis -2 in rank order) from every rank's rows; a
        tensor or the LSTM's (H, C) pair."""
        if isinstance(state, tuple):
            return tuple(self.gather_rows(s) for s in state)
        parts = [torch.empty_like(state) for _ in range(self.world_size)]
        self._collective(dist.all_gather, parts, state.contiguous())
        return torch.cat(parts, dim=-2)

    def own_rows(self, state):
        """This rank's rows (along axis -2) of a global hidden state; a tensor or a pair."""
        if isinstance(state, tuple):
            return tuple(self.own_rows(s) for s in state)
        per = state.shape[-2] // self.world_size
        return state.narrow(-2, self.rank * per, per).clone()
