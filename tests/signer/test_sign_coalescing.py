"""Concurrent `SignerClient.sign` calls share SignBatch calls, and each caller gets
exactly what its unary Sign would have given it (anima_signer_api.coalescing)."""

from __future__ import annotations

import asyncio
from collections.abc import Sequence

import pytest
from eth_account import Account

from anima.signer.v1 import signer_pb2 as pb
from anima_signer_api import convert
from anima_signer_api.client import SignerClient
from anima_signer_api.coalescing import SignCoalescer
from anima_signer_api.errors import (
    InvalidRequest,
    PolicyDenied,
    SignerError,
    SignerOutcomeUnknown,
    UnknownAgent,
)
from anima_signer_api.types import PersonalMessage, SignedTransaction, SignRequest
from anima_verify.errors import AnimaError
from tests.signer.conftest import SIM_TRUST, Served
from tests.signer.test_grpc import make_agent
from tests.signer.test_signing import tx


def count_batches(client: SignerClient) -> list[int]:
    """The sizes of the SignBatch calls the client sends from now on."""
    sizes: list[int] = []
    coalescer = client._signs
    send_batch = coalescer._send_batch

    async def counted(wires: Sequence[pb.SignRequest], repeatable: bool) -> pb.SignBatchResponse:
        sizes.append(len(wires))
        return await send_batch(wires, repeatable)

    coalescer._send_batch = counted
    return sizes


async def outcome_of(client: SignerClient, request: SignRequest) -> object:
    try:
        return await client.sign(request)
    except SignerError as exc:
        return exc


def error_shape(error: object) -> tuple[object, ...]:
    assert isinstance(error, AnimaError), error
    return (type(error), error.reason, error.message, tuple(sorted(error.metadata().items())))


async def test_concurrent_signs_share_batches_and_each_gets_its_unary_outcome(
    served: Served,
) -> None:
    agent_id = await make_agent(served)
    requests = []
    for n in range(60):
        if n % 10 == 3:
            requests.append(SignRequest(agent_id, tx(chain_id=1, nonce=n)))  # denied
        elif n % 10 == 7:
            requests.append(SignRequest("nobody", tx(nonce=n)))  # unknown agent
        else:
            requests.append(SignRequest(agent_id, tx(nonce=n)))
    async with await served.client() as runtime:
        sizes = count_batches(runtime)
        together = await asyncio.gather(*(outcome_of(runtime, r) for r in requests))
        assert sum(sizes) >= len(requests) - 1 and max(sizes) > 1  # sent in batches
        alone = []
        for request in requests:  # one at a time: each a plain unary Sign
            alone.append(await outcome_of(runtime, request))
    for n, (shared, unary) in enumerate(zip(together, alone, strict=True)):
        if isinstance(unary, SignerError):
            assert error_shape(shared) == error_shape(unary)
            assert isinstance(shared, PolicyDenied if n % 10 == 3 else UnknownAgent)
        else:
            assert isinstance(shared, SignedTransaction) and isinstance(unary, SignedTransaction)
            # The same transaction, signed by the same key (RFC 6979: the same bytes).
            assert shared.raw_transaction == unary.raw_transaction
            assert Account.recover_transaction(shared.raw_transaction) == shared.address
    # Every signature has its own log entry, in the order the calls were made.
    indexes = [o.log_index for o in together if isinstance(o, SignedTransaction)]
    assert indexes == sorted(indexes) and len(set(indexes)) == len(indexes)


async def test_an_idempotency_key_is_answered_once_inside_a_shared_batch(served: Served) -> None:
    agent_id = await make_agent(served)
    keyed = SignRequest(agent_id, PersonalMessage(b"pay once"), "order-7")
    others = [SignRequest(agent_id, PersonalMessage(b"m%d" % n)) for n in range(8)]
    async with await served.client() as runtime:
        sizes = count_batches(runtime)
        results = await asyncio.gather(
            runtime.sign(others[0]),
            runtime.sign(keyed),
            *(runtime.sign(r) for r in others[1:]),
            runtime.sign(keyed),
        )
        again = await runtime.sign(keyed)  # alone, unary: the signer replays it
    assert sizes == [len(others) + 2]  # together in one batch; the lone call went unary
    first, second = results[1], results[-1]
    assert first == second == again
    logged = {r.log_index for r in results}
    assert len(logged) == len(others) + 1  # the key signed once


async def test_a_call_refused_whole_fails_every_caller_alike(served: Served) -> None:
    agent_id = await make_agent(served)
    async with await SignerClient.connect_attested(
        address=served.address, token="not-a-token", policy=SIM_TRUST
    ) as stranger:
        sizes = count_batches(stranger)
        shared = await asyncio.gather(
            *(outcome_of(stranger, SignRequest(agent_id, tx(nonce=n))) for n in range(6)),
            return_exceptions=True,
        )
        try:
            await stranger.sign(SignRequest(agent_id, tx(nonce=9)))
        except AnimaError as exc:
            alone = exc
    assert sizes and max(sizes) > 1
    assert {error_shape(e) for e in shared} == {error_shape(alone)}


# The transport is replaced below only to break a connection mid-call, which the real
# one cannot be made to do on demand; the wire messages are the real ones.


def request_bytes(label: bytes, key: str = "") -> pb.SignRequest:
    return convert.sign_request_to_proto(SignRequest("a", PersonalMessage(label), key))


def response_for(wire: pb.SignRequest) -> pb.SignResponse:
    return pb.SignResponse(
        ed25519=pb.Ed25519Signature(public_key=b"k", signature=wire.personal_message.message),
        log_index=int(wire.personal_message.message[1:].rstrip(b".")) + 1,
    )


class Transport:
    def __init__(self) -> None:
        self.unary: list[bytes] = []
        self.batches: list[list[bytes]] = []
        self.break_batches = False
        self.release = asyncio.Event()

    async def send_one(self, wire: pb.SignRequest, keyed: bool) -> pb.SignResponse:
        self.unary.append(wire.personal_message.message)
        await self.release.wait()
        return response_for(wire)

    async def send_batch(
        self, wires: Sequence[pb.SignRequest], repeatable: bool
    ) -> pb.SignBatchResponse:
        self.batches.append([w.personal_message.message for w in wires])
        if self.break_batches and not repeatable:
            raise SignerOutcomeUnknown("SignBatch", "Socket closed")
        return pb.SignBatchResponse(
            items=[pb.SignBatchItem(response=response_for(w)) for w in wires]
        )


async def test_a_broken_batch_resends_only_keyed_requests() -> None:
    transport = Transport()
    coalescer = SignCoalescer(transport.send_one, transport.send_batch)
    transport.break_batches = True
    first = asyncio.create_task(coalescer.sign(request_bytes(b"m0"), keyed=False))
    await asyncio.sleep(0)
    waiting = [
        asyncio.create_task(coalescer.sign(request_bytes(b"m1", "k1"), keyed=True)),
        asyncio.create_task(coalescer.sign(request_bytes(b"m2"), keyed=False)),
        asyncio.create_task(coalescer.sign(request_bytes(b"m3", "k3"), keyed=True)),
    ]
    await asyncio.sleep(0)
    transport.release.set()
    assert (await first).log_index == 1  # a lone call goes as a unary Sign
    outcomes = await asyncio.gather(*waiting, return_exceptions=True)
    assert transport.batches == [[b"m1", b"m2", b"m3"]]
    assert transport.unary == [b"m0", b"m1", b"m3"]  # the keyed ones sent again alone
    assert [getattr(o, "log_index", None) for o in outcomes] == [2, None, 4]
    # What the unkeyed request's own unary Sign raises when its connection breaks.
    assert error_shape(outcomes[1]) == error_shape(SignerOutcomeUnknown("Sign", "Socket closed"))


async def test_batches_hold_at_most_max_items_and_drop_cancelled_callers() -> None:
    transport = Transport()
    coalescer = SignCoalescer(transport.send_one, transport.send_batch, max_items=3)
    first = asyncio.create_task(coalescer.sign(request_bytes(b"m0"), keyed=False))
    await asyncio.sleep(0)
    later = [
        asyncio.create_task(coalescer.sign(request_bytes(b"m%d" % n), keyed=False))
        for n in range(1, 8)
    ]
    await asyncio.sleep(0)
    later[1].cancel()  # gone before its batch left: not sent
    transport.release.set()
    await first
    results = await asyncio.gather(*later, return_exceptions=True)
    # The cancelled caller takes no place in a batch.
    assert transport.batches == [[b"m1", b"m3", b"m4"], [b"m5", b"m6", b"m7"]]
    assert transport.unary == [b"m0"]
    assert isinstance(results[1], asyncio.CancelledError)
    assert [getattr(r, "log_index", None) for r in results] == [2, None, 4, 5, 6, 7, 8]


def test_max_items_is_bounded_by_the_signers_batch_limit() -> None:
    async def never(*_: object) -> pb.SignResponse:  # pragma: no cover - not called
        raise AssertionError

    with pytest.raises(ValueError, match="max_items"):
        SignCoalescer(never, never, max_items=0)  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="max_items"):
        SignCoalescer(never, never, max_items=1025)  # type: ignore[arg-type]


async def test_callers_are_not_left_waiting_when_the_sender_stops() -> None:
    transport = Transport()
    coalescer = SignCoalescer(transport.send_one, transport.send_batch)
    # Stopped before it ran: its caller is cancelled, and the next call gets a new sender.
    never_sent = asyncio.create_task(coalescer.sign(request_bytes(b"m0"), keyed=False))
    await asyncio.sleep(0)
    assert coalescer._sender is not None
    coalescer._sender.cancel()
    with pytest.raises(asyncio.CancelledError):
        await never_sent
    # Stopped mid-call: the caller in flight and those queued behind it are cancelled.
    in_flight = asyncio.create_task(coalescer.sign(request_bytes(b"m1"), keyed=False))
    await asyncio.sleep(0)
    await asyncio.sleep(0)
    assert transport.unary == [b"m1"]  # blocked until `release`
    queued = [
        asyncio.create_task(coalescer.sign(request_bytes(b"m%d" % n), keyed=False)) for n in (2, 3)
    ]
    await asyncio.sleep(0)
    assert coalescer._sender is not None
    coalescer._sender.cancel()
    outcomes = await asyncio.gather(in_flight, *queued, return_exceptions=True)
    assert all(isinstance(o, asyncio.CancelledError) for o in outcomes)
    assert coalescer._sender is None
    transport.release.set()
    assert (await coalescer.sign(request_bytes(b"m4"), keyed=False)).log_index == 5


async def test_an_answer_with_the_wrong_number_of_items_fails_each_caller() -> None:
    async def short_batch(
        wires: Sequence[pb.SignRequest], repeatable: bool
    ) -> pb.SignBatchResponse:
        return pb.SignBatchResponse(items=[pb.SignBatchItem(response=response_for(wires[0]))])

    coalescer = SignCoalescer(Transport().send_one, short_batch)
    outcomes = await asyncio.gather(
        *(coalescer.sign(request_bytes(b"m%d" % n), keyed=False) for n in range(3)),
        return_exceptions=True,
    )
    assert all(isinstance(o, InvalidRequest) for o in outcomes)
    assert "1 items for 3 requests" in str(outcomes[0])


async def test_batches_stay_below_max_bytes() -> None:
    transport = Transport()
    coalescer = SignCoalescer(transport.send_one, transport.send_batch, max_bytes=300)
    wires = [request_bytes(b"m%d" % n + b"." * 100) for n in range(7)]
    first = asyncio.create_task(coalescer.sign(wires[0], keyed=False))
    await asyncio.sleep(0)
    await asyncio.sleep(0)
    later = [asyncio.create_task(coalescer.sign(w, keyed=False)) for w in wires[1:]]
    await asyncio.sleep(0)
    transport.release.set()
    await asyncio.gather(first, *later)
    size = wires[0].ByteSize()
    assert 100 < size <= 150  # so two fit in 300 bytes, three do not
    assert [len(b) for b in transport.batches] == [2, 2, 2]
