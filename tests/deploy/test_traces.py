"""One trace from an HTTP request through runtime → memory → signer, exported over OTLP.

The three services run as real processes, configured only by the standard
OTEL_* variables (as the manifests set them), and export to a local OTLP/gRPC
receiver. One message is sent over HTTP; asserted: the runtime's HTTP server
span is the root of a trace that holds the memory service's and the signer's
server spans, each linked to it through its parents; no span attribute holds
the prompt or any token; and each service's operator metrics arrive.
"""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from anima_dev.local_memory import local_memory
from anima_dev.local_runtime import local_runtime
from anima_dev.local_signer import local_signer
from anima_dev.otlp_receiver import Received, ReceivedSpan, otlp_receiver
from anima_signer_api.client import SignerClient
from anima_signer_api.errors import PolicyDenied
from anima_signer_api.types import PersonalMessage, SigningPolicy, SignRequest
from anima_verify.attestation import MeasurementPolicy
from tests.runtime.test_manager import ADA

pytestmark = pytest.mark.slow

SERVER = 2  # opentelemetry.proto.trace.v1.Span.SPAN_KIND_SERVER
PROMPT = "my locker code is 7391-swordfish, keep it to yourself"
MESSAGE_ROUTE = "POST /v1/agents/{agent_id}/messages"


@pytest.fixture(scope="module")
def exported(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Received, list[str]]]:
    """Run one conversation with every service exporting; yield what arrived and the
    secrets that must not be in it."""
    with pytest.MonkeyPatch.context() as env, otlp_receiver() as (endpoint, received):
        env.setenv("OTEL_EXPORTER_OTLP_ENDPOINT", endpoint)
        env.setenv("OTEL_EXPORTER_OTLP_INSECURE", "true")
        env.setenv("OTEL_BSP_SCHEDULE_DELAY", "100")
        env.setenv("OTEL_METRIC_EXPORT_INTERVAL", "500")
        state = tmp_path_factory.mktemp("stack")
        with (
            local_signer(state) as signer,
            local_memory(state) as memory,
            local_runtime(state, signer=signer, memory=memory) as runtime,
        ):
            secrets = [runtime.api_token, memory.token, *signer.tokens.values()]
            _converse(runtime.url, runtime.api_token)
            asyncio.run(_sign_and_be_denied(signer.address, signer.tokens))
            _wait_for(lambda: _message_trace(received.span_list()) is not None)
        # The services have stopped: what they queued was flushed at exit.
        yield received, secrets


def _converse(url: str, api_token: str) -> None:
    auth = {"Authorization": f"Bearer {api_token}"}
    character = json.loads(Path(ADA).read_text(encoding="utf-8"))
    created = httpx.post(
        f"{url}/v1/agents", json={"character": character}, headers=auth, timeout=60
    )
    assert created.status_code == 201, created.text
    said = httpx.post(
        f"{url}/v1/agents/{created.json()['agent_id']}/messages",
        json={"room_id": "lobby", "text": PROMPT, "user_name": "Bob"},
        headers=auth,
        timeout=60,
    )
    assert said.status_code == 200, said.text


async def _sign_and_be_denied(address: str, tokens: dict[str, str]) -> None:
    """One signature and one refusal, straight at the signer (a chat turn signs nothing)."""
    trust = MeasurementPolicy.insecure_simulated_for_development()
    async with (
        await SignerClient.connect_attested(
            address=address, token=tokens["admin"], policy=trust
        ) as admin,
        await SignerClient.connect_attested(
            address=address, token=tokens["runtime"], policy=trust
        ) as runtime,
    ):
        await admin.create_agent("metered", policy=SigningPolicy(allow_personal_messages=True))
        await admin.create_agent("refused", policy=SigningPolicy())
        hello = PersonalMessage(message=b"hello")
        await runtime.sign(SignRequest(agent_id="metered", payload=hello))
        with pytest.raises(PolicyDenied):
            await runtime.sign(SignRequest(agent_id="refused", payload=hello))


def _message_trace(spans: list[ReceivedSpan]) -> list[ReceivedSpan] | None:
    """The message request's trace, once spans of all three services are in it."""
    roots = [s for s in spans if s.service == "anima-runtime" and s.name == MESSAGE_ROUTE]
    for root in roots:
        trace = [s for s in spans if s.trace_id == root.trace_id]
        services = {s.service for s in trace if s.kind == SERVER}
        if {"anima-runtime", "anima-memory", "anima-signer"} <= services:
            return trace
    return None


def _wait_for(condition: Any, timeout_s: float = 30.0) -> None:
    deadline = time.monotonic() + timeout_s
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError("the receiver did not get the expected telemetry in time")
        time.sleep(0.1)


def test_one_trace_spans_runtime_memory_and_signer(exported: tuple[Received, list[str]]) -> None:
    received, _ = exported
    trace = _message_trace(received.span_list())
    assert trace is not None
    by_id = {s.span_id: s for s in trace}
    root = next(s for s in trace if s.name == MESSAGE_ROUTE)
    assert root.parent_span_id == ""  # the HTTP request started the trace
    assert root.kind == SERVER
    assert root.attributes.get("http.route") == "/v1/agents/{agent_id}/messages"
    for service, rpc_prefix in (
        ("anima-memory", "anima.memory.v1."),
        ("anima-signer", "anima.signer.v1."),
    ):
        servers = [s for s in trace if s.service == service and s.kind == SERVER]
        assert servers, f"no {service} server span in the message's trace"
        for span in servers:
            assert span.name.startswith(rpc_prefix)
            # Its parent is the runtime's client span, and so on up to the HTTP request.
            chain, at = [], span
            while at.parent_span_id:
                at = by_id[at.parent_span_id]
                chain.append(at)
            assert chain[0].service == "anima-runtime" and chain[0].kind != SERVER
            assert chain[-1] is root


def test_no_span_attribute_holds_the_prompt_or_a_token(
    exported: tuple[Received, list[str]],
) -> None:
    received, secrets = exported
    spans = received.span_list()
    assert spans
    words = [PROMPT, "swordfish", *secrets]
    for span in spans:
        text = json.dumps({"name": span.name, "attributes": span.attributes}, default=str)
        leaked = [w for w in words if w in text]
        assert not leaked, f"span {span.service}/{span.name} carries a secret or the prompt"


def test_each_service_exports_its_operator_metrics(exported: tuple[Received, list[str]]) -> None:
    received, _ = exported
    runtime = received.metrics.get("anima-runtime", set())
    assert {"anima.runtime.turn.duration", "anima.log.size", "anima.log.checkpoint.age"} <= runtime
    assert "http.server.duration" in runtime or "http.server.request.duration" in runtime
    signer = received.metrics.get("anima-signer", set())
    assert {"anima.signer.signatures", "anima.signer.denials"} <= signer
