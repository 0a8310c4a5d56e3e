"""The signer over real attested gRPC on loopback: access lists, batches, streams, bad input."""

from __future__ import annotations

import json
import secrets
from collections.abc import AsyncIterator
from pathlib import Path

import grpc
import pytest
from eth_account import Account
from eth_account.messages import encode_defunct
from google.rpc import error_details_pb2
from grpc_status import rpc_status

from anima.signer.v1 import signer_pb2 as pb
from anima.signer.v1 import signer_pb2_grpc as pb_grpc
from anima_core.tls import TLS_SERVER_NAME, fetch_server_certificate, public_key_der
from anima_signer.app import start_signer
from anima_signer_api import convert
from anima_signer_api.attested_channel import ChannelBindingError, verify_channel
from anima_signer_api.binding import bound_keys
from anima_signer_api.client import SignerClient
from anima_signer_api.errors import (
    PolicyDenied,
    SignerError,
    SignerRpcError,
    SignerUnreachable,
    UnknownAgent,
)
from anima_signer_api.failures import SignFailure
from anima_signer_api.types import (
    EthSignature,
    PersonalMessage,
    SignedTransaction,
    SignRequest,
)
from anima_verify.attestation import (
    Evidence,
    InsecureEvidenceRefused,
    MeasurementPolicy,
    ReportDataMismatch,
    bind_report_data,
    verify_evidence,
)
from tests.signer.conftest import OPEN_POLICY, SIM_TRUST, TOKENS, Served, signer_config
from tests.signer.test_signing import tx

SERVICE = "/anima.signer.v1.SignerService/"


async def make_agent(served: Served, agent_id: str = "alice") -> str:
    async with await served.client("admin") as admin:
        await admin.create_agent(agent_id, policy=OPEN_POLICY, wallet_count=2)
    return agent_id


async def test_attested_client_signs_and_eth_account_recovers(served: Served) -> None:
    agent_id = await make_agent(served)
    async with await served.client("runtime") as runtime:
        assert runtime.attestation is not None and runtime.attestation.insecure
        result = await runtime.sign(SignRequest(agent_id, PersonalMessage(b"gm")))
        assert isinstance(result, EthSignature)
        assert Account.recover_message(encode_defunct(b"gm"), signature=result.signature) == (
            result.address
        )
        agent, verified = await runtime.attest_agent(agent_id, policy=SIM_TRUST)
        assert agent.wallets[0].address == result.address
        assert len(verified.report_data) == 64


async def test_get_attestation_binds_the_agents_keys_and_the_nonce(served: Served) -> None:
    agent_id = await make_agent(served)
    nonce = secrets.token_bytes(32)
    async with await served.client("runtime") as runtime:
        agent = await runtime.get_agent(agent_id)
        bundle = await runtime.get_attestation(nonce, agent_id)
        channel_only = await runtime.get_attestation(nonce)
        with pytest.raises(UnknownAgent) as unknown:
            await runtime.get_attestation(nonce, "nobody")
    assert unknown.value.agent_id == "nobody"
    assert served.running.identity is not None
    assert bundle.tls_public_key == served.running.identity.public_key_der
    assert bundle.bound_keys == bound_keys(agent)
    assert json.loads(bundle.bound_keys)["log_verifier_key"] == agent.log_verifier_key
    assert channel_only.bound_keys == b""
    evidence = Evidence(tee=bundle.tee, quote=bundle.quote, collateral_json=bundle.collateral_json)

    def report_data(nonce: bytes) -> bytes:
        return bind_report_data(
            bound_keys=bundle.bound_keys, tls_public_key=bundle.tls_public_key, nonce=nonce
        )

    verified = verify_evidence(evidence, expected_report_data=report_data(nonce), policy=SIM_TRUST)
    assert verified.tee == "sim" and verified.insecure
    with pytest.raises(ReportDataMismatch):
        verify_evidence(evidence, expected_report_data=report_data(b"m" * 32), policy=SIM_TRUST)
    strict = MeasurementPolicy(mrtd=frozenset({"00" * 48}))
    with pytest.raises(InsecureEvidenceRefused):
        verify_evidence(evidence, expected_report_data=report_data(nonce), policy=strict)


async def test_batch_items_fail_alone_and_keep_order(served: Served) -> None:
    agent_id = await make_agent(served)
    requests = [
        SignRequest(agent_id, tx(nonce=0)),
        SignRequest(agent_id, tx(chain_id=1)),  # denied by policy
        SignRequest("nobody", tx()),  # unknown agent
        SignRequest(agent_id, tx(nonce=1)),
    ]
    async with await served.client() as runtime:
        outcomes = await runtime.sign_batch(requests)
    assert isinstance(outcomes[0], SignedTransaction) and isinstance(outcomes[3], SignedTransaction)
    assert isinstance(outcomes[1], SignFailure)
    assert outcomes[1].code is grpc.StatusCode.PERMISSION_DENIED
    assert "allowed_chain_ids" in outcomes[1].message
    denied = outcomes[1].error
    assert isinstance(denied, PolicyDenied) and denied.rule == "allowed_chain_ids"
    assert isinstance(outcomes[2], SignFailure) and outcomes[2].code is grpc.StatusCode.NOT_FOUND
    unknown = outcomes[2].error
    assert isinstance(unknown, UnknownAgent) and unknown.agent_id == "nobody"
    assert (outcomes[1].reason, outcomes[2].reason) == ("POLICY_DENIED", "UNKNOWN_AGENT")
    assert Account.recover_transaction(outcomes[3].raw_transaction) == outcomes[3].address


async def test_stream_answers_in_order(served: Served) -> None:
    agent_id = await make_agent(served)

    async def requests() -> AsyncIterator[SignRequest]:
        for nonce in range(5):
            yield SignRequest(agent_id, tx(nonce=nonce))

    async with await served.client() as runtime:
        outcomes = [o async for o in runtime.sign_stream(requests())]
    assert len(outcomes) == 5
    for outcome in outcomes:
        assert isinstance(outcome, SignedTransaction)
    nonces = [Account.recover_transaction(o.raw_transaction) for o in outcomes]  # type: ignore[union-attr]
    assert len(set(nonces)) == 1


async def test_policy_denial_is_permission_denied_with_the_rule(served: Served) -> None:
    agent_id = await make_agent(served)
    async with await served.client() as runtime:
        with pytest.raises(PolicyDenied) as info:
            await runtime.sign(SignRequest(agent_id, tx(value=10**19)))
    assert (info.value.reason, info.value.rule) == ("POLICY_DENIED", "max_value_wei")
    assert info.value.message.startswith("denied by policy rule 'max_value_wei': value ")


async def test_a_denial_carries_error_info_for_any_grpc_client(served: Served) -> None:
    """What a client in another language sees: the rich status, with the reason listed in
    signer.proto and the rule that refused in its metadata."""
    agent_id = await make_agent(served)
    channel, _ = await _raw_channel(served)
    request = convert.sign_request_to_proto(SignRequest(agent_id, tx(value=10**19)))
    async with channel:
        with pytest.raises(grpc.aio.AioRpcError) as info:
            await pb_grpc.SignerServiceStub(channel).Sign(
                request, metadata=(("authorization", f"Bearer {TOKENS['runtime']}"),)
            )
    assert info.value.code() is grpc.StatusCode.PERMISSION_DENIED
    status = rpc_status.from_call(info.value)
    assert status is not None and status.message == info.value.details()
    [detail] = status.details
    error_info = error_details_pb2.ErrorInfo()
    assert detail.Unpack(error_info)
    assert (error_info.reason, error_info.domain, dict(error_info.metadata)) == (
        "POLICY_DENIED",
        "signer.anima",
        {"rule": "max_value_wei"},
    )


async def test_an_unreachable_signer_is_signer_unreachable(served: Served) -> None:
    async with await served.client() as runtime:
        await served.running.stop(grace=0)
        with pytest.raises(SignerUnreachable) as info:
            await runtime.get_agent("alice")
    assert info.value.code == "UNAVAILABLE" and info.value.reason == "SIGNER_UNREACHABLE"


@pytest.mark.parametrize(
    ("role", "method", "expected"),
    [
        ("runtime", "create", "PERMISSION_DENIED"),
        ("admin", "sign", "PERMISSION_DENIED"),
        ("nobody", "sign", "UNAUTHENTICATED"),
    ],
)
async def test_access_lists(served: Served, role: str, method: str, expected: str) -> None:
    agent_id = await make_agent(served)
    token = TOKENS.get(role, "not-a-known-token")
    async with await SignerClient.connect_attested(
        address=served.address, token=token, policy=SIM_TRUST
    ) as client:
        with pytest.raises(SignerRpcError) as info:
            if method == "create":
                await client.create_agent("mallory", policy=OPEN_POLICY)
            else:
                await client.sign(SignRequest(agent_id, PersonalMessage(b"x")))
    assert info.value.code == expected
    async with await served.client("admin") as admin:
        assert [a.agent_id for a in [await admin.get_agent(agent_id)]] == [agent_id]
        with pytest.raises(UnknownAgent):
            await admin.get_agent("mallory")


async def test_simulated_evidence_is_refused_unless_allowed(served: Served) -> None:
    strict = MeasurementPolicy(mrtd=frozenset({"00" * 48}))
    with pytest.raises(InsecureEvidenceRefused):
        await SignerClient.connect_attested(address=served.address, token="t", policy=strict)


async def _raw_channel(served: Served) -> tuple[grpc.aio.Channel, bytes]:
    host, port = served.address.split(":")
    cert = fetch_server_certificate(host, int(port))
    channel = grpc.aio.secure_channel(
        served.address,
        grpc.ssl_channel_credentials(root_certificates=cert),
        options=[("grpc.ssl_target_name_override", TLS_SERVER_NAME)],
    )
    return channel, public_key_der(cert)


async def test_evidence_for_another_tls_key_is_refused(served: Served) -> None:
    channel, _ = await _raw_channel(served)
    async with channel:
        with pytest.raises(ChannelBindingError, match="different TLS key"):
            await verify_channel(
                pb_grpc.SignerServiceStub(channel),
                tls_public_key=b"\x30" + secrets.token_bytes(90),
                policy=SIM_TRUST,
                now=None,
                timeout=5,
            )


async def test_replayed_evidence_for_another_nonce_is_refused(served: Served) -> None:
    from anima_signer_api.attested_channel import verify_bundle

    channel, key = await _raw_channel(served)
    async with channel:
        stub = pb_grpc.SignerServiceStub(channel)
        response = await stub.GetAttestation(pb.GetAttestationRequest(nonce=b"n" * 32))
    bundle = convert.attestation_from_proto(response)
    with pytest.raises(ReportDataMismatch):
        verify_bundle(bundle, nonce=b"m" * 32, policy=SIM_TRUST, now=None, tls_public_key=key)


async def test_public_attestation_shows_public_keys_but_not_the_policy(served: Served) -> None:
    agent_id = await make_agent(served)
    channel, _ = await _raw_channel(served)
    async with channel:
        response = await pb_grpc.SignerServiceStub(channel).GetAttestation(
            pb.GetAttestationRequest(nonce=b"n" * 32, agent_id=agent_id)
        )
    assert agent_id.encode() in response.bound_keys
    assert b"max_value" not in response.SerializeToString()
    assert b"allowed_chain" not in response.bound_keys


@pytest.mark.parametrize("nonce", [b"", b"short", b"x" * 65])
async def test_bad_nonce_is_invalid_argument(served: Served, nonce: bytes) -> None:
    channel, _ = await _raw_channel(served)
    async with channel:
        with pytest.raises(grpc.aio.AioRpcError) as info:
            await pb_grpc.SignerServiceStub(channel).GetAttestation(
                pb.GetAttestationRequest(nonce=nonce)
            )
    assert info.value.code() is grpc.StatusCode.INVALID_ARGUMENT
    assert "nonce" in (info.value.details() or "")


async def test_malformed_protobuf_is_rejected_and_changes_nothing(served: Served) -> None:
    agent_id = await make_agent(served)
    channel, _ = await _raw_channel(served)
    async with channel:
        call = channel.unary_unary(
            SERVICE + "CreateAgent", request_serializer=None, response_deserializer=None
        )
        with pytest.raises(grpc.aio.AioRpcError) as info:
            await call(
                b"\xff\xff\xff\xff", metadata=(("authorization", f"Bearer {TOKENS['admin']}"),)
            )
    assert info.value.code() is grpc.StatusCode.INVALID_ARGUMENT
    assert "not a valid anima.signer.v1.CreateAgentRequest" in (info.value.details() or "")
    async with await served.client("admin") as admin:
        assert (await admin.get_agent(agent_id)).agent_id == agent_id


async def test_malformed_message_in_a_stream_ends_it_with_invalid_argument(served: Served) -> None:
    agent_id = await make_agent(served)
    good = pb.SignStreamRequest(
        request=pb.SignRequest(agent_id=agent_id, raw_ed25519=pb.Ed25519Payload(message=b"x"))
    ).SerializeToString()
    channel, _ = await _raw_channel(served)
    async with channel:
        call = channel.stream_stream(
            SERVICE + "SignStream", request_serializer=None, response_deserializer=None
        )

        async def frames():  # type: ignore[no-untyped-def]
            yield good
            yield b"\xff\xff\xff"

        stream = call(frames(), metadata=(("authorization", f"Bearer {TOKENS['runtime']}"),))
        with pytest.raises(grpc.aio.AioRpcError) as info:
            async for _ in stream:
                pass
    assert info.value.code() is grpc.StatusCode.INVALID_ARGUMENT
    assert "malformed request" in (info.value.details() or "")


async def test_oversized_request_is_resource_exhausted(served: Served) -> None:
    agent_id = await make_agent(served)
    limit = served.running.server._max_message_bytes
    host, port = served.address.split(":")
    cert = fetch_server_certificate(host, int(port))
    channel = grpc.aio.secure_channel(
        served.address,
        grpc.ssl_channel_credentials(root_certificates=cert),
        options=[
            ("grpc.ssl_target_name_override", TLS_SERVER_NAME),
            ("grpc.max_send_message_length", 2 * limit),
        ],
    )
    request = pb.SignRequest(
        agent_id=agent_id, raw_ed25519=pb.Ed25519Payload(message=b"x" * (limit + 1))
    )
    async with channel:
        with pytest.raises(grpc.aio.AioRpcError) as info:
            await pb_grpc.SignerServiceStub(channel).Sign(
                request, metadata=(("authorization", f"Bearer {TOKENS['runtime']}"),)
            )
    assert info.value.code() is grpc.StatusCode.RESOURCE_EXHAUSTED


@pytest.mark.parametrize(
    ("field", "value", "reason"),
    [
        ("value", "12abc", "decimal integer"),
        ("value", "1" * 79, "decimal integer"),
        ("max_fee_per_gas", "-1", "decimal"),
    ],
)
async def test_bad_wire_amounts(served: Served, field: str, value: str, reason: str) -> None:
    agent_id = await make_agent(served)
    channel, _ = await _raw_channel(served)
    request = pb.SignRequest(
        agent_id=agent_id,
        transaction=pb.EthTransaction(
            type=pb.TRANSACTION_TYPE_EIP1559,
            chain_id=31337,
            gas_limit=21000,
            to="0x000000000000000000000000000000000000dEaD",
            max_fee_per_gas="10",
            max_priority_fee_per_gas="1",
        ),
    )
    setattr(request.transaction, field, value)
    async with channel:
        with pytest.raises(grpc.aio.AioRpcError) as info:
            await pb_grpc.SignerServiceStub(channel).Sign(
                request, metadata=(("authorization", f"Bearer {TOKENS['runtime']}"),)
            )
    assert info.value.code() is grpc.StatusCode.INVALID_ARGUMENT
    assert reason in (info.value.details() or "")


async def test_no_response_carries_private_key_material(served: Served) -> None:
    """Scan every answer for the bytes of any derived private key."""
    agent_id = await make_agent(served)
    keys = served.running.signer._keys  # the enclave's own view, for the check only
    secrets_ = [keys.wallet_key(agent_id, i).secret for i in range(2)]
    from cryptography.hazmat.primitives.serialization import Encoding, NoEncryption, PrivateFormat

    for k in (keys.log_key(agent_id), keys.signing_key(agent_id)):
        secrets_.append(k.private_bytes(Encoding.Raw, PrivateFormat.Raw, NoEncryption()))
    channel, _ = await _raw_channel(served)
    auth = (("authorization", f"Bearer {TOKENS['admin']}"),)
    runtime_auth = (("authorization", f"Bearer {TOKENS['runtime']}"),)
    async with channel:
        stub = pb_grpc.SignerServiceStub(channel)
        await stub.Sign(
            pb.SignRequest(agent_id=agent_id, raw_ed25519=pb.Ed25519Payload(message=b"x")),
            metadata=runtime_auth,
        )
        blobs = [
            (
                await stub.AppendLog(pb.AppendLogRequest(agent_id=agent_id), metadata=runtime_auth)
            ).SerializeToString(),
            (
                await stub.GetAgent(pb.GetAgentRequest(agent_id=agent_id), metadata=auth)
            ).SerializeToString(),
            (await stub.ListAgents(pb.ListAgentsRequest(), metadata=auth)).SerializeToString(),
            (
                await stub.GetAttestation(
                    pb.GetAttestationRequest(nonce=b"n" * 32, agent_id=agent_id)
                )
            ).SerializeToString(),
        ]
    for blob in blobs:
        for secret in secrets_:
            assert secret not in blob


async def test_signer_refuses_to_start_without_callers(tmp_path: Path) -> None:
    from anima_signer_api.errors import SignerMisconfigured

    with pytest.raises(SignerMisconfigured, match="no callers"):
        await start_signer(signer_config(tmp_path, callers={}))


@pytest.mark.parametrize("switch", [{"tee": "sim"}, {"insecure_plaintext": True, "tee": "dstack"}])
async def test_production_refuses_insecure_switches(
    tmp_path: Path, switch: dict[str, object]
) -> None:
    from anima_signer_api.errors import SignerMisconfigured

    with pytest.raises(SignerMisconfigured, match="production refuses"):
        await start_signer(signer_config(tmp_path, production=True, **switch))


async def test_insecure_plaintext_mode_works_only_when_named(tmp_path: Path) -> None:
    running = await start_signer(signer_config(tmp_path, insecure_plaintext=True))
    try:
        address = f"127.0.0.1:{running.port}"
        async with await SignerClient.connect_insecure_plaintext(
            address=address, token=TOKENS["admin"]
        ) as client:
            agent = await client.create_agent("plain", policy=OPEN_POLICY)
        assert client.attestation is None and agent.agent_id == "plain"
        with pytest.raises((OSError, SignerError)):
            await SignerClient.connect_attested(
                address=address, token="t", policy=SIM_TRUST, timeout=3
            )
    finally:
        await running.stop(grace=0.1)


async def test_a_signer_with_only_a_runtime_caller_starts_and_denies_admin_methods(
    tmp_path: Path,
) -> None:
    from anima_core.auth import token_digest

    config = signer_config(tmp_path, callers={"runtime": token_digest(TOKENS["runtime"])})
    running = await start_signer(config)
    try:
        address = f"127.0.0.1:{running.port}"
        async with await SignerClient.connect_attested(
            address=address, token=TOKENS["runtime"], policy=SIM_TRUST
        ) as runtime:
            with pytest.raises(SignerRpcError) as info:
                await runtime.create_agent("nobody-may", policy=OPEN_POLICY)
        assert info.value.code == "PERMISSION_DENIED"
    finally:
        await running.stop(grace=0.1)
