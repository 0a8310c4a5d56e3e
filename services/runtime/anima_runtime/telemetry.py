"""Server spans for the runtime's HTTP API (OpenTelemetry's FastAPI instrumentation).

One SERVER span per request, named by the route template
("POST /v1/agents/{agent_id}/messages"), so a message's gRPC calls to memory
and the signer become its children. It records method, route, path, status and
client address; never bodies (the prompts), and request headers (the bearer
token) only when configured to capture them, which Anima never does.

The instrumentation is added only when the process exports traces or metrics
(anima_core.otel installed an SDK provider). Without one each span and metric is a
no-op, yet the middleware still finds every request's route by walking the app's
routes: ~10% of the runtime's CPU per message in the HTTP bench (issue 20).
"""

from __future__ import annotations

from fastapi import FastAPI
from opentelemetry import metrics, trace
from opentelemetry.instrumentation.fastapi import FastAPIInstrumentor
from opentelemetry.sdk.metrics import MeterProvider
from opentelemetry.sdk.trace import TracerProvider

__all__ = ["instrument_http"]


def instrument_http(
    app: FastAPI,
    *,
    tracer_provider: trace.TracerProvider | None = None,
    meter_provider: metrics.MeterProvider | None = None,
) -> bool:
    """Server spans (and http.server.* metrics) for every request of `app`, if anything
    exports them (the providers default to the global ones); whether it was instrumented."""
    tracer_provider = tracer_provider or trace.get_tracer_provider()
    meter_provider = meter_provider or metrics.get_meter_provider()
    exporting = isinstance(tracer_provider, TracerProvider) or isinstance(
        meter_provider, MeterProvider
    )
    if not exporting:
        return False
    # No "receive"/"send" child spans: two per request, and nothing an operator reads.
    FastAPIInstrumentor.instrument_app(
        app,
        tracer_provider=tracer_provider,
        meter_provider=meter_provider,
        exclude_spans=["receive", "send"],
    )
    return True
