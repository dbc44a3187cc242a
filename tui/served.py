"""What ``rnnplay serve`` runs for each browser tab: the app, quitting when its server is gone.

The server's pipes are the app's terminal. The server asks the app to quit when its tab closes and
when the server stops; a server killed outright (SIGKILL, the OOM killer) can do neither, and its
apps would live on with no one to see them. So each app watches its parent process.
"""
import os
import signal
import sys
import threading
import time

from tui.cli import main

QUIT_GRACE_S = 10.0  # after SIGTERM, the app's own quit; past this the process ends at once


def quit_when_orphaned(poll_s: float = 0.5) -> None:
    """Once the parent process is gone, SIGTERM this process (Textual's web driver turns that into
    the app's quit); if it is still alive QUIT_GRACE_S later, end it."""
    parent = os.getppid()

    def watch() -> None:
        while os.getppid() == parent:
            time.sleep(poll_s)
        os.kill(os.getpid(), signal.SIGTERM)
        time.sleep(QUIT_GRACE_S)
        os._exit(1)

    threading.Thread(target=watch, name="quit-when-orphaned", daemon=True).start()


if __name__ == "__main__":
    quit_when_orphaned()
    sys.exit(main(sys.argv[1:]))
