"""da-sync's DA lag gauges: seconds since an agent was last known durable and the bytes
read but not yet durable, per agent, exported through OpenTelemetry; a sync that fails
leaves the lag growing and the bytes pending (what an RPO alert reads)."""

from __future__ import annotations

from opentelemetry.sdk.metrics import MeterProvider
from opentelemetry.sdk.metrics.export import InMemoryMetricReader, NumberDataPoint

from anima_dasync.metrics import DaLag


class Clock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def test_lag_grows_until_durable_and_pending_bytes_clear() -> None:
    clock = Clock()
    lag = DaLag(clock)
    lag.watch("alice")
    lag.pending("alice", 4096)  # a sync read 4 KiB ...
    clock.now += 7.5  # ... and its upload failed: nothing durable for 7.5 s
    assert (lag.lag_s("alice"), lag.pending_bytes("alice")) == (7.5, 4096)
    lag.durable("alice")
    clock.now += 0.25
    assert (lag.lag_s("alice"), lag.pending_bytes("alice")) == (0.25, 0)


def test_the_gauges_are_exported_per_agent() -> None:
    clock = Clock()
    lag = DaLag(clock)
    reader = InMemoryMetricReader()
    lag.register(MeterProvider(metric_readers=[reader]).get_meter("test"))
    lag.watch("alice")
    lag.pending("bob", 123)
    clock.now += 3.0
    lag.durable("alice")
    clock.now += 1.0
    data = reader.get_metrics_data()
    assert data is not None
    points = {
        (metric.name, str((point.attributes or {})["agent"])): point.value
        for rm in data.resource_metrics
        for sm in rm.scope_metrics
        for metric in sm.metrics
        for point in metric.data.data_points
        if isinstance(point, NumberDataPoint)
    }
    assert points == {
        ("anima.dasync.lag", "alice"): 1.0,
        ("anima.dasync.lag", "bob"): 4.0,
        ("anima.dasync.pending_bytes", "alice"): 0,
        ("anima.dasync.pending_bytes", "bob"): 123,
    }
