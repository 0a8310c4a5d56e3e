"""The runtime's gRPC API (RuntimeService) over TLS on loopback, through RuntimeClient,
beside the HTTP API over the same manager and handler: lifecycle, a turn whose log
indices the HTTP API serves too, room memories, log reads verified with anima_verify,
bearer tokens, bad input, oversize requests, and health tied to readiness."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import grpc
import grpc.aio
import httpx
import pytest
from grpc_health.v1 import health_pb2, health_pb2_grpc

from anima.runtime.v1 import runtime_pb2 as pb
from anima.runtime.v1 import runtime_pb2_grpc as pb_grpc
from anima_core.auth import bearer_metadata, token_digest
from anima_core.errors import GRPC_STATUS_FOR_KIND
from anima_dev.inprocess_log import InProcessSequencer
from anima_memory.service import MemoryService
from anima_runtime.api.grpc_servicer import SERVICE_NAME
from anima_runtime.api.http import create_runtime_app
from anima_runtime.api.schemas import TurnOut
from anima_runtime.config import RuntimeConfig
from anima_runtime.grpc_serve import RuntimeGrpc, start_grpc
from anima_runtime.handler import RuntimeHandler
from anima_runtime.log.reads import MAX_INT
from anima_runtime.manager import AgentManager
from anima_runtime_api.client import RuntimeClient
from anima_runtime_api.endpoint import TLS_SERVER_NAME, published_certificate_path
from anima_runtime_api.errors import (
    AgentAlreadyExists,
    AgentNotFound,
    AgentStopped,
    RuntimeRpcError,
)
from anima_runtime_api.types import EntryFilter
from anima_signer.core import Signer
from anima_verify.errors import AnimaError
from anima_verify.tlog.checkpoint import open_checkpoint
from anima_verify.tlog.entry import EntryKind
from anima_verify.tlog.merkle import verify_consistency, verify_inclusion
from anima_verify.tlog.note import parse_verifier_key
from tests.runtime.test_manager import (
    API_TOKEN,
    SECRET,
    Host,
    ada_document,
    hosting,
    runtime_config,
)

READ_TOKEN = "test-log-read-token"
HTTP_AUTH = {"Authorization": f"Bearer {API_TOKEN}"}


@dataclass
class Served:
    """One manager behind both APIs: gRPC on a loopback port (TLS), HTTP in process."""

    grpc: RuntimeGrpc
    address: str
    http: httpx.AsyncClient
    manager: AgentManager

    def client(self, token: str | None = API_TOKEN) -> RuntimeClient:
        return RuntimeClient.connect(self.address, token, certificate_pem=self.grpc.certificate_pem)

    def channel(self) -> grpc.aio.Channel:
        """A raw channel, for requests the client would not send."""
        return tls_channel(self.address, self.grpc.certificate_pem)


def tls_channel(address: str, certificate_pem: bytes | None) -> grpc.aio.Channel:
    return grpc.aio.secure_channel(
        address,
        grpc.ssl_channel_credentials(root_certificates=certificate_pem),
        options=[("grpc.ssl_target_name_override", TLS_SERVER_NAME)],
    )


@pytest.fixture
async def host(tmp_path: Path, signer: Signer, memory: MemoryService) -> AsyncIterator[Host]:
    async with hosting(tmp_path, signer, memory) as opened:
        yield opened


@pytest.fixture
def config(tmp_path: Path, request: pytest.FixtureRequest) -> RuntimeConfig:
    """The runtime's configuration: the tests' own, changed by an indirect parameter."""
    return runtime_config(tmp_path, **getattr(request, "param", {}))


@pytest.fixture
async def served(host: Host, config: RuntimeConfig) -> AsyncIterator[Served]:
    host.config = config
    api = await start_grpc(config, address="127.0.0.1:0")
    try:
        manager = await host.open()
        handler = RuntimeHandler.of(manager, config)
        await api.attach(handler)
        app = create_runtime_app(
            handler, config, attestation=InProcessSequencer(host.signer).attestation
        )
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://rt.test") as http:
            yield Served(api, f"127.0.0.1:{api.port}", http, manager)
    finally:
        await api.stop(0)


@pytest.fixture
async def client(served: Served) -> AsyncIterator[RuntimeClient]:
    async with served.client() as opened:
        yield opened


async def refused(call: Any, status: grpc.StatusCode, error: type[AnimaError] = AnimaError) -> str:
    """The runtime's message for a call it refuses with `status`, raised by the client as
    `error` (the typed error of the reason it sent, or RuntimeRpcError by code)."""
    with pytest.raises(error) as caught:
        await call
    raised = caught.value
    code = raised.code if isinstance(raised, RuntimeRpcError) else status_code_of(raised).name
    assert code == status.name, raised.message
    return raised.message


def status_code_of(error: AnimaError) -> grpc.StatusCode:
    return GRPC_STATUS_FOR_KIND[error.kind]


# ---------------------------------------------------------------- agents and turns


async def test_lifecycle_over_grpc_is_the_http_api_s(client: RuntimeClient, served: Served) -> None:
    agent = await client.create_agent(ada_document())
    assert agent.running and agent.name == "Ada" and agent.problem is None
    assert agent.plugins == ("bootstrap",) and agent.model == "offline (retrieval over MiniLM)"
    http_view = (await served.http.get(f"/v1/agents/{agent.agent_id}", headers=HTTP_AUTH)).json()
    assert http_view == {
        "agent_id": agent.agent_id,
        "name": agent.name,
        "running": True,
        "created_at": agent.created_at,
        "wallets": list(agent.wallets),
        "log_verifier_key": agent.log_verifier_key,
        "plugins": ["bootstrap"],
        "unknown_plugins": [],
        "model": agent.model,
        "problem": None,
    }
    assert await client.list_agents() == [agent]
    assert await client.get_agent(agent.agent_id) == agent
    assert SECRET not in repr(agent)

    stopped = await client.stop_agent(agent.agent_id)
    assert not stopped.running
    message = await refused(
        client.send_message(agent.agent_id, room_id="r", text="hi"),
        grpc.StatusCode.FAILED_PRECONDITION,
        AgentStopped,
    )
    assert "start it first" in message
    assert (await client.start_agent(agent.agent_id)).running

    quiet = await client.create_agent(json.dumps(ada_document()), agent_id="ada-quiet", start=False)
    assert (quiet.agent_id, quiet.running) == ("ada-quiet", False)
    message = await refused(
        client.create_agent(ada_document(), agent_id="ada-quiet"),
        grpc.StatusCode.ALREADY_EXISTS,
        AgentAlreadyExists,
    )
    assert "ada-quiet" in message
    for call in (
        client.get_agent("nobody"),
        client.start_agent("nobody"),
        client.send_message("nobody", room_id="r", text="hi"),
        client.room_memories("nobody", "r"),
    ):
        assert "nobody" in await refused(call, grpc.StatusCode.NOT_FOUND, AgentNotFound)
    # The log reads' reasons are not in the client's catalog: by code.
    assert "nobody" in await refused(
        client.checkpoint("nobody"), grpc.StatusCode.NOT_FOUND, RuntimeRpcError
    )


async def test_a_turn_names_the_log_entries_both_apis_serve(
    client: RuntimeClient, served: Served
) -> None:
    agent_id = (await client.create_agent(ada_document())).agent_id
    turn = await client.send_message(
        agent_id, room_id="room-1", text="Who are you?", entity_id="bob", user_name="Bob"
    )
    [reply] = turn.responses
    assert "Ada" in reply.text and reply.log_index == turn.decision_log_index
    assert reply.log_index > turn.message_log_index
    assert turn.total_ms >= turn.model_ms >= 0
    # The same shape as the HTTP API's turn (schemas.TurnOut is built from the same type).
    said = TurnOut.of(turn).model_dump()
    assert set(said) == set(TurnOut.model_fields)

    http_page = (await served.http.get(f"/v1/logs/{agent_id}/entries")).json()
    grpc_page = await client.entries(agent_id)
    assert grpc_page.size == http_page["size"]
    assert [(v.entry.index, v.entry.kind.value, v.redacted) for v in grpc_page.entries] == [
        (e["index"], e["kind"], e["payload_redacted"]) for e in http_page["entries"]
    ]
    kinds = {v.entry.index: v.entry.kind for v in grpc_page.entries}
    assert kinds[turn.message_log_index] == EntryKind.MESSAGE_IN
    assert kinds[reply.log_index] == EntryKind.RESPONSE
    for action in turn.actions:
        assert kinds[action.log_index] == EntryKind.ACTION
    for evaluation in turn.evaluations:
        assert kinds[evaluation.log_index] == EntryKind.EVALUATOR
    assert set(turn.log_indices) <= set(kinds)

    # A second turn over HTTP lands right after the first in the same log.
    second = await served.http.post(
        f"/v1/agents/{agent_id}/messages",
        json={"room_id": "room-1", "text": "And what do you do?"},
        headers=HTTP_AUTH,
    )
    assert second.status_code == 200, second.text
    assert second.json()["message_log_index"] > max(turn.log_indices)

    memories = await client.room_memories(agent_id, "room-1", limit=5)
    http_memories = (
        await served.http.get(
            f"/v1/agents/{agent_id}/rooms/room-1/memories",
            params={"limit": 5},
            headers=HTTP_AUTH,
        )
    ).json()["memories"]
    assert [(m.id, m.entity_id, m.table, m.text, m.created_at_ms) for m in memories] == [
        (m["id"], m["entity_id"], m["table"], m["text"], m["created_at_ms"]) for m in http_memories
    ]
    assert (memories[0].entity_id, memories[0].text) == ("bob", "Who are you?")


async def test_log_reads_verify_with_anima_verify(client: RuntimeClient) -> None:
    agent = await client.create_agent(ada_document())
    agent_id = agent.agent_id
    verifiers = [parse_verifier_key(agent.log_verifier_key)]
    first = open_checkpoint(await client.checkpoint(agent_id), verifiers).checkpoint
    turn = await client.send_message(agent_id, room_id="lobby", text="Who are you?")

    signed = open_checkpoint(await client.checkpoint(agent_id), verifiers).checkpoint
    assert signed.size > max(turn.log_indices)
    page = await client.entries(agent_id, 0, signed.size)
    for index in turn.log_indices:
        proof = await client.inclusion_proof(agent_id, index)
        assert (proof.index, proof.size) == (index, signed.size)
        assert proof.leaf_hash == page.entries[index].leaf_hash  # recomputed by the client
        verify_inclusion(
            leaf_hash=proof.leaf_hash,
            index=index,
            size=proof.size,
            proof=proof.proof,
            root=signed.root_hash,
        )
    older = await client.inclusion_proof(agent_id, 0, size=first.size)
    verify_inclusion(
        leaf_hash=page.entries[0].leaf_hash,
        index=0,
        size=first.size,
        proof=older.proof,
        root=first.root_hash,
    )

    consistency = await client.consistency_proof(agent_id, first.size)
    assert (consistency.first, consistency.second) == (first.size, signed.size)
    verify_consistency(
        size1=first.size,
        size2=signed.size,
        root1=first.root_hash,
        root2=signed.root_hash,
        proof=consistency.proof,
    )

    responses = await client.search(agent_id, EntryFilter(kind=EntryKind.RESPONSE, room="lobby"))
    assert [v.entry.index for v in responses.entries] == [turn.decision_log_index]
    assert responses.next_after is None
    paged = await client.search(agent_id, limit=1)
    assert len(paged.entries) == 1 and paged.next_after == paged.entries[0].entry.index
    rest = await client.search(agent_id, after=paged.next_after, limit=1)
    assert rest.entries[0].entry.index > paged.entries[0].entry.index
    # Payloads are private unless configured public, and no read token is configured.
    await refused(client.payload(agent_id, 0), grpc.StatusCode.PERMISSION_DENIED)


@pytest.mark.parametrize(
    "config",
    [
        pytest.param(
            {"log": {"api": {"public_payloads": True}}},
            id="public-payloads",
        )
    ],
    indirect=True,
)
async def test_public_payloads_match_their_entries(client: RuntimeClient) -> None:
    agent_id = (await client.create_agent(ada_document())).agent_id
    turn = await client.send_message(agent_id, room_id="r", text="Who are you?")
    page = await client.entries(agent_id)
    for index in turn.log_indices:
        data = await client.payload(agent_id, index)
        assert page.entries[index].entry.matches_payload(data)
        assert SECRET.encode() not in data


# ---------------------------------------------------------------- auth


def agent_calls(stub: pb_grpc.RuntimeServiceStub, agent_id: str) -> list[Any]:
    """Every agent RPC, as a function of the call's metadata."""
    character = json.dumps(ada_document()).encode()
    return [
        lambda m: stub.CreateAgent(pb.CreateAgentRequest(character_json=character), metadata=m),
        lambda m: stub.ListAgents(pb.ListAgentsRequest(), metadata=m),
        lambda m: stub.GetAgent(pb.GetAgentRequest(agent_id=agent_id), metadata=m),
        lambda m: stub.StartAgent(pb.StartAgentRequest(agent_id=agent_id), metadata=m),
        lambda m: stub.StopAgent(pb.StopAgentRequest(agent_id=agent_id), metadata=m),
        lambda m: stub.SendMessage(
            pb.SendMessageRequest(agent_id=agent_id, room_id="r", text="hi"), metadata=m
        ),
        lambda m: stub.ListRoomMemories(
            pb.ListRoomMemoriesRequest(agent_id=agent_id, room_id="r"), metadata=m
        ),
    ]


async def test_every_agent_rpc_needs_a_valid_bearer_token(
    client: RuntimeClient, served: Served
) -> None:
    agent_id = (await client.create_agent(ada_document(), agent_id="ada-guarded")).agent_id
    async with served.channel() as channel:
        stub = pb_grpc.RuntimeServiceStub(channel)
        for metadata in (
            None,
            bearer_metadata("not-the-token"),
            (("authorization", API_TOKEN),),  # no scheme
            (*bearer_metadata(API_TOKEN), *bearer_metadata(API_TOKEN)),  # ambiguous
        ):
            for n, call in enumerate(agent_calls(stub, agent_id)):
                with pytest.raises(grpc.aio.AioRpcError) as caught:
                    await call(metadata)
                assert caught.value.code() == grpc.StatusCode.UNAUTHENTICATED, (n, metadata)
        # Log reads are public by default.
        checkpoint = await stub.GetCheckpoint(pb.GetCheckpointRequest(agent_id=agent_id))
        assert checkpoint.note.startswith(b"test.anima/agents/")
    assert [a.running for a in await client.list_agents()] == [True]  # nothing changed


@pytest.mark.parametrize(
    "config",
    [{"log": {"api": {"public_reads": False, "read_token_sha256": token_digest(READ_TOKEN)}}}],
    indirect=True,
)
async def test_closed_log_reads_need_the_read_token(client: RuntimeClient, served: Served) -> None:
    agent_id = (await client.create_agent(ada_document())).agent_id
    async with served.client(None) as anonymous:
        await refused(anonymous.checkpoint(agent_id), grpc.StatusCode.UNAUTHENTICATED)
        await refused(anonymous.entries(agent_id), grpc.StatusCode.UNAUTHENTICATED)
    # The API token is not a log token.
    await refused(client.checkpoint(agent_id), grpc.StatusCode.PERMISSION_DENIED)
    async with served.client(READ_TOKEN) as reader:
        assert (await reader.checkpoint(agent_id)).startswith(b"test.anima/agents/")
        assert (await reader.entries(agent_id)).entries
        assert await reader.payload(agent_id, 0)  # the read token reads payloads too
        await refused(reader.list_agents(), grpc.StatusCode.PERMISSION_DENIED)


# ---------------------------------------------------------------- refusals


def _character(**changes: Any) -> bytes:
    return json.dumps(ada_document(**changes)).encode()


#: (method, request, what the refusal's message names)
BAD_REQUESTS: list[tuple[str, Any, str]] = [
    ("CreateAgent", pb.CreateAgentRequest(), "character_json is required"),
    ("CreateAgent", pb.CreateAgentRequest(character_json=b"{not json"), "character_json"),
    ("CreateAgent", pb.CreateAgentRequest(character_json=b"[]"), "character_json"),
    ("CreateAgent", pb.CreateAgentRequest(character_json=b"\xff"), "not UTF-8"),
    ("CreateAgent", pb.CreateAgentRequest(character_json=_character(bio=42)), "bio"),
    (
        "CreateAgent",
        pb.CreateAgentRequest(character_json=_character(), agent_id="Not An Id"),
        "agent_id",
    ),
    ("GetAgent", pb.GetAgentRequest(), "agent_id is required"),
    ("StopAgent", pb.StopAgentRequest(agent_id="a" * 65), "agent_id"),
    ("SendMessage", pb.SendMessageRequest(agent_id="ada-x", text="hi"), "room_id"),
    ("SendMessage", pb.SendMessageRequest(agent_id="ada-x", room_id="r"), "text is empty"),
    (
        "SendMessage",
        pb.SendMessageRequest(agent_id="ada-x", room_id="r", text="x" * 20_000),
        "text is 20000 bytes",
    ),
    (
        "SendMessage",
        pb.SendMessageRequest(agent_id="ada-x", room_id="r", text="hi", entity_id="ada-x"),
        "entity_id",
    ),
    (
        "ListRoomMemories",
        pb.ListRoomMemoriesRequest(agent_id="ada-x", room_id="a room"),
        "room_id",
    ),
    (
        "ListRoomMemories",
        pb.ListRoomMemoriesRequest(agent_id="ada-x", room_id="r", limit=5000),
        "limit",
    ),
    ("GetCheckpoint", pb.GetCheckpointRequest(agent_id="Not An Id"), "agent id"),
    ("ListLogEntries", pb.ListLogEntriesRequest(agent_id="ada-x", start=MAX_INT + 1), "start"),
    ("SearchLogEntries", pb.SearchLogEntriesRequest(agent_id="ada-x", kind=99), "kind"),
    ("SearchLogEntries", pb.SearchLogEntriesRequest(agent_id="ada-x", limit=10**6), "limit"),
    ("SearchLogEntries", pb.SearchLogEntriesRequest(agent_id="ada-x", room="r" * 300), "room"),
    (
        "GetInclusionProof",
        pb.GetInclusionProofRequest(agent_id="ada-x", index=2**64 - 1),
        "index",
    ),
    (
        "GetConsistencyProof",
        pb.GetConsistencyProofRequest(agent_id="ada-x", first=5, second=MAX_INT + 1),
        "second",
    ),
]


async def test_bad_input_is_invalid_argument_naming_the_field(
    client: RuntimeClient, served: Served
) -> None:
    await client.create_agent(ada_document(), agent_id="ada-x")
    async with served.channel() as channel:
        stub = pb_grpc.RuntimeServiceStub(channel)
        for method, request, names in BAD_REQUESTS:
            with pytest.raises(grpc.aio.AioRpcError) as caught:
                await getattr(stub, method)(request, metadata=bearer_metadata(API_TOKEN))
            details = caught.value.details() or ""
            assert caught.value.code() == grpc.StatusCode.INVALID_ARGUMENT, (method, details)
            assert names in details, (method, details)


async def test_undecodable_requests_are_invalid_argument(served: Served) -> None:
    async with served.channel() as channel:
        raw = channel.unary_unary(f"/{SERVICE_NAME}/GetAgent")
        with pytest.raises(grpc.aio.AioRpcError) as caught:
            await raw(b"\xff\xff\xff", metadata=bearer_metadata(API_TOKEN))
    assert caught.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert "malformed request" in (caught.value.details() or "")


@pytest.mark.parametrize("config", [{"limits": {"max_body_bytes": 2048}}], indirect=True)
async def test_an_oversized_request_is_refused(client: RuntimeClient, served: Served) -> None:
    character = json.dumps(ada_document()).encode()
    assert len(character) > 2048
    message = await refused(
        client.create_agent(character, agent_id="ada-big"), grpc.StatusCode.RESOURCE_EXHAUSTED
    )
    assert "2048" in message
    assert await client.list_agents() == []
    # The HTTP API refuses the same body with 413.
    response = await served.http.post(
        "/v1/agents", json={"character": ada_document()}, headers=HTTP_AUTH
    )
    assert response.status_code == 413


# ---------------------------------------------------------------- serving


async def test_health_follows_readiness_and_the_certificate_is_published(
    host: Host, config: RuntimeConfig
) -> None:
    api = await start_grpc(config, address="127.0.0.1:0")
    address = f"127.0.0.1:{api.port}"
    try:
        assert published_certificate_path(config.data_dir).read_bytes() == api.certificate_pem
        async with tls_channel(address, api.certificate_pem) as channel:
            health = health_pb2_grpc.HealthStub(channel)
            for service in ("", SERVICE_NAME):
                status = await health.Check(health_pb2.HealthCheckRequest(service=service))
                assert status.status == health_pb2.HealthCheckResponse.NOT_SERVING
            starting = RuntimeClient(channel, API_TOKEN)
            message = await refused(starting.list_agents(), grpc.StatusCode.UNAVAILABLE)
            assert "starting" in message

            manager = await host.open()
            await api.attach(RuntimeHandler.of(manager, config))
            status = await health.Check(health_pb2.HealthCheckRequest(service=SERVICE_NAME))
            assert status.status == health_pb2.HealthCheckResponse.SERVING
            assert await starting.list_agents() == []
    finally:
        await api.stop(0)
    async with RuntimeClient.connect(
        address, API_TOKEN, certificate_pem=api.certificate_pem, timeout_s=2
    ) as gone:
        await refused(gone.list_agents(), grpc.StatusCode.UNAVAILABLE)


@pytest.mark.parametrize("config", [{"insecure_grpc_plaintext": True}], indirect=True)
async def test_plaintext_is_served_only_when_asked_for(
    served: Served, config: RuntimeConfig
) -> None:
    assert served.grpc.certificate_pem is None
    assert not config.certificate_path.exists()
    async with RuntimeClient.connect(served.address, API_TOKEN, insecure_plaintext=True) as plain:
        assert await plain.list_agents() == []
    with pytest.raises(ValueError, match="certificate"):
        RuntimeClient.connect(served.address, API_TOKEN)
