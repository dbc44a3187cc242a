"""One training loop for the CLI, the TUI and the benchmarks (d2l 8.5).

:meth:`Trainer.run` yields a :class:`StepRecord` per minibatch and an
:class:`EpochRecord` per epoch and knows nothing of printing (minGPT's
trainer, as a generator).  It can be paused, resumed and stopped from another
thread between minibatches, and its whole position lives on the trainer, so a
run stopped anywhere continues with another ``run()`` call, or from a
checkpoint, exactly as if never stopped.
"""
from __future__ import annotations

import copy
import math
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass

import torch
import torch.nn.functional as F

from .cells import build_model
from .checkpoint_file import MAX_CHECKPOINT_BYTES
from .config import TrainConfig
from .data import Minibatches, num_minibatches, seq_data_iter_random, seq_data_iter_sequential
from .device import resolve_device
from .errors import ConfigError, TrainingError
from .kernels import keep_freed_memory
from .kernels.cuda_graph import GraphedStep, graph_wanted
from .metrics import evaluate_perplexity, grad_clipping, gradient_flow, perplexity
from .layers import detach_state
from .memory import available_memory, check_checkpoint_size, check_fits, is_out_of_memory, training_estimate, \
    within_memory
from .optim import SGD, AdamW
from .vocab import Vocab

PAUSE_POLL = 0.1  # seconds between stop checks while paused
MAX_BAD_STEPS = 5  # non-finite steps in a row before the run gives up


@dataclass
class StepRecord:
    epoch: int               # 1-based
    step: int                # 1-based within the epoch
    steps_per_epoch: int
    global_step: int
    loss: float
    perplexity: float
    grad_norm: float         # before clipping
    clipped: bool
    tokens_per_sec: float    # over the epoch so far
    elapsed: float           # seconds of training, pauses excluded
    skipped: bool = False    # the loss or gradient was NaN or infinite: no update was made
    lr: float = 0.0          # the learning rate of this step (config.schedule)


@dataclass
class EpochRecord:
    epoch: int
    train_perplexity: float  # token-weighted over the epoch
    val_perplexity: float | None
    best_val_perplexity: float | None
    is_best: bool
    tokens_per_sec: float
    elapsed: float


def split_corpus(corpus, val_fraction: float) -> tuple[torch.Tensor, torch.Tensor]:
    """Train on the first floor((1 - f) N) tokens, validate on the rest (as the n-gram baselines).
    A tensor corpus is split into views of any integer dtype (a memory-mapped token file stays
    mapped; windows are widened as they are read); a list becomes an int64 tensor."""
    tokens = corpus if isinstance(corpus, torch.Tensor) else torch.tensor(list(corpus), dtype=torch.long)
    n_train = math.floor(len(tokens) * (1 - val_fraction))
    return tokens[:n_train], tokens[n_train:]


class Trainer:
    """Trains the scratch model of ``config.cell`` (engine.cells) on ``corpus`` (token indices of ``vocab``).

    ``epoch`` counts finished epochs and ``global_step`` finished minibatches.  ``cuda_graph``:
    replay each step as one CUDA graph (engine/kernels/cuda_graph.py); None: where it applies.
    """

    def __init__(self, config: TrainConfig, corpus, vocab: Vocab, *, corpus_name: str = "",
                 cuda_graph: bool | None = None):
        config.validate()
        self.config, self.vocab, self.corpus_name = config, vocab, corpus_name
        self.device = resolve_device(config.device)
        if self.device.type == "cpu":
            keep_freed_memory()  # a step's buffers are reused, not faulted in again (see there)
        self._corpus = corpus
        self._train, self._val = split_corpus(corpus, config.val_fraction)
        if config.val_fraction > 0 and len(self._val) < 2:
            raise ConfigError(f"val_fraction {config.val_fraction}: leaves {len(self._val)} validation "
                              f"token(s); use more text or --val-fraction 0")
        self._make_batches = seq_data_iter_sequential if config.iterator == "sequential" else seq_data_iter_random
        # a text too short for one minibatch is refused now, not at the first step
        self._make_batches(self._train, config.batch, config.steps, generator=torch.Generator())
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
        self.dirty = False
        self._best_params: list[torch.Tensor] | None = None
        self._epoch_rng_state: torch.Tensor | None = None  # data RNG at the current epoch's start
        self._step_in_epoch = 0
        self._state = None  # hidden state carried (sequential): a tensor, or the LSTM's (H, C)
        self._epoch_loss = 0.0
        self._epoch_tokens = 0
        self._epoch_seconds = 0.0
        self._lock = threading.Lock()
        self._running = threading.Event()
        self._running.set()
        self._stop = threading.Event()
        self._bad_in_a_row = 0
        self._good_params: list[torch.Tensor] | None = None  # weights before the last finite step
        self.notice = ""  # for the user, e.g. why the device differs from the checkpoint's
        self._graphed = graph_wanted(self.device, config.cell, config.dropout, cuda_graph)
        self._graph: GraphedStep | None = None  # captured at the first step

    # ----------------------------------------------------------- control ----
    @property
    def paused(self) -> bool:
        return not self._running.is_set()

    @property
    def stopped(self) -> bool:
        return self._stop.is_set()

    def pause(self) -> None:
        self._running.clear()

    def resume(self) -> None:
        self._running.set()

    def stop(self) -> None:
        self._stop.set()
        self._running.set()  # wakes a paused run so that it can end

    def _may_continue(self) -> bool:
        while not self._running.wait(PAUSE_POLL):
            if self._stop.is_set():
                return False
        if self.config.time_budget and self.elapsed >= self.config.time_budget:
            self._stop.set()
        return not self._stop.is_set()

    # -------------------------------------------------------------- loop ----
    def _epoch_batches(self) -> Minibatches:
        if self._epoch_rng_state is None:  # a new epoch
            self._epoch_rng_state = self._data_rng.get_state()
            self._step_in_epoch, self._state = 0, None
            self._epoch_loss, self._epoch_tokens, self._epoch_seconds = 0.0, 0, 0.0
        else:  # resuming inside an epoch: replay its draws, then skip what was done
            self._data_rng.set_state(self._epoch_rng_state)
        cfg = self.config
        return self._make_batches(self._train, cfg.batch, cfg.steps, generator=self._data_rng)

    def _train_step(self, X: torch.Tensor, Y: torch.Tensor) -> tuple[float, float, bool]:
        """``(loss, gradient norm, finite)``; a non-finite step updates nothing."""
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
        norm = grad_clipping(self.model, self.config.clip)
        loss_value = float(loss.detach())
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
        # dropout masks from a seed of (run seed, step): a resumed run draws the same masks as an
        # uninterrupted one, and the global RNG is left as it was
        devices = [self.device.index or 0] if self.device.type == "cuda" else []
        with torch.random.fork_rng(devices=devices):
            torch.manual_seed(self.config.seed * 1_000_003 + self.global_step)
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
                self.dirty = True
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
        """Train until ``config.epochs`` epochs are done or :meth:`stop` is called."""
        self._stop.clear()
        cfg = self.config
        while self.epoch < cfg.epochs:
            batches = self._epoch_batches()
            for X, Y in batches[self._step_in_epoch:]:
                if not self._may_continue():
                    return
                start = time.perf_counter()
                with self._lock:
                    loss, norm, finite = self._guarded("training", self._train_step, X, Y)
                    seconds = time.perf_counter() - start
                    self._step_in_epoch += 1
                    self.global_step += 1
                    if finite:
                        self._epoch_loss += loss * Y.numel()
                        self._epoch_tokens += Y.numel()
                    self._bad_in_a_row = 0 if finite else self._bad_in_a_row + 1
                    self._epoch_seconds += seconds
                    self.elapsed += seconds
                    self.dirty = True
                yield StepRecord(self.epoch + 1, self._step_in_epoch, len(batches), self.global_step, loss,
                                 perplexity(loss), norm, finite and norm > cfg.clip,
                                 self._epoch_tokens / max(self._epoch_seconds, 1e-9), self.elapsed,
                                 skipped=not finite, lr=self.optimizer.hyper["lr"])
                if self._bad_in_a_row >= MAX_BAD_STEPS:
                    raise self._diverged()
            yield self._end_epoch()

    def _validate(self) -> float | None:
        if len(self._val) < 2:
            return None
        self.model.eval()  # no dropout while validating
        try:
            return self._guarded("validating", evaluate_perplexity, self.model, self._val, self.device)
        finally:
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
                self._best_params = [p.detach().clone() for p in self.model.params]
            self.elapsed += time.perf_counter() - start
            self.epoch += 1
            self._epoch_rng_state = None
            self.dirty = True
            train = perplexity(self._epoch_loss / self._epoch_tokens) if self._epoch_tokens else math.nan
            return EpochRecord(self.epoch, train, val,
                               self.best_val_perplexity, is_best,
                               self._epoch_tokens / max(self._epoch_seconds, 1e-9), self.elapsed)

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
                with torch.no_grad():
                    for p, saved in zip(model.params, self._best_params):
                        p.copy_(saved)
        return model.requires_grad_(False).eval()

    # ------------------------------------------------------- checkpoints ----
    def save(self, path) -> None:
        """Write the full training state to ``path`` (atomically; see engine/checkpoint.py)."""
        from .checkpoint import save_trainer

        with self._lock:
            save_trainer(self, path)
            self.dirty = False

    @classmethod
    def load(cls, path, *, corpus=None, source: str | None = None, device: str | None = None,
             **read_options) -> "Trainer":
        """A trainer that continues the checkpointed run; the corpus is read again from its
        source, or from ``source`` when the text moved (``read_options``: encoding, max_bytes),
        or given, and must be the one the run was trained on."""
        from .checkpoint import load_trainer

        return load_trainer(cls, path, corpus=corpus, source=source, device=device, **read_options)
