"""How the test beds' asyncio servers live (smtp_sink.py, smtp/starttls_server.py).

A server runs until SIGTERM or SIGINT.  Its pid file is written once it
listens (so a reader that sees it can connect; written under a temporary
name and renamed) and removed when it stops: SPEC §10, a test bed is
stopped by the pid it wrote.  A failure to start (an address in use) is one
line on stderr and exit status 1.  Standard library only.
"""

import asyncio
import contextlib
import os
import signal
import sys


def stop_event():
    """An asyncio.Event that SIGTERM or SIGINT sets."""
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    return stop


@contextlib.contextmanager
def pid_file(path):
    """PATH holds this process's pid while the body runs (no file if PATH is None)."""
    if path:
        tmp = path + ".tmp"
        with open(tmp, "w") as f:
            f.write(f"{os.getpid()}\n")
        os.rename(tmp, path)
    try:
        yield
    finally:
        if path:
            with contextlib.suppress(FileNotFoundError):
                os.unlink(path)


def run(main, name):
    """asyncio.run(main()), an OSError reported as NAME: error, exit status 1."""
    try:
        asyncio.run(main())
    except OSError as e:
        print(f"{name}: {e}", file=sys.stderr)
        sys.exit(1)
