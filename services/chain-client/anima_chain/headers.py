"""Verified headers: the trusted checkpoint, then every header linked to it by parent hash.

A header is accepted only when its RLP encoding hashes to the hash expected of it
(the checkpoint's, or the hash its verified child names) and it links to the
verified header below it (anima_verify.chain.header). When the node's chain no
longer contains a verified header (a reorg), the headers above the fork point are
dropped and the chain is followed again from there; a reorg that reaches below the
checkpoint is refused, since nothing below it is trusted.

With a configured checkpoint alone (dev chains), what this cannot catch: a node
that invents a whole hash-linked branch on top of the checkpoint (no proof-of-stake
check); the checkpoint pins only history up to it. With `heads` (the beacon light
client, anima_chain.beacon) every trusted head is a block hash the sync committee
signed: the store follows only those, accepts the node's headers only as that
block or its ancestors by parent links (verify_ancestry), and trusts nothing the
node serves above the verified head.
"""

from __future__ import annotations

import asyncio
import logging
import time
from typing import Any, Protocol

from anima_chain.rpc import RpcNode
from anima_chain_api.errors import (
    BlockNotVerified,
    ChainNotReady,
    NodeError,
    UnverifiableHeader,
    WrongChain,
)
from anima_chain_api.types import BlockRef
from anima_verify.beacon.client import ExecutionHead
from anima_verify.chain.errors import ChainProofError
from anima_verify.chain.header import (
    BlockHeader,
    verify_ancestry,
    verify_chain_link,
    verify_header,
)

log = logging.getLogger(__name__)
#: Headers asked for in one JSON-RPC batch while catching up (one round trip each).
_HEADERS_PER_BATCH = 32
#: A refresh that keeps finding new reorgs gives up after this many restarts.
_MAX_REORG_RESTARTS = 4


def block_ref(header: BlockHeader) -> BlockRef:
    return BlockRef(number=header.number, hash=header.hash, state_root=header.state_root)


class VerifiedHeads(Protocol):
    """Where trusted heads come from when not from a configured checkpoint."""

    async def verified_head(self) -> ExecutionHead: ...


class HeaderStore:
    """`checkpoint` (a trusted block hash), or `heads` (each trusted head verified by
    the beacon light client; `checkpoint` is then the first one)."""

    def __init__(
        self,
        node: RpcNode,
        *,
        chain_id: int,
        checkpoint: bytes = b"",
        heads: VerifiedHeads | None = None,
        keep: int = 256,
        max_age_s: float = 0.0,
    ) -> None:
        if not checkpoint and heads is None:
            raise ValueError("a header store needs a checkpoint or a verified-head source")
        self._node = node
        self.chain_id = chain_id
        self.checkpoint = checkpoint
        self._heads = heads
        self._keep = keep
        self._max_age_s = max_age_s
        self._headers: dict[int, BlockHeader] = {}
        self._head: BlockHeader | None = None
        self._floor = 0  # the lowest number a reorg may reach (the checkpoint's)
        self._checked_at = 0.0
        self._lock = asyncio.Lock()
        self.reorgs_seen = 0

    @property
    def head(self) -> BlockHeader:
        if self._head is None:
            raise ChainNotReady("the chain client has not verified its checkpoint yet")
        return self._head

    async def start(self) -> BlockHeader:
        """Check the node's chain id, then verify the checkpoint header by its hash (or
        the light client's first verified head)."""
        answered = await self._node.read("eth_chainId")
        if _quantity(answered, "eth_chainId") != self.chain_id:
            raise WrongChain(
                f"the RPC node serves chain {answered!s:.20}, this client chain {self.chain_id}"
            )
        if self._heads is not None:
            async with self._lock:
                chain = await self._verified_chain(await self._heads.verified_head())
                self.checkpoint = chain[0].hash
                self._headers = {h.number: h for h in chain}
                self._head = chain[0]
                self._floor = chain[-1].number
                self._checked_at = time.monotonic()
                return chain[0]
        block = await self._node.read("eth_getBlockByHash", ["0x" + self.checkpoint.hex(), False])
        if block is None:
            raise UnverifiableHeader(
                f"the RPC node does not know the checkpoint block 0x{self.checkpoint.hex()}",
                check="CHECKPOINT_UNKNOWN",
            )
        header = _verified(block, self.checkpoint)
        async with self._lock:
            self._headers = {header.number: header}
            self._head = header
            self._floor = header.number
        return await self.refresh(force=True)

    async def refresh(self, *, force: bool = False, at_least: int = 0) -> BlockHeader:
        """Follow the node's chain to its latest block, verifying every new header.

        Without `force`, a head checked less than max_age_s ago is answered as it is,
        unless `at_least` asks for a newer block than it.
        """
        async with self._lock:
            head = self.head
            fresh = time.monotonic() - self._checked_at < self._max_age_s
            if not force and fresh and head.number >= at_least:
                return head
            if self._heads is not None:
                await self._follow_verified_head()
                self._checked_at = time.monotonic()
                return self.head
            for _ in range(_MAX_REORG_RESTARTS):
                if await self._follow():
                    self._checked_at = time.monotonic()
                    return self.head
            raise UnverifiableHeader(
                "the RPC node's chain kept changing under the client (reorg after reorg)",
                check="UNSTABLE_CHAIN",
            )

    async def recheck_head(self) -> BlockHeader:
        """Whether the node still has our head (a reorg at the same height changes no
        block number, so following forward cannot see it); drop it if not, then follow.
        With verified heads, the head is the light client's whatever the node says."""
        if self._heads is not None:
            return await self.refresh(force=True)
        async with self._lock:
            head = self.head
            theirs = _verified(await self._block(head.number), None)
            if theirs.hash != head.hash:
                await self._rewind(head.number)
        return await self.refresh(force=True)

    def at(self, number: int) -> BlockHeader:
        """A verified header by number (the head when `number` is 0)."""
        if number == 0:
            return self.head
        header = self._headers.get(number)
        if header is None:
            raise BlockNotVerified(
                f"block {number} is not verified (verified: {min(self._headers)}.."
                f"{self.head.number})"
            )
        return header

    async def at_or_after_refresh(self, number: int) -> BlockHeader:
        if number == 0:
            return await self.refresh()
        if number > self.head.number:
            await self.refresh(at_least=number)
        return self.at(number)

    def is_current(self, header: BlockHeader) -> bool:
        """Whether `header` is still on the verified chain (a reorg may have dropped it)."""
        return self._headers.get(header.number) == header

    async def _follow_verified_head(self) -> None:
        """Move to the light client's newest verified head, with the node's headers
        between it and ours proven as its ancestors (a reorg replaces ours)."""
        verified = await self._heads.verified_head() if self._heads else None
        if verified is None or verified.block_hash == self.head.hash:
            return
        chain = await self._verified_chain(verified, down_to=self.head)
        connected = chain[-1].number - 1 in self._headers and (
            self._headers[chain[-1].number - 1].hash == chain[-1].parent_hash
        )
        if not connected:
            if self._headers:
                self.reorgs_seen += 1
                log.warning(
                    "verified head %d does not extend ours: headers replaced",
                    verified.block_number,
                )
            self._headers = {}
            self._floor = chain[-1].number
        else:
            for n in [n for n in self._headers if n >= chain[-1].number]:
                del self._headers[n]
        for header in reversed(chain):
            self._accept(header)

    async def _verified_chain(
        self, verified: ExecutionHead, *, down_to: BlockHeader | None = None
    ) -> list[BlockHeader]:
        """The node's header of the verified head and its ancestors down to just above
        `down_to` (at most `keep` headers), newest first, each proven by the verified
        hash through parent links. A node that cannot produce the verified block, or
        answers blocks off its ancestry, is refused."""
        tip = await self._node.read("eth_getBlockByHash", ["0x" + verified.block_hash.hex(), False])
        if tip is None:
            raise UnverifiableHeader(
                f"the RPC node does not have block 0x{verified.block_hash.hex()}"
                f" ({verified.block_number}), which the beacon light client verified",
                check="VERIFIED_HEAD_UNAVAILABLE",
            )
        lowest = verified.block_number
        if down_to is not None and down_to.number < verified.block_number:
            lowest = max(down_to.number + 1, verified.block_number - self._keep + 1)
        numbers = list(range(verified.block_number - 1, lowest - 1, -1))
        blocks = [tip]
        for first in range(0, len(numbers), _HEADERS_PER_BATCH):
            batch = numbers[first : first + _HEADERS_PER_BATCH]
            blocks += await self._node.read_batch(
                [("eth_getBlockByNumber", [hex(n), False]) for n in batch]
            )
        try:
            chain = verify_ancestry(verified.block_hash, blocks)
        except ChainProofError as exc:
            raise UnverifiableHeader(
                f"the RPC node's headers are not the verified head's ancestry: {exc.message}",
                check=exc.reason,
            ) from None
        if chain[0].number != verified.block_number or chain[0].state_root != verified.state_root:
            raise UnverifiableHeader(
                "the verified block hash names a header whose number or state root differs"
                " from the beacon chain's execution payload header",
                check="VERIFIED_HEAD_MISMATCH",
            )
        return chain

    async def _follow(self) -> bool:
        """Extend the verified chain to the node's latest block; False after a reorg was
        handled (the caller follows again)."""
        latest = _quantity(await self._node.read("eth_blockNumber"), "eth_blockNumber")
        head = self.head
        if latest < head.number:
            # The node's chain is shorter than ours: ours above `latest` may be gone.
            await self._rewind(latest)
            return latest >= self.head.number
        for first in range(head.number + 1, latest + 1, _HEADERS_PER_BATCH):
            numbers = range(first, min(first + _HEADERS_PER_BATCH, latest + 1))
            blocks = await self._node.read_batch(
                [("eth_getBlockByNumber", [hex(n), False]) for n in numbers]
            )
            for number, block in zip(numbers, blocks, strict=True):
                if block is None:
                    raise NodeError(f"the RPC node has no block {number} though it reported it")
                try:
                    child = _verified(block, None)
                    verified_link(self.head, child)
                except UnverifiableHeader as exc:
                    if exc.check != "BROKEN_CHAIN_LINK":
                        raise
                    # A reorg replaced our head, or the node answered a block that is not
                    # on its own chain (a foreign or forged header): only the first drops.
                    if not await self._rewind(self.head.number):
                        raise
                    return False
                self._accept(child)
        return True

    async def _rewind(self, start: int) -> bool:
        """Find the highest verified header the node still has, drop the ones above it;
        whether any were dropped."""
        for number in range(min(start, self.head.number), self._floor - 1, -1):
            mine = self._headers.get(number)
            if mine is None:
                break
            theirs = _verified(await self._block(number), None)
            if theirs.hash == mine.hash:
                dropped = [n for n in self._headers if n > number]
                for n in dropped:
                    del self._headers[n]
                self._head = mine
                if dropped:
                    self.reorgs_seen += 1
                    log.warning(
                        "chain reorg: dropped %d verified header(s) above block %d",
                        len(dropped),
                        number,
                    )
                return bool(dropped)
        raise UnverifiableHeader(
            "the RPC node's chain no longer contains the verified headers down to the"
            " checkpoint (a reorg below it, or a node on another chain)",
            check="REORG_BELOW_CHECKPOINT",
        )

    def _accept(self, header: BlockHeader) -> None:
        self._headers[header.number] = header
        self._head = header
        too_old = header.number - self._keep
        if too_old > self._floor and too_old in self._headers:
            del self._headers[too_old]
            self._floor = min(self._headers)

    async def _block(self, number: int) -> Any:
        block = await self._node.read("eth_getBlockByNumber", [hex(number), False])
        if block is None:
            raise NodeError(f"the RPC node has no block {number} though it reported it")
        return block


def _verified(block: Any, expected: bytes | None) -> BlockHeader:
    try:
        return verify_header(block, expected)
    except ChainProofError as exc:
        raise UnverifiableHeader(exc.message, check=exc.reason) from None


def verified_link(parent: BlockHeader, child: BlockHeader) -> None:
    try:
        verify_chain_link(parent, child)
    except ChainProofError as exc:
        raise UnverifiableHeader(exc.message, check=exc.reason) from None


def _quantity(value: object, what: str) -> int:
    if not isinstance(value, str) or not value.startswith("0x") or len(value) > 66:
        raise NodeError(f"the RPC node's {what} is not a hex quantity")
    try:
        return int(value, 16)
    except ValueError:
        raise NodeError(f"the RPC node's {what} is not a hex quantity") from None
