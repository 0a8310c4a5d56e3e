"""Wire <-> domain conversion for ChainService (both the service and its clients use it)."""

from __future__ import annotations

from anima.chain.v1 import chain_pb2 as pb
from anima_chain_api.types import (
    BlockLog,
    BlockRef,
    LogRecord,
    ProvenAccount,
    ProvenCode,
    ProvenStorage,
    ProvenValue,
    ReceiptAt,
    TransactionIntent,
    TransactionOutcome,
    VerifiedHead,
    VerifiedReceipt,
    address_bytes,
    parse_wei,
)


def block_to_pb(block: BlockRef) -> pb.BlockRef:
    return pb.BlockRef(number=block.number, hash=block.hash, state_root=block.state_root)


def block_from_pb(wire: pb.BlockRef) -> BlockRef:
    return BlockRef(number=wire.number, hash=bytes(wire.hash), state_root=bytes(wire.state_root))


def head_to_pb(head: VerifiedHead) -> pb.GetVerifiedHeadResponse:
    return pb.GetVerifiedHeadResponse(
        number=head.block.number,
        hash=head.block.hash,
        state_root=head.block.state_root,
        chain_id=head.chain_id,
        timestamp=head.timestamp,
        base_fee_per_gas=str(head.base_fee_per_gas),
        checkpoint_hash=head.checkpoint_hash,
        reorgs_seen=head.reorgs_seen,
    )


def head_from_pb(wire: pb.GetVerifiedHeadResponse) -> VerifiedHead:
    return VerifiedHead(
        block=BlockRef(
            number=wire.number, hash=bytes(wire.hash), state_root=bytes(wire.state_root)
        ),
        chain_id=wire.chain_id,
        timestamp=wire.timestamp,
        base_fee_per_gas=parse_wei(wire.base_fee_per_gas or "0", "base_fee_per_gas"),
        checkpoint_hash=bytes(wire.checkpoint_hash),
        reorgs_seen=wire.reorgs_seen,
    )


def account_to_pb(account: ProvenAccount) -> pb.GetAccountResponse:
    return pb.GetAccountResponse(
        block=block_to_pb(account.block),
        balance=str(account.balance),
        nonce=account.nonce,
        storage_root=account.storage_root,
        code_hash=account.code_hash,
    )


def account_from_pb(address: bytes, wire: pb.GetAccountResponse) -> ProvenAccount:
    return ProvenAccount(
        block=block_from_pb(wire.block),
        address=address,
        balance=parse_wei(wire.balance, "balance"),
        nonce=wire.nonce,
        storage_root=bytes(wire.storage_root),
        code_hash=bytes(wire.code_hash),
    )


def storage_to_pb(storage: ProvenStorage) -> pb.GetStorageResponse:
    return pb.GetStorageResponse(
        block=block_to_pb(storage.block),
        values=[v.to_bytes(32, "big") for v in storage.values],
    )


def storage_from_pb(address: bytes, wire: pb.GetStorageResponse) -> ProvenStorage:
    return ProvenStorage(
        block=block_from_pb(wire.block),
        address=address,
        values=tuple(int.from_bytes(v, "big") for v in wire.values),
    )


def code_to_pb(code: ProvenCode) -> pb.GetCodeResponse:
    return pb.GetCodeResponse(
        block=block_to_pb(code.block), code=code.code, code_hash=code.code_hash
    )


def code_from_pb(address: bytes, wire: pb.GetCodeResponse) -> ProvenCode:
    return ProvenCode(
        block=block_from_pb(wire.block),
        address=address,
        code=bytes(wire.code),
        code_hash=bytes(wire.code_hash),
    )


def value_to_pb(value: ProvenValue) -> pb.CallResponse:
    return pb.CallResponse(block=block_to_pb(value.block), value=str(value.value))


def value_from_pb(wire: pb.CallResponse) -> ProvenValue:
    return ProvenValue(block=block_from_pb(wire.block), value=parse_wei(wire.value, "value"))


def log_to_pb(log: LogRecord) -> pb.Log:
    return pb.Log(
        address=log.address, topics=list(log.topics), data=log.data, log_index=log.log_index
    )


def log_from_pb(wire: pb.Log) -> LogRecord:
    return LogRecord(
        address=bytes(wire.address),
        topics=tuple(bytes(t) for t in wire.topics),
        data=bytes(wire.data),
        log_index=wire.log_index,
    )


def logs_to_pb(logs: list[BlockLog]) -> pb.GetLogsResponse:
    return pb.GetLogsResponse(
        logs=[
            pb.BlockLog(
                block=block_to_pb(x.block),
                transaction_hash=x.transaction_hash,
                log=log_to_pb(x.log),
            )
            for x in logs
        ]
    )


def logs_from_pb(wire: pb.GetLogsResponse) -> list[BlockLog]:
    return [
        BlockLog(block_from_pb(x.block), bytes(x.transaction_hash), log_from_pb(x.log))
        for x in wire.logs
    ]


def receipt_to_pb(receipt: VerifiedReceipt) -> pb.Receipt:
    return pb.Receipt(
        transaction_hash=receipt.transaction_hash,
        transaction_index=receipt.transaction_index,
        success=receipt.success,
        gas_used=receipt.gas_used,
        cumulative_gas_used=receipt.cumulative_gas_used,
        logs=[
            pb.Log(
                address=log.address, topics=list(log.topics), data=log.data, log_index=log.log_index
            )
            for log in receipt.logs
        ],
    )


def receipt_from_pb(wire: pb.Receipt) -> VerifiedReceipt:
    return VerifiedReceipt(
        transaction_hash=bytes(wire.transaction_hash),
        transaction_index=wire.transaction_index,
        success=wire.success,
        gas_used=wire.gas_used,
        cumulative_gas_used=wire.cumulative_gas_used,
        logs=tuple(log_from_pb(log) for log in wire.logs),
    )


def receipt_at_to_pb(found: ReceiptAt) -> pb.GetReceiptResponse:
    return pb.GetReceiptResponse(
        block=block_to_pb(found.block), receipt=receipt_to_pb(found.receipt)
    )


def receipt_at_from_pb(wire: pb.GetReceiptResponse) -> ReceiptAt:
    return ReceiptAt(block=block_from_pb(wire.block), receipt=receipt_from_pb(wire.receipt))


def intent_to_pb(intent: TransactionIntent) -> pb.SendTransactionRequest:
    return pb.SendTransactionRequest(
        agent_id=intent.agent_id,
        wallet_index=intent.wallet_index,
        to=intent.to,
        value=str(intent.value),
        data=intent.data,
        gas_limit=intent.gas_limit,
        idempotency_key=intent.idempotency_key,
        receipt_timeout_ms=intent.receipt_timeout_ms,
    )


def intent_from_pb(wire: pb.SendTransactionRequest) -> TransactionIntent:
    return TransactionIntent(
        agent_id=wire.agent_id,
        wallet_index=wire.wallet_index,
        to=address_bytes(bytes(wire.to), "to"),
        value=parse_wei(wire.value or "0", "value"),
        data=bytes(wire.data),
        gas_limit=wire.gas_limit,
        idempotency_key=wire.idempotency_key,
        receipt_timeout_ms=wire.receipt_timeout_ms,
    )


def outcome_to_pb(outcome: TransactionOutcome) -> pb.SendTransactionResponse:
    return pb.SendTransactionResponse(
        block=block_to_pb(outcome.block),
        receipt=receipt_to_pb(outcome.receipt),
        nonce=outcome.nonce,
        max_fee_per_gas=str(outcome.max_fee_per_gas),
        max_priority_fee_per_gas=str(outcome.max_priority_fee_per_gas),
        signature_log_index=outcome.signature_log_index,
        replayed=outcome.replayed,
        **{"from": outcome.sender},
    )


def outcome_from_pb(wire: pb.SendTransactionResponse) -> TransactionOutcome:
    return TransactionOutcome(
        block=block_from_pb(wire.block),
        receipt=receipt_from_pb(wire.receipt),
        sender=bytes(getattr(wire, "from")),
        nonce=wire.nonce,
        max_fee_per_gas=parse_wei(wire.max_fee_per_gas, "max_fee_per_gas"),
        max_priority_fee_per_gas=parse_wei(
            wire.max_priority_fee_per_gas, "max_priority_fee_per_gas"
        ),
        signature_log_index=wire.signature_log_index,
        replayed=wire.replayed,
    )
