"""The EVM plugin's provider and action (see the package docstring).

Every figure it puts in the prompt or a reply comes from a verified read of the
chain client and names the block it was proven against; a read that fails says so
instead of a number. A transfer's idempotency key is the message id, so a message
handled twice never pays twice.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Protocol

from anima_chain_api.errors import ChainServiceError
from anima_chain_api.types import (
    ProvenAccount,
    ProvenValue,
    TransactionIntent,
    TransactionOutcome,
    show_address,
)
from anima_runtime.agent.state import State
from anima_runtime.manager.ports import AgentDirectory
from anima_runtime.plugins.evm.amounts import (
    TransferNotUnderstood,
    format_units,
    read_transfer,
    to_base_units,
)
from anima_runtime.plugins.types import (
    Action,
    ActionHandler,
    ActionResult,
    AgentContext,
    Content,
    ExampleLine,
    HandlerCallback,
    Message,
    Plugin,
    Provider,
    ProviderResult,
)

log = logging.getLogger(__name__)
NATIVE_SYMBOL = "ETH"
NATIVE_DECIMALS = 18
#: ERC-20 transfer(address,uint256): keccak256's first four bytes (a constant of the standard).
_TRANSFER_SELECTOR = bytes.fromhex("a9059cbb")
#: Words of a question the wallet provider's verified sentence answers (offline model).
BALANCE_TOPICS = ("balance", "wallet", "how much", "funds", "money", "address")


class ChainPort(Protocol):
    """What the plugin needs of the chain client (anima_chain_api.client.ChainClient)."""

    async def account(self, address: bytes, *, block_number: int = 0) -> ProvenAccount: ...

    async def token_balance(
        self, token: bytes, holder: bytes, *, balances_slot: int = 0, block_number: int = 0
    ) -> ProvenValue: ...

    async def send_transaction(self, intent: TransactionIntent) -> TransactionOutcome: ...


@dataclass(frozen=True, slots=True)
class EvmToken:
    """An ERC-20 the runtime knows by symbol (its balances mapping at `balances_slot`)."""

    symbol: str
    address: bytes
    decimals: int = 18
    balances_slot: int = 0


def evm_plugin_factory(
    *, chain: ChainPort, directory: AgentDirectory, tokens: Mapping[str, EvmToken]
) -> Callable[[], Plugin]:
    tokens = {symbol.upper(): token for symbol, token in tokens.items()}

    async def wallet_of(context: AgentContext) -> bytes:
        agent = await directory.get_agent(context.agent_id)
        return bytes.fromhex(agent.wallets[0].address[2:])

    async def wallet(context: AgentContext, message: Message, state: State) -> ProviderResult:
        try:
            address = await wallet_of(context)
            account = await chain.account(address)
            held = [f"{format_units(account.balance, NATIVE_DECIMALS, NATIVE_SYMBOL)}"]
            for token in tokens.values():
                value = await chain.token_balance(
                    token.address, address, balances_slot=token.balances_slot
                )
                held.append(format_units(value.value, token.decimals, token.symbol))
        except ChainServiceError as exc:
            log.warning("agent %s: wallet balance unavailable: %s", context.agent_id, exc.reason)
            return ProviderResult(
                text=f"My wallet balance cannot be verified right now ({exc.reason}).",
                data={"answers": BALANCE_TOPICS, "verified": False},
            )
        block = account.block
        sentence = (
            f"My wallet {show_address(address)} holds {' and '.join(held)}"
            f" (verified against block {block.number})."
        )
        return ProviderResult(
            text=sentence,
            values={"walletAddress": show_address(address), "walletBalance": held[0]},
            data={
                "answers": BALANCE_TOPICS,
                "verified": True,
                "address": show_address(address),
                "balance_wei": str(account.balance),
                "block_number": block.number,
                "block_hash": "0x" + block.hash.hex(),
            },
        )

    async def transfer(
        context: AgentContext, message: Message, state: State, callback: HandlerCallback
    ) -> ActionResult:
        try:
            request = read_transfer(message.content.text)
            if request.symbol == NATIVE_SYMBOL:
                value = to_base_units(request.amount_text, NATIVE_DECIMALS)
                intent = TransactionIntent(
                    agent_id=context.agent_id,
                    to=request.to,
                    value=value,
                    idempotency_key=f"{context.agent_id}/{message.id}",
                )
                decimals, symbol = NATIVE_DECIMALS, NATIVE_SYMBOL
            else:
                token = tokens.get(request.symbol)
                if token is None:
                    known = ", ".join([NATIVE_SYMBOL, *tokens]) or NATIVE_SYMBOL
                    raise TransferNotUnderstood(
                        f"I don't know the token {request.symbol}; I can send {known}"
                    )
                value = to_base_units(request.amount_text, token.decimals)
                data = _TRANSFER_SELECTOR + request.to.rjust(32, b"\0") + value.to_bytes(32, "big")
                intent = TransactionIntent(
                    agent_id=context.agent_id,
                    to=token.address,
                    data=data,
                    idempotency_key=f"{context.agent_id}/{message.id}",
                )
                decimals, symbol = token.decimals, token.symbol
        except TransferNotUnderstood as exc:
            text = f"I can't make that transfer: {exc}."
            await callback(Content(text=text))
            return ActionResult(success=False, text=text, data={"refused": "not_understood"})
        amount = format_units(value, decimals, symbol)
        recipient = show_address(request.to)
        try:
            outcome = await chain.send_transaction(intent)
        except ChainServiceError as exc:
            log.warning(
                "agent %s: transfer of %s to %s failed: %s %s",
                context.agent_id,
                amount,
                recipient,
                exc.reason,
                exc.message,
            )
            text = f"The transfer of {amount} to {recipient} did not happen: {_why(exc)}."
            await callback(Content(text=text))
            return ActionResult(
                success=False, text=text, data={"refused": exc.reason, **exc.metadata()}
            )
        tx_hash = "0x" + outcome.receipt.transaction_hash.hex()
        text = (
            f"Sent {amount} to {recipient}: transaction {tx_hash}, included in block"
            f" {outcome.block.number} with a verified receipt (status: success)."
        )
        await callback(Content(text=text))
        return ActionResult(
            success=True,
            text=text,
            data={
                "transaction_hash": tx_hash,
                "from": show_address(outcome.sender),
                "to": recipient,
                "amount": amount,
                "nonce": outcome.nonce,
                "signature_log_index": outcome.signature_log_index,
                "receipt": {
                    "block_number": outcome.block.number,
                    "block_hash": "0x" + outcome.block.hash.hex(),
                    "transaction_index": outcome.receipt.transaction_index,
                    "success": outcome.receipt.success,
                    "gas_used": outcome.receipt.gas_used,
                    "logs": len(outcome.receipt.logs),
                },
            },
        )

    def plugin() -> Plugin:
        return Plugin(
            name="@elizaos/plugin-evm",
            description="Anima's EVM wallet: verified balances, transfers through the enclave",
            providers=(Provider(name="EVMWalletProvider", get=wallet),),
            actions=(_transfer_action(transfer),),
        )

    return plugin


def _why(exc: ChainServiceError) -> str:
    """The refusal in words for the room: the reason and the policy rule, no node text."""
    rule = getattr(exc, "rule", "")
    if exc.reason == "SIGNING_REFUSED":
        return f"the owner's policy refused to sign it (rule {rule})" if rule else "signing refused"
    if exc.reason == "TRANSACTION_REVERTED":
        return "the transaction was mined and reverted"
    return exc.reason.lower().replace("_", " ")


def _transfer_action(handler: ActionHandler) -> Action:
    examples = tuple(
        (
            ExampleLine(speaker="{{user1}}", text=ask),
            ExampleLine(
                speaker="{{agentName}}", text="Sending it now.", action="EVM_TRANSFER_TOKENS"
            ),
        )
        for ask in (
            "Send 0.5 ETH to 0x742d35Cc6634C0532925a3b844Bc454e4438f44e",
            "Transfer 10 USDC to 0x742d35Cc6634C0532925a3b844Bc454e4438f44e",
            "Please send 1 ETH to 0x000000000000000000000000000000000000dEaD",
            "send 3 tokens to 0x742d35cc6634c0532925a3b844bc454e4438f44e",
            "Send 25 DAI to 0x000000000000000000000000000000000000dEaD",
        )
    )
    return Action(
        name="EVM_TRANSFER_TOKENS",
        similes=("TRANSFER_TOKENS", "SEND_TOKENS", "SEND_ETH", "TRANSFER", "PAY"),
        description="Transfer native tokens or ERC-20 tokens from the agent's wallet",
        handler=handler,
        examples=examples,
    )
