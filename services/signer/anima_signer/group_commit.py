"""Group commit for unary signing: concurrent `Sign` calls share one commit.

Each signature waits for its durable log entry (an fsync) and, with witnesses, for
a witnessed checkpoint that holds it. Alone, every unary call would pay both by
itself, so concurrent callers could not sign faster than one fsync each. Here
requests that arrive while a commit is running wait for it to end and then go
together through `Signer.sign_many`: one sealed-state transaction, one fsync, one
checkpoint signature and one witness round for the whole group.

Nothing about a single answer changes: every caller still gets its signature only
after its own entry is durable (and witnessed), with the outcome `Signer.sign`
would have given it (sign_many judges, logs and answers each request on its own).
No delay is added: a call that finds no commit running starts one at once, so an
idle signer answers as fast as before; groups form only while the signer is busy.
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from typing import Protocol

from anima_signer_api.errors import SignerError
from anima_signer_api.types import MAX_BATCH_ITEMS, SignRequest, SignResult

Outcome = SignResult | SignerError


class BatchSigner(Protocol):
    """What the queue needs of the signer (core.Signer)."""

    def sign_many(self, requests: Sequence[SignRequest]) -> list[Outcome]: ...


class SignGroupCommit:
    """Unary signing for one event loop: `sign` answers like Signer.sign, with commits
    shared by the calls waiting at the same time (at most `max_group` per commit)."""

    def __init__(self, signer: BatchSigner, *, max_group: int = MAX_BATCH_ITEMS) -> None:
        if not 1 <= max_group <= MAX_BATCH_ITEMS:
            raise ValueError(f"max_group must be between 1 and {MAX_BATCH_ITEMS}")
        self._signer = signer
        self._max_group = max_group
        self._waiting: list[tuple[SignRequest, asyncio.Future[Outcome]]] = []
        self._committer: asyncio.Task[None] | None = None

    async def sign(self, request: SignRequest) -> SignResult:
        """The signature, once its log entry is durable (and witnessed); its SignerError
        otherwise. A caller that gives up before its group is formed is dropped; once
        formed, its request is judged and logged like the others in the group."""
        loop = asyncio.get_running_loop()
        answer: asyncio.Future[Outcome] = loop.create_future()
        self._waiting.append((request, answer))
        if self._committer is None:
            self._committer = loop.create_task(self._commit_groups())
        outcome = await answer
        if isinstance(outcome, SignerError):
            raise outcome
        return outcome

    async def _commit_groups(self) -> None:
        """Commit what waits, group after group, until nothing does."""
        try:
            while self._waiting:
                group = self._waiting[: self._max_group]
                del self._waiting[: self._max_group]
                # A caller that went away before its group formed is not signed for.
                group = [(request, answer) for request, answer in group if not answer.done()]
                if not group:
                    continue
                requests = [request for request, _ in group]
                try:
                    # The commit fsyncs and signing is CPU work: off the event loop.
                    outcomes = await asyncio.to_thread(self._signer.sign_many, requests)
                except asyncio.CancelledError:
                    for _, answer in group:
                        answer.cancel()
                    raise
                except Exception as exc:
                    for _, answer in group:
                        if not answer.done():
                            answer.set_exception(exc)
                    continue
                for (_, answer), outcome in zip(group, outcomes, strict=True):
                    if not answer.done():  # its caller may have gone
                        answer.set_result(outcome)
        finally:
            self._committer = None
            for _, answer in self._waiting:  # only when cancelled (shutdown)
                answer.cancel()
            self._waiting.clear()
