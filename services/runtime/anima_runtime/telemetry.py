"""Server spans for the runtime's HTTP API (OpenTelemetry's FastAPI instrumentation).

One SERVER span per request, named by the route template
("POST /v1/agents/{agent_id}/messages"), so a message's gRPC calls to memory
and the signer become its children. It records method, route, path, status and
client address; never bodies (the prompts), and request headers (the bearer
token) only when configured to capture them, which Anima never does.
"""

from __future__ import annotations

from fastapi import FastAPI
from opentelemetry.instrumentation.fastapi import FastAPIInstrumentor

__all__ = ["instrument_http"]


def instrument_http(app: FastAPI) -> None:
    """Server spans (and http.server.* metrics) for every request of `app`."""
    # No "receive"/"send" child spans: two per request, and nothing an operator reads.
    FastAPIInstrumentor.instrument_app(app, exclude_spans=["receive", "send"])
