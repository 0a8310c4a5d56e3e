"""`anima chain head` and `anima chain balance ADDR` against a chain client process: they
print what was verified and against which block; bad input is refused before any call."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from anima_dev.contracts import set_balance
from anima_dev.local_chain import LocalChain
from anima_dev.local_chain_client import LocalChainClient, local_chain_client
from anima_dev.local_signer import local_signer

pytestmark = pytest.mark.slow  # a service process and a CLI process per command

ADDRESS = "0x00000000000000000000000000000000000c11c1"  # its EIP-55 form (no letters to case)


@pytest.fixture(scope="module")
def service(
    anvil: LocalChain, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[LocalChainClient]:
    state = tmp_path_factory.mktemp("cli")
    with local_signer(state) as signer, local_chain_client(state, chain=anvil, signer=signer) as s:
        yield s


def _anima(service: LocalChainClient, *args: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "ANIMA_CHAIN_TOKEN": service.token}
    command = [sys.executable, "-m", "anima_dev.cli", "chain", *args]
    command += ["--chain", service.address, "--certificate", str(service.certificate_path)]
    return subprocess.run(command, capture_output=True, text=True, env=env, timeout=60, check=False)


def test_head_prints_the_verified_block_and_its_checkpoint(
    service: LocalChainClient, anvil: LocalChain
) -> None:
    done = _anima(service, "head")
    assert done.returncode == 0, done.stderr
    latest = anvil.rpc("eth_getBlockByNumber", ["latest", False])
    assert isinstance(latest, dict)
    assert f"verified head: block {int(latest['number'], 16)} {latest['hash']}" in done.stdout
    assert f"linked to checkpoint {service.checkpoint}" in done.stdout


def test_balance_prints_the_proven_balance_and_block(
    service: LocalChainClient, anvil: LocalChain
) -> None:
    set_balance(anvil, bytes.fromhex(ADDRESS[2:]), 1_500_000_000_000_000_000)
    done = _anima(service, "balance", ADDRESS)
    assert done.returncode == 0, done.stderr
    assert f"{ADDRESS}: 1.5 ETH (1500000000000000000 wei), nonce 0" in done.stdout
    latest = anvil.rpc("eth_getBlockByNumber", ["latest", False])
    assert isinstance(latest, dict)
    assert f"proven against block {int(latest['number'], 16)} ({latest['hash']})" in done.stdout


@pytest.mark.parametrize(
    "bad", ["0x1234", "vitalik.eth", "0x00000000000000000000000000000000000c11C1"]
)
def test_a_malformed_address_is_refused(service: LocalChainClient, bad: str) -> None:
    done = _anima(service, "balance", bad)
    assert done.returncode == 2
    assert "anima chain:" in done.stderr and "address" in done.stderr


def test_a_wrong_token_is_refused(service: LocalChainClient, tmp_path: Path) -> None:
    env = {**os.environ, "ANIMA_CHAIN_TOKEN": "not-the-token"}
    command = [sys.executable, "-m", "anima_dev.cli", "chain", "head", "--chain", service.address]
    command += ["--certificate", str(service.certificate_path)]
    done = subprocess.run(command, capture_output=True, text=True, env=env, timeout=60, check=False)
    assert done.returncode == 1
    assert "UNAUTHENTICATED" in done.stderr
