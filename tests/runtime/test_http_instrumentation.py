"""The runtime's HTTP spans: instrumented when the process exports, not otherwise."""

from __future__ import annotations

import httpx
from fastapi import FastAPI
from opentelemetry import metrics, trace
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

from anima_runtime.telemetry import instrument_http


def _app() -> FastAPI:
    app = FastAPI()

    @app.get("/v1/things/{thing_id}")
    async def thing(thing_id: str) -> dict[str, str]:
        return {"id": thing_id}

    return app


async def _get(app: FastAPI, path: str) -> httpx.Response:
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://runtime") as client:
        return await client.get(path)


async def test_nothing_exported_means_no_middleware_and_the_api_still_answers() -> None:
    app = _app()
    before = list(app.user_middleware)

    assert not instrument_http(
        app,
        tracer_provider=trace.NoOpTracerProvider(),
        meter_provider=metrics.NoOpMeterProvider(),
    )

    assert app.user_middleware == before
    assert (await _get(app, "/v1/things/a")).json() == {"id": "a"}


async def test_an_exporting_tracer_gets_one_server_span_per_request_named_by_route() -> None:
    exporter = InMemorySpanExporter()
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    app = _app()

    assert instrument_http(
        app, tracer_provider=provider, meter_provider=metrics.NoOpMeterProvider()
    )
    assert (await _get(app, "/v1/things/b")).json() == {"id": "b"}

    (span,) = exporter.get_finished_spans()  # no receive/send child spans
    assert span.name == "GET /v1/things/{thing_id}"
    assert span.kind is trace.SpanKind.SERVER
    assert span.attributes is not None
    assert span.attributes.get("http.route") == "/v1/things/{thing_id}"
