"""The log query API: every route over httpx's ASGI transport, and a real uvicorn
server read by the tiled-log client and `anima log verify`."""

from __future__ import annotations

import asyncio
import base64
import json
import sys
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest
import uvicorn

from anima_core.auth import token_digest
from anima_core.errors import REASON_PATTERN
from anima_dev.inprocess_log import InProcessSequencer
from anima_runtime.log import queries
from anima_runtime.log.config import LogApiConfig
from anima_runtime.log.errors import InvalidLogRequest
from anima_runtime.log.http import create_log_app
from anima_runtime.log.items import LogItem
from anima_runtime.log.ratelimit import TokenBucket
from anima_runtime.log.reads import MAX_INT
from anima_runtime.log.registry import LogRegistry
from anima_runtime.log.service import AgentLog
from anima_signer.core import Signer
from anima_verify.attestation import Evidence, MeasurementPolicy, bind_report_data, verify_evidence
from anima_verify.tlog.checkpoint import open_checkpoint
from anima_verify.tlog.cosignature import WitnessPolicy
from anima_verify.tlog.entry import EntryKind, decode_entry
from anima_verify.tlog.merkle import leaf_hash, verify_consistency, verify_inclusion
from anima_verify.tlog.note import Verifier
from anima_verify.tlog.reader import DirectorySource, HttpSource
from anima_verify.tlog.tiles import tile_path
from anima_verify.tlog.verify import verify_tiled_log
from tests.log.conftest import AGENT, agent_verifier

READ_TOKEN = "read-token-for-tests"
REDACT_TOKEN = "redact-token-for-tests"
BASE = f"/v1/logs/{AGENT}"


@dataclass
class Served:
    registry: LogRegistry
    log: AgentLog
    verifier: Verifier
    sequencer: InProcessSequencer
    old_note: bytes  # a checkpoint of size 300, kept for consistency proofs

    def client(self, config: LogApiConfig | None = None, attest: bool = True) -> httpx.AsyncClient:
        app = create_log_app(
            self.registry,
            config=config or LogApiConfig(redaction_token_sha256=token_digest(REDACT_TOKEN)),
            attestation=self.sequencer.attestation if attest else None,
        )
        return httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://log.test")


def items(start: int, end: int) -> list[LogItem]:
    return [
        LogItem(
            EntryKind.MESSAGE_IN if i % 2 else EntryKind.RESPONSE,
            f"actor{i % 3}",
            f"room{i % 5}",
            f"payload {i}".encode(),
        )
        for i in range(start, end)
    ]


@pytest.fixture
async def served(tmp_path: Path, signer: Signer) -> AsyncIterator[Served]:
    sequencer = InProcessSequencer(signer)
    registry = LogRegistry(root=tmp_path / "logs", sequencer=sequencer, sync_interval_s=None)
    log = await registry.open(AGENT)
    await log.append(items(1, 300))
    assert log.published is not None and log.size == 300
    old_note = log.published.note
    await log.append(items(300, 1000))
    yield Served(registry, log, agent_verifier(signer), sequencer, old_note)
    await registry.close()


def error_of(response: httpx.Response) -> str:
    body = response.json()
    assert set(body) == {"error"} and set(body["error"]) == {"code", "message", "reason"}
    assert REASON_PATTERN.fullmatch(body["error"]["reason"]), body
    return str(body["error"]["message"])


async def test_checkpoint_and_tiles_are_a_tlog_tiles_prefix(served: Served) -> None:
    async with served.client() as client:
        response = await client.get(f"{BASE}/checkpoint")
        assert response.status_code == 200
        assert response.headers["content-type"].startswith("text/plain")
        checkpoint = open_checkpoint(response.content, [served.verifier]).checkpoint
        assert checkpoint.size == 1000
        full = await client.get(f"{BASE}/{tile_path(0, 0)}")
        assert full.status_code == 200 and len(full.content) == 256 * 32
        assert "immutable" in full.headers["cache-control"]
        partial = await client.get(f"{BASE}/{tile_path(0, 3, 232)}")
        assert partial.content == (served.log.store.directory / tile_path(0, 3, 232)).read_bytes()
        # The size-300 checkpoint's partial tile was superseded; it is cut from the full one.
        old = await client.get(f"{BASE}/{tile_path(0, 1, 44)}")
        assert old.content == (await client.get(f"{BASE}/{tile_path(0, 1)}")).content[: 44 * 32]
        for beyond in (tile_path(0, 3, 233), tile_path(0, 4, 1), tile_path(2, 0, 1)):
            response = await client.get(f"{BASE}/{beyond}")
            assert response.status_code == 404
            assert "beyond the log's checkpoint" in error_of(response)
        for bad in ("tile/0/1", "tile/0/000.p/256", "tile/0/../../index.sqlite3", "lock"):
            assert (await client.get(f"{BASE}/{bad}")).status_code == 404


async def test_entry_pages(served: Served) -> None:
    async with served.client() as client:
        response = await client.get(f"{BASE}/entries", params={"start": 255, "end": 258})
        assert response.status_code == 200
        page = response.json()
        assert page["size"] == 1000
        assert [e["index"] for e in page["entries"]] == [255, 256, 257]
        first = page["entries"][0]
        raw = base64.b64decode(first["entry"])
        entry = decode_entry(raw)
        assert base64.b64decode(first["leaf_hash"]) == leaf_hash(raw)
        assert (first["kind"], first["actor"], first["room"]) == (
            entry.kind.value,
            entry.actor,
            entry.room,
        )
        assert first["payload_sha256"] == entry.payload_sha256.hex()
        clamped = await client.get(f"{BASE}/entries", params={"start": 990, "end": 5000})
        assert [e["index"] for e in clamped.json()["entries"]] == list(range(990, 1000))
        caught_up = await client.get(f"{BASE}/entries", params={"start": 1000})
        assert caught_up.json()["entries"] == []
        default = await client.get(f"{BASE}/entries")
        assert len(default.json()["entries"]) == 1000


@pytest.mark.parametrize(
    ("params", "message"),
    [
        ({"start": "abc"}, "query parameter 'start': Input should be a valid integer"),
        ({"start": -1}, "query parameter 'start': Input should be greater than or equal to 0"),
        ({"start": 10, "end": 5}, "end 5 is before start 10"),
        ({"start": 1001}, "start 1001 is beyond the log's size 1000"),
        ({"start": 0, "end": 1001}, None),  # clamped to the size: fine
    ],
)
async def test_bad_page_parameters_are_named(
    served: Served, params: dict[str, object], message: str | None
) -> None:
    async with served.client(LogApiConfig(max_page_entries=1000)) as client:
        response = await client.get(f"{BASE}/entries", params=params)
    if message is None:
        assert response.status_code == 200
    else:
        assert response.status_code == 400
        assert message in error_of(response)


async def test_page_size_is_bounded(served: Served) -> None:
    async with served.client(LogApiConfig(max_page_entries=10)) as client:
        response = await client.get(f"{BASE}/entries", params={"start": 0, "end": 11})
        assert response.status_code == 400
        assert "at most 10 entries" in error_of(response)
        assert len((await client.get(f"{BASE}/entries")).json()["entries"]) == 10


async def test_search_filters_and_pages(served: Served) -> None:
    async with served.client() as client:
        params: dict[str, object] = {"room": "room2", "kind": "message_in", "limit": 7}
        seen: list[int] = []
        after = -1
        while True:
            page = (
                await client.get(f"{BASE}/entries/search", params={**params, "after": after})
            ).json()
            seen.extend(e["index"] for e in page["entries"])
            if page["next_after"] is None:
                break
            after = page["next_after"]
        assert seen == [i for i in range(1, 1000) if i % 5 == 2 and i % 2 == 1]
        by_actor = await client.get(f"{BASE}/entries/search", params={"actor": "signer"})
        assert [e["index"] for e in by_actor.json()["entries"]] == [0]
        times = (await client.get(f"{BASE}/entries", params={"start": 0, "end": 1})).json()
        t0 = times["entries"][0]["time_ms"]
        window = await client.get(
            f"{BASE}/entries/search", params={"since_ms": 0, "until_ms": t0 + 1, "limit": 1000}
        )
        assert all(e["time_ms"] <= t0 for e in window.json()["entries"])
        for bad, message in [
            ({"kind": "chat"}, "query parameter 'kind': Input should be 'message_in'"),
            ({"limit": 0}, "query parameter 'limit'"),
            ({"limit": 5000}, "limit must be between 1 and 1000"),
            ({"since_ms": 10, "until_ms": 10}, "until_ms must be after since_ms"),
            ({"after": "x"}, "query parameter 'after'"),
        ]:
            response = await client.get(f"{BASE}/entries/search", params=bad)
            assert response.status_code == 400, bad
            assert message in error_of(response)


@pytest.mark.parametrize(
    ("method", "path", "name"),
    [
        ("GET", "entries?start={n}", "start"),
        ("GET", "entries?end={n}", "end"),
        ("GET", "entries/search?after={n}", "after"),
        ("GET", "entries/search?since_ms={n}", "since_ms"),
        ("GET", "entries/search?until_ms={n}", "until_ms"),
        ("GET", "entries/search?limit={n}", "limit"),
        ("GET", "entries/{n}/payload", "index"),
        ("DELETE", "entries/{n}/payload", "index"),
        ("GET", "proof/inclusion?index={n}", "index"),
        ("GET", "proof/inclusion?index=1&size={n}", "size"),
        ("GET", "proof/consistency?first={n}", "first"),
        ("GET", "proof/consistency?first=1&second={n}", "second"),
    ],
)
async def test_integers_beyond_sqlite_are_refused_not_a_crash(
    served: Served, method: str, path: str, name: str
) -> None:
    """Regression: entries/search?after=10**20 overflowed in SQLite and answered 500."""
    auth = {"Authorization": f"Bearer {REDACT_TOKEN}"}
    async with served.client() as client:
        for n in (10**20, MAX_INT + 1):
            url = f"{BASE}/{path.format(n=n)}"
            response = await client.request(method, url, headers=auth)
            assert response.status_code == 400, url
            assert f"parameter '{name}': Input should be less than or equal to {MAX_INT}" in (
                error_of(response)
            )
        response = await client.request(method, f"{BASE}/{path.format(n=MAX_INT)}", headers=auth)
        assert response.status_code in (200, 400, 404), response.text  # in range: no 500


async def test_a_page_reports_the_size_it_was_read_against(
    served: Served, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Regression: the routes read the log's size apart from the query's snapshot, so
    with an append landing in between a page held entries at or above its size."""
    reads: list[int] = []

    def size(log: AgentLog) -> int:  # the first read sees 900; an append then lands
        reads.append(log.store.size)
        return 900 if len(reads) == 1 else log.store.size

    async with served.client() as client:
        for path, params in [
            ("entries", {"start": 850, "end": 1000}),
            ("entries/search", {"after": 850, "limit": 1000}),
        ]:
            reads.clear()
            monkeypatch.setattr(AgentLog, "size", property(size))
            response = await client.get(f"{BASE}/{path}", params=params)
            monkeypatch.undo()
            page = response.json()
            assert response.status_code == 200, page
            assert page["entries"] and all(e["index"] < page["size"] for e in page["entries"])


async def test_proofs_verify_against_signed_checkpoints(served: Served) -> None:
    old = open_checkpoint(served.old_note, [served.verifier]).checkpoint
    async with served.client() as client:
        note = (await client.get(f"{BASE}/checkpoint")).content
        new = open_checkpoint(note, [served.verifier]).checkpoint
        for index, size in [(0, None), (255, None), (256, None), (999, None), (5, 300), (299, 300)]:
            params = {"index": index} if size is None else {"index": index, "size": size}
            response = await client.get(f"{BASE}/proof/inclusion", params=params)
            assert response.status_code == 200
            body = response.json()
            tree = new if size is None else old
            assert body["size"] == tree.size
            verify_inclusion(
                leaf_hash=base64.b64decode(body["leaf_hash"]),
                index=index,
                size=tree.size,
                proof=[base64.b64decode(h) for h in body["proof"]],
                root=tree.root_hash,
            )
        response = await client.get(f"{BASE}/proof/consistency", params={"first": 300})
        body = response.json()
        assert (body["first"], body["second"]) == (300, 1000)
        verify_consistency(
            size1=300,
            size2=1000,
            root1=old.root_hash,
            root2=new.root_hash,
            proof=[base64.b64decode(h) for h in body["proof"]],
        )
        for route, params, status, message in [
            ("inclusion", {"index": 1000}, 404, "entry 1000 is not in the log"),
            ("inclusion", {"index": 300, "size": 300}, 400, "index 300 is not below size 300"),
            ("inclusion", {"index": 1, "size": 1001}, 400, "beyond the current checkpoint"),
            ("inclusion", {}, 400, "query parameter 'index': Field required"),
            ("inclusion", {"index": 1, "size": 0}, 400, "query parameter 'size'"),
            ("consistency", {"first": 400, "second": 300}, 400, "first 400 is larger"),
            ("consistency", {"first": 1, "second": 2000}, 400, "beyond the current checkpoint"),
            ("consistency", {"first": "1e3"}, 400, "query parameter 'first'"),
            (
                "consistency",
                {"first": 0},
                400,
                "'first': Input should be greater than or equal to 1",
            ),
            ("consistency", {"first": 0, "second": 0}, 400, "query parameter 'first'"),
        ]:
            response = await client.get(f"{BASE}/proof/{route}", params=params)
            assert response.status_code == status, (route, params)
            assert message in error_of(response)


async def test_no_consistency_proof_from_the_empty_tree(served: Served) -> None:
    """Regression: first=0 answered an empty proof, which verifiers accepted for any
    first root; RFC 9162 has no proof from the empty tree. A request error, not a 500."""
    for first in (0, -1):
        with pytest.raises(InvalidLogRequest, match=f"first must be at least 1, not {first}"):
            queries.consistency(served.log, first, None)
    assert queries.consistency(served.log, 1000, None).proof == []


async def test_redaction_needs_the_token_and_keeps_proofs_valid(served: Served) -> None:
    url = f"{BASE}/entries/7/payload"
    auth = {"Authorization": f"Bearer {REDACT_TOKEN}"}
    async with served.client() as client:
        assert (await client.get(url, headers=auth)).content == b"payload 7"
        for headers in ({}, {"Authorization": "Bearer wrong"}, {"Authorization": REDACT_TOKEN}):
            response = await client.delete(url, headers=headers)
            assert response.status_code == 401
            assert response.headers["www-authenticate"] == "Bearer"
        response = await client.delete(url, headers=auth)
        assert response.json() == {"index": 7, "redacted": True}
        assert (await client.delete(url, headers=auth)).json() == {"index": 7, "redacted": False}
        gone = await client.get(url, headers=auth)
        assert gone.status_code == 410 and "redacted" in error_of(gone)
        page = (await client.get(f"{BASE}/entries", params={"start": 7, "end": 8})).json()
        assert page["entries"][0]["payload_redacted"] is True
        proof = (await client.get(f"{BASE}/proof/inclusion", params={"index": 7})).json()
        verify_inclusion(
            leaf_hash=base64.b64decode(page["entries"][0]["leaf_hash"]),
            index=7,
            size=1000,
            proof=[base64.b64decode(h) for h in proof["proof"]],
            root=served.log.published.root_hash,  # type: ignore[union-attr]
        )
        for index, status in ((1000, 404), (-1, 400)):
            response = await client.delete(f"{BASE}/entries/{index}/payload", headers=auth)
            assert response.status_code == status
    directory = DirectorySource(served.log.store.directory)
    assert (
        verify_tiled_log(
            directory, [served.verifier], witnesses=WitnessPolicy.insecure_unwitnessed()
        ).size
        == 1000
    )
    async with served.client(LogApiConfig()) as client:  # no token configured: disabled
        response = await client.delete(f"{BASE}/entries/8/payload", headers=auth)
        assert response.status_code == 403 and "disabled" in error_of(response)


async def test_closed_reads_need_a_token(served: Served) -> None:
    config = LogApiConfig(
        public_reads=False,
        read_token_sha256=token_digest(READ_TOKEN),
        redaction_token_sha256=token_digest(REDACT_TOKEN),
    )
    async with served.client(config) as client:
        for path in ("checkpoint", tile_path(0, 0), "entries", "proof/inclusion?index=1"):
            response = await client.get(f"{BASE}/{path}")
            assert response.status_code == 401, path
            for token in (READ_TOKEN, REDACT_TOKEN):
                ok = await client.get(
                    f"{BASE}/{path}", headers={"Authorization": f"Bearer {token}"}
                )
                assert ok.status_code == 200, path
        assert (await client.get("/openapi.json")).status_code == 200


async def test_payloads_are_private_unless_configured_public(served: Served) -> None:
    """Regression: payloads (prompts, messages) were served to anyone by default."""
    url = f"{BASE}/entries/7/payload"
    read = {"Authorization": f"Bearer {READ_TOKEN}"}
    tokens = LogApiConfig(
        read_token_sha256=token_digest(READ_TOKEN),
        redaction_token_sha256=token_digest(REDACT_TOKEN),
    )
    async with served.client(tokens) as client:
        for path in ("checkpoint", tile_path(0, 0), "entries", "entries/search?room=room2"):
            assert (await client.get(f"{BASE}/{path}")).status_code == 200, path  # the log: public
        for path in ("proof/inclusion?index=1", "proof/consistency?first=300"):
            assert (await client.get(f"{BASE}/{path}")).status_code == 200, path
        for headers in ({}, {"Authorization": "Bearer wrong"}):
            response = await client.get(url, headers=headers)
            assert response.status_code == 401, headers
            assert "payloads are private" in error_of(response)
            assert response.headers["www-authenticate"] == "Bearer"
        for token in (READ_TOKEN, REDACT_TOKEN):
            response = await client.get(url, headers={"Authorization": f"Bearer {token}"})
            assert response.content == b"payload 7"
    async with served.client(LogApiConfig()) as client:  # no token at all: not served
        response = await client.get(url, headers=read)
        assert response.status_code == 403
        assert "no read token is configured" in error_of(response)
    async with served.client(LogApiConfig(public_payloads=True)) as client:
        assert (await client.get(url)).content == b"payload 7"
    closed = tokens.model_copy(update={"public_reads": False, "public_payloads": True})
    async with served.client(closed) as client:  # public payloads of a closed log: closed
        assert (await client.get(url)).status_code == 401
        assert (await client.get(url, headers=read)).content == b"payload 7"


async def test_attestation_is_rate_limited(served: Served) -> None:
    """Each call makes the signer produce a quote: a burst, then 429 until the bucket refills."""
    config = LogApiConfig(attestation_per_second=0.01, attestation_burst=2)
    nonce = {"nonce": bytes(range(32)).hex()}
    async with served.client(config) as client:
        for _ in range(3):  # refused before the bucket: cost nothing
            response = await client.get(f"{BASE}/attestation", params={"nonce": "zz"})
            assert response.status_code == 400
        for _ in range(2):
            assert (await client.get(f"{BASE}/attestation", params=nonce)).status_code == 200
        response = await client.get(f"{BASE}/attestation", params=nonce)
        assert response.status_code == 429
        assert response.json()["error"]["code"] == "resource_exhausted"
        assert "attestation is limited to 0.01 a second (bursts of 2)" in error_of(response)
        assert 1 <= int(response.headers["retry-after"]) <= 100
        # Other routes are not limited.
        assert (await client.get(f"{BASE}/checkpoint")).status_code == 200


def test_token_bucket_refills_at_its_rate() -> None:
    now = [0.0]
    bucket = TokenBucket(rate=2.0, burst=3, clock=lambda: now[0])
    assert [bucket.take() for _ in range(3)] == [0.0, 0.0, 0.0]
    assert bucket.take() == pytest.approx(0.5)
    now[0] = 0.5
    assert bucket.take() == 0.0
    now[0] = 100.0  # saves up no more than the burst
    assert [bucket.take() == 0.0 for _ in range(4)] == [True, True, True, False]


async def test_attestation_binds_the_log_key_to_the_nonce(served: Served) -> None:
    nonce = bytes(range(32))
    async with served.client() as client:
        response = await client.get(f"{BASE}/attestation", params={"nonce": nonce.hex()})
        assert response.status_code == 200
        body = response.json()
        bound = base64.b64decode(body["bound_keys"])
        assert (
            json.loads(bound)["log_verifier_key"]
            == str(served.verifier)
            == body["log_verifier_key"]
        )
        evidence = Evidence(
            tee=body["tee"],
            quote=base64.b64decode(body["quote"]),
            collateral_json=None,
        )
        expected = bind_report_data(
            bound_keys=bound, tls_public_key=base64.b64decode(body["tls_public_key"]), nonce=nonce
        )
        verify_evidence(
            evidence,
            expected_report_data=expected,
            policy=MeasurementPolicy.insecure_simulated_for_development(),
        )
        for nonce_text, message in [("zz", "nonce must be hex"), ("00" * 8, "16 to 64 bytes")]:
            response = await client.get(f"{BASE}/attestation", params={"nonce": nonce_text})
            assert response.status_code == 400 and message in error_of(response)
    async with served.client(attest=False) as client:
        response = await client.get(f"{BASE}/attestation", params={"nonce": nonce.hex()})
        assert response.status_code == 503


async def test_unknown_agents_paths_and_failures(served: Served) -> None:
    async with served.client() as client:
        response = await client.get("/v1/logs/bob/checkpoint")
        assert response.status_code == 404 and "no log for agent 'bob'" in error_of(response)
        response = await client.get("/v1/logs/Bob!/checkpoint")
        assert response.status_code == 400 and "must be 3-64 characters" in error_of(response)
        assert (await client.get("/v1/nothing")).status_code == 404
        (served.log.store.directory / "tile/entries/001").unlink()
        response = await client.get(f"{BASE}/entries", params={"start": 256, "end": 257})
        assert response.status_code == 500
        assert response.json() == {
            "error": {"code": "internal", "message": "internal error", "reason": "INTERNAL"}
        }


async def test_no_cors_unless_configured(served: Served) -> None:
    origin = {"Origin": "https://explorer.example"}
    async with served.client() as client:
        response = await client.get(f"{BASE}/checkpoint", headers=origin)
        assert "access-control-allow-origin" not in response.headers
    async with served.client(LogApiConfig(cors_origins=("https://explorer.example",))) as client:
        response = await client.get(f"{BASE}/checkpoint", headers=origin)
        assert response.headers["access-control-allow-origin"] == "https://explorer.example"
        other = await client.get(f"{BASE}/checkpoint", headers={"Origin": "https://evil.example"})
        assert "access-control-allow-origin" not in other.headers
    with pytest.raises(ValueError, match="no wildcards"):
        LogApiConfig(cors_origins=("*",))


async def test_openapi_lists_every_route(served: Served) -> None:
    async with served.client() as client:
        spec = (await client.get("/openapi.json")).json()
    paths = spec["paths"]
    for path, method in [
        ("checkpoint", "get"),
        ("tile/{path}", "get"),
        ("entries", "get"),
        ("entries/search", "get"),
        ("entries/{index}/payload", "get"),
        ("entries/{index}/payload", "delete"),
        ("proof/inclusion", "get"),
        ("proof/consistency", "get"),
        ("attestation", "get"),
    ]:
        assert method in paths[f"/v1/logs/{{agent_id}}/{path}"], path


async def test_a_real_server_is_a_tiled_log_for_any_client(served: Served) -> None:
    app = create_log_app(served.registry)
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=0, log_level="warning"))
    task = asyncio.create_task(server.serve())
    for _ in range(1000):
        if server.started:
            break
        await asyncio.sleep(0.01)
    port = server.servers[0].sockets[0].getsockname()[1]
    url = f"http://127.0.0.1:{port}{BASE}"
    try:
        with HttpSource(url) as source:
            report = await asyncio.to_thread(
                verify_tiled_log,
                source,
                [served.verifier],
                witnesses=WitnessPolicy.insecure_unwitnessed(),
            )
        assert report.size == 1000
        cli = await asyncio.create_subprocess_exec(
            sys.executable,
            "-m",
            "anima_dev.cli",
            "log",
            "verify",
            url,
            "--vkey",
            str(served.verifier),
            "--insecure-unwitnessed",
            "--json",
            stdout=asyncio.subprocess.PIPE,
        )
        out, _ = await cli.communicate()
        assert cli.returncode == 0, out
        assert json.loads(out)["log"]["size"] == 1000
    finally:
        server.should_exit = True
        await task
