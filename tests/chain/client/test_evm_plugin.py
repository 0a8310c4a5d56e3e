"""The runtime's EVM plugin against the real chain client: the wallet provider states only
verified figures (with their block), the transfer action pays through the enclave's
policy, and bad requests are refused in words while the agent keeps going."""

from __future__ import annotations

from dataclasses import dataclass

import pytest

from anima_chain_api.types import show_address
from anima_runtime.plugins.evm import EvmToken, evm_plugin_factory
from anima_runtime.plugins.evm.amounts import TransferNotUnderstood, to_base_units
from anima_runtime.plugins.registry import BUILTIN_PLUGINS, resolve_plugins
from anima_runtime.plugins.types import Content, Message, Plugin
from tests.chain.client.conftest import AGENT, ETH, Stack

BURN = "0x000000000000000000000000000000000000dEaD"


@dataclass
class _Context:
    """The part of AgentContext the EVM plugin uses."""

    agent_id: str = AGENT


def _message(text: str, n: int = 0) -> Message:
    return Message(
        id=f"00000000-0000-4000-8000-{n:012d}",
        agent_id=AGENT,
        entity_id="user-1",
        room_id="room-1",
        content=Content(text=text),
        created_at_ms=0,
    )


def _plugin(stack: Stack) -> Plugin:
    tokens = {"ATT": EvmToken("ATT", stack.token)}
    return evm_plugin_factory(chain=stack.client, directory=stack.signer, tokens=tokens)()


async def _act(plugin: Plugin, text: str, n: int = 0) -> tuple[bool, str, dict[str, object]]:
    said: list[str] = []

    async def callback(content: Content) -> None:
        said.append(content.text)

    (action,) = plugin.actions
    result = await action.handler(_Context(), _message(text, n), None, callback)  # type: ignore[arg-type]
    assert result is not None and said == [result.text]
    return result.success, result.text, dict(result.data)


async def test_the_wallet_provider_states_the_verified_balance(stack: Stack) -> None:
    plugin = _plugin(stack)
    (provider,) = plugin.providers
    result = await provider.get(_Context(), _message("hi"), None)  # type: ignore[arg-type]
    head = await stack.client.head()
    assert result.text == (
        f"My wallet {show_address(stack.wallet)} holds 5 ETH and 1000 ATT"
        f" (verified against block {head.block.number})."
    )
    assert result.data["verified"] is True


async def test_a_lying_node_puts_no_figure_in_the_prompt(stack: Stack) -> None:
    stack.node.tamper = lambda m, p, r: {**r, "balance": hex(10**24)} if m == "eth_getProof" else r
    (provider,) = _plugin(stack).providers
    result = await provider.get(_Context(), _message("hi"), None)  # type: ignore[arg-type]
    assert result.text == "My wallet balance cannot be verified right now (PROOF_REJECTED)."
    assert result.data["verified"] is False


async def test_a_native_and_an_erc20_transfer(stack: Stack) -> None:
    plugin = _plugin(stack)
    ok, text, data = await _act(plugin, f"Send 0.25 ETH to {BURN}", 1)
    assert ok, text
    mined = stack.anvil.rpc("eth_getTransactionReceipt", [data["transaction_hash"]])
    assert isinstance(mined, dict) and mined["status"] == "0x1"
    assert data["receipt"]["block_hash"] == mined["blockHash"]  # type: ignore[index]
    assert f"transaction {data['transaction_hash']}" in text
    ok, text, data = await _act(plugin, f"transfer 12.5 ATT to {BURN}", 2)
    assert ok, text
    held = await stack.client.token_balance(stack.token, bytes.fromhex(BURN[2:]))
    assert held.value == 12 * ETH + ETH // 2


async def test_a_message_handled_twice_pays_once(stack: Stack) -> None:
    plugin = _plugin(stack)
    first = await _act(plugin, f"Send 0.1 ETH to {BURN}", 3)
    again = await _act(plugin, f"Send 0.1 ETH to {BURN}", 3)
    assert first[2]["transaction_hash"] == again[2]["transaction_hash"]
    assert stack.account_nonce() == 1


@pytest.mark.parametrize(
    ("text", "said"),
    [
        (f"Send 1 DOGE to {BURN}", "I don't know the token DOGE; I can send ETH, ATT"),
        ("Send 1 ETH to 0x1234", "recipient must be 0x and 40 hex digits"),
        (f"Send 1 ETH to {BURN.lower()[:-1]}X", "recipient must be 0x and 40 hex digits"),
        ("Send 1 ETH to 0x000000000000000000000000000000000000DEAd", "fails its EIP-55 checksum"),
        (f"Send 0.0000000000000000001 ETH to {BURN}", "more than 18 decimal places"),
        (f"Send 0 ETH to {BURN}", "must be more than zero"),
        ("send some money please", "say the amount, the token and the recipient"),
        (f"Send 2 ETH to {BURN}", "the owner's policy refused to sign it (rule max_value_wei)"),
    ],
)
async def test_bad_transfers_are_refused_in_words_and_never_sent(
    stack: Stack, text: str, said: str
) -> None:
    ok, reply, _ = await _act(_plugin(stack), text, 9)
    assert not ok
    assert said in reply
    assert stack.account_nonce() == 0


def test_amounts_out_of_range() -> None:
    with pytest.raises(TransferNotUnderstood, match="out of range"):
        to_base_units("1" + "0" * 80, 0)
    assert to_base_units("1.5", 6) == 1_500_000


def test_without_a_chain_client_plugin_evm_stays_unknown() -> None:
    plugins, unknown = resolve_plugins(["@elizaos/plugin-evm", "@elizaos/plugin-twitter"])
    assert [p.name for p in plugins] == ["bootstrap"]
    assert unknown == ["@elizaos/plugin-evm", "@elizaos/plugin-twitter"]


async def test_with_a_chain_client_only_plugin_evm_is_known(stack: Stack) -> None:
    factory = evm_plugin_factory(chain=stack.client, directory=stack.signer, tokens={})
    builtins = {**BUILTIN_PLUGINS, "@elizaos/plugin-evm": factory}
    plugins, unknown = resolve_plugins(
        ["@elizaos/plugin-evm", "@elizaos/plugin-twitter"], builtins=builtins
    )
    assert [p.name for p in plugins] == ["bootstrap", "@elizaos/plugin-evm"]
    assert unknown == ["@elizaos/plugin-twitter"]
    (action,) = plugins[1].actions
    assert action.name == "EVM_TRANSFER_TOKENS"
    assert plugins[1].providers[0].name == "EVMWalletProvider"


@pytest.mark.parametrize(
    "text",
    [
        "send " + "9" * 81 + f" ETH to {BURN}",  # too long: never its last 80 digits
        "send 1." + "0" * 41 + f"1 ETH to {BURN}",
        f"send 1.2.3 ETH to {BURN}",
    ],
)
def test_an_amount_is_read_whole_or_not_at_all(text: str) -> None:
    from anima_runtime.plugins.evm.amounts import read_transfer

    with pytest.raises(TransferNotUnderstood):
        read_transfer(text)
