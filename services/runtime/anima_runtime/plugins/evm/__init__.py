"""Anima's EVM plugin, under the names of ElizaOS's `@elizaos/plugin-evm`: a wallet provider
(the agent's address and its verified balance in the prompt) and a transfer action
(native and ERC-20) that goes through the verifying chain client and the enclave's
policy. Characters that list `@elizaos/plugin-evm` get it when the runtime is given a
chain client; without one the name stays reported as unknown."""

from anima_runtime.plugins.evm.plugin import ChainPort, EvmToken, evm_plugin_factory

__all__ = ["ChainPort", "EvmToken", "evm_plugin_factory"]
