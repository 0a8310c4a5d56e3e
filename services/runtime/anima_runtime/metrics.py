"""The figures an operator watches in the runtime (OpenTelemetry's global meter;
anima_core.otel installs a provider when asked, else these cost next to nothing).

- anima.runtime.turn.duration (s): one conversation turn, by outcome;
- anima.log.size: entries in each agent's log;
- anima.log.checkpoint.age (s): since each agent's checkpoint file was last
  written, i.e. since the enclave last signed one this host stored.
"""

from __future__ import annotations

import time
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from typing import Final

from opentelemetry import metrics
from opentelemetry.metrics import CallbackOptions, Observation

from anima_runtime.log.registry import LogRegistry
from anima_runtime.log.service import TILES_DIR
from anima_verify.tlog.tiles import CHECKPOINT_PATH

__all__ = ["observe_logs", "timed_turn"]

_METER: Final = "anima_runtime"

_turns = metrics.get_meter(_METER).create_histogram(
    "anima.runtime.turn.duration", unit="s", description="One conversation turn, end to end"
)


@contextmanager
def timed_turn() -> Iterator[None]:
    """Record the enclosed turn's duration, with outcome ok or error."""
    started = time.perf_counter()
    outcome = "error"
    try:
        yield
        outcome = "ok"
    finally:
        _turns.record(time.perf_counter() - started, {"outcome": outcome})


def observe_logs(registry: LogRegistry) -> None:
    """Gauges of each open log's size and checkpoint age, read when exported."""
    meter = metrics.get_meter(_METER)

    def sizes(options: CallbackOptions) -> Iterable[Observation]:
        for agent_id in registry.agent_ids():
            yield Observation(registry.get(agent_id).size, {"agent_id": agent_id})

    def ages(options: CallbackOptions) -> Iterable[Observation]:
        now = time.time()
        for agent_id in registry.agent_ids():
            try:
                written = (registry.root / agent_id / TILES_DIR / CHECKPOINT_PATH).stat().st_mtime
            except OSError:
                continue  # no checkpoint yet
            yield Observation(max(0.0, now - written), {"agent_id": agent_id})

    meter.create_observable_gauge(
        "anima.log.size", [sizes], unit="{entry}", description="Entries in the agent's log"
    )
    meter.create_observable_gauge(
        "anima.log.checkpoint.age",
        [ages],
        unit="s",
        description="Since the agent's latest signed checkpoint was stored",
    )
