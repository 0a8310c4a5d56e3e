"""Turn SIGTERM and SIGINT into an asyncio.Event, for servers that drain on a signal."""

from __future__ import annotations

import asyncio
import contextlib
import signal
from collections.abc import Iterator

SIGNALS = (signal.SIGTERM, signal.SIGINT)


@contextlib.contextmanager
def stop_on_signals() -> Iterator[asyncio.Event]:
    """An event set by SIGTERM or SIGINT while the context is open (on the running loop);
    the handlers are removed when it closes."""
    loop = asyncio.get_running_loop()
    stopping = asyncio.Event()
    for sig in SIGNALS:
        loop.add_signal_handler(sig, stopping.set)
    try:
        yield stopping
    finally:
        for sig in SIGNALS:
            loop.remove_signal_handler(sig)
