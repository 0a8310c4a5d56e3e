"""`anima demo`: the main job, on embedded defaults.

Today it covers DESIGN.md §3 steps 1-2 and the signing half of step 3: start
the signer (INSECURE simulated TEE) as its own process, create an agent, print
its identity and verified attestation, sign a transaction and a message and
check them with eth-account, and show the policy refusing a transfer above
its limit. Later issues grow this into the whole story.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import secrets
import tempfile
from dataclasses import replace
from pathlib import Path

import grpc
from eth_account import Account
from eth_account.messages import encode_defunct

from anima_core.attestation import MeasurementPolicy
from anima_signer.client import SignerClient
from anima_signer.local import local_signer
from anima_signer.models import (
    PersonalMessage,
    SignedTransaction,
    SigningPolicy,
    SignRequest,
    Transaction,
    TxType,
)

DEV_CHAIN_ID = 31337
ONE_ETH = 10**18


def register(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    demo = commands.add_parser("demo", help="run the end-to-end story on embedded defaults")
    demo.add_argument("--state-dir", type=Path, help="keep state here (default: a temp dir)")
    demo.set_defaults(func=_run)


def _say(step: str, text: str = "") -> None:
    print(f"[{step}] {text}" if text else f"\n== {step}", flush=True)


async def _story(address: str, admin_token: str, runtime_token: str) -> None:
    # The simulated TEE proves nothing; accepting it must be said out loud.
    trust = MeasurementPolicy.insecure_simulated_for_development()

    _say("2. create an agent; the enclave derives its keys and attests them")
    async with await SignerClient.connect_attested(
        address=address, token=admin_token, policy=trust
    ) as admin:
        assert admin.attestation is not None
        _say("channel", f"TLS key bound in {admin.attestation.tee} evidence, verified")
        agent = await admin.create_agent(
            f"demo-{secrets.token_hex(3)}",
            policy=SigningPolicy(
                allowed_chain_ids=frozenset({DEV_CHAIN_ID}),
                max_value_wei=ONE_ETH,
                allow_personal_messages=True,
            ),
        )
        agent, verified = await admin.attest_agent(agent.agent_id, policy=trust)
    _say("agent", agent.agent_id)
    _say("wallet", agent.wallets[0].address)
    _say("log key", agent.log_verifier_key)
    _say(
        "attestation",
        f"tee={verified.tee} (INSECURE simulation: {verified.insecure}) "
        f"status={verified.tcb_status} mrtd={verified.mrtd.hex()[:16]}... "
        f"report_data binds keys+TLS+nonce: {verified.report_data.hex()[:16]}...",
    )

    _say("3. sign within the owner's policy, and be refused beyond it")
    async with await SignerClient.connect_attested(
        address=address, token=runtime_token, policy=trust
    ) as runtime:
        transfer = Transaction(
            type=TxType.EIP1559,
            chain_id=DEV_CHAIN_ID,
            nonce=0,
            gas_limit=21_000,
            to="0x000000000000000000000000000000000000dEaD",
            value=ONE_ETH // 100,
            max_fee_per_gas=2 * 10**9,
            max_priority_fee_per_gas=10**9,
        )
        signed = await runtime.sign(SignRequest(agent.agent_id, transfer, "demo-transfer-1"))
        assert isinstance(signed, SignedTransaction)
        sender = Account.recover_transaction(signed.raw_transaction)
        ok = sender == agent.wallets[0].address
        _say("tx", f"0x{signed.transaction_hash.hex()} sender recovered by eth-account: {ok}")
        if not ok:
            raise RuntimeError("recovered sender differs from the agent's wallet")

        text = b"gm from an attested agent"
        signature = await runtime.sign(SignRequest(agent.agent_id, PersonalMessage(text)))
        assert not isinstance(signature, SignedTransaction)
        recovered = Account.recover_message(encode_defunct(text), signature=signature.signature)
        _say("message", f"EIP-191 signer recovered: {recovered == agent.wallets[0].address}")

        too_much = SignRequest(agent.agent_id, replace(transfer, value=5 * ONE_ETH))
        try:
            await runtime.sign(too_much)
        except grpc.aio.AioRpcError as exc:
            _say("refused", f"{exc.code().name}: {exc.details()}")
        else:
            raise RuntimeError("a transfer above the policy limit was signed")


def _run(args: argparse.Namespace) -> int:
    with contextlib.ExitStack() as stack:
        state_dir = args.state_dir or Path(stack.enter_context(tempfile.TemporaryDirectory()))
        _say("1. start the stack (INSECURE simulated TEE, embedded defaults)")
        signer = stack.enter_context(local_signer(state_dir))
        _say("signer", f"separate process on {signer.address}, attested gRPC over TLS")
        asyncio.run(_story(signer.address, signer.tokens["admin"], signer.tokens["runtime"]))
    _say("done", "every check above passed")
    return 0
