"""The agent economy on a real anvil: an x402 round trip (the 402, the enclave's EIP-3009
signature under the owner's policy, the paid retry, the facilitator's verify and
settle on chain, the payer's check of the proven receipt) on loopback, and ERC-8004
registry reads through the verifying chain client.

As deployed: anvil, the signer (INSECURE simulated TEE) and `anima chain serve` as
their own processes; the seller and the dev facilitator as uvicorn apps on loopback
in this process (so their CPU competes with the payer's, as on one small host).
Prints figures and the machine they ran on; not a pass/fail test.
Usage: python bench/economy_bench.py [--payments N] [--reads N]
"""

from __future__ import annotations

import argparse
import time

import httpx
from chain_stack import percentiles, run_on_local_chain  # bench/, beside this script
from eth_account import Account
from eth_utils.address import to_checksum_address
from machine import machine

from anima_chain_api.client import ChainClient
from anima_dev.contracts import set_balance
from anima_dev.economy import (
    PRICE,
    SIM_TRUST,
    TOKEN_NAME,
    deploy_economy,
    give_token,
    market,
    payment_policy,
)
from anima_dev.local_chain import LocalChain
from anima_dev.local_chain_client import LocalChainClient
from anima_dev.local_signer import LocalSigner
from anima_economy.agent_identity import register
from anima_economy.eip3009 import TokenDomain
from anima_economy.erc8004 import AgentCard, read_identity
from anima_economy.payer import X402Payer
from anima_signer_api.client import SignerClient
from anima_signer_api.policy_document import owner_typed_data, parse_document

AGENT = "bench-buyer"
OWNER_KEY = "0x" + "4f" * 32


async def _run(
    chain: LocalChain, signer: LocalSigner, verifier: LocalChainClient, payments: int, reads: int
) -> None:
    contracts = deploy_economy(chain)
    domain = TokenDomain(TOKEN_NAME, "1", chain.chain_id, contracts.token)
    async with (
        await SignerClient.connect_attested(
            address=signer.address, token=signer.tokens["admin"], policy=SIM_TRUST
        ) as admin,
        await SignerClient.connect_attested(
            address=signer.address, token=signer.tokens["runtime"], policy=SIM_TRUST
        ) as runtime,
        market(chain, domain) as shop,
        httpx.AsyncClient(timeout=10) as http,
    ):
        agent = await admin.create_agent(AGENT, owner=Account.from_key(OWNER_KEY).address)
        wallet = to_checksum_address(agent.wallets[0].address)
        document = payment_policy(AGENT, contracts, [shop.pay_to], chain.chain_id,
                                  per_day=10**15)  # fmt: skip
        typed = owner_typed_data(parse_document(document), agent_address=wallet)
        signature = bytes(Account.sign_typed_data(OWNER_KEY, full_message=typed).signature)
        await admin.apply_policy(AGENT, document, signature)
        set_balance(chain, bytes.fromhex(wallet[2:]), 10**18)
        give_token(chain, contracts.token, wallet, (payments + 20) * PRICE)
        client = ChainClient.connect(
            verifier.address, verifier.token, certificate_pem=verifier.certificate_pem
        )
        async with client:
            payer = X402Payer(http=http, signer=runtime, chain=client, agent_id=AGENT,
                              wallet=wallet, chain_id=chain.chain_id,
                              assets={contracts.token.lower(): domain},
                              journal=lambda _: None)  # fmt: skip
            url = f"{shop.seller_url}/weather"
            for _ in range(5):  # warm up: connections, caches
                await payer.request("GET", url)
            samples = []
            for _ in range(payments):
                started = time.perf_counter()
                paid = await payer.request("GET", url)
                samples.append(time.perf_counter() - started)
                assert paid.payment is not None
            print(f"x402 round trip (402, enclave signature, paid + settled + proven): "
                  f"{percentiles(samples)}")  # fmt: skip

            card = AgentCard("bench", "", f"eip155:{chain.chain_id}:{wallet}",
                             "http://127.0.0.1/v1/logs/x", agent.log_verifier_key,
                             "http://127.0.0.1/v1/logs/x/attestation")  # fmt: skip
            identity = bytes.fromhex(contracts.identity[2:])
            uri = "https://agents.example/" + "a" * 60 + "/registration.json"  # a long URI
            done = await register(client, signer_agent_id=AGENT, identity=identity, uri=uri,
                                  file=card.to_bytes())  # fmt: skip
            for _ in range(10):
                await read_identity(client, identity, done.agent_id)
            samples = []
            for _ in range(reads):
                started = time.perf_counter()
                found = await read_identity(client, identity, done.agent_id)
                samples.append(time.perf_counter() - started)
                assert found.uri == uri
            print(f"ERC-8004 identity read (owner, URI of {len(uri)} bytes, hash; proven "
                  f"storage, 2 round trips): {percentiles(samples)}")  # fmt: skip


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--payments", type=int, default=100)
    parser.add_argument("--reads", type=int, default=200)
    args = parser.parse_args()
    print(f"machine: {machine()}")
    run_on_local_chain(lambda *stack: _run(*stack, args.payments, args.reads))


if __name__ == "__main__":
    main()
