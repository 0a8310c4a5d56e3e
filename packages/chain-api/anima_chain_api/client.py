"""Client library for the chain client service (used by the runtime's EVM plugin and the CLI).

TLS is pinned to the certificate the service published (or one from a CA, given as
PEM); plaintext needs the explicit `insecure_plaintext=True`. Failed calls raise the
service's typed errors (anima_chain_api.errors) from the reason it sends, and
ChainUnreachable or ChainRpcError for a status without one; never grpc's AioRpcError.
"""

from __future__ import annotations

import grpc.aio

from anima.chain.v1 import chain_pb2 as pb
from anima.chain.v1 import chain_pb2_grpc as pb_grpc
from anima_chain_api import convert
from anima_chain_api.endpoint import TLS_SERVER_NAME
from anima_chain_api.errors import ERROR_DOMAIN, SERVER_ERRORS, ChainRpcError, ChainUnreachable
from anima_chain_api.types import (
    BlockLog,
    ProvenAccount,
    ProvenCode,
    ProvenStorage,
    ProvenValue,
    ReceiptAt,
    TransactionIntent,
    TransactionOutcome,
    VerifiedHead,
    address_bytes,
)
from anima_core.channels import ServiceClient
from anima_core.errors import ErrorCatalog
from anima_core.interceptors import MalformedRequest

DEFAULT_TIMEOUT_S = 15.0
#: A send waits for its receipt: the deadline covers the service's receipt timeout.
DEFAULT_SEND_TIMEOUT_S = 120.0

#: The chain service's reasons and their errors: what a failed call raises.
ERRORS = ErrorCatalog(
    domain=ERROR_DOMAIN,
    errors=(*SERVER_ERRORS, MalformedRequest),
    rpc_error=ChainRpcError,
    unreachable=ChainUnreachable,
)


class ChainClient(ServiceClient):
    service = "chain service"
    server_name = TLS_SERVER_NAME
    max_message_bytes = 16 * 1024 * 1024
    default_timeout_s = DEFAULT_TIMEOUT_S

    def __init__(
        self, channel: grpc.aio.Channel, token: str, timeout_s: float, *, address: str = ""
    ) -> None:
        super().__init__(channel, token, timeout_s, address=address)
        self._stub = pb_grpc.ChainServiceStub(channel)

    async def head(self, chain_id: int = 0) -> VerifiedHead:
        with ERRORS:
            wire = await self._stub.GetVerifiedHead(
                pb.GetVerifiedHeadRequest(chain_id=chain_id),
                metadata=self._metadata,
                timeout=self._timeout,
            )
        return convert.head_from_pb(wire)

    async def account(self, address: bytes, *, block_number: int = 0) -> ProvenAccount:
        address_bytes(address)
        with ERRORS:
            wire = await self._stub.GetAccount(
                pb.GetAccountRequest(address=address, block_number=block_number),
                metadata=self._metadata,
                timeout=self._timeout,
            )
        return convert.account_from_pb(address, wire)

    async def storage(
        self, address: bytes, slots: list[int], *, block_number: int = 0
    ) -> ProvenStorage:
        with ERRORS:
            wire = await self._stub.GetStorage(
                pb.GetStorageRequest(
                    address=address,
                    slots=[s.to_bytes(32, "big") for s in slots],
                    block_number=block_number,
                ),
                metadata=self._metadata,
                timeout=self._timeout,
            )
        return convert.storage_from_pb(address, wire)

    async def code(self, address: bytes, *, block_number: int = 0) -> ProvenCode:
        with ERRORS:
            wire = await self._stub.GetCode(
                pb.GetCodeRequest(address=address, block_number=block_number),
                metadata=self._metadata,
                timeout=self._timeout,
            )
        return convert.code_from_pb(address, wire)

    async def token_balance(
        self, token: bytes, holder: bytes, *, balances_slot: int = 0, block_number: int = 0
    ) -> ProvenValue:
        """ERC-20 balanceOf(holder), from the proven storage slot of the balances mapping."""
        with ERRORS:
            wire = await self._stub.Call(
                pb.CallRequest(
                    token=token,
                    holder=holder,
                    balances_slot=balances_slot,
                    block_number=block_number,
                ),
                metadata=self._metadata,
                timeout=self._timeout,
            )
        return convert.value_from_pb(wire)

    async def receipt(self, transaction_hash: bytes) -> ReceiptAt:
        with ERRORS:
            wire = await self._stub.GetReceipt(
                pb.GetReceiptRequest(transaction_hash=transaction_hash),
                metadata=self._metadata,
                timeout=self._timeout,
            )
        return convert.receipt_at_from_pb(wire)

    async def logs(
        self,
        from_block: int,
        to_block: int,
        *,
        address: bytes | None = None,
        topic0: bytes | None = None,
    ) -> list[BlockLog]:
        """Logs of verified blocks from their verified receipts (at most 256 blocks)."""
        with ERRORS:
            wire = await self._stub.GetLogs(
                pb.GetLogsRequest(
                    from_block=from_block,
                    to_block=to_block,
                    address=address or b"",
                    topic0=topic0 or b"",
                ),
                metadata=self._metadata,
                timeout=self._timeout,
            )
        return convert.logs_from_pb(wire)

    async def send_transaction(
        self, intent: TransactionIntent, *, timeout_s: float = DEFAULT_SEND_TIMEOUT_S
    ) -> TransactionOutcome:
        """Sent once per idempotency key: calling again with the same key (after a timeout,
        say) answers the first transaction's outcome and never signs a second one."""
        with ERRORS:
            wire = await self._stub.SendTransaction(
                convert.intent_to_pb(intent), metadata=self._metadata, timeout=timeout_s
            )
        return convert.outcome_from_pb(wire)
