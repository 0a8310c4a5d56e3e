"""Proven reads: accounts, storage and code by EIP-1186 proofs against a verified state
root; receipts and logs by the receipts root of a verified header.

The node's answers are handed to anima_verify.chain's pure checks; a failed check
is ProofRejected naming it, and nothing of the answer is returned. A read at the
head re-checks after the proof that the header is still on the verified chain, so a
reorg between fetching the header and the proof reads again from the new head.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from typing import Any

from eth_utils.crypto import keccak

from anima_chain.headers import HeaderStore, block_ref
from anima_chain.rpc import RpcNode
from anima_chain_api.errors import InvalidChainRequest, ProofRejected, ReceiptNotFound
from anima_chain_api.types import (
    MAX_LOG_BLOCKS,
    MAX_SLOTS,
    BlockLog,
    LogRecord,
    ProvenAccount,
    ProvenCode,
    ProvenStorage,
    ProvenValue,
    ReceiptAt,
    VerifiedReceipt,
    show_address,
)
from anima_verify.chain.errors import ChainProofError
from anima_verify.chain.header import BlockHeader
from anima_verify.chain.proofs import (
    verify_account_proof,
    verify_code,
    verify_storage_proof,
)
from anima_verify.chain.receipts import Receipt, verify_receipts
from anima_verify.chain.transactions import verify_transactions

log = logging.getLogger(__name__)
#: How often a read at the head starts again after the head was reorged away under it.
_REORG_RETRIES = 3


def rejected(exc: ChainProofError, what: str) -> ProofRejected:
    """The caller learns which check failed, never the node's claimed values (a lie is
    not repeated to anyone who might take it for data); the operator's log has them."""
    log.warning("refused the RPC node's answer for %s: %s", what, exc.message)
    field = getattr(exc, "field", "")
    detail = f" ({field})" if field else ""
    return ProofRejected(
        f"{what}: the RPC node's answer failed verification: {exc.reason}{detail}",
        check=exc.reason,
    )


class ProvenReads:
    def __init__(self, node: RpcNode, headers: HeaderStore) -> None:
        self._node = node
        self._headers = headers

    async def account(self, address: bytes, block_number: int = 0) -> ProvenAccount:
        for attempt in range(_REORG_RETRIES):
            header, response = await self._proof_at(address, [], block_number, fast=attempt == 0)
            try:
                with proof_checks(f"account {show_address(address)} at block {header.number}"):
                    account = verify_account_proof(header.state_root, address, response)
            except ProofRejected:
                if attempt == 0 and block_number == 0:
                    continue  # the head may have been reorged at its height: check, read again
                raise
            if self._headers.is_current(header):
                return ProvenAccount(
                    block=block_ref(header),
                    address=address,
                    balance=account.balance,
                    nonce=account.nonce,
                    storage_root=account.storage_root,
                    code_hash=account.code_hash,
                )
        raise _reorged()

    async def storage(
        self, address: bytes, slots: Sequence[int], block_number: int = 0
    ) -> ProvenStorage:
        if not slots or len(slots) > MAX_SLOTS:
            raise InvalidChainRequest(f"slots: give 1 to {MAX_SLOTS} storage slots")
        for attempt in range(_REORG_RETRIES):
            header, response = await self._proof_at(address, slots, block_number, fast=attempt == 0)
            try:
                with proof_checks(f"storage of {show_address(address)} at block {header.number}"):
                    values = _storage_values(header, address, slots, response)
            except ProofRejected:
                if attempt == 0 and block_number == 0:
                    continue  # as in account()
                raise
            if self._headers.is_current(header):
                return ProvenStorage(block=block_ref(header), address=address, values=values)
        raise _reorged()

    async def token_balance(
        self, token: bytes, holder: bytes, balances_slot: int, block_number: int = 0
    ) -> ProvenValue:
        """ERC-20 balanceOf(holder) read from Solidity's mapping slot
        keccak256(pad32(holder) . pad32(balances_slot)), proven like any storage slot."""
        slot = int.from_bytes(
            keccak(holder.rjust(32, b"\0") + balances_slot.to_bytes(32, "big")), "big"
        )
        storage = await self.storage(token, [slot], block_number)
        return ProvenValue(block=storage.block, value=storage.values[0])

    async def code(self, address: bytes, block_number: int = 0) -> ProvenCode:
        for _ in range(_REORG_RETRIES):
            account = await self.account(address, block_number or 0)
            header = self._headers.at(account.block.number)
            code = _hex(await self._node.read("eth_getCode", [_addr(address), hex(header.number)]))
            with proof_checks(f"code of {show_address(address)} at block {header.number}"):
                verify_code(account.code_hash, code)
            if self._headers.is_current(header):
                return ProvenCode(
                    block=account.block, address=address, code=code, code_hash=account.code_hash
                )
        raise _reorged()

    async def receipt(self, transaction_hash: bytes) -> ReceiptAt:
        """The receipt of a transaction in a verified block: every receipt and transaction
        of the block is checked against the header's roots, then the one is picked."""
        answer = await self._node.read("eth_getTransactionReceipt", ["0x" + transaction_hash.hex()])
        if answer is None:
            raise ReceiptNotFound(f"no receipt for transaction 0x{transaction_hash.hex()} (yet)")
        number = _block_number_of(answer)
        header = await self._headers.at_or_after_refresh(number)
        found = await self.receipt_in_block(header, transaction_hash)
        if found is None:
            raise ReceiptNotFound(
                f"transaction 0x{transaction_hash.hex()} is not in verified block {number}"
                " (reorged away?)"
            )
        return found

    async def receipt_in_block(
        self, header: BlockHeader, transaction_hash: bytes
    ) -> ReceiptAt | None:
        for receipt in await self.block_receipts(header):
            if receipt.transaction_hash == transaction_hash:
                return ReceiptAt(block=block_ref(header), receipt=receipt)
        return None

    async def block_receipts(self, header: BlockHeader) -> list[VerifiedReceipt]:
        """Every receipt of a verified block, once the block's transactions and receipts
        rebuild its header's roots (one batch: the full block and its receipts)."""
        block_hash = "0x" + header.hash.hex()
        block, receipts = await self._node.read_batch(
            [("eth_getBlockByHash", [block_hash, True]), ("eth_getBlockReceipts", [block_hash])]
        )
        what = f"block {header.number}"
        if not isinstance(block, dict):
            raise ProofRejected(f"{what}: the node has no such block", check="BLOCK_MISSING")
        with proof_checks(what):
            txs = verify_transactions(header, block.get("transactions", ()))
            verified = verify_receipts(header, receipts)
        if len(verified) != len(txs):
            raise ProofRejected(
                f"{what}: {len(verified)} receipts for {len(txs)} transactions",
                check="RECEIPTS_ROOT_MISMATCH",
            )
        return [_receipt(tx.hash, r) for tx, r in zip(txs, verified, strict=True)]

    async def logs(
        self, from_block: int, to_block: int, address: bytes | None, topic0: bytes | None
    ) -> list[BlockLog]:
        """The logs of verified blocks from_block..to_block (at most MAX_LOG_BLOCKS),
        from their verified receipts only, filtered by emitter and first topic."""
        if not 0 < from_block <= to_block or to_block - from_block >= MAX_LOG_BLOCKS:
            raise InvalidChainRequest(
                f"blocks: from_block..to_block must be 1 to {MAX_LOG_BLOCKS} blocks, from > 0"
            )
        await self._headers.at_or_after_refresh(to_block)
        found: list[BlockLog] = []
        for number in range(from_block, to_block + 1):
            header = self._headers.at(number)
            for receipt in await self.block_receipts(header):
                for log in receipt.logs:
                    if address is not None and log.address != address:
                        continue
                    if topic0 is not None and (not log.topics or log.topics[0] != topic0):
                        continue
                    found.append(BlockLog(block_ref(header), receipt.transaction_hash, log))
        return found

    async def _proof_at(
        self, address: bytes, slots: Sequence[int], block_number: int, *, fast: bool
    ) -> tuple[BlockHeader, Any]:
        """The verified header to read at and the node's proof for it.

        At the head, the first try asks in one batch for the node's latest block number
        and the proof at the verified head: when the node has nothing newer, that is
        the read (one round trip instead of two). Otherwise, and on a retry (after a
        proof failed, as a same-height reorg would make it), the headers are followed
        first and the proof asked at the new head.
        """
        if block_number == 0 and fast:
            head = self._headers.head
            latest, response = await self._node.read_batch(
                [("eth_blockNumber", []), _proof_call(address, slots, head.number)]
            )
            if latest == hex(head.number) and self._headers.is_current(head):
                return head, response
            header = await self._headers.refresh(force=True)
        elif block_number == 0:
            header = await self._headers.recheck_head()
        else:
            header = await self._headers.at_or_after_refresh(block_number)
        return header, await self._proof(address, slots, header)

    async def _proof(self, address: bytes, slots: Sequence[int], header: BlockHeader) -> Any:
        return await self._node.read(*_proof_call(address, slots, header.number))


def _proof_call(address: bytes, slots: Sequence[int], number: int) -> tuple[str, list[Any]]:
    keys = ["0x" + s.to_bytes(32, "big").hex() for s in slots]
    return "eth_getProof", [_addr(address), keys, hex(number)]


def _storage_values(
    header: BlockHeader, address: bytes, slots: Sequence[int], response: Any
) -> tuple[int, ...]:
    account = verify_account_proof(header.state_root, address, response)
    entries = response.get("storageProof") if isinstance(response, dict) else None
    if not isinstance(entries, list) or len(entries) != len(slots):
        raise ProofRejected(
            f"the node answered {len(entries) if isinstance(entries, list) else 'no'} storage"
            f" proofs for {len(slots)} slots",
            check="STORAGE_PROOF_MISSING",
        )
    return tuple(
        verify_storage_proof(account.storage_root, slot, entry)
        for slot, entry in zip(slots, entries, strict=True)
    )


def _receipt(transaction_hash: bytes, receipt: Receipt) -> VerifiedReceipt:
    return VerifiedReceipt(
        transaction_hash=transaction_hash,
        transaction_index=receipt.transaction_index,
        success=receipt.succeeded,
        gas_used=receipt.gas_used,
        cumulative_gas_used=receipt.cumulative_gas_used,
        logs=tuple(
            LogRecord(
                address=log.address, topics=log.topics, data=log.data, log_index=log.log_index
            )
            for log in receipt.logs
        ),
    )


@contextmanager
def proof_checks(what: str) -> Iterator[None]:
    """anima_verify.chain's failures as ProofRejected, naming what was read and the check."""
    try:
        yield
    except ChainProofError as exc:
        raise rejected(exc, what) from None


def _reorged() -> ProofRejected:
    return ProofRejected(
        "the verified head kept being reorged away during the read", check="UNSTABLE_CHAIN"
    )


def _addr(address: bytes) -> str:
    return "0x" + address.hex()


def _hex(value: object) -> bytes:
    if not isinstance(value, str) or not value.startswith("0x") or len(value) % 2:
        raise ProofRejected("the node's code is not hex data", check="MALFORMED_CHAIN_DATA")
    try:
        return bytes.fromhex(value[2:])
    except ValueError:
        raise ProofRejected(
            "the node's code is not hex data", check="MALFORMED_CHAIN_DATA"
        ) from None


def _block_number_of(receipt: Any) -> int:
    number = receipt.get("blockNumber") if isinstance(receipt, dict) else None
    if not isinstance(number, str) or not number.startswith("0x") or len(number) > 18:
        raise ProofRejected(
            "the node's receipt names no block number", check="MALFORMED_CHAIN_DATA"
        )
    try:
        return int(number, 16)
    except ValueError:
        raise ProofRejected(
            "the node's receipt names no block number", check="MALFORMED_CHAIN_DATA"
        ) from None
