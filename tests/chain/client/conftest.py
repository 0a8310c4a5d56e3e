"""Fixtures: a real anvil (module-wide), TestToken deployed from contracts/, a real signer on
the INSECURE simulated TEE with one agent, and the chain client service in this process
behind a lying-node proxy (honest until a test makes it lie)."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from anima_chain.app import RunningChain, start_chain
from anima_chain.config import ChainConfig
from anima_chain_api.client import ChainClient
from anima_core.auth import token_digest
from anima_dev.contracts import deploy_test_token, give_tokens, set_balance
from anima_dev.local_chain import LocalChain, local_chain
from anima_signer.app import RunningSigner, start_signer
from anima_signer.config import SignerConfig
from anima_signer_api.client import SignerClient
from anima_signer_api.types import SigningPolicy
from anima_verify.attestation import MeasurementPolicy
from tests.chain.client.lying_node import LyingNode

CHAIN_ID = 31337
ETH = 10**18
TOKEN_SUPPLY = 1_000_000 * ETH
AGENT = "wallet-agent"
#: The owner's policy in these tests: this chain only, at most 1 ETH (value + max fees).
POLICY = SigningPolicy(allowed_chain_ids=frozenset({CHAIN_ID}), max_value_wei=ETH)
SIGNER_TOKENS = {"admin": "signer-admin-token", "runtime": "signer-runtime-token"}
CHAIN_TOKEN = "chain-runtime-token"
SIM_TRUST = MeasurementPolicy.insecure_simulated_for_development()


@pytest.fixture(scope="module")
def anvil(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LocalChain]:
    with local_chain(tmp_path_factory.mktemp("anvil"), chain_id=CHAIN_ID) as chain:
        yield chain


@pytest.fixture(scope="module")
def token(anvil: LocalChain) -> bytes:
    return deploy_test_token(anvil, supply=TOKEN_SUPPLY)


def checkpoint_of(chain: LocalChain, number: int = 0) -> str:
    block = chain.rpc("eth_getBlockByNumber", [hex(number), False])
    assert isinstance(block, dict)
    return str(block["hash"])


@dataclass
class Stack:
    anvil: LocalChain
    node: LyingNode
    running: RunningChain
    client: ChainClient
    signer: SignerClient
    wallet: bytes  # the agent's wallet 0
    token: bytes

    def account_nonce(self) -> int:
        """The wallet's nonce as anvil has it (for checks that nothing was sent)."""
        return int(
            str(self.anvil.rpc("eth_getTransactionCount", ["0x" + self.wallet.hex(), "latest"])), 16
        )


def chain_config(tmp_path: Path, rpc_url: str, checkpoint: str, **overrides: object) -> ChainConfig:
    return ChainConfig.model_validate(
        {
            "listen": "127.0.0.1:0",
            "data_dir": tmp_path / "chain",
            "callers": {"runtime": token_digest(CHAIN_TOKEN)},
            "chain_id": CHAIN_ID,
            "checkpoint_hash": checkpoint,
            "rpc": {"url": rpc_url, "timeout_s": 2.0, "max_retries": 1, "retry_backoff_s": 0.01},
            "receipt_timeout_s": 10.0,
            **overrides,
        }
    )


async def start_test_signer(tmp_path: Path) -> RunningSigner:
    """A real signer in this process on the INSECURE simulated TEE, its state under
    `tmp_path`, answering the callers of SIGNER_TOKENS."""
    return await start_signer(
        SignerConfig.model_validate(
            {
                "listen": "127.0.0.1:0",
                "state_dir": tmp_path / "signer",
                "tee": "sim",
                "callers": {n: token_digest(t) for n, t in SIGNER_TOKENS.items()},
                "log_origin_prefix": "test.anima/agents",
            }
        )
    )


async def signer_client(running: RunningSigner, caller: str) -> SignerClient:
    """`caller`'s attested client of the test signer (simulated evidence trusted)."""
    return await SignerClient.connect_attested(
        address=f"127.0.0.1:{running.port}", token=SIGNER_TOKENS[caller], policy=SIM_TRUST
    )


@pytest.fixture
async def stack(tmp_path: Path, anvil: LocalChain, token: bytes) -> AsyncIterator[Stack]:
    signer_running = await start_test_signer(tmp_path)
    admin = await signer_client(signer_running, "admin")
    agent = await admin.create_agent(AGENT, policy=POLICY)
    await admin.close()
    wallet = bytes.fromhex(agent.wallets[0].address[2:])
    set_balance(anvil, wallet, 5 * ETH)
    give_tokens(anvil, token, wallet, 1000 * ETH)
    signer = await signer_client(signer_running, "runtime")
    node = await LyingNode(anvil.url).start()
    running = await start_chain(
        chain_config(tmp_path, node.url, checkpoint_of(anvil)), signer=signer
    )
    client = ChainClient.connect(
        f"127.0.0.1:{running.port}", CHAIN_TOKEN, certificate_pem=running.certificate_pem
    )
    try:
        yield Stack(anvil, node, running, client, signer, wallet, token)
    finally:
        await client.close()
        await running.stop(grace=0.2)
        await node.stop()
        await signer.close()
        await signer_running.stop(grace=0.2)
