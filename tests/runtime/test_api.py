"""The runtime's HTTP API end to end over real parts (signer core on the INSECURE simulated
TEE, memory core with MiniLM, the real agent loop and logs): lifecycle, chat, memories,
bearer auth on every agent route, the log routes beside them, and every refusal's status."""

from __future__ import annotations

import json
import re
import secrets
import sys
from collections.abc import AsyncIterator, Iterable, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from anima_core.auth import token_digest
from anima_core.errors import REASON_PATTERN
from anima_dev.inprocess_log import InProcessSequencer
from anima_dev.openapi import OPENAPI_FILE
from anima_memory.service import MemoryService
from anima_memory_api.errors import (
    InvalidMemoryRequest,
    MemoryRpcError,
    MemoryUnreachable,
    StoreUnavailable,
)
from anima_runtime.api.http import create_runtime_app
from anima_runtime.config import RuntimeConfig
from anima_runtime.handler import RuntimeHandler
from anima_runtime.manager import AgentManager
from anima_signer.core import Signer
from anima_verify.errors import AnimaError
from tests.runtime.fake_openai import FakeOpenAI, Status
from tests.runtime.test_manager import (
    API_TOKEN,
    SECRET,
    Host,
    ada_document,
    hosting,
    runtime_config,
)

AUTH = {"Authorization": f"Bearer {API_TOKEN}"}
READ_TOKEN = "test-log-read-token"


class Api:
    """An in-process client that remembers every response body, to search for secrets."""

    def __init__(self, client: httpx.AsyncClient) -> None:
        self.client = client
        self.bodies: list[bytes] = []

    async def request(self, method: str, path: str, **kwargs: Any) -> httpx.Response:
        response = await self.client.request(method, path, **kwargs)
        self.bodies.append(response.content)
        return response

    async def get(self, path: str, *, auth: bool = True, **kwargs: Any) -> httpx.Response:
        return await self.request("GET", path, headers=AUTH if auth else {}, **kwargs)

    async def post(
        self, path: str, body: Any = None, *, auth: bool = True, **kwargs: Any
    ) -> httpx.Response:
        headers = AUTH if auth else {}
        return await self.request("POST", path, json=body, headers=headers, **kwargs)


async def serve(host: Host, config: RuntimeConfig | None = None) -> tuple[Api, AgentManager]:
    host.config = config or host.config
    manager = await host.open()
    app = create_runtime_app(
        RuntimeHandler.of(manager, host.config),
        host.config,
        attestation=InProcessSequencer(host.signer).attestation,
    )
    client = httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://rt.test")
    return Api(client), manager


@pytest.fixture
async def host(tmp_path: Path, signer: Signer, memory: MemoryService) -> AsyncIterator[Host]:
    async with hosting(tmp_path, signer, memory) as opened:
        yield opened


@pytest.fixture
async def api(host: Host) -> AsyncIterator[Api]:
    served, _ = await serve(host)
    async with served.client:
        yield served
    for body in served.bodies:
        assert SECRET.encode() not in body


def error_of(response: httpx.Response) -> tuple[int, str, str]:
    error = response.json()["error"]
    assert set(error) == {"code", "message", "reason"}, error
    assert REASON_PATTERN.fullmatch(error["reason"]), error
    return response.status_code, error["code"], error["message"]


def reason_of(response: httpx.Response) -> tuple[int, str]:
    return response.status_code, response.json()["error"]["reason"]


async def create(api: Api, agent_id: str | None = None, **body: Any) -> dict[str, Any]:
    payload: dict[str, Any] = {"character": ada_document(), **body}
    if agent_id is not None:
        payload["agent_id"] = agent_id
    response = await api.post("/v1/agents", payload)
    assert response.status_code == 201, response.text
    created: dict[str, Any] = response.json()
    return created


# ---------------------------------------------------------------- the happy path


async def test_create_chat_stop_start_and_read_memories(api: Api, host: Host) -> None:
    agent = await create(api)
    agent_id = agent["agent_id"]
    keys = host.signer.get_agent(agent_id)
    assert agent == {
        "agent_id": agent_id,
        "name": "Ada",
        "running": True,
        "created_at": agent["created_at"],
        "wallets": [w.address for w in keys.wallets],
        "log_verifier_key": keys.log_verifier_key,
        "plugins": ["bootstrap"],
        "unknown_plugins": [],
        "model": "offline (retrieval over MiniLM)",
        "problem": None,
    }
    assert (await api.get("/v1/agents")).json() == {"agents": [agent]}
    assert (await api.get(f"/v1/agents/{agent_id}")).json() == agent

    said = await api.post(
        f"/v1/agents/{agent_id}/messages",
        {"room_id": "room-1", "text": "Who are you?", "entity_id": "bob", "user_name": "Bob"},
    )
    assert said.status_code == 200, said.text
    turn = said.json()
    assert set(turn) == {
        "agent_id",
        "room_id",
        "message_id",
        "message_log_index",
        "decision_log_index",
        "responses",
        "actions",
        "evaluations",
        "timings",
    }
    [reply] = turn["responses"]
    assert "Ada" in reply["text"] and reply["log_index"] > turn["message_log_index"]
    assert all(isinstance(a["log_index"], int) for a in turn["actions"] + turn["evaluations"])
    assert turn["timings"]["total_ms"] >= turn["timings"]["model_ms"] >= 0

    # The turn is in the agent's log, served beside the API (public reads).
    entries = (await api.get(f"/v1/logs/{agent_id}/entries", auth=False)).json()
    kinds = {e["index"]: e["kind"] for e in entries["entries"]}
    assert kinds[turn["message_log_index"]] == "message_in"
    assert kinds[reply["log_index"]] == "response"

    memories = await api.get(f"/v1/agents/{agent_id}/rooms/room-1/memories", params={"limit": 5})
    assert memories.status_code == 200
    listed = memories.json()
    assert (listed["agent_id"], listed["room_id"]) == (agent_id, "room-1")
    first, second = listed["memories"][:2]
    assert (first["entity_id"], first["table"], first["text"]) == (
        "bob",
        "messages",
        "Who are you?",
    )
    assert (second["entity_id"], second["text"]) == (agent_id, reply["text"])
    assert set(first) == {"id", "entity_id", "table", "text", "created_at_ms", "fields"}

    stopped = await api.post(f"/v1/agents/{agent_id}/stop")
    assert stopped.status_code == 200 and stopped.json()["running"] is False
    refused = await api.post(f"/v1/agents/{agent_id}/messages", {"room_id": "r", "text": "hi"})
    assert error_of(refused)[:2] == (409, "agent_stopped")
    assert (await api.get(f"/v1/agents/{agent_id}/rooms/room-1/memories")).status_code == 200

    started = await api.post(f"/v1/agents/{agent_id}/start")
    assert started.status_code == 200 and started.json()["running"] is True
    again = await api.post(f"/v1/agents/{agent_id}/messages", {"room_id": "r", "text": "hi"})
    assert again.status_code == 200


async def test_an_agent_can_be_created_stopped_under_a_given_id(api: Api) -> None:
    agent = await create(api, "ada-quiet", start=False)
    assert (agent["agent_id"], agent["running"]) == ("ada-quiet", False)
    duplicate = await api.post("/v1/agents", {"character": ada_document(), "agent_id": "ada-quiet"})
    status, code, message = error_of(duplicate)
    assert (status, code) == (409, "already_exists") and "ada-quiet" in message


# ---------------------------------------------------------------- auth


def protected_routes(agent_id: str) -> Iterable[tuple[str, str, Any]]:
    yield "POST", "/v1/agents", {"character": ada_document()}
    yield "GET", "/v1/agents", None
    yield "GET", f"/v1/agents/{agent_id}", None
    yield "POST", f"/v1/agents/{agent_id}/start", None
    yield "POST", f"/v1/agents/{agent_id}/stop", None
    yield "POST", f"/v1/agents/{agent_id}/messages", {"room_id": "r", "text": "hi"}
    yield "GET", f"/v1/agents/{agent_id}/rooms/r/memories", None


async def test_every_agent_route_needs_a_valid_bearer_token(api: Api) -> None:
    agent_id = (await create(api, "ada-guarded"))["agent_id"]
    wrong = secrets.token_urlsafe(16)
    for headers in ({}, {"Authorization": f"Bearer {wrong}"}, {"Authorization": API_TOKEN}):
        for method, path, body in protected_routes(agent_id):
            response = await api.request(method, path, json=body, headers=headers)
            assert response.status_code == 401, (method, path, headers)
            assert response.headers["www-authenticate"] == "Bearer"
            assert error_of(response)[1] == "unauthenticated"
        # Malformed bodies are not even parsed without a token.
        garbage = await api.request(
            "POST", "/v1/agents", content=b"{not json", headers={**headers, "Content-Type": "x"}
        )
        assert garbage.status_code == 401
    assert (await api.get("/v1/agents")).json()["agents"][0]["running"] is True  # nothing changed


async def test_log_reads_are_public_by_default(api: Api) -> None:
    agent_id = (await create(api))["agent_id"]
    checkpoint = await api.get(f"/v1/logs/{agent_id}/checkpoint", auth=False)
    assert checkpoint.status_code == 200 and checkpoint.text.startswith("test.anima/agents/")
    attested = await api.get(
        f"/v1/logs/{agent_id}/attestation", auth=False, params={"nonce": "00" * 32}
    )
    assert attested.status_code == 200, attested.text
    assert (
        attested.json()["log_verifier_key"]
        == (await api.get(f"/v1/agents/{agent_id}")).json()["log_verifier_key"]
    )
    # Payloads stay private: no read token is configured, so none are served.
    assert (await api.get(f"/v1/logs/{agent_id}/entries/0/payload", auth=False)).status_code == 403


async def test_log_reads_can_be_closed(tmp_path: Path, host: Host) -> None:
    config = runtime_config(
        tmp_path,
        log={"api": {"public_reads": False, "read_token_sha256": token_digest(READ_TOKEN)}},
    )
    api, _ = await serve(host, config)
    async with api.client:
        agent_id = (await create(api))["agent_id"]
        path = f"/v1/logs/{agent_id}/checkpoint"
        assert (await api.get(path, auth=False)).status_code == 401
        assert (await api.get(path)).status_code == 401  # the API token is not a log token
        read = await api.request("GET", path, headers={"Authorization": f"Bearer {READ_TOKEN}"})
        assert read.status_code == 200


async def test_no_log_payload_carries_a_character_secret(tmp_path: Path, host: Host) -> None:
    config = runtime_config(tmp_path, log={"api": {"public_payloads": True}})
    api, _ = await serve(host, config)
    async with api.client:
        agent_id = (await create(api))["agent_id"]
        said = await api.post(
            f"/v1/agents/{agent_id}/messages", {"room_id": "r", "text": "Who are you?"}
        )
        assert said.status_code == 200
        entries = (await api.get(f"/v1/logs/{agent_id}/entries", auth=False)).json()["entries"]
        assert len(entries) >= 4
        for entry in entries:
            payload = await api.get(f"/v1/logs/{agent_id}/entries/{entry['index']}/payload")
            assert payload.status_code == 200
        for body in api.bodies:
            assert SECRET.encode() not in body


# ---------------------------------------------------------------- refusals


async def test_an_oversized_body_is_refused_before_it_is_parsed(tmp_path: Path, host: Host) -> None:
    api, _ = await serve(host, runtime_config(tmp_path, limits={"max_body_bytes": 2048}))
    async with api.client:
        big = {"character": ada_document(), "agent_id": "ada-big"}
        assert len(json.dumps(big)) > 2048
        response = await api.post("/v1/agents", big)
        assert error_of(response)[:2] == (413, "payload_too_large")

        async def chunks() -> AsyncIterator[bytes]:  # no Content-Length: counted as it comes
            for _ in range(10):
                yield b" " * 1000

        streamed = await api.request(
            "POST",
            "/v1/agents",
            content=chunks(),
            headers={**AUTH, "Content-Type": "application/json"},
        )
        assert streamed.status_code == 413
        assert (await api.get("/v1/agents")).json() == {"agents": []}


@pytest.mark.parametrize(
    ("body", "names"),
    [
        (b"{not json", "not JSON"),
        (b"[]", "body"),
        (json.dumps({"agent_id": "ada-x"}).encode(), "'character'"),
        (json.dumps({"character": "Ada"}).encode(), "'character'"),
        (json.dumps({"character": {"name": "Ada"}, "agent_id": 5}).encode(), "'agent_id'"),
        (json.dumps({"character": {"name": "Ada"}, "start": "yes"}).encode(), "'start'"),
        (json.dumps({"character": {"name": "Ada"}, "extra": 1}).encode(), "'extra'"),
        (json.dumps({"character": {"name": "Ada", "bio": 42}}).encode(), "bio"),
        (json.dumps({"character": {"name": "Ada"}, "agent_id": "Not An Id"}).encode(), "agent_id"),
    ],
)
async def test_malformed_creations_are_400_naming_the_field(
    api: Api, body: bytes, names: str
) -> None:
    response = await api.request(
        "POST", "/v1/agents", content=body, headers={**AUTH, "Content-Type": "application/json"}
    )
    status, code, message = error_of(response)
    assert (status, code) == (400, "invalid_argument"), message
    assert names in message


async def test_malformed_messages_are_400_naming_the_field(api: Api) -> None:
    agent_id = (await create(api))["agent_id"]
    path = f"/v1/agents/{agent_id}/messages"
    for body, names in [
        ({"text": "hi"}, "'room_id'"),
        ({"room_id": "r", "text": 7}, "'text'"),
        ({"room_id": "r", "text": ""}, "empty"),
        ({"room_id": "a room", "text": "hi"}, "room_id"),
        ({"room_id": "r", "text": "hi", "entity_id": agent_id}, "entity_id"),
        ({"room_id": "r", "text": "x" * 20_000}, "bytes"),
    ]:
        status, code, message = error_of(await api.post(path, body))
        assert (status, code) == (400, "invalid_argument"), (body, message)
        assert names in message, (body, message)
    limit = await api.get(f"/v1/agents/{agent_id}/rooms/r/memories", params={"limit": 0})
    assert error_of(limit)[0] == 400 and "limit" in error_of(limit)[2]


async def test_unknown_agents_and_paths_are_404(api: Api) -> None:
    for method, path, body in protected_routes("nobody"):
        if path == "/v1/agents":
            continue
        status, code, message = error_of(await api.request(method, path, json=body, headers=AUTH))
        assert (status, code) == (404, "not_found") and "nobody" in message, path
    assert error_of(await api.get("/v1/nothing-here"))[:2] == (404, "not_found")
    assert (await api.get("/v1/logs/nobody/checkpoint", auth=False)).status_code == 404


async def test_error_bodies_carry_the_errors_reason(api: Api) -> None:
    assert reason_of(await api.get("/v1/agents/nobody")) == (404, "AGENT_NOT_FOUND")
    agent_id = (await create(api, "ada-reasons", start=False))["agent_id"]
    again = await api.post("/v1/agents", {"character": ada_document(), "agent_id": agent_id})
    assert reason_of(again) == (409, "AGENT_ALREADY_EXISTS")
    stopped = await api.post(f"/v1/agents/{agent_id}/messages", {"room_id": "r", "text": "hi"})
    assert error_of(stopped)[:2] == (409, "agent_stopped")
    assert reason_of(stopped) == (409, "AGENT_STOPPED")
    await api.post(f"/v1/agents/{agent_id}/start")
    spaced = await api.post(f"/v1/agents/{agent_id}/messages", {"room_id": "a room", "text": "x"})
    assert reason_of(spaced) == (400, "INVALID_MESSAGE")
    unparsed = await api.post(f"/v1/agents/{agent_id}/messages", {"text": "hi"})
    assert reason_of(unparsed) == (400, "INVALID_ARGUMENT")
    assert reason_of(await api.get("/v1/agents", auth=False)) == (401, "UNAUTHENTICATED")
    assert reason_of(await api.get("/v1/logs/nobody/checkpoint", auth=False)) == (
        404,
        "UNKNOWN_LOG",
    )


@pytest.mark.parametrize(
    ("error", "status", "code", "reason"),
    [
        (
            MemoryUnreachable("UNAVAILABLE", "to 10.1.2.3:7450"),
            503,
            "unavailable",
            "BACKEND_UNAVAILABLE",
        ),
        (
            StoreUnavailable("the store at 10.1.2.3 is loading"),
            503,
            "unavailable",
            "BACKEND_UNAVAILABLE",
        ),
        (
            MemoryRpcError("PERMISSION_DENIED", "caller at 10.1.2.3"),
            502,
            "bad_gateway",
            "BACKEND_FAILED",
        ),
        (InvalidMemoryRequest("filter at 10.1.2.3"), 502, "bad_gateway", "BACKEND_FAILED"),
    ],
    ids=["unreachable", "store unavailable", "refused", "invalid"],
)
async def test_a_backing_service_failure_is_502_or_503_without_its_details(
    api: Api,
    host: Host,
    monkeypatch: pytest.MonkeyPatch,
    error: AnimaError,
    status: int,
    code: str,
    reason: str,
) -> None:
    """As when the memory service answered with an AioRpcError: 503 when it is unavailable,
    502 otherwise, its reason named but not its text (it may describe the host's network)."""
    agent_id = (await create(api, "ada-backed", start=False))["agent_id"]

    async def failing(*args: object, **kwargs: object) -> None:
        raise error

    monkeypatch.setattr(host.memory, "recent", failing)
    response = await api.get(f"/v1/agents/{agent_id}/rooms/r/memories")
    assert error_of(response)[:2] == (status, code)
    assert reason_of(response) == (status, reason)
    assert error.reason in error_of(response)[2] and "10.1.2.3" not in response.text


async def test_a_failing_model_is_502(tmp_path: Path, host: Host) -> None:
    # The character's own OpenAI-compatible endpoint, where nothing listens.
    config = runtime_config(
        tmp_path, model={"max_retries": 0, "deadline_s": 5, "honour_character": True}
    )
    api, _ = await serve(host, config)
    character = ada_document(modelProvider="openai")
    character["settings"]["modelEndpointOverride"] = "http://127.0.0.1:9/v1"
    async with api.client:
        created = await api.post("/v1/agents", {"character": character})
        assert created.status_code == 201, created.text
        assert created.json()["model"] != "offline (retrieval over MiniLM)"
        agent_id = created.json()["agent_id"]
        response = await api.post(f"/v1/agents/{agent_id}/messages", {"room_id": "r", "text": "hi"})
        status, code, message = error_of(response)
        assert (status, code) == (502, "model_failed")
        assert reason_of(response) == (502, "MODEL_FAILED")
        assert message.startswith("the agent's language model failed: http://127.0.0.1:9/v1")
        assert SECRET not in response.text


@pytest.fixture
def eth_recursion_limit() -> Iterator[None]:
    """The runtime process's recursion limit: eth_account (py_ecc) raises it to 100000, so
    there a deep JSON document overflows the C stack instead of raising."""
    before = sys.getrecursionlimit()
    sys.setrecursionlimit(100_000)
    yield
    sys.setrecursionlimit(before)


@pytest.mark.usefixtures("eth_recursion_limit")
async def test_regression_a_deeply_nested_body_is_400_not_a_crash(api: Api) -> None:
    """Regression: FastAPI decoded the body before any check, and a `character` of 200000
    nested lists killed the runtime process (segfault). Now the depth is measured first."""
    deep = b"[" * 200_000 + b"]" * 200_000
    agent_id = (await create(api))["agent_id"]
    for path, body, content_type in [
        ("/v1/agents", b'{"character": ' + deep + b"}", "application/json"),
        ("/v1/agents", b'{"character": ' + deep + b"}", None),  # FastAPI decodes it anyway
        ("/v1/agents", deep, "text/plain"),
        (f"/v1/agents/{agent_id}/messages", b'{"room_id": "r", "text": ' + deep + b"}", None),
    ]:
        headers = {**AUTH, **({"Content-Type": content_type} if content_type else {})}
        response = await api.request("POST", path, content=body, headers=headers)
        status, code, message = error_of(response)
        assert (status, code) == (400, "invalid_argument"), message
        assert message == "the request body is JSON nested more than 65 levels deep"
    # Alive, and a character as deep as the loader allows still goes through the API.
    allowed: Any = "leaf"
    for _ in range(62):
        allowed = [allowed]
    response = await api.post("/v1/agents", {"character": ada_document(deep=allowed)})
    assert response.status_code == 201, response.text
    assert len((await api.get("/v1/agents")).json()["agents"]) == 2


@pytest.mark.parametrize(
    ("body", "why"),
    [
        ('{"character": {"name": "Caf\xe9"}}'.encode("latin-1"), "not UTF-8"),
        (b'{"character": {"name": "Ada", "n": ' + b"1" * 5000 + b"}}", "4300 digits"),
    ],
    ids=["latin1", "huge-integer"],
)
async def test_regression_an_unparseable_body_is_400_not_500(
    api: Api, body: bytes, why: str
) -> None:
    """Regression: FastAPI answers these with HTTPException(400), which the route wrapper
    caught as an unexpected error and answered 500."""
    response = await api.request(
        "POST", "/v1/agents", content=body, headers={**AUTH, "Content-Type": "application/json"}
    )
    status, code, message = error_of(response)
    assert (status, code) == (400, "invalid_argument"), (why, message)
    assert "parsing the body" in message


async def test_regression_a_character_key_with_whitespace_is_400_not_500(api: Api) -> None:
    """Regression: the key reached the HTTP client's constructor, whose ValueError became
    500; now the character is refused naming the secret (never its value)."""
    character = ada_document(modelProvider="openai")
    character["settings"]["modelEndpointOverride"] = "http://127.0.0.1:9/v1"
    character["settings"]["secrets"]["OPENAI_API_KEY"] = "sk-abc def-KEYPART"
    response = await api.post("/v1/agents", {"character": character})
    status, code, message = error_of(response)
    assert (status, code) == (400, "invalid_argument"), message
    assert "OPENAI_API_KEY" in message
    assert "KEYPART" not in response.text
    assert (await api.get("/v1/agents")).json() == {"agents": []}


async def test_regression_ssrf_the_endpoint_s_answer_is_not_read_back(
    tmp_path: Path, host: Host
) -> None:
    """Regression: a character named an internal URL as its model endpoint, and the 502
    quoted the page it got. Characters are no longer honoured by default; where the
    operator honours them, the 502 names the status only."""
    page = "<html>internal admin console: db_password=INTERNAL-PAGE</html>"
    with FakeOpenAI.start(api_key=None) as internal:
        character = ada_document(modelProvider="openai")
        character["settings"]["modelEndpointOverride"] = internal.base_url
        default, manager = await serve(host)
        async with default.client:
            created = await default.post("/v1/agents", {"character": character})
            assert created.status_code == 201, created.text
            assert created.json()["model"] == "offline (retrieval over MiniLM)"
        await host.close(manager)
        honouring = runtime_config(
            tmp_path,
            model={"max_retries": 0, "deadline_s": 5, "honour_character": True},
            log={"api": {"public_payloads": True}},
        )
        api, _ = await serve(host, honouring)
        async with api.client:
            agent_id = (await api.post("/v1/agents", {"character": character})).json()["agent_id"]
            internal.script(Status(404, page))
            response = await api.post(
                f"/v1/agents/{agent_id}/messages", {"room_id": "r", "text": "hi"}
            )
            status, code, message = error_of(response)
            assert (status, code) == (502, "model_failed")
            assert re.search(r"refused the request: HTTP 404 \(logged at #\d+\)$", message)
            # Nor does the agent's public log record it.
            logged = await api.get(f"/v1/logs/{agent_id}/entries", auth=False)
            payloads = [
                (await api.get(f"/v1/logs/{agent_id}/entries/{e['index']}/payload")).content
                for e in logged.json()["entries"]
            ]
            assert any(b"HTTP 404" in payload for payload in payloads)
            for body in api.bodies:
                assert b"INTERNAL-PAGE" not in body


async def test_openapi_is_served_without_cdn_pages(api: Api) -> None:
    spec = (await api.get("/openapi.json", auth=False)).json()
    assert spec == json.loads(OPENAPI_FILE.read_text(encoding="utf-8"))  # the committed contract
    assert "/v1/agents/{agent_id}/messages" in spec["paths"]
    assert "/v1/logs/{agent_id}/checkpoint" in spec["paths"]
    assert spec["components"]["securitySchemes"]["HTTPBearer"]["scheme"] == "bearer"
    assert (await api.get("/docs", auth=False)).status_code == 404
    assert (await api.get("/redoc", auth=False)).status_code == 404


async def test_cors_allows_only_configured_origins(tmp_path: Path, host: Host) -> None:
    api, _ = await serve(host, runtime_config(tmp_path, cors_origins=["https://app.example"]))
    preflight = {
        "Access-Control-Request-Method": "POST",
        "Access-Control-Request-Headers": "authorization",
    }
    async with api.client:
        allowed = await api.request(
            "OPTIONS", "/v1/agents", headers={"Origin": "https://app.example", **preflight}
        )
        assert allowed.status_code == 200
        assert allowed.headers["access-control-allow-origin"] == "https://app.example"
        other = await api.request(
            "OPTIONS", "/v1/agents", headers={"Origin": "https://evil.example", **preflight}
        )
        assert "access-control-allow-origin" not in other.headers


def test_wildcard_cors_and_clear_tokens_are_refused_by_the_config(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="no wildcards"):
        runtime_config(tmp_path, cors_origins=["*"])
    with pytest.raises(ValueError, match="SHA-256"):
        runtime_config(tmp_path, api_token_sha256s=[API_TOKEN])
