"""da-sync's figures for operators: how far each agent's DA copy is behind.

`anima.dasync.lag` is the seconds since the agent was last known fully durable
on DA (its last manifest published, or a check that found nothing new), so it
grows while syncs fail or fall behind, and RPO alerts read it directly.
`anima.dasync.pending_bytes` is the size of what a sync read but has not yet
made durable (0 once published). Attributes: the agent id only (public: it is
in the agent's log origin), never life data.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable
from typing import Final

from opentelemetry import metrics
from opentelemetry.metrics import CallbackOptions, Meter, Observation

_meter: Final = metrics.get_meter("anima_dasync")


class DaLag:
    """Per-agent durability figures, observed by OpenTelemetry gauges (one instance per
    process registers them; tests read `lag_s` and `pending_bytes` directly)."""

    def __init__(self, clock: Callable[[], float] = time.monotonic) -> None:
        self._clock = clock
        self._durable_at: dict[str, float] = {}
        self._pending: dict[str, int] = {}

    def watch(self, agent_id: str) -> None:
        """Start counting lag for an agent (from now, until its first durable sync)."""
        self._durable_at.setdefault(agent_id, self._clock())
        self._pending.setdefault(agent_id, 0)

    def pending(self, agent_id: str, size: int) -> None:
        self.watch(agent_id)
        self._pending[agent_id] = size

    def durable(self, agent_id: str) -> None:
        self._durable_at[agent_id] = self._clock()
        self._pending[agent_id] = 0

    def lag_s(self, agent_id: str) -> float:
        return self._clock() - self._durable_at[agent_id]

    def pending_bytes(self, agent_id: str) -> int:
        return self._pending[agent_id]

    def register(self, meter: Meter = _meter) -> None:
        meter.create_observable_gauge(
            "anima.dasync.lag",
            callbacks=[self._observe(self.lag_s)],
            unit="s",
            description="Seconds since the agent's life data was last known durable on DA",
        )
        meter.create_observable_gauge(
            "anima.dasync.pending_bytes",
            callbacks=[self._observe(self.pending_bytes)],
            unit="By",
            description="Bytes read for the agent's next manifest, not yet durable",
        )

    def _observe(
        self, figure: Callable[[str], float]
    ) -> Callable[[CallbackOptions], Iterable[Observation]]:
        def callback(options: CallbackOptions) -> Iterable[Observation]:
            return [Observation(figure(a), {"agent": a}) for a in list(self._durable_at)]

        return callback
