"""The app served to browsers: each session's memory, and how soon a closed tab's app is gone.

    python -m benchmarks.serve_bench [--seconds 10] [--only "rnn (defaults)" ...] [--corpus SOURCE]

For each configuration: ``rnnplay serve`` on a free loopback port and one session opened as the
page opens it (a websocket, 120x40); the app's RSS once it shows the corpus statistics, then F5
and ``--seconds`` of training with the RSS sampled every 0.1 s (the peak); then the websocket
closes, as a closed tab's does, and the clock runs until the app process is gone. Needs the test
extra (textual-serve, psutil, pyte) and runs in temporary data and home folders.
"""
from __future__ import annotations

import argparse
import asyncio
import os
import tempfile
import time
from pathlib import Path

import psutil

from benchmarks.common import corpus_source
from tests.serve_support import TerminalScreen, open_session, read_until, rnnplay_serve

CONFIGS = {
    "rnn, hidden 32": ("--hidden", "32"),
    "rnn (defaults)": (),
    "rnn, hidden 512": ("--hidden", "512"),
    "gru (defaults)": ("--cell", "gru"),
    "lstm (defaults)": ("--cell", "lstm"),
}
MB = 1024 ** 2


async def one_session(served, seconds: float) -> dict:
    import aiohttp

    async with aiohttp.ClientSession() as client:
        screen = TerminalScreen(120, 40)
        websocket, (app,) = await open_session(client, served, screen)
        idle = app.memory_info().rss
        await websocket.send_json(["stdin", "\x1b[15~"])  # F5
        await read_until(websocket, screen, r"training · epoch")

        async def drain() -> None:  # the server must be able to send its frames
            async for _message in websocket:
                pass

        reader = asyncio.create_task(drain())
        peak, end = idle, time.monotonic() + seconds
        while time.monotonic() < end:
            peak = max(peak, app.memory_info().rss)
            await asyncio.sleep(0.1)
        reader.cancel()
        closed = time.monotonic()
        await websocket.close()
        _, alive = await asyncio.to_thread(psutil.wait_procs, [app], 30)
        return {"idle_mb": idle / MB, "peak_mb": peak / MB,
                "gone_s": float("nan") if alive else time.monotonic() - closed}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=10.0, help="training per session (default: 10)")
    parser.add_argument("--only", nargs="+", choices=CONFIGS, default=list(CONFIGS), metavar="NAME",
                        help=f"some of: {', '.join(CONFIGS)}")
    parser.add_argument("--corpus", default=corpus_source(), metavar="SOURCE",
                        help="what the sessions read (default: The Time Machine)")
    args = parser.parse_args(argv)
    print(f"| configuration | RSS with the statistics shown (MB) | peak RSS in {args.seconds:g} s of training (MB) "
          f"| app gone after its tab closed (s) |\n|---|---|---|---|")
    with tempfile.TemporaryDirectory() as folder:
        os.environ.update(RNNPLAY_DATA_DIR=os.path.join(folder, "data"), RNNPLAY_HOME=os.path.join(folder, "home"))
        for name in args.only:
            with rnnplay_serve(Path(folder), "--corpus", args.corpus, "--device", "cpu", *CONFIGS[name]) as served:
                row = asyncio.run(one_session(served, args.seconds))
            print(f"| {name} | {row['idle_mb']:.0f} | {row['peak_mb']:.0f} | {row['gone_s']:.2f} |", flush=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
