"""The host's log over a real signer on attested gRPC: SignerClient as the log's
sequencer, and the HTTP attestation route served from the signer's GetAttestation."""

from __future__ import annotations

import base64
import json
import secrets
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest

from anima_runtime.log import queries
from anima_runtime.log.http import create_log_app
from anima_runtime.log.items import LogItem
from anima_runtime.log.registry import LogRegistry
from anima_runtime.log.sequencer import signer_attestation
from anima_signer.app import RunningSigner, start_signer
from anima_signer_api.client import SignerClient
from anima_signer_api.types import PersonalMessage, SignRequest
from anima_verify.attestation import (
    Evidence,
    InsecureEvidenceRefused,
    MeasurementPolicy,
    bind_report_data,
    verify_evidence,
)
from anima_verify.tlog.entry import ENCLAVE_ACTOR, EntryKind
from tests.log.conftest import AGENT, SIGNING_POLICY
from tests.signer.conftest import SIM_TRUST, TOKENS, signer_config

BASE = f"/v1/logs/{AGENT}"


@dataclass
class Remote:
    running: RunningSigner
    client: SignerClient  # the runtime's
    registry: LogRegistry

    def http(self) -> httpx.AsyncClient:
        app = create_log_app(self.registry, attestation=signer_attestation(self.client))
        return httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://log.test")


@pytest.fixture
async def remote(tmp_path: Path) -> AsyncIterator[Remote]:
    running = await start_signer(signer_config(tmp_path / "signer"))
    address = f"127.0.0.1:{running.port}"
    async with await SignerClient.connect_attested(
        address=address, token=TOKENS["admin"], policy=SIM_TRUST
    ) as admin:
        await admin.create_agent(AGENT, policy=SIGNING_POLICY)
    client = await SignerClient.connect_attested(
        address=address, token=TOKENS["runtime"], policy=SIM_TRUST
    )
    registry = LogRegistry(root=tmp_path / "logs", sequencer=client, sync_interval_s=None)
    try:
        yield Remote(running, client, registry)
    finally:
        await registry.close()
        await client.close()
        await running.stop(grace=0.5)


async def test_signatures_reach_the_host_log_through_the_grpc_sequencer(remote: Remote) -> None:
    log = await remote.registry.open(AGENT)
    [own] = await log.append([LogItem(EntryKind.MESSAGE_IN, "bob", "room", b"hello")])
    signed = await remote.client.sign(SignRequest(AGENT, PersonalMessage(b"gm")))
    await log.sync()
    assert log.size == signed.log_index + 1 and own < signed.log_index
    [view] = queries.entries(log, signed.log_index, signed.log_index + 1, max_page=1).entries
    assert view.entry.kind is EntryKind.SIGNATURE and view.entry.actor == ENCLAVE_ACTOR
    assert not view.redacted  # the enclave's payload was stored beside the log


async def test_attestation_route_is_served_by_the_signer_over_grpc(remote: Remote) -> None:
    log = await remote.registry.open(AGENT)
    agent = await remote.client.get_agent(AGENT)
    nonce = secrets.token_bytes(32)
    async with remote.http() as http:
        response = await http.get(f"{BASE}/attestation", params={"nonce": nonce.hex()})
    assert response.status_code == 200, response.text
    body = response.json()
    bound = base64.b64decode(body["bound_keys"])
    tls_key = base64.b64decode(body["tls_public_key"])
    assert body["log_verifier_key"] == str(log.verifier) == agent.log_verifier_key
    assert json.loads(bound)["log_verifier_key"] == agent.log_verifier_key
    assert remote.running.identity is not None
    assert tls_key == remote.running.identity.public_key_der  # the signer's channel, not ""
    evidence = Evidence(tee=body["tee"], quote=base64.b64decode(body["quote"]))
    expected = bind_report_data(bound_keys=bound, tls_public_key=tls_key, nonce=nonce)
    verified = verify_evidence(evidence, expected_report_data=expected, policy=SIM_TRUST)
    assert verified.tee == "sim" and verified.insecure
    with pytest.raises(InsecureEvidenceRefused):
        strict = MeasurementPolicy(mrtd=frozenset({"00" * 48}))
        verify_evidence(evidence, expected_report_data=expected, policy=strict)


async def test_attestation_route_says_unavailable_when_the_signer_is_gone(remote: Remote) -> None:
    await remote.registry.open(AGENT)
    await remote.running.stop(grace=0)
    async with remote.http() as http:
        response = await http.get(f"{BASE}/attestation", params={"nonce": "00" * 32})
    assert response.status_code == 503
    assert response.json()["error"]["message"] == "the signer could not attest"
