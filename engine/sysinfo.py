"""What a bug report needs about this machine and this install, as plain data (``rnnplay info``).

:func:`rnnplay_version` and :func:`usable_cpus` do not import torch (``rnnplay --version`` and
the option checks stay fast); :func:`system_info` does.
"""
from __future__ import annotations

import os
import platform
from importlib import metadata


def package_version(name: str) -> str | None:
    """The installed version of distribution ``name`` (None when it is not installed); read from
    its metadata, so the package is not imported (the engine never imports a UI toolkit)."""
    try:
        return metadata.version(name)
    except metadata.PackageNotFoundError:
        return None


def rnnplay_version() -> str:
    return package_version("rnnplay") or "unknown (not installed: pip install -e .)"


def usable_cpus() -> int:
    """The CPU cores this process may run on (a container or taskset may allow fewer than exist)."""
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # not on Linux
        return os.cpu_count() or 1


def cpu_model() -> str:
    """The processor's name from /proc/cpuinfo (Linux), else what ``platform`` knows."""
    try:
        with open("/proc/cpuinfo", encoding="utf-8", errors="replace") as fh:
            for line in fh:
                key, _, value = line.partition(":")
                if key.strip() in ("model name", "Model", "Hardware", "cpu model") and value.strip():
                    return value.strip()
    except OSError:
        pass
    return platform.processor() or platform.machine() or "unknown"


def system_info() -> dict:
    """Versions, hardware, torch's build and threads, CUDA devices and rnnplay's folders."""
    import torch

    from .corpus import timemachine_cached
    from .memory import available_memory
    from .paths import checkpoint_dir, data_dir

    cuda = torch.cuda.is_available()
    build = f"CUDA {torch.version.cuda}" if torch.version.cuda else \
        f"ROCm {torch.version.hip}" if getattr(torch.version, "hip", None) else "CPU"
    memory = available_memory()
    return {
        "rnnplay": rnnplay_version(),
        "python": f"{platform.python_implementation()} {platform.python_version()}",
        "platform": platform.platform(),
        "torch": torch.__version__,
        "torch_build": build,
        "textual": package_version("textual"),
        "cpu": cpu_model(),
        "cpu_capability": torch.backends.cpu.get_cpu_capability(),
        "cpu_cores": os.cpu_count(),
        "usable_cores": usable_cpus(),
        "torch_threads": torch.get_num_threads(),
        "memory_available_gb": None if memory is None else round(memory / 1e9, 1),
        "cuda_devices": [{"index": i, "name": torch.cuda.get_device_name(i),
                          "memory_gb": round(torch.cuda.get_device_properties(i).total_memory / 1e9, 1)}
                         for i in range(torch.cuda.device_count())] if cuda else [],
        "data_dir": str(data_dir()),
        "checkpoint_dir": str(checkpoint_dir()),
        "timemachine_cached": timemachine_cached(),
    }
