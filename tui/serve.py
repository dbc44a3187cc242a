"""The web server behind ``rnnplay serve``: textual-serve with a cap on live sessions.

textual-serve runs its command once per browser websocket, as a process of its own, and streams
that process's terminal to xterm.js in the page; when the websocket closes it asks the app to
quit and waits for its output to end. It has no cap on sessions and no limit on that wait. Here
every session holds PyTorch (about 300 MB), so :class:`RnnplayServer` counts live sessions and
refuses the one over the cap (or the one the free memory cannot hold) with a page or a line in
the terminal, and :class:`AppSession` kills an app that has not quit a few seconds after its tab
closed.
"""
from __future__ import annotations

import asyncio
import contextlib
import html
import logging
import os

try:  # the `serve` extra
    from aiohttp import web
    from textual_serve.app_service import AppService
    from textual_serve.server import Server, to_int
except ImportError:
    raise ImportError('rnnplay serve needs textual-serve: pip install -e ".[serve]"') from None

from tui.served import QUIT_GRACE_S  # a closed tab's app quits after its training step; then it is killed

log = logging.getLogger("rnnplay.serve")

SESSION_BYTES = 300 * 1024 ** 2  # one session's app process: Textual and PyTorch, a small model

REFUSAL_PAGE = """<!DOCTYPE html>
<html><head><meta charset="utf-8"><title>rnnplay: busy</title></head>
<body style="background:#0c181f;color:#eee;font-family:monospace;padding:3em">
<h1>rnnplay is busy</h1><p>{reason}</p><p>Reload this page to try again.</p>
</body></html>
"""


def available_memory() -> int:
    """Bytes that new processes can have without swapping (Linux's MemAvailable), else the
    machine's physical memory."""
    try:
        with open("/proc/meminfo", encoding="ascii") as meminfo:
            for line in meminfo:
                if line.startswith("MemAvailable:"):
                    return int(line.split()[1]) * 1024
    except OSError:
        pass
    return os.sysconf("SC_PHYS_PAGES") * os.sysconf("SC_PAGE_SIZE")


def default_max_sessions() -> int:
    """As many sessions as the available memory holds, at least one."""
    return max(1, available_memory() // SESSION_BYTES)


class AppSession(AppService):
    """One tab's app process; :meth:`stop` returns only when the process is gone."""

    process: asyncio.subprocess.Process | None = None

    async def _open_app_process(self, width: int = 80, height: int = 24) -> asyncio.subprocess.Process:
        self.process = await super()._open_app_process(width, height)
        return self.process

    async def run(self) -> None:
        await super().run()
        # The app's output ended: it quit, crashed or was killed. End the page's session too, or
        # the tab would show a dead terminal.
        await self.remote_close()

    async def stop(self) -> None:
        """Ask the app to quit (textual-serve's stop); kill it if it has not within QUIT_GRACE_S."""
        try:
            await asyncio.wait_for(super().stop(), QUIT_GRACE_S)
            if self.process is not None:
                await asyncio.wait_for(self.process.wait(), QUIT_GRACE_S)
        except TimeoutError:
            log.warning("an app did not quit within %g s of being asked to: killed", QUIT_GRACE_S)
            with contextlib.suppress(ProcessLookupError):  # it may have ended just now
                self.process.kill()
            await self.process.wait()


class RnnplayServer(Server):
    """Serve the command to browsers, at most ``max_sessions`` app processes at once."""

    def __init__(self, command: str, *, host: str, port: int, public_url: str | None, max_sessions: int):
        super().__init__(command, host=host, port=port, title="rnnplay", public_url=public_url)
        self.max_sessions = max_sessions
        self.sessions: set[AppSession] = set()
        self.websockets: set[web.WebSocketResponse] = set()

    def sessions_phrase(self) -> str:
        return f"{self.max_sessions} session{'s' * (self.max_sessions != 1)}"

    def refusal(self) -> str | None:
        """Why a new session cannot start now, or None when it can."""
        if len(self.sessions) >= self.max_sessions:
            return (f"All sessions are in use: this server runs at most {self.sessions_phrase()} at once, each "
                    f"a PyTorch process of its own. Close another rnnplay tab, or try again later.")
        if available_memory() < SESSION_BYTES:
            return (f"The server has less than {SESSION_BYTES // 1024 ** 2} MB of free memory, "
                    f"what one more session needs. Try again later.")
        return None

    async def on_startup(self, app: web.Application) -> None:
        print(f"rnnplay: serving on {self.public_url} (at most {self.sessions_phrase()} of "
              f"~{SESSION_BYTES // 1024 ** 2} MB each); Ctrl+C stops", flush=True)

    async def on_shutdown(self, app: web.Application) -> None:
        """End every app process, then every page's websocket, so that no process outlives the server."""
        await asyncio.gather(*(session.stop() for session in list(self.sessions)))
        await asyncio.gather(*(websocket.close() for websocket in list(self.websockets)))

    async def handle_index(self, request: web.Request) -> web.StreamResponse:
        reason = self.refusal()
        if reason is not None:
            return web.Response(status=503, content_type="text/html", headers={"Retry-After": "30"},
                                text=REFUSAL_PAGE.format(reason=html.escape(reason)))
        return await super().handle_index(request)

    async def handle_websocket(self, request: web.Request) -> web.WebSocketResponse:
        """One page's terminal: an app process of its own, or a line saying why there is none."""
        websocket = web.WebSocketResponse(heartbeat=15)
        await websocket.prepare(request)
        self.websockets.add(websocket)
        session = None
        try:
            reason = self.refusal()
            if reason is not None:
                log.info("session refused: %s", reason)
                await websocket.send_bytes(f"\r\n  rnnplay: {reason}\r\n".encode())
                async for _message in websocket:  # the line stays on the page until the tab goes
                    pass
                return websocket
            session = AppSession(self.command, write_bytes=websocket.send_bytes, write_str=websocket.send_str,
                                 close=websocket.close, download_manager=self.download_manager,
                                 debug=self.debug)
            self.sessions.add(session)  # no await since refusal(): the count cannot be overtaken
            await session.start(to_int(request.query.get("width", "80"), 80),
                                to_int(request.query.get("height", "24"), 24))
            await self._process_messages(websocket, session)
        except Exception:
            log.exception("a session failed")
        finally:
            if session is not None:
                await session.stop()
                self.sessions.discard(session)
            self.websockets.discard(websocket)
        return websocket
