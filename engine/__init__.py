"""rnnplay's engine: chapter 8 of *Dive into Deep Learning* as a plain PyTorch library.

It never imports a UI toolkit; the CLI, the TUI, the benchmarks and the tests
all use it the same way.  Names are imported lazily so that ``import engine``
stays cheap (torch is loaded only when a name that needs it is used).
"""
import warnings
from importlib import import_module

# torch warns when it is imported without numpy, which it only needs for its numpy bridge:
# rnnplay never uses numpy, and a user should not see the warning on every command
warnings.filterwarnings("ignore", message="Failed to initialize NumPy", category=UserWarning)

_EXPORTS = {
    # data (d2l 8.2-8.3)
    "Vocab": "vocab", "tokenize": "vocab", "load_corpus": "tokenfile", "prepare": "tokenfile",
    "seq_data_iter_random": "data", "seq_data_iter_sequential": "data",
    "corpus_stats": "stats", "CorpusStats": "stats", "NgramBaseline": "stats", "LaplaceNgramLM": "ngram",
    "run_forecast": "forecast", "ForecastConfig": "forecast_config", "ForecastResult": "forecast",
    "RnnplayError": "errors", "CorpusError": "errors", "ConfigError": "errors",
    "CheckpointError": "errors", "TrainingError": "errors",
    # the model (d2l 8.5-8.6)
    "RNNScratch": "model", "RNNConcise": "model", "grad_clipping": "metrics", "generate": "generate",
    "Trainer": "train", "TrainConfig": "config", "resolve": "config", "TrainHooks": "train",
    "bptt_gradients": "bptt", "rnn_recurrence": "bptt",
    # gated and deep cells (d2l 10.1-10.3)
    "GRUScratch": "gated", "LSTMScratch": "gated", "build_model": "cells",
    "gru_recurrence": "gated_bptt", "lstm_recurrence": "gated_bptt",
}

__all__ = sorted(_EXPORTS)

# The function shares its submodule's name: bound now, or `import engine.generate` would
# later replace it with the module (the module imports torch only when called).
from .generate import generate  # noqa: E402


def __getattr__(name):
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module 'engine' has no attribute {name!r}")
    value = getattr(import_module(f".{module}", __name__), name)
    globals()[name] = value
    return value
