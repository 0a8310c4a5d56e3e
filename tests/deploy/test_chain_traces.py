"""The chain client as its pod runs it: configured by the standard OTEL_* variables, it
exports its server spans over OTLP, joined to its caller's trace, and carries that
trace on to the signer.

A real `anima chain serve` process against a real anvil and a real signer process
(INSECURE simulated TEE), both exporting to a local OTLP/gRPC receiver. A transfer
is sent inside a span of this process; asserted: the chain client's server span
arrives in that trace under the caller's span, the signer's signing span under the
chain client's, and no span attribute holds a token.
"""

from __future__ import annotations

import asyncio
import json
import time
from pathlib import Path

import pytest
from opentelemetry import trace
from opentelemetry.sdk.trace import TracerProvider

from anima_chain_api.client import ChainClient
from anima_chain_api.types import TransactionIntent
from anima_dev.contracts import set_balance
from anima_dev.local_chain import local_chain
from anima_dev.local_chain_client import LocalChainClient, local_chain_client
from anima_dev.local_signer import LocalSigner, local_signer
from anima_dev.otlp_receiver import ReceivedSpan, otlp_receiver
from anima_signer_api.client import SignerClient
from anima_signer_api.types import SigningPolicy
from anima_verify.attestation import MeasurementPolicy

pytestmark = pytest.mark.slow  # anvil, a signer and the chain client as processes

SERVER = 2  # opentelemetry.proto.trace.v1.Span.SPAN_KIND_SERVER
ETH = 10**18
SEND = "anima.chain.v1.ChainService/SendTransaction"


async def _funded_agent(signer: LocalSigner, chain_id: int) -> bytes:
    """An agent allowed to send on this chain; its wallet's address."""
    trust = MeasurementPolicy.insecure_simulated_for_development()
    policy = SigningPolicy(allowed_chain_ids=frozenset({chain_id}), max_value_wei=ETH)
    async with await SignerClient.connect_attested(
        address=signer.address, token=signer.tokens["admin"], policy=trust
    ) as admin:
        agent = await admin.create_agent("payer", policy=policy)
    return bytes.fromhex(agent.wallets[0].address[2:])


async def _send_in_a_span(chain: LocalChainClient, provider: TracerProvider) -> tuple[str, str]:
    """One transfer under a span of ours; (trace id, span id) in hex."""
    tracer = provider.get_tracer("tests.deploy")
    with tracer.start_as_current_span("operator send") as span:
        async with ChainClient.connect(
            chain.address, chain.token, certificate_pem=chain.certificate_pem
        ) as client:
            intent = TransactionIntent(
                agent_id="payer", to=b"\x0a" * 20, value=1000, idempotency_key="traced"
            )
            assert (await client.send_transaction(intent)).receipt.success
        context = span.get_span_context()
    return f"{context.trace_id:032x}", f"{context.span_id:016x}"


def _servers(spans: list[ReceivedSpan], service: str, trace_id: str) -> list[ReceivedSpan]:
    return [
        s for s in spans if s.service == service and s.kind == SERVER and s.trace_id == trace_id
    ]


def _arrived(spans: list[ReceivedSpan], trace_id: str) -> bool:
    chain = [s for s in _servers(spans, "anima-chain", trace_id) if s.name == SEND]
    return bool(chain and _servers(spans, "anima-signer", trace_id))


def test_the_chain_client_joins_its_callers_trace_and_carries_it_to_the_signer(
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
            set_balance(anvil, asyncio.run(_funded_agent(signer, anvil.chain_id)), ETH)
            # The caller records spans (an SDK provider installed, as a traced service
            # has): its channels carry the trace context (anima_core.telemetry).
            provider = TracerProvider()
            monkeypatch.setattr(trace, "get_tracer_provider", lambda: provider)
            trace_id, caller_span = asyncio.run(_send_in_a_span(chain, provider))
            secrets = [chain.token, *signer.tokens.values()]
            deadline = time.monotonic() + 30
            while not _arrived(received.span_list(), trace_id):
                assert time.monotonic() < deadline, "the chain and signer spans did not arrive"
                time.sleep(0.1)
        spans = received.span_list()
    by_id = {s.span_id: s for s in spans}
    (send,) = [s for s in _servers(spans, "anima-chain", trace_id) if s.name == SEND]
    assert send.parent_span_id  # under the caller's (client) span, not a new trace
    assert send.parent_span_id == caller_span or send.parent_span_id not in by_id
    # The enclave's signature was asked for inside the send: the signer's server
    # span's parents lead through the chain client's client span to the send.
    signer_spans = _servers(spans, "anima-signer", trace_id)
    signs = [s for s in signer_spans if s.name.rpartition("/")[2].startswith("Sign")]
    assert signs, [s.name for s in signer_spans]
    for sign in signs:
        parent = by_id[sign.parent_span_id]
        assert parent.service == "anima-chain" and parent.kind != SERVER
        while parent is not send and parent.parent_span_id in by_id:
            parent = by_id[parent.parent_span_id]
        assert parent is send
    for exported in spans:
        text = json.dumps({"name": exported.name, "attributes": exported.attributes}, default=str)
        assert not [s for s in secrets if s in text], exported.name
