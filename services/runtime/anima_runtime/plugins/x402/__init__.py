"""Anima's x402 plugin: an HTTP fetch that pays `402 Payment Required` answers with
EIP-3009 authorizations the enclave signs under the owner's policy (anima_economy)."""

from anima_runtime.plugins.x402.plugin import X402_PLUGIN_NAME, X402Asset, x402_plugin_factory

__all__ = ["X402_PLUGIN_NAME", "X402Asset", "x402_plugin_factory"]
