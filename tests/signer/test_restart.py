"""A signer process that restarts (with a new TLS key, as on every start): its clients
re-attest it and re-pin their channel instead of failing every call with a TLS
verification error until they are restarted themselves. A signer whose new evidence
fails the policy is refused, and a call that may have been carried out is not sent
twice unless a second one changes nothing."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import signal
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import grpc
import grpc.aio
import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from anima.signer.v1 import signer_pb2_grpc as pb_grpc
from anima_core.tls import new_channel_identity
from anima_dev.local_signer import LocalSigner, local_signer
from anima_runtime.log.items import LogItem
from anima_runtime.log.registry import LogRegistry
from anima_signer.api.servicer import SignerServicer
from anima_signer.tee.sim import ATTESTATION_KEY_FILE
from anima_signer_api.client import SignerClient
from anima_signer_api.errors import SignerOutcomeUnknown
from anima_signer_api.types import PersonalMessage, SignRequest
from anima_verify.attestation import MeasurementPolicy, UntrustedAttestationKey
from anima_verify.tlog.entry import EntryKind
from tests.log.conftest import AGENT, SIGNING_POLICY, open_signer

pytestmark = pytest.mark.slow

SIM_TRUST = MeasurementPolicy.insecure_simulated_for_development()
GM = PersonalMessage(b"gm")
RE_ATTESTED = "re-attested the signer"


@contextlib.contextmanager
def restarted(signer: LocalSigner, state_dir: Path) -> Iterator[LocalSigner]:
    """The same signer started again: same state, port and callers; a new TLS key."""
    with local_signer(state_dir, port=signer.port, tokens=signer.tokens) as again:
        yield again


async def connect(signer: LocalSigner, **options: object) -> SignerClient:
    return await SignerClient.connect_attested(
        address=signer.address, token=signer.tokens["runtime"], policy=SIM_TRUST, **options
    )


async def create_agent(signer: LocalSigner) -> None:
    async with await SignerClient.connect_attested(
        address=signer.address, token=signer.tokens["admin"], policy=SIM_TRUST
    ) as admin:
        await admin.create_agent(AGENT, policy=SIGNING_POLICY)


def re_attestations(caplog: pytest.LogCaptureFixture) -> int:
    return sum(RE_ATTESTED in r.getMessage() for r in caplog.records)


async def test_a_client_keeps_working_after_the_signer_restarts_with_a_new_tls_key(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="anima_signer_api.connection")
    with local_signer(tmp_path) as first:
        port, tokens = first.port, first.tokens
        await create_agent(first)
        client = await connect(first)
        registry = LogRegistry(root=tmp_path / "logs", sequencer=client, sync_interval_s=None)
        log = await registry.open(AGENT)
        before = client.attestation
        await log.append([LogItem(EntryKind.MESSAGE_IN, "bob", "lobby", b"hello")])
        keyed = SignRequest(AGENT, GM, idempotency_key="gm-1")
        signed = await client.sign(keyed)
    try:
        with local_signer(tmp_path, port=port, tokens=tokens):
            # Before the fix: UNAVAILABLE, "Tls handshake failed ... CERTIFICATE_VERIFY_FAILED",
            # on every call until the client was made again.
            assert (await client.get_agent(AGENT)).agent_id == AGENT
            assert client.attestation is not None and client.attestation is not before
            [index] = await log.append([LogItem(EntryKind.RESPONSE, "alice", "lobby", b"hi")])
            assert await client.sign(keyed) == signed  # the signer kept the first answer
            await log.sync()
            assert log.size > index > signed.log_index
            assert re_attestations(caplog) == 1
    finally:
        await registry.close()
        await client.close()


async def test_concurrent_calls_wait_for_one_re_attestation(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="anima_signer_api.connection")
    with local_signer(tmp_path) as first:
        await create_agent(first)
        client = await connect(first)
        assert (await client.get_agent(AGENT)).agent_id == AGENT
    async with await_closing(client):
        with restarted(first, tmp_path):
            agents = await asyncio.gather(*(client.get_agent(AGENT) for _ in range(12)))
            assert {a.agent_id for a in agents} == {AGENT}
            assert re_attestations(caplog) == 1


@contextlib.asynccontextmanager
async def await_closing(client: SignerClient) -> AsyncIterator[SignerClient]:
    try:
        yield client
    finally:
        await client.close()


# ---------------------------------------------------------------- calls that may have happened


@contextlib.contextmanager
def dead_mid_call(signer: LocalSigner) -> Iterator[None]:
    """The signer stops reading (SIGSTOP) so a call is sent but not answered, then dies
    (SIGKILL) while the call waits: the connection breaks after the request left."""
    os.kill(signer.process.pid, signal.SIGSTOP)
    try:
        yield
    finally:
        os.kill(signer.process.pid, signal.SIGKILL)
        signer.process.wait()


async def sent_then_lost(signer: LocalSigner, call: asyncio.Future[object]) -> None:
    with dead_mid_call(signer):
        await asyncio.sleep(0.5)  # the request is on the wire, unanswered
        assert not call.done()


async def log_size(client: SignerClient) -> int:
    """The enclave's log size for AGENT (host_size 0: this test's host stores nothing)."""
    return (await client.append_log(AGENT, 0)).size


async def test_a_sign_without_an_idempotency_key_is_not_sent_again_after_the_connection_broke(
    tmp_path: Path,
) -> None:
    with local_signer(tmp_path) as first:
        await create_agent(first)
        client = await connect(first, reconnect_within_s=60)
        size = await log_size(client)
        call = asyncio.ensure_future(client.sign(SignRequest(AGENT, GM)))
        await sent_then_lost(first, call)
        with pytest.raises(SignerOutcomeUnknown) as caught:
            await call
        assert caught.value.method == "Sign"
    async with await_closing(client):
        with restarted(first, tmp_path):
            assert await log_size(client) == size  # not signed, and not sent again


async def test_a_keyed_sign_that_was_lost_is_sent_again_once_the_signer_is_back(
    tmp_path: Path,
) -> None:
    with contextlib.ExitStack() as stack:
        first = stack.enter_context(local_signer(tmp_path))
        await create_agent(first)
        client = await connect(first, reconnect_within_s=60)
        call = asyncio.ensure_future(client.sign(SignRequest(AGENT, GM, idempotency_key="k")))
        await sent_then_lost(first, call)
        stack.close()
        async with await_closing(client):
            # The call waits for the signer to come back (in a thread: this loop runs it).
            back = await asyncio.to_thread(stack.enter_context, restarted(first, tmp_path))
            result = await call
            assert result == await client.sign(SignRequest(AGENT, GM, idempotency_key="k"))
            assert back.address == first.address


# ---------------------------------------------------------------- a signer the policy refuses


def sim_key_of(state_dir: Path) -> bytes:
    seed = (state_dir / "signer" / ATTESTATION_KEY_FILE).read_bytes()
    return Ed25519PrivateKey.from_private_bytes(seed).public_key().public_bytes_raw()


class Recorder(grpc.aio.ServerInterceptor):
    """What reached the impostor: each call's method and metadata."""

    def __init__(self) -> None:
        self.calls: list[tuple[str, dict[str, str | bytes]]] = []

    async def intercept_service(self, continuation, details):  # type: ignore[no-untyped-def]
        self.calls.append((details.method, dict(details.invocation_metadata or ())))
        return await continuation(details)


@contextlib.asynccontextmanager
async def impostor(state_dir: Path, port: int) -> AsyncIterator[Recorder]:
    """A genuine signer build on `port` whose simulated TEE has another attestation key
    (its own state directory) and that would take any caller: whatever reaches it is
    recorded."""
    signer = await open_signer(state_dir)
    identity = new_channel_identity()
    recorder = Recorder()
    server = grpc.aio.server(interceptors=[recorder])
    servicer = SignerServicer(signer=signer, tls_public_key=identity.public_key_der)
    pb_grpc.add_SignerServiceServicer_to_server(servicer, server)
    credentials = grpc.ssl_server_credentials([(identity.key_pem, identity.cert_pem)])
    server.add_secure_port(f"127.0.0.1:{port}", credentials)
    await server.start()
    try:
        yield recorder
    finally:
        await server.stop(None)
        signer.close()


async def test_a_signer_that_comes_back_with_evidence_failing_the_policy_is_refused(
    tmp_path: Path,
) -> None:
    with local_signer(tmp_path / "genuine") as first:
        await create_agent(first)
        # Only the genuine signer's simulated attestation key is trusted.
        policy = MeasurementPolicy.insecure_simulated_for_development(
            trusted_sim_keys=frozenset({sim_key_of(tmp_path / "genuine")})
        )
        client = await SignerClient.connect_attested(
            address=first.address, token=first.tokens["runtime"], policy=policy
        )
        assert (await client.get_agent(AGENT)).agent_id == AGENT
    async with await_closing(client):
        async with impostor(tmp_path / "impostor", first.port) as seen:
            for _ in range(2):  # and it keeps refusing: no fallback to any channel
                with pytest.raises(UntrustedAttestationKey):
                    await client.get_agent(AGENT)
            with pytest.raises(UntrustedAttestationKey):
                await client.sign(SignRequest(AGENT, GM, idempotency_key="k"))
            methods = {method.rsplit("/", 1)[1] for method, _ in seen.calls}
            assert methods == {"GetAttestation"}  # evidence asked for, nothing sent
            assert all("authorization" not in metadata for _, metadata in seen.calls)
        # The genuine signer back (same state): trusted again, after fresh evidence.
        with restarted(first, tmp_path / "genuine"):
            assert (await client.get_agent(AGENT)).agent_id == AGENT
