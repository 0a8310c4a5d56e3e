"""Assemble and run a witness: state directory (locked), key, store, HTTP server."""

from __future__ import annotations

import asyncio
import contextlib
import os
import socket
from collections.abc import Callable, Iterator
from dataclasses import dataclass

import uvicorn

from anima_core.files import LockHeld, lock_exclusive
from anima_witness.config import WitnessConfig
from anima_witness.core import Witness
from anima_witness.errors import WitnessStateError
from anima_witness.http import build_app
from anima_witness.keys import load_or_create_key
from anima_witness.store import WitnessStore

LOCK_FILE = "witness.lock"
STORE_FILE = "witness.sqlite3"


@dataclass
class OpenWitness:
    witness: Witness
    store: WitnessStore
    lock_fd: int | None  # held by a serving witness only

    def close(self) -> None:
        self.store.close()
        if self.lock_fd is not None:
            os.close(self.lock_fd)


def open_witness(config: WitnessConfig, *, serving: bool = True) -> OpenWitness:
    """Load or make the key, open the store, add the configured logs. A serving
    witness locks the state directory (two serving one state could each cosign a
    different checkpoint for one size); the operator's commands (key, add-log,
    evidence) work beside it, through SQLite's own locking."""
    config.state_dir.mkdir(parents=True, exist_ok=True, mode=0o700)
    fd: int | None = None
    if serving:
        try:
            fd = lock_exclusive(config.state_dir / LOCK_FILE)
        except LockHeld as held:
            raise WitnessStateError(
                f"another witness{held.holder} serves {config.state_dir}: one per state"
            ) from None
    try:
        key = load_or_create_key(config.state_dir)
        store = WitnessStore(path=config.state_dir / STORE_FILE)
        for vkey in config.logs:
            store.add_log(vkey)
    except BaseException:
        if fd is not None:
            os.close(fd)
        raise
    return OpenWitness(Witness(name=config.name, key=key, store=store), store, fd)


def _split_listen(listen: str) -> tuple[str, int]:
    host, _, port = listen.rpartition(":")
    return host.strip("[]") or "127.0.0.1", int(port)


@contextlib.contextmanager
def bind(listen: str) -> Iterator[socket.socket]:
    host, port = _split_listen(listen)
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    # IPPROTO_TCP: asyncio then sets TCP_NODELAY on accepted connections (no 40 ms
    # delayed-ACK wait per answer).
    sock = socket.socket(family, socket.SOCK_STREAM, socket.IPPROTO_TCP)
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind((host, port))
        sock.listen(128)
        sock.setblocking(False)
        yield sock
    finally:
        sock.close()


class _Server(uvicorn.Server):
    """uvicorn without its own signal handling: the command's handler stops it."""

    @contextlib.contextmanager
    def capture_signals(self) -> Iterator[None]:
        yield


async def serve(
    opened: OpenWitness,
    config: WitnessConfig,
    sock: socket.socket,
    stopping: asyncio.Event,
    *,
    on_ready: Callable[[], None],
) -> None:
    app = build_app(witness=opened.witness, store=opened.store, registrars=config.registrars)
    server = _Server(
        uvicorn.Config(app, log_config=None, log_level="warning", access_log=False, lifespan="off")
    )
    serving = asyncio.create_task(server.serve(sockets=[sock]))
    while not server.started:
        if serving.done():
            await serving
            raise RuntimeError("the HTTP server stopped while starting")
        await asyncio.sleep(0.02)
    on_ready()
    stop = asyncio.create_task(stopping.wait())
    try:
        await asyncio.wait({serving, stop}, return_when=asyncio.FIRST_COMPLETED)
    finally:
        stop.cancel()
        server.should_exit = True
        await serving
