"""gRPC transport for the chain client: decode, call the core, encode.

Until the checkpoint header is verified, every call is CHAIN_NOT_READY (and health
says NOT_SERVING), so nothing is answered before the client trusts something.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Final

from anima.chain.v1 import chain_pb2 as pb
from anima.chain.v1 import chain_pb2_grpc as pb_grpc
from anima_chain.config import ROLE_ADMIN, ROLE_READER, ROLE_RUNTIME
from anima_chain.service import ChainService
from anima_chain_api import convert
from anima_chain_api.errors import ChainNotReady, InvalidChainRequest
from anima_chain_api.types import MAX_SLOTS, address_bytes, slot_bytes

if TYPE_CHECKING:
    import grpc.aio

    Context = grpc.aio.ServicerContext[Any, Any]
else:
    Context = Any

SERVICE_NAME: Final = "anima.chain.v1.ChainService"
_READS = frozenset({ROLE_RUNTIME, ROLE_READER, ROLE_ADMIN})
_SENDS = frozenset({ROLE_RUNTIME, ROLE_ADMIN})
ACCESS_LIST: Final = {
    **{
        f"/{SERVICE_NAME}/{name}": _READS
        for name in (
            "GetVerifiedHead",
            "GetAccount",
            "GetStorage",
            "GetCode",
            "Call",
            "GetReceipt",
            "GetLogs",
        )
    },
    f"/{SERVICE_NAME}/SendTransaction": _SENDS,
}


class ChainServicer(pb_grpc.ChainServiceServicer):  # type: ignore[misc]
    def __init__(self) -> None:
        self._service: ChainService | None = None

    def attach(self, service: ChainService) -> None:
        self._service = service

    @property
    def service(self) -> ChainService:
        if self._service is None:
            raise ChainNotReady("the chain client is still verifying its checkpoint")
        return self._service

    async def GetVerifiedHead(
        self, request: pb.GetVerifiedHeadRequest, context: Context
    ) -> pb.GetVerifiedHeadResponse:
        return convert.head_to_pb(await self.service.head(request.chain_id))

    async def GetAccount(
        self, request: pb.GetAccountRequest, context: Context
    ) -> pb.GetAccountResponse:
        address = address_bytes(request.address)
        account = await self.service.reads.account(address, request.block_number)
        return convert.account_to_pb(account)

    async def GetStorage(
        self, request: pb.GetStorageRequest, context: Context
    ) -> pb.GetStorageResponse:
        address = address_bytes(request.address)
        if not 1 <= len(request.slots) <= MAX_SLOTS:
            raise InvalidChainRequest(f"slots: give 1 to {MAX_SLOTS} storage slots")
        slots = [slot_bytes(s, f"slots[{i}]") for i, s in enumerate(request.slots)]
        storage = await self.service.reads.storage(address, slots, request.block_number)
        return convert.storage_to_pb(storage)

    async def GetCode(self, request: pb.GetCodeRequest, context: Context) -> pb.GetCodeResponse:
        address = address_bytes(request.address)
        return convert.code_to_pb(await self.service.reads.code(address, request.block_number))

    async def Call(self, request: pb.CallRequest, context: Context) -> pb.CallResponse:
        token = address_bytes(request.token, "token")
        holder = address_bytes(request.holder, "holder")
        value = await self.service.reads.token_balance(
            token, holder, request.balances_slot, request.block_number
        )
        return convert.value_to_pb(value)

    async def GetReceipt(
        self, request: pb.GetReceiptRequest, context: Context
    ) -> pb.GetReceiptResponse:
        if len(request.transaction_hash) != 32:
            raise InvalidChainRequest("transaction_hash must be 32 bytes")
        found = await self.service.reads.receipt(bytes(request.transaction_hash))
        return convert.receipt_at_to_pb(found)

    async def GetLogs(self, request: pb.GetLogsRequest, context: Context) -> pb.GetLogsResponse:
        address = address_bytes(request.address) if request.address else None
        if request.topic0 and len(request.topic0) != 32:
            raise InvalidChainRequest("topic0 must be 32 bytes (or empty)")
        topic0 = bytes(request.topic0) or None
        logs = await self.service.reads.logs(request.from_block, request.to_block, address, topic0)
        return convert.logs_to_pb(logs)

    async def SendTransaction(
        self, request: pb.SendTransactionRequest, context: Context
    ) -> pb.SendTransactionResponse:
        intent = convert.intent_from_pb(request)
        return convert.outcome_to_pb(await self.service.sender.send(intent))
