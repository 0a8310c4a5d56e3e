"""The dstack backend against a local double of the guest agent's HTTP API.

The backend's real client path runs end to end: dstack-sdk, httpx, a unix
socket, JSON. Only the agent on the other end is a fake (see fake_dstack).
"""

from __future__ import annotations

import logging
import os
import socket
import tempfile
from collections.abc import Iterator
from pathlib import Path

import dcap_qvl
import httpx
import pytest
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.kdf.hkdf import HKDF
from dstack_sdk import AsyncDstackClient

from anima_signer.tee.dstack import DEFAULT_ENDPOINT, DEFAULT_KEY_PATH, DstackBackend
from anima_signer.tee.errors import TeeProtocolError, TeeUnavailable
from anima_signer_api.errors import SignerMisconfigured
from anima_verify.errors import ErrorKind

from .fake_dstack import QUOTE_REPORT_DATA_OFFSET, Failure, FakeDstackAgent

REPORT_DATA = bytes(range(64))


@pytest.fixture
def agent() -> Iterator[FakeDstackAgent]:
    with FakeDstackAgent(seed=b"seed-a") as fake:
        yield fake


def backend_for(agent: FakeDstackAgent, *, key_path: str = DEFAULT_KEY_PATH) -> DstackBackend:
    return DstackBackend(endpoint=agent.socket_path, key_path=key_path)


# -- identity ---------------------------------------------------------------


def test_is_named_dstack_and_secure() -> None:
    backend = DstackBackend()
    assert backend.name == "dstack"
    assert backend.insecure is False
    assert backend.endpoint == DEFAULT_ENDPOINT == "/var/run/dstack.sock"


def test_simulator_environment_variable_does_not_redirect_the_default(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("DSTACK_SIMULATOR_ENDPOINT", "http://attacker.example:8090")
    assert DstackBackend().endpoint == "/var/run/dstack.sock"


@pytest.mark.parametrize("endpoint", ["http://localhost:8090", "dstack.sock", ""])
def test_endpoint_must_be_an_absolute_socket_path(endpoint: str) -> None:
    with pytest.raises(SignerMisconfigured, match="absolute unix socket path"):
        DstackBackend(endpoint=endpoint)


# -- root secret ------------------------------------------------------------


async def test_root_secret_is_32_bytes_derived_from_the_dstack_key(
    agent: FakeDstackAgent,
) -> None:
    root = await backend_for(agent).root_secret()

    raw = agent.derive_key("anima/signer/root/v1")
    assert len(root) == 32
    assert root != raw
    # Pins the label: changing it would silently change every agent's keys.
    expected = HKDF(
        algorithm=hashes.SHA256(), length=32, salt=None, info=b"anima/signer/tee/dstack/root/v1"
    ).derive(raw)
    assert root == expected


async def test_root_secret_requests_the_documented_getkey_body(agent: FakeDstackAgent) -> None:
    await backend_for(agent, key_path="anima/test/root").root_secret()

    assert [(r.method, r.route) for r in agent.requests] == [("POST", "/GetKey")]
    assert agent.requests[0].body == {
        "path": "anima/test/root",
        "purpose": "anima-root",
        "algorithm": "secp256k1",
    }


async def test_root_secret_is_stable_across_backend_instances(agent: FakeDstackAgent) -> None:
    first = await backend_for(agent).root_secret()
    second = await backend_for(agent).root_secret()
    assert first == second


async def test_root_secret_differs_per_key_path(agent: FakeDstackAgent) -> None:
    default = await backend_for(agent).root_secret()
    other = await backend_for(agent, key_path="anima/signer/root/v2").root_secret()
    assert default != other


async def test_root_secret_differs_per_dstack_app_key(agent: FakeDstackAgent) -> None:
    with FakeDstackAgent(seed=b"seed-b") as other_agent:
        other = await backend_for(other_agent).root_secret()
    assert other != await backend_for(agent).root_secret()


async def test_root_secret_is_fetched_once_then_cached(agent: FakeDstackAgent) -> None:
    backend = backend_for(agent)
    first = await backend.root_secret()
    agent.failure = Failure.HTTP_500

    assert await backend.root_secret() == first
    assert len(agent.requests) == 1


async def test_a_failed_fetch_is_not_cached(agent: FakeDstackAgent) -> None:
    backend = backend_for(agent)
    agent.failure = Failure.HTTP_500
    with pytest.raises(TeeUnavailable):
        await backend.root_secret()

    agent.failure = Failure.NONE
    assert await backend.root_secret() == await backend_for(agent).root_secret()


# -- attestation ------------------------------------------------------------


async def test_attest_puts_report_data_at_the_td_report_offset(agent: FakeDstackAgent) -> None:
    evidence = await backend_for(agent).attest(REPORT_DATA)

    assert evidence.tee == "tdx"
    assert evidence.collateral_json is None
    assert QUOTE_REPORT_DATA_OFFSET == 48 + 520
    assert evidence.quote[568 : 568 + 64] == REPORT_DATA
    assert evidence.quote == agent.make_quote(REPORT_DATA)
    assert [(r.route, r.body) for r in agent.requests] == [
        ("/GetQuote", {"report_data": REPORT_DATA.hex()})
    ]


@pytest.mark.parametrize("size", [0, 32, 63, 65, 128])
async def test_attest_rejects_report_data_of_the_wrong_size(
    agent: FakeDstackAgent, size: int
) -> None:
    with pytest.raises(Exception, match="exactly 64 bytes") as caught:
        await backend_for(agent).attest(bytes(size))

    assert getattr(caught.value, "kind", None) is ErrorKind.INVALID_ARGUMENT
    assert agent.requests == []  # refused before anything reached the agent


async def test_attest_refuses_a_quote_without_our_report_data(agent: FakeDstackAgent) -> None:
    agent.failure = Failure.WRONG_REPORT_DATA
    with pytest.raises(TeeProtocolError, match="does not carry the requested report_data"):
        await backend_for(agent).attest(REPORT_DATA)


# -- the fake itself speaks the documented shapes -----------------------------


async def test_fake_quote_has_the_tdx_v4_layout_an_independent_parser_expects(
    agent: FakeDstackAgent,
) -> None:
    evidence = await backend_for(agent).attest(REPORT_DATA)

    parsed = dcap_qvl.parse_quote(evidence.quote)
    assert (parsed.header.version, parsed.header.tee_type) == (4, 0x81)
    assert bytes(parsed.report.report_data) == REPORT_DATA
    assert bytes(parsed.report.mr_td) == agent.measurement("mrtd")


async def test_fake_info_parses_with_the_sdk_models(agent: FakeDstackAgent) -> None:
    async with AsyncDstackClient(agent.socket_path) as client:
        info = await client.info()
    assert info.tcb_info.mrtd == agent.measurement("mrtd").hex()
    assert info.app_name == "fake-dstack"


async def test_fake_pads_short_report_data_and_rejects_long(agent: FakeDstackAgent) -> None:
    transport = httpx.AsyncHTTPTransport(uds=agent.socket_path)
    async with httpx.AsyncClient(transport=transport, base_url="http://dstack") as client:
        short = await client.post("/GetQuote", json={"report_data": "1234deadbeef"})
        long = await client.post("/GetQuote", json={"report_data": "00" * 65})
        by_get = await client.get("/GetKey", params={"path": "p", "purpose": "x"})

    padded = bytes.fromhex("1234deadbeef").ljust(64, b"\0")
    assert short.status_code == 200
    assert bytes.fromhex(short.json()["quote"])[568:632] == padded
    assert short.json()["event_log"] == "[]"
    assert long.status_code == 400
    assert "error" in long.json()
    assert bytes.fromhex(by_get.json()["key"]) == agent.derive_key("p")


# -- failures ---------------------------------------------------------------


async def test_missing_socket_is_unavailable_and_names_the_path() -> None:
    with tempfile.TemporaryDirectory() as directory:
        path = os.path.join(directory, "absent.sock")
        backend = DstackBackend(endpoint=path)

        with pytest.raises(TeeUnavailable) as caught:
            await backend.root_secret()
        with pytest.raises(TeeUnavailable):
            await backend.attest(REPORT_DATA)

    assert caught.value.kind is ErrorKind.UNAVAILABLE
    assert path in str(caught.value)


async def test_socket_with_no_agent_listening_is_unavailable() -> None:
    with tempfile.TemporaryDirectory(prefix="anima-") as directory:
        path = os.path.join(directory, "stale.sock")
        stale = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        stale.bind(path)  # the file exists, but nothing accepts connections
        stale.close()

        with pytest.raises(TeeUnavailable) as caught:
            await DstackBackend(endpoint=path).root_secret()

    assert path in str(caught.value)
    assert not isinstance(caught.value, httpx.HTTPError)


@pytest.mark.parametrize("failure", [Failure.HTTP_500, Failure.CLOSE])
async def test_agent_failures_are_unavailable(agent: FakeDstackAgent, failure: Failure) -> None:
    agent.failure = failure
    backend = backend_for(agent)
    with pytest.raises(TeeUnavailable, match=agent.socket_path):
        await backend.root_secret()
    with pytest.raises(TeeUnavailable, match=agent.socket_path):
        await backend.attest(REPORT_DATA)


@pytest.mark.parametrize(
    "failure",
    [
        Failure.HTTP_400,
        Failure.MALFORMED_HEX,
        Failure.WRONG_KEY_LENGTH,
        Failure.NOT_JSON,
        Failure.MISSING_FIELDS,
    ],
)
async def test_malformed_getkey_responses_are_protocol_errors(
    agent: FakeDstackAgent, failure: Failure
) -> None:
    agent.failure = failure
    with pytest.raises(TeeProtocolError) as caught:
        await backend_for(agent).root_secret()
    assert caught.value.kind is ErrorKind.INTERNAL
    # No key material in the message, even a malformed one.
    assert agent.derive_key("anima/signer/root/v1").hex()[2:20] not in str(caught.value)


@pytest.mark.parametrize(
    "failure", [Failure.HTTP_400, Failure.MALFORMED_HEX, Failure.NOT_JSON, Failure.MISSING_FIELDS]
)
async def test_malformed_getquote_responses_are_protocol_errors(
    agent: FakeDstackAgent, failure: Failure
) -> None:
    agent.failure = failure
    with pytest.raises(TeeProtocolError):
        await backend_for(agent).attest(REPORT_DATA)


# -- secrecy ----------------------------------------------------------------


async def test_keys_never_reach_the_logs(
    agent: FakeDstackAgent, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)  # every logger, including httpx and dstack_sdk
    backend = backend_for(agent)
    root = await backend.root_secret()
    await backend.attest(REPORT_DATA)
    agent.failure = Failure.WRONG_KEY_LENGTH
    with pytest.raises(TeeProtocolError):
        await backend_for(agent).root_secret()

    raw = agent.derive_key("anima/signer/root/v1")
    secrets = [raw.hex(), root.hex(), raw.hex()[:62], repr(raw), repr(root)]
    assert caplog.records, "expected the backend and its client to log something"
    logged = "\n".join(record.getMessage() for record in caplog.records)
    for secret in secrets:
        assert secret not in logged


async def test_signer_runs_on_the_dstack_backend_and_binds_its_keys(
    agent: FakeDstackAgent, tmp_path: Path
) -> None:
    """The whole signer on the dstack backend: keys from GetKey, evidence from GetQuote.

    Verifying the fake's quote signature needs real hardware collateral, so this
    checks what a verifier checks after the signature: the report_data binding.
    """
    from anima.signer.v1 import signer_pb2 as pb
    from anima.signer.v1 import signer_pb2_grpc as pb_grpc
    from anima_signer.app import start_signer
    from anima_signer_api.binding import bound_keys
    from anima_signer_api.convert import agent_from_proto
    from anima_verify.attestation import bind_report_data, parse_tdx_quote
    from tests.signer.conftest import TOKENS, Served, signer_config
    from tests.signer.test_grpc import _raw_channel

    config = signer_config(tmp_path, tee="dstack", dstack_endpoint=agent.socket_path)
    running = await start_signer(config)
    try:
        served = Served(running=running, address=f"127.0.0.1:{running.port}", state_dir=tmp_path)
        channel, tls_key = await _raw_channel(served)
        async with channel:
            stub = pb_grpc.SignerServiceStub(channel)
            await stub.CreateAgent(
                pb.CreateAgentRequest(agent_id="tdx-agent", wallet_count=1),
                metadata=(("authorization", f"Bearer {TOKENS['admin']}"),),
            )
            response = await stub.GetAttestation(
                pb.GetAttestationRequest(nonce=b"n" * 32, agent_id="tdx-agent")
            )
            agent_response = await stub.GetAgent(
                pb.GetAgentRequest(agent_id="tdx-agent"),
                metadata=(("authorization", f"Bearer {TOKENS['admin']}"),),
            )
        assert response.evidence.tee == "tdx"
        keys = bound_keys(agent_from_proto(agent_response.agent))
        assert keys == response.bound_keys and b"tdx-agent" in keys
        expected = bind_report_data(bound_keys=keys, tls_public_key=tls_key, nonce=b"n" * 32)
        assert parse_tdx_quote(response.evidence.quote).report_data == expected
    finally:
        await running.stop(grace=0.1)
