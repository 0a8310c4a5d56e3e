"""Concurrent `sign` calls from one process, sent together as one SignBatch.

A unary Sign costs the signer ~330 µs of CPU in grpc.aio and its interceptors
whatever it signs; a SignBatch item costs ~60 µs (docs/performance.md, issue 20).
So while one call is in flight, the requests that arrive meanwhile wait for it and
then leave together. A call that finds nothing in flight leaves at once, as a
unary Sign: an idle client adds no delay, and a lone call is exactly a unary call.

Each caller gets what a unary Sign would have given it: SignBatch answers each
item on its own (the signer's `sign_many`, the same function its unary Sign runs
through its group commit: same policy decision per item, in order, same
idempotency keys, a key used twice replayed), and its per-item errors carry the
status, reason and metadata the unary call would have raised, mapped by the same
catalog. Only where the connection broke mid-call does a batch differ from its
items sent alone: the items with an idempotency key are sent again (as a unary
call would be), the others raise SignerOutcomeUnknown for Sign, as theirs would.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass

from anima.signer.v1 import signer_pb2 as pb
from anima_core.coalescing import Coalescer, Waiting
from anima_signer_api import convert
from anima_signer_api.errors import InvalidRequest, SignerOutcomeUnknown
from anima_signer_api.failures import SignFailure, item_outcome
from anima_signer_api.types import MAX_BATCH_ITEMS, SignResult

#: Sends one request as a unary Sign (the client's retry rules apply).
SendOne = Callable[[pb.SignRequest, bool], Awaitable[pb.SignResponse]]
#: Sends requests as one SignBatch; `repeatable` when every request has a key.
SendBatch = Callable[[Sequence[pb.SignRequest], bool], Awaitable[pb.SignBatchResponse]]

#: A batch's requests stop short of this many bytes, far below any message size limit the
#: signer accepts (it refuses one below its largest AppendLog answer): a batch of large
#: requests must not be refused whole where each alone would pass.
DEFAULT_MAX_BATCH_BYTES = 4 * 1024 * 1024


@dataclass(frozen=True)
class _Request:
    wire: pb.SignRequest
    keyed: bool


_Pending = Waiting[_Request, SignResult]


class SignCoalescer(Coalescer[_Request, SignResult]):
    """At most one Sign or SignBatch in flight; what arrives meanwhile goes next, together."""

    def __init__(
        self,
        send_one: SendOne,
        send_batch: SendBatch,
        *,
        max_items: int = MAX_BATCH_ITEMS,
        max_bytes: int = DEFAULT_MAX_BATCH_BYTES,
    ) -> None:
        if not 1 <= max_items <= MAX_BATCH_ITEMS:
            raise ValueError(f"max_items must be between 1 and {MAX_BATCH_ITEMS}")
        super().__init__(max_items=max_items, max_weight=max_bytes)
        self._send_one = send_one
        self._send_batch = send_batch

    async def sign(self, wire: pb.SignRequest, *, keyed: bool) -> SignResult:
        return await self.submit(_Request(wire, keyed), wire.ByteSize())

    async def _send_group(self, group: list[_Pending]) -> None:
        if len(group) == 1:
            await self._send_alone(group[0])
            return
        try:
            response = await self._send_batch(
                [p.item.wire for p in group], all(p.item.keyed for p in group)
            )
        except SignerOutcomeUnknown as exc:
            await self._after_broken_batch(group, exc)
            return
        except Exception as exc:  # the whole call failed: each caller's call failed alike
            for pending in group:
                pending.settle(exc)
            return
        if len(response.items) != len(group):
            wrong = InvalidRequest(
                f"the signer answered {len(response.items)} items for {len(group)} requests"
            )
            for pending in group:
                pending.settle(wrong)
            return
        for pending, item in zip(group, response.items, strict=True):
            outcome = item_outcome(item)
            pending.settle(outcome.error if isinstance(outcome, SignFailure) else outcome)

    async def _send_alone(self, pending: _Pending) -> None:
        try:
            outcome: SignResult | Exception = convert.result_from_proto(
                await self._send_one(pending.item.wire, pending.item.keyed)
            )
        except Exception as exc:
            outcome = exc
        pending.settle(outcome)

    async def _after_broken_batch(self, group: list[_Pending], exc: SignerOutcomeUnknown) -> None:
        """The batch may have been signed: keyed requests go again (the signer replays
        what it signed), the others raise what their unary Sign would have."""
        keyed = [p for p in group if p.item.keyed]
        for pending in group:
            if not pending.item.keyed:
                pending.settle(SignerOutcomeUnknown("Sign", exc.detail))
        await asyncio.gather(*(self._send_alone(p) for p in keyed))


__all__ = ["SignCoalescer"]
