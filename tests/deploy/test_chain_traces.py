"""The chain client as its pod runs it: configured by the standard OTEL_* variables, it
exports its server spans over OTLP, joined to its caller's trace.

A real `anima chain serve` process against a real anvil and a real signer (INSECURE
simulated TEE), exporting to a local OTLP/gRPC receiver. A read is made inside a
span of this process; asserted: the chain client's server span arrives in that
trace, under the caller's span, and no span attribute holds a token.
"""

from __future__ import annotations

import asyncio
import json
import time
from pathlib import Path

import pytest
from opentelemetry.sdk.trace import TracerProvider

from anima_chain_api.client import ChainClient
from anima_dev.local_chain import local_chain
from anima_dev.local_chain_client import LocalChainClient, local_chain_client
from anima_dev.local_signer import local_signer
from anima_dev.otlp_receiver import ReceivedSpan, otlp_receiver

pytestmark = pytest.mark.slow  # anvil, a signer and the chain client as processes

SERVER = 2  # opentelemetry.proto.trace.v1.Span.SPAN_KIND_SERVER


async def _read_in_a_span(chain: LocalChainClient) -> tuple[str, str]:
    """One verified-head read under a span of ours; (trace id, span id) in hex."""
    tracer = TracerProvider().get_tracer("tests.deploy")
    with tracer.start_as_current_span("operator read") as span:
        async with ChainClient.connect(
            chain.address, chain.token, certificate_pem=chain.certificate_pem
        ) as client:
            await client.head()
        context = span.get_span_context()
    return f"{context.trace_id:032x}", f"{context.span_id:016x}"


def _chain_server_spans(spans: list[ReceivedSpan], trace_id: str) -> list[ReceivedSpan]:
    return [
        s
        for s in spans
        if s.service == "anima-chain" and s.kind == SERVER and s.trace_id == trace_id
    ]


def test_the_chain_client_exports_its_spans_into_the_callers_trace(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    with otlp_receiver() as (endpoint, received):
        monkeypatch.setenv("OTEL_EXPORTER_OTLP_ENDPOINT", endpoint)
        monkeypatch.setenv("OTEL_EXPORTER_OTLP_INSECURE", "true")
        monkeypatch.setenv("OTEL_BSP_SCHEDULE_DELAY", "100")
        with (
            local_chain(tmp_path / "anvil") as anvil,
            local_signer(tmp_path) as signer,
            local_chain_client(tmp_path, chain=anvil, signer=signer) as chain,
        ):
            trace_id, caller_span = asyncio.run(_read_in_a_span(chain))
            secrets = [chain.token, *signer.tokens.values()]
            deadline = time.monotonic() + 30
            while not _chain_server_spans(received.span_list(), trace_id):
                assert time.monotonic() < deadline, "no chain client span arrived in time"
                time.sleep(0.1)
        (span, *_) = _chain_server_spans(received.span_list(), trace_id)
        assert span.name == "anima.chain.v1.ChainService/GetVerifiedHead"
        assert span.parent_span_id  # under the caller's (client) span, not a new trace
        parents = {s.span_id: s for s in received.span_list()}
        assert span.parent_span_id == caller_span or span.parent_span_id not in parents
        for exported in received.span_list():
            text = json.dumps(
                {"name": exported.name, "attributes": exported.attributes}, default=str
            )
            assert not [s for s in secrets if s in text], exported.name
