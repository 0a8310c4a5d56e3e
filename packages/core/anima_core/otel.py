"""OTLP export of traces and metrics, configured from the standard OTEL_* variables.

Each service's `serve` command calls `configure_telemetry` once, with its
environment, before it starts serving. The switches are read here, strictly
(a typo is a ConfigError at start, not a silently missing trace):

- OTEL_SDK_DISABLED=true: nothing is exported, no SDK is installed.
- OTEL_TRACES_EXPORTER / OTEL_METRICS_EXPORTER: `otlp` or `none`. Unset, a
  signal is exported when an OTLP endpoint is configured
  (OTEL_EXPORTER_OTLP_ENDPOINT or the signal's own _ENDPOINT), so a
  development run without a collector does not retry a dead localhost:4317.
- OTEL_EXPORTER_OTLP_PROTOCOL (and the signal's own): `grpc`, the only one
  shipped. OTLP/HTTP would add an HTTP client stack to every image, the
  enclave's included, for no gain: every image already carries gRPC.
- OTEL_TRACES_SAMPLER / OTEL_TRACES_SAMPLER_ARG: the specification's sampler
  names (`parentbased_traceidratio` with `0.1` keeps a tenth of new traces
  and follows the caller's decision otherwise). Default: parentbased_always_on.
- OTEL_SERVICE_NAME and OTEL_RESOURCE_ATTRIBUTES go into the resource, as the
  SDK does (the service's own name unless OTEL_SERVICE_NAME says otherwise).

The exporters read the rest themselves, as the specification says:
endpoint, headers (a collector's token: from a Secret, never a manifest),
certificate, insecure, timeout, compression; OTEL_METRIC_EXPORT_INTERVAL for
metrics. Spans carry no secrets or prompts: see anima_core.telemetry (RPC
names and codes only) and the runtime's HTTP instrumentation (route templates).
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Final

from opentelemetry import metrics, trace
from opentelemetry.sdk.metrics import MeterProvider
from opentelemetry.sdk.metrics.export import MetricReader, PeriodicExportingMetricReader
from opentelemetry.sdk.resources import SERVICE_NAME, Resource
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import BatchSpanProcessor
from opentelemetry.sdk.trace.sampling import (
    ALWAYS_OFF,
    ALWAYS_ON,
    ParentBased,
    Sampler,
    TraceIdRatioBased,
)

from anima_core.config import ConfigError

__all__ = ["Telemetry", "configure_telemetry", "exported_telemetry", "sampler_from"]

_EXPORTERS: Final = ("otlp", "none")
_SIGNALS: Final = ("TRACES", "METRICS")


@dataclass
class Telemetry:
    """What `configure_telemetry` installed; `shutdown` flushes what is still queued."""

    tracer_provider: TracerProvider | None
    meter_provider: MeterProvider | None

    def shutdown(self) -> None:
        if self.tracer_provider is not None:
            self.tracer_provider.shutdown()
        if self.meter_provider is not None:
            self.meter_provider.shutdown()


def configure_telemetry(
    service_name: str,
    environ: Mapping[str, str],
    *,
    metric_readers: tuple[MetricReader, ...] = (),
) -> Telemetry:
    """Install the global tracer and meter providers that `environ` asks for.

    `metric_readers` adds readers beside the OTLP one (tests read metrics in
    process with them). Raises ConfigError naming the variable that is wrong.
    """
    if _flag(environ, "OTEL_SDK_DISABLED"):
        return Telemetry(tracer_provider=None, meter_provider=None)
    exporting = {signal: _exports(environ, signal) for signal in _SIGNALS}
    sampler = sampler_from(environ)
    resource = Resource.create(_resource_attributes(service_name, environ))
    tracer_provider = None
    if exporting["TRACES"]:
        from opentelemetry.exporter.otlp.proto.grpc.trace_exporter import OTLPSpanExporter

        tracer_provider = TracerProvider(resource=resource, sampler=sampler)
        tracer_provider.add_span_processor(BatchSpanProcessor(OTLPSpanExporter()))
        trace.set_tracer_provider(tracer_provider)
    readers = list(metric_readers)
    if exporting["METRICS"]:
        from opentelemetry.exporter.otlp.proto.grpc.metric_exporter import OTLPMetricExporter

        readers.append(PeriodicExportingMetricReader(OTLPMetricExporter()))
    meter_provider = None
    if readers:
        meter_provider = MeterProvider(resource=resource, metric_readers=readers)
        metrics.set_meter_provider(meter_provider)
    return Telemetry(tracer_provider=tracer_provider, meter_provider=meter_provider)


@contextmanager
def exported_telemetry(service_name: str, environ: Mapping[str, str]) -> Iterator[Telemetry]:
    """`configure_telemetry` for a serve command: what is queued is flushed at exit."""
    telemetry = configure_telemetry(service_name, environ)
    try:
        yield telemetry
    finally:
        telemetry.shutdown()


def _resource_attributes(service_name: str, environ: Mapping[str, str]) -> dict[str, str]:
    # Resource.create reads OTEL_RESOURCE_ATTRIBUTES from os.environ; read ours instead.
    attributes: dict[str, str] = {}
    for pair in environ.get("OTEL_RESOURCE_ATTRIBUTES", "").split(","):
        key, sep, value = pair.partition("=")
        if sep and key.strip():
            attributes[key.strip()] = value.strip()
    attributes[SERVICE_NAME] = environ.get("OTEL_SERVICE_NAME") or service_name
    return attributes


def _flag(environ: Mapping[str, str], name: str) -> bool:
    value = environ.get(name, "").strip().lower()
    if value in ("", "false"):
        return False
    if value == "true":
        return True
    raise ConfigError(f"{name} must be true or false")


def _exports(environ: Mapping[str, str], signal: str) -> bool:
    name = f"OTEL_{signal}_EXPORTER"
    chosen = environ.get(name, "").strip().lower()
    if chosen and chosen not in _EXPORTERS:
        raise ConfigError(f"{name} must be one of {', '.join(_EXPORTERS)} (got {chosen!r})")
    for protocol in ("OTEL_EXPORTER_OTLP_PROTOCOL", f"OTEL_EXPORTER_OTLP_{signal}_PROTOCOL"):
        value = environ.get(protocol, "").strip().lower()
        if value and value != "grpc":
            raise ConfigError(f"{protocol}: only grpc is supported (got {value!r})")
    if chosen:
        return chosen == "otlp"
    return bool(
        environ.get("OTEL_EXPORTER_OTLP_ENDPOINT")
        or environ.get(f"OTEL_EXPORTER_OTLP_{signal}_ENDPOINT")
    )


def sampler_from(environ: Mapping[str, str]) -> Sampler:
    """The sampler OTEL_TRACES_SAMPLER (and _ARG, a ratio in [0, 1]) names."""
    name = environ.get("OTEL_TRACES_SAMPLER", "parentbased_always_on").strip().lower()
    if name in ("always_on", "parentbased_always_on"):
        root: Sampler = ALWAYS_ON
    elif name in ("always_off", "parentbased_always_off"):
        root = ALWAYS_OFF
    elif name in ("traceidratio", "parentbased_traceidratio"):
        raw = environ.get("OTEL_TRACES_SAMPLER_ARG", "1.0")
        try:
            ratio = float(raw)
        except ValueError:
            ratio = -1.0
        if not 0.0 <= ratio <= 1.0:
            raise ConfigError("OTEL_TRACES_SAMPLER_ARG must be a ratio between 0 and 1")
        root = TraceIdRatioBased(ratio)
    else:
        raise ConfigError(f"OTEL_TRACES_SAMPLER: unknown sampler {name!r}")
    return ParentBased(root) if name.startswith("parentbased_") else root
