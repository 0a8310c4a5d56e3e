"""Verifying chain client against a real anvil: a verified balance over gRPC (p50 target
<= 5 ms) and a transaction from the runtime's request to its verified receipt (automine).

Everything runs as deployed: anvil, the signer (INSECURE simulated TEE) and `anima
chain serve` as their own processes; this script calls the service the way the
runtime's EVM plugin does (anima_chain_api.ChainClient, TLS pinned). A balance read
is one eth_blockNumber (head check), one eth_getProof and its verification; a send
adds GetAgent and Sign in the enclave, eth_sendRawTransaction, the receipt wait and
the block's receipts and transactions checked against their roots.
Prints figures and the machine they ran on; not a pass/fail test.
Usage: python bench/chain_bench.py [--reads N] [--sends N]
"""

from __future__ import annotations

import argparse
import time

from chain_stack import percentiles, run_on_local_chain  # bench/, beside this script
from machine import machine

from anima_chain_api.client import ChainClient
from anima_chain_api.types import TransactionIntent
from anima_dev.contracts import set_balance
from anima_dev.local_chain import LocalChain
from anima_dev.local_chain_client import LocalChainClient
from anima_dev.local_signer import LocalSigner
from anima_signer_api.client import SignerClient
from anima_signer_api.types import SigningPolicy
from anima_verify.attestation import MeasurementPolicy

ETH = 10**18
AGENT = "bench-wallet"


async def _run(
    chain: LocalChain, signer: LocalSigner, verifier: LocalChainClient, reads: int, sends: int
) -> None:
    trust = MeasurementPolicy.insecure_simulated_for_development()
    async with await SignerClient.connect_attested(
        address=signer.address, token=signer.tokens["admin"], policy=trust
    ) as admin:
        agent = await admin.create_agent(
            AGENT,
            policy=SigningPolicy(allowed_chain_ids=frozenset({chain.chain_id}), max_value_wei=ETH),
        )
    wallet = bytes.fromhex(agent.wallets[0].address[2:])
    set_balance(chain, wallet, 100 * ETH)
    client = ChainClient.connect(
        verifier.address, verifier.token, certificate_pem=verifier.certificate_pem
    )
    async with client:
        for _ in range(20):  # warm up: TLS, caches
            await client.account(wallet)
        samples = []
        for _ in range(reads):
            started = time.perf_counter()
            await client.account(wallet)
            samples.append(time.perf_counter() - started)
        print(f"verified balance over gRPC (GetAccount at the head): {percentiles(samples)}")
        samples = []
        to = bytes.fromhex("00000000000000000000000000000000000b0b00")
        for n in range(sends):
            intent = TransactionIntent(
                agent_id=AGENT, to=to, value=1000 + n, idempotency_key=f"bench-{n}"
            )
            started = time.perf_counter()
            outcome = await client.send_transaction(intent)
            samples.append(time.perf_counter() - started)
            assert outcome.receipt.success
        print(f"transaction, request -> verified receipt (anvil automine): {percentiles(samples)}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--reads", type=int, default=500)
    parser.add_argument("--sends", type=int, default=100)
    args = parser.parse_args()
    print(f"machine: {machine()}")
    run_on_local_chain(lambda *stack: _run(*stack, args.reads, args.sends))


if __name__ == "__main__":
    main()
