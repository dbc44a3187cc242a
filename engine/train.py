"""One training loop for the CLI, the TUI and the benchmarks (d2l 8.5).

:meth:`Trainer.run` yields a :class:`StepRecord` per minibatch and an
:class:`EpochRecord` per epoch and knows nothing of printing (minGPT's
trainer, as a generator).  Whoever drives it pauses by not asking for the next
record and stops by leaving the loop (closing the generator); its whole position
lives on the trainer, so a run stopped anywhere continues with another ``run()``
call, or from a checkpoint, exactly as if never stopped.  That state crosses
module lines as plain data: :meth:`Trainer.state_dict` and
:meth:`Trainer.load_state_dict` (engine/checkpoint.py turns it into a file and back).
"""
from __future__ import annotations

import copy
import math
import threading
import time
from collections.abc import Callable, Iterator, Mapping
from dataclasses import asdict, dataclass

import torch
import torch.nn.functional as F

from . import train_state
from .cells import build_model
from .checkpoint import corpus_fingerprint, open_run
from .checkpoint_file import MAX_CHECKPOINT_BYTES, write_checkpoint
from .config import TrainConfig
from .data import Minibatches, num_minibatches, seq_data_iter_random, seq_data_iter_sequential
from .device import resolve_device
from .errors import CheckpointError, ConfigError, TrainingError
from .kernels import keep_freed_memory
from .kernels.cuda_graph import GraphedStep, graph_wanted
from .layers import detach_state
from .memory import available_memory, check_checkpoint_size, check_fits, is_out_of_memory, training_estimate, \
    within_memory
from .metrics import evaluate_perplexity, grad_clipping, gradient_flow, perplexity
from .optim import SGD, AdamW
from .records import EpochRecord, RunInfo, StepRecord
from .vocab import Vocab

__all__ = ["EpochRecord", "MAX_BAD_STEPS", "RunInfo", "StepRecord", "TrainHooks", "Trainer", "split_corpus"]

MAX_BAD_STEPS = 5  # non-finite steps in a row before the run gives up


@dataclass
class TrainHooks:
    """Experiments the engine does not offer, without reaching into the trainer (benchmarks/sweep.py,
    tests); each is None or a function:

    - ``batch(X, Y) -> (X, Y)``: every minibatch before its step (e.g. noise on the inputs);
    - ``after_step()``: after every step that updated the weights (e.g. a moving average of them);
    - ``eval_weights() -> tensors``: the weights to validate, and keep as the best, instead of
      the current ones (shaped as ``model.params``).
    """

    batch: Callable | None = None
    after_step: Callable | None = None
    eval_weights: Callable | None = None


def split_corpus(corpus, val_fraction: float) -> tuple[torch.Tensor, torch.Tensor]:
    """Train on the first floor((1 - f) N) tokens, validate on the rest (as the n-gram baselines).
    A tensor corpus is split into views of any integer dtype (a memory-mapped token file stays
    mapped; windows are widened as they are read); a list becomes an int64 tensor."""
    tokens = corpus if isinstance(corpus, torch.Tensor) else torch.tensor(list(corpus), dtype=torch.long)
    n_train = math.floor(len(tokens) * (1 - val_fraction))
    return tokens[:n_train], tokens[n_train:]


def _copy_into(params, values) -> None:
    with torch.no_grad():
        for p, value in zip(params, values):
            p.copy_(value)


class Trainer:
    """Trains the scratch model of ``config.cell`` (engine.cells) on ``corpus`` (token indices of ``vocab``).

    ``epoch`` counts finished epochs and ``global_step`` finished minibatches.  ``cuda_graph``:
    replay each step as one CUDA graph (engine/kernels/cuda_graph.py); None: where it applies.
    ``hooks``: see :class:`TrainHooks`.  ``dist``: this process's rank among data-parallel
    workers (engine.distributed.DataParallel), which then train on its device; None: alone.
    """

    def __init__(self, config: TrainConfig, corpus, vocab: Vocab, *, corpus_name: str = "",
                 cuda_graph: bool | None = None, hooks: TrainHooks | None = None, dist=None):
        config.validate()
        self.config, self.vocab, self.corpus_name, self.dist = config, vocab, corpus_name, dist
        self.device = resolve_device(config.device) if dist is None else dist.device
        if dist is not None:
            dist.check_batch(config.batch)
        if self.device.type == "cpu":
            keep_freed_memory()  # a step's buffers are reused, not faulted in again (see there)
        self._corpus = corpus
        self._train, self._val = split_corpus(corpus, config.val_fraction)
        if config.val_fraction > 0 and len(self._val) < 2:
            raise ConfigError(f"val_fraction {config.val_fraction}: leaves {len(self._val)} validation "
                              f"token(s); use more text or --val-fraction 0")
        self._make_batches = seq_data_iter_sequential if config.iterator == "sequential" else seq_data_iter_random
        # a text too short for one minibatch is refused now, not at the first step
        self._batches(torch.Generator())
        # minibatches per epoch (up to one fewer with a random offset): the schedule's clock
        self.steps_per_epoch = max(1, num_minibatches(len(self._train), config.batch, config.steps, 0,
                                                      sequential=config.iterator == "sequential"))
        # what this configuration will allocate is checked before any of it is
        estimate = training_estimate(config, len(vocab))
        check_fits(estimate, available_memory(self.device), "this model")
        check_checkpoint_size(estimate, MAX_CHECKPOINT_BYTES)
        # Own generators: the run never depends on (or disturbs) global RNG state.
        init_rng = torch.Generator().manual_seed(config.seed)
        self._data_rng = torch.Generator().manual_seed(config.seed + 1)
        self.model = within_memory(lambda: build_model(config.cell, len(vocab), config.hidden, config.layers,
                                                       config.dropout, self.device, init_rng, embed=config.embed),
                                   "building the model", "lower --hidden or --layers")
        # AdamW: weight decay apart from the adaptive step (with none, exactly Adam)
        optimizer = AdamW if config.optimizer == "adam" else SGD
        self.optimizer = optimizer(self.model.parameters(), lr=config.lr, weight_decay=config.weight_decay)
        self.epoch = 0
        self.global_step = 0
        self.elapsed = 0.0
        self.best_val_perplexity: float | None = None
        self._best_params: list[torch.Tensor] | None = None
        self._epoch_rng_state: torch.Tensor | None = None  # data RNG at the current epoch's start
        self._step_in_epoch = 0
        self._state = None  # hidden state carried (sequential): a tensor, or the LSTM's (H, C)
        self._epoch_loss = 0.0
        self._epoch_tokens = 0
        self._epoch_seconds = 0.0
        self._lock = threading.Lock()
        self._saving = threading.Lock()
        self._changes = self._saved_changes = self._copied_changes = 0  # state changes: so far, saved, copied
        self._fingerprint: str | None = None  # of the corpus, computed at the first save
        self._bad_in_a_row = 0
        self._good_params: list[torch.Tensor] | None = None  # weights before the last finite step
        self.notice = ""  # for the user, e.g. why the device differs from the checkpoint's
        # a graphed step has no place for the all-reduce between backward and clipping
        self._graphed = dist is None and graph_wanted(self.device, config.cell, config.dropout, cuda_graph)
        self._graph: GraphedStep | None = None  # captured at the first step
        self.hooks = hooks or TrainHooks()

    # -------------------------------------------------------------- loop ----
    def _epoch_batches(self) -> Minibatches:
        if self._epoch_rng_state is None:  # a new epoch
            self._epoch_rng_state = self._data_rng.get_state()
            self._step_in_epoch, self._state = 0, None
            self._epoch_loss, self._epoch_tokens, self._epoch_seconds = 0.0, 0, 0.0
        else:  # resuming inside an epoch: replay its draws, then skip what was done
            self._data_rng.set_state(self._epoch_rng_state)
        return self._batches(self._data_rng)

    def _batches(self, generator: torch.Generator) -> Minibatches:
        """An epoch's minibatches (of the global batch); a data-parallel rank's rows of them."""
        batches = self._make_batches(self._train, self.config.batch, self.config.steps, generator=generator)
        return batches if self.dist is None else self.dist.shard(batches)

    def _train_step(self, X: torch.Tensor, Y: torch.Tensor) -> tuple[float, float, bool]:
        """``(loss, gradient norm, finite)``; a non-finite step updates nothing."""
        if self.hooks.batch is not None:
            X, Y = self.hooks.batch(X, Y)
        X, Y = X.to(self.device), Y.to(self.device)
        if self.config.iterator == "random" or self._state is None:
            state = self.model.begin_state(X.shape[0])
        else:
            state = self._state  # carried across minibatches, cut from the old graph
        if self._graphed:
            return self._graphed_step(X, Y, state)
        logits, state = self._forward(X, state)
        loss = F.cross_entropy(logits.reshape(-1, logits.shape[-1]), Y.reshape(-1))
        self.optimizer.zero_grad(set_to_none=True)
        loss.backward()
        if self.dist is None:
            loss_value = float(loss.detach())
        else:  # gradients, loss and clock averaged over the ranks: all clip the global norm, take the same step
            loss_value, self.elapsed = self.dist.average_gradients(self.model.params, loss, self.elapsed)
        norm = grad_clipping(self.model, self.config.clip)
        if not (math.isfinite(loss_value) and math.isfinite(norm)):
            self.optimizer.zero_grad(set_to_none=True)
            self._state = None  # a NaN state must not be carried into the next minibatch
            return loss_value, norm, False
        self._keep_good_params()
        self.optimizer.hyper["lr"] = self.current_lr()
        self.optimizer.step()
        self._state = detach_state(state)
        return loss_value, norm, True

    def _graphed_step(self, X: torch.Tensor, Y: torch.Tensor, state) -> tuple[float, float, bool]:
        """_train_step's work as one replay of engine/kernels/cuda_graph.py's step: the same
        update, clipping and skipping of non-finite steps, and the same kept good weights."""
        if self._graph is None or self._graph.X.shape != X.shape:
            self._graph = GraphedStep(self.model, self.optimizer, self.config.clip, *X.shape)
            self._good_params = self._graph.good
        loss, norm, finite, state = self._graph.step(X, Y, state, self.current_lr())
        self._state = state if finite else None
        return loss, norm, finite

    def progress(self) -> float:
        """How far the run is, 0 to 1: the larger of the trained share of ``time_budget`` (when
        set) and the share of ``epochs`` x minibatches per epoch done (the schedule's clock)."""
        cfg = self.config
        by_steps = self.global_step / max(1, cfg.epochs * self.steps_per_epoch)
        by_time = self.elapsed / cfg.time_budget if cfg.time_budget else 0.0
        return min(1.0, max(by_steps, by_time))

    def current_lr(self) -> float:
        return self.config.lr_at(self.progress())

    def _forward(self, X: torch.Tensor, state):
        self.model.train()
        if not self.config.dropout:
            return self.model(X, state)
        # dropout masks from a seed of (run seed, step, data-parallel rank): a resumed run draws the
        # same masks as an uninterrupted one, ranks draw different ones, the global RNG is left alone
        devices = [self.device.index or 0] if self.device.type == "cuda" else []
        rank = 0 if self.dist is None else self.dist.rank
        with torch.random.fork_rng(devices=devices):
            torch.manual_seed(self.config.seed * 1_000_003 + self.global_step + (rank << 40))
            return self.model(X, state)

    def _keep_good_params(self) -> None:
        # copy_ into buffers made once: a clone per step would allocate every minibatch
        with torch.no_grad():
            if self._good_params is None:
                self._good_params = [p.detach().clone() for p in self.model.params]
            else:
                for kept, p in zip(self._good_params, self.model.params):
                    kept.copy_(p)

    def _diverged(self) -> TrainingError:
        with self._lock:
            restored = self._good_params is not None
            if restored:
                with torch.no_grad():
                    for p, kept in zip(self.model.params, self._good_params):
                        p.copy_(kept)
                self._changes += 1
            self._bad_in_a_row = 0
        back = "the weights are back at the last good step" if restored else "no good step to go back to"
        return TrainingError(f"training diverged: {MAX_BAD_STEPS} steps in a row had a NaN or infinite loss "
                             f"or gradient (up to step {self.global_step}); {back}; lower the learning rate "
                             f"(--lr, now {self.config.lr:g}) and train again")

    def _out_of_memory(self, what: str) -> TrainingError:
        self.optimizer.zero_grad(set_to_none=True)
        if self.device.type == "cuda":
            torch.cuda.empty_cache()
        cfg = self.config
        cpu = ", or use --device cpu" if self.device.type != "cpu" else ""
        return TrainingError(f"out of memory on {self.device} while {what} (minibatch {cfg.batch} x {cfg.steps}, "
                             f"{cfg.hidden} hidden units, vocabulary {len(self.vocab):,}); the memory was freed; "
                             f"lower --batch, --steps or --hidden{cpu}")

    def _guarded(self, what: str, fn, *args):
        """``fn(*args)``, with out-of-memory (CUDA's, or the CPU allocator's) turned into a
        TrainingError once the memory is free."""
        try:
            return fn(*args)
        except RuntimeError as exc:
            if not is_out_of_memory(exc):
                raise
        # out of the except block first: its traceback still held the large tensors
        raise self._out_of_memory(what)

    def run(self) -> Iterator[StepRecord | EpochRecord]:
        """Train until ``config.epochs`` epochs are done or the time budget is spent; leaving the
        loop early (closing the generator) stops after the step whose record was yielded last."""
        cfg = self.config
        ranks = 1 if self.dist is None else self.dist.world_size  # tokens are counted over all ranks
        while self.epoch < cfg.epochs:
            batches = self._epoch_batches()
            for X, Y in batches[self._step_in_epoch:]:
                out_of_time = cfg.time_budget and self.elapsed >= cfg.time_budget
                if cfg.time_budget and self.dist is not None:  # every rank stops after the same step
                    out_of_time = self.dist.any_rank(out_of_time)
                if out_of_time:
                    return
                start = time.perf_counter()
                with self._lock:
                    loss, norm, finite = self._guarded("training", self._train_step, X, Y)
                    seconds = time.perf_counter() - start
                    self._step_in_epoch += 1
                    self.global_step += 1
                    if finite:
                        self._epoch_loss += loss * Y.numel() * ranks
                        self._epoch_tokens += Y.numel() * ranks
                        if self.hooks.after_step is not None:
                            self.hooks.after_step()
                    self._bad_in_a_row = 0 if finite else self._bad_in_a_row + 1
                    self._epoch_seconds += seconds
                    self.elapsed += seconds
                    self._changes += 1
                    lr = self.optimizer.hyper["lr"]
                yield StepRecord(self.epoch + 1, self._step_in_epoch, len(batches), self.global_step, loss,
                                 perplexity(loss), norm, finite and norm > cfg.clip,
                                 self._epoch_tokens / max(self._epoch_seconds, 1e-9), self.elapsed,
                                 skipped=not finite, lr=lr, progress=self.progress())
                if self._bad_in_a_row >= MAX_BAD_STEPS:
                    raise self._diverged()
            yield self._end_epoch()

    def _eval_weights(self) -> list[torch.Tensor]:
        return list(self.hooks.eval_weights()) if self.hooks.eval_weights is not None else self.model.params

    def _validate(self) -> float | None:
        if self.dist is not None:  # rank 0 validates; every rank learns the perplexity
            return self.dist.main_only(self._validate_here)
        return self._validate_here()

    def _validate_here(self) -> float | None:
        if len(self._val) < 2:
            return None
        weights = self._eval_weights()
        kept = None if weights is self.model.params else [p.detach().clone() for p in self.model.params]
        self.model.eval()  # no dropout while validating
        try:
            if kept is not None:
                _copy_into(self.model.params, weights)
            return self._guarded("validating", evaluate_perplexity, self.model, self._val, self.device)
        finally:
            if kept is not None:
                _copy_into(self.model.params, kept)
            self.model.train()

    @property
    def mid_epoch(self) -> bool:
        """Some, not all, of the current epoch's minibatches are done (e.g. a time budget ran out)."""
        return self._epoch_rng_state is not None and self._step_in_epoch > 0

    def validation_perplexity(self) -> float | None:
        """The current weights' perplexity on the validation split (None without one), e.g. after
        a time budget ended a run inside an epoch."""
        with self._lock:
            return self._validate()

    def _end_epoch(self) -> EpochRecord:
        start = time.perf_counter()
        with self._lock:
            val = self._validate()
            is_best = val is not None and (self.best_val_perplexity is None or val < self.best_val_perplexity)
            if is_best:
                self.best_val_perplexity = val
                self._best_params = [p.detach().clone() for p in self._eval_weights()]
            self.elapsed += time.perf_counter() - start
            self.epoch += 1
            self._epoch_rng_state = None
            self._changes += 1
            train = perplexity(self._epoch_loss / self._epoch_tokens) if self._epoch_tokens else math.nan
            return EpochRecord(self.epoch, train, val, self.best_val_perplexity, is_best,
                               self._epoch_tokens / max(self._epoch_seconds, 1e-9), self.elapsed, self.global_step)

    # ------------------------------------------------------- diagnostics ----
    def gradient_flow(self) -> list[float]:
        """||dL/dh_t|| for t = 1..steps on one training minibatch (see metrics.gradient_flow);
        the minibatch comes from its own generator so training is not disturbed."""
        rng = torch.Generator().manual_seed(self.config.seed + self.global_step)
        X, Y = seq_data_iter_random(self._train, self.config.batch, self.config.steps, generator=rng)[0]
        with self._lock:
            return gradient_flow(self.model, X.to(self.device), Y.to(self.device))

    def snapshot_model(self, *, best: bool = False):
        """A detached copy of the current weights (or of the best-validation weights, when
        ``best`` and there are some), safe to use while another thread trains."""
        with self._lock:
            model = copy.deepcopy(self.model)
            if best and self._best_params is not None:
                _copy_into(model.params, self._best_params)
        return model.requires_grad_(False).eval()

    @property
    def dirty(self) -> bool:
        """Trained (or changed) since it was built, loaded or last saved."""
        return self._changes != self._saved_changes

    @property
    def step_graph(self) -> GraphedStep | None:
        """The CUDA-graph step (engine/kernels/cuda_graph.py) once a graphed run has taken a step."""
        return self._graph

    def info(self) -> RunInfo:
        """The run's facts as plain data, for another thread or a log."""
        with self._lock:
            return RunInfo(self.config, self.corpus_name, len(self.vocab), str(self.device), self.steps_per_epoch,
                           self.epoch, self.global_step, self.elapsed, self.best_val_perplexity, self.progress(),
                           self.notice)

    # ------------------------------------------------------------- state ----
    def state_dict(self) -> tuple[dict[str, torch.Tensor], dict]:
        """Everything a resumed run needs to continue as if never stopped, as plain data
        ``(tensors, meta)``: copies taken under the lock, so training may go on meanwhile.

        ``tensors``: ``model.NAME`` and ``best.NAME`` (the best-validation weights, once there are
        some); ``optim.I.KEY`` (the optimizer's per-parameter state); ``rng.data`` (the data
        generator) and ``rng.epoch`` (its state at the start of an unfinished epoch); ``state.h``
        and the LSTM's ``state.c``, the hidden state carried between minibatches (sequential
        partitioning), whose rows along axis -2 are the minibatch's rows in order (a data-parallel
        run gathers them from every rank before saving, and splits them again on load).
        ``meta``: ``config`` (TrainConfig's fields), ``vocab`` (its tokens), ``corpus`` (name,
        length, SHA-1 of the token indices) and ``progress`` (counts and sums of the run so far).
        """
        if self._fingerprint is None:  # the corpus never changes: hashed once, outside the lock
            self._fingerprint = corpus_fingerprint(self._corpus)
        with self._lock:
            names = train_state.param_names(self.model)
            tensors = {f"model.{n}": p.detach().clone() for n, p in zip(names, self.model.params)}
            if self._best_params is not None:
                tensors.update({f"best.{n}": p.clone() for n, p in zip(names, self._best_params)})
            for i, state in self.optimizer.state_dict()["state"].items():
                tensors.update({f"optim.{i}.{key}": torch.as_tensor(value).clone() for key, value in state.items()})
            tensors["rng.data"] = self._data_rng.get_state()
            if self._epoch_rng_state is not None:
                tensors["rng.epoch"] = self._epoch_rng_state.clone()
            if self._state is not None:  # the LSTM's state is the pair (H, C)
                pair = self._state if isinstance(self._state, tuple) else (self._state,)
                if self.dist is not None:  # the global minibatch's rows, as a single process holds them
                    pair = self.dist.gather_rows(pair)
                tensors.update(zip(("state.h", "state.c"), (s.clone() for s in pair)))
            meta = {
                "config": asdict(self.config),
                "vocab": list(self.vocab.idx_to_token),
                "corpus": {"name": self.corpus_name, "tokens": len(self._corpus), "sha1": self._fingerprint},
                "progress": {"epoch": self.epoch, "global_step": self.global_step, "elapsed": self.elapsed,
                             "step_in_epoch": self._step_in_epoch, "epoch_loss": self._epoch_loss,
                             "epoch_tokens": self._epoch_tokens, "epoch_seconds": self._epoch_seconds,
                             "best_val_perplexity": self.best_val_perplexity},
            }
            self._copied_changes = self._changes  # what save() records as saved once the file is written
        return tensors, meta

    def load_state_dict(self, tensors: Mapping[str, torch.Tensor], meta: Mapping, *, where="the state") -> None:
        """Continue the run that :meth:`state_dict` describes (of this configuration and corpus);
        everything is checked before anything is changed.  ``where`` (e.g. a checkpoint's path)
        starts the one-line CheckpointError that a state which does not fit raises."""
        fresh = [p.detach().clone() for p in self.model.params]
        train_state.load_params(self.model, fresh, tensors, "model.", where)
        best = None
        if any(key.startswith("best.") for key in tensors):
            best = [p.detach().clone() for p in self.model.params]
            train_state.load_params(self.model, best, tensors, "best.", where)
        try:
            progress = meta["progress"]
            optim = self.optimizer.state_dict()
            optim["state"] = train_state.optimizer_state(self.model.params, self.config.optimizer, tensors)
            data_rng = torch.Generator()
            data_rng.set_state(tensors["rng.data"])
            epoch_rng = tensors.get("rng.epoch")
            if epoch_rng is not None:
                torch.Generator().set_state(epoch_rng)  # fails here on a bad state, rather than mid-run
            carried = train_state.carried_state(self.model.begin_state(self.config.batch), tensors, self.device)
            if carried is not None and self.dist is not None:
                carried = self.dist.own_rows(carried)
            counts = {key: train_state.count(progress[key])
                      for key in ("epoch", "global_step", "step_in_epoch", "epoch_tokens")}
            elapsed, epoch_seconds = (train_state.seconds(progress[key]) for key in ("elapsed", "epoch_seconds"))
            epoch_loss = float(progress["epoch_loss"])
            best_val = None if progress["best_val_perplexity"] is None else float(progress["best_val_perplexity"])
            self.optimizer.load_state_dict(optim)
        except (KeyError, IndexError, TypeError, ValueError, RuntimeError):
            raise CheckpointError(f"{where}: the checkpoint's training state is incomplete or mismatched") from None
        with self._lock:
            _copy_into(self.model.params, fresh)
            self._best_params = best
            self._data_rng.set_state(data_rng.get_state())
            self._epoch_rng_state, self._state = epoch_rng, carried
            self.epoch, self.global_step = counts["epoch"], counts["global_step"]
            self._step_in_epoch, self._epoch_tokens = counts["step_in_epoch"], counts["epoch_tokens"]
            self.elapsed, self._epoch_seconds, self._epoch_loss = elapsed, epoch_seconds, epoch_loss
            self.best_val_perplexity = best_val
            self._saved_changes = self._changes

    def save(self, path) -> dict:
        """Write the full training state to ``path`` (atomically; see engine/checkpoint_file.py);
        returns the position saved (``meta["progress"]`` of :meth:`state_dict`)."""
        with self._saving:  # one save at a time: each marks what it copied as saved
            tensors, meta = self.state_dict()
            if self.dist is None:
                write_checkpoint(path, tensors, meta)
            else:  # rank 0 writes; a failure is every rank's error
                self.dist.main_only(lambda: str(write_checkpoint(path, tensors, meta)))
            with self._lock:
                self._saved_changes = self._copied_changes
        return meta["progress"]

    @classmethod
    def load(cls, path, *, corpus=None, source: str | None = None, changes: Mapping | None = None,
             hooks: TrainHooks | None = None, dist=None, **read_options) -> "Trainer":
        """A trainer that continues the checkpointed run; the corpus is read again from its
        source, or from ``source`` when the text moved (``read_options``: encoding, max_bytes,
        progress), or given, and must be the one the run was trained on.  ``changes``: the
        epochs, time budget or device of the run from here on (engine.checkpoint.RESUMABLE)."""
        saved = open_run(path, corpus=corpus, source=source, changes=changes, **read_options)
        trainer = cls(saved.config, saved.corpus, saved.vocab, corpus_name=saved.corpus_name, hooks=hooks,
                      dist=dist)
        trainer.notice = saved.notice
        trainer.load_state_dict(saved.tensors, saved.meta, where=path)
        return trainer
