"""The event loop a service runs on: uvloop where it is installed, asyncio's own otherwise.

uvloop (libuv under the asyncio API) is a maintained drop-in that grpc.aio, uvicorn and
httpx all run on; in the runtime HTTP bench it cut the runtime's and the memory service's
CPU per message (docs/performance.md, issue 20). It comes with the `loop` extra of
anima-core, which the runtime and the memory service require. The signer does not: it
is the enclave's code and its loop is idle between batches, so it keeps the standard
library's loop and one native library fewer.

`ANIMA_EVENT_LOOP` chooses: `auto` (the default: uvloop if importable), `uvloop` (refuse
to start without it) or `asyncio` (the standard loop, e.g. to rule uvloop out while
debugging).

Before the loop starts, `run` also moves what the process built so far (its modules,
classes, configuration: 200,000+ objects in each service) out of the garbage collector's
way with `gc.freeze()`: they live as long as the process, and each full collection
otherwise walked them all again (~8% of the runtime's CPU under load in the HTTP bench).
Objects made later are collected as before.
"""

from __future__ import annotations

import asyncio
import gc
import os
from collections.abc import Callable, Coroutine, Mapping
from typing import Any, TypeVar

from anima_core.config import ConfigError

ENV_VAR = "ANIMA_EVENT_LOOP"
CHOICES = ("auto", "uvloop", "asyncio")

T = TypeVar("T")


def loop_factory(
    environ: Mapping[str, str] | None = None,
) -> Callable[[], asyncio.AbstractEventLoop] | None:
    """The factory of the loop `ANIMA_EVENT_LOOP` asks for; None for asyncio's own."""
    choice = (os.environ if environ is None else environ).get(ENV_VAR, "auto").strip().lower()
    if choice not in CHOICES:
        raise ConfigError(f"{ENV_VAR}={choice!r} is not one of {', '.join(CHOICES)}")
    if choice == "asyncio":
        return None
    try:
        import uvloop
    except ImportError:
        if choice == "uvloop":
            raise ConfigError(
                f"{ENV_VAR}=uvloop but uvloop is not installed (pip install 'anima-core[loop]')"
            ) from None
        return None
    new_loop: Callable[[], asyncio.AbstractEventLoop] = uvloop.new_event_loop
    return new_loop


def freeze_startup_objects() -> None:
    """Keep the objects alive now out of every later collection (they are the
    process's own: modules, classes, settings); garbage among them is collected first."""
    gc.collect()
    gc.freeze()


def run(main: Coroutine[Any, Any, T], environ: Mapping[str, str] | None = None) -> T:
    """asyncio.run(main) on the loop `ANIMA_EVENT_LOOP` asks for."""
    try:
        factory = loop_factory(environ)
    except BaseException:
        main.close()  # never awaited: close it so Python does not warn about it
        raise
    freeze_startup_objects()
    with asyncio.Runner(loop_factory=factory) as runner:
        return runner.run(main)


__all__ = ["CHOICES", "ENV_VAR", "freeze_startup_objects", "loop_factory", "run"]
