"""``rnnplay info``: the lines a bug report needs (versions, hardware, torch's build, folders)."""
from __future__ import annotations

import argparse

from engine.escape import json_line, printable


def add_parser(subparsers) -> argparse.ArgumentParser:
    parser = subparsers.add_parser(
        "info", help="versions, hardware and folders, for a bug report",
        description="Print rnnplay's, Python's, torch's and Textual's versions, whether torch is a CPU or a "
                    "CUDA build, the CPU and torch's use of it, the CUDA devices, and rnnplay's data and "
                    "checkpoint folders: paste them into a bug report.",
    )
    parser.add_argument("--json", action="store_true", help="one JSON object instead of lines")
    parser.set_defaults(run=run)
    return parser


def info_lines(info: dict) -> list[str]:
    cuda = ", ".join(f"cuda:{d['index']} {d['name']} ({d['memory_gb']:g} GB)" for d in info["cuda_devices"])
    memory = info["memory_available_gb"]
    return [
        f"rnnplay {info['rnnplay']}",
        f"Python: {info['python']} on {info['platform']}",
        f"torch: {info['torch']} ({info['torch_build']} build), CPU capability {info['cpu_capability']}, "
        f"{info['torch_threads']} thread(s)",
        f"Textual: {info['textual'] or 'not installed'}",
        f"CPU: {info['cpu']}, {info['usable_cores']} of {info['cpu_cores']} core(s) usable",
        f"memory available: {'unknown' if memory is None else f'{memory:g} GB'}",
        f"CUDA devices: {cuda or 'none'}",
        f"data folder (RNNPLAY_DATA_DIR): {info['data_dir']} (The Time Machine "
        f"{'cached' if info['timemachine_cached'] else 'not cached'})",
        f"checkpoint folder (RNNPLAY_HOME): {info['checkpoint_dir']}",
    ]


def run(args: argparse.Namespace) -> int:
    from engine.sysinfo import system_info

    info = system_info()
    print(json_line(info) if args.json else "\n".join(printable(line) for line in info_lines(info)))
    return 0
