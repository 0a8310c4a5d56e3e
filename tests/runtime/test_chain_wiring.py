"""`anima runtime serve --chain ...`: the EVM plugin's wiring refuses what it cannot use."""

from __future__ import annotations

import argparse

import pytest

from anima_runtime.chain_wiring import (
    CHAIN_TOKEN_ENV,
    ChainSetupProblem,
    add_chain_arguments,
    chain_plugins,
)


def _args(*argv: str) -> argparse.Namespace:
    parser = argparse.ArgumentParser()
    add_chain_arguments(parser)
    return parser.parse_args(list(argv))


def test_tokens_are_parsed_with_defaults() -> None:
    args = _args(
        "--evm-token",
        "att=0x5FbDB2315678afecb367f032d93F642f64180aa3",
        "--evm-token",
        "USDC=0x5fbdb2315678afecb367f032d93f642f64180aa3:6:9",
    )
    att, usdc = args.evm_token
    assert (att.symbol, att.decimals, att.balances_slot) == ("ATT", 18, 0)
    assert (usdc.symbol, usdc.decimals, usdc.balances_slot) == ("USDC", 6, 9)


@pytest.mark.parametrize(
    "bad",
    [
        "ATT",
        "ATT=0x1234",
        "=0x5fbdb2315678afecb367f032d93f642f64180aa3",
        "ATT=0x5fbdb2315678afecb367f032d93f642f64180aa3:x",
        "ATT=0x5fbdb2315678afecb367f032d93f642f64180aa3:99",
        "ATT=0x5fbdb2315678afecb367f032d93f642f64180aa3:6:1:2",
        "ATT=0x5FBDB2315678afecb367f032d93F642f64180aa3",  # a broken EIP-55 checksum
    ],
)
def test_a_malformed_token_is_refused(bad: str) -> None:
    with pytest.raises(SystemExit):
        _args("--evm-token", bad)


async def test_without_chain_there_is_no_plugin() -> None:
    async with chain_plugins(_args(), directory=None) as plugins:  # type: ignore[arg-type]
        assert plugins == {}


async def test_chain_needs_its_token_and_its_trust(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(CHAIN_TOKEN_ENV, raising=False)
    with pytest.raises(ChainSetupProblem, match=CHAIN_TOKEN_ENV):
        async with chain_plugins(_args("--chain", "127.0.0.1:1"), directory=None):  # type: ignore[arg-type]
            pass
    monkeypatch.setenv(CHAIN_TOKEN_ENV, "t")
    with pytest.raises(ChainSetupProblem, match="--chain-cert"):
        async with chain_plugins(_args("--chain", "127.0.0.1:1"), directory=None):  # type: ignore[arg-type]
            pass


async def test_an_unreachable_chain_client_is_an_environment_problem(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv(CHAIN_TOKEN_ENV, "t")
    args = _args("--chain", "127.0.0.1:9", "--chain-insecure-plaintext")
    with pytest.raises(ChainSetupProblem, match="did not answer"):
        async with chain_plugins(args, directory=None):  # type: ignore[arg-type]
            pass
