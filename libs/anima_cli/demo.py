"""`anima demo`: the main job, on embedded defaults.

Today it covers DESIGN.md §3 steps 1-2, the signing and logging half of step 3
and step 4: start the signer (INSECURE simulated TEE) as its own process, create
an agent, print its identity and verified attestation, sign a transaction and a
message and check them with eth-account, show the policy refusing a transfer
above its limit, store the agent's log on the host (every signature and the
refusal are in it, put there by the enclave), and verify that log offline as a
third party would: `anima log verify` and `anima log audit` in their own
processes, against the log key the attestation binds, and an inclusion proof
for the transaction's entry. Later issues grow this into the whole story.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import secrets
import subprocess
import sys
import tempfile
from collections import Counter
from dataclasses import replace
from pathlib import Path
from typing import Any

import grpc
from eth_account import Account
from eth_account.messages import encode_defunct

from anima_core.attestation import MeasurementPolicy
from anima_core.tlog.entry import EntryKind, decode_entry
from anima_core.tlog.merkle import inclusion_proof, leaf_hash, verify_inclusion
from anima_runtime.log import AgentLog, LogItem, LogRegistry, PublishedCheckpoint
from anima_runtime.log.service import TILES_DIR
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


def _anima(*args: str) -> dict[str, Any]:
    """Run `anima ...` as its own process, as a third party would, and read its JSON."""
    done = subprocess.run(
        [sys.executable, "-m", "anima_cli.main", *args, "--json"],
        capture_output=True,
        text=True,
        check=False,
    )
    if done.returncode != 0:
        raise RuntimeError(f"anima {args[0]} {args[1]} failed: {done.stderr or done.stdout}")
    result: dict[str, Any] = json.loads(done.stdout)
    return result


async def _log_and_verify(
    runtime: SignerClient, agent_id: str, log_vkey: str, tx: SignedTransaction, state_dir: Path
) -> None:
    _say("3b. the host stores the agent's log; the enclave sequenced and signed it")
    registry = LogRegistry(root=state_dir / "logs", sequencer=runtime, sync_interval_s=None)
    try:
        log = await registry.open(agent_id)  # collects what the enclave logged by itself
        first = _published(log)
        kinds = Counter(decode_entry(e).kind.value for e in log.store.read_entries(0, first.size))
        _say("enclave", f"{first.size} entries it wrote itself: {dict(kinds)}")
        said = [
            LogItem(EntryKind.MESSAGE_IN, "user:demo", "demo-room", b"please pay the invoice"),
            LogItem(EntryKind.RESPONSE, "agent", "demo-room", b"paid 0.01 ETH, tx above"),
        ]
        indices = await log.append(said)
        latest = _published(log)
        _say("host", f"appended a message and a response at {indices}; size {latest.size}")
        first_file, latest_file = state_dir / "checkpoint.first", state_dir / "checkpoint.latest"
        first_file.write_bytes(first.note)
        latest_file.write_bytes(latest.note)
        tiles = registry.root / agent_id / TILES_DIR

        _say("4. anyone verifies the log offline, with the key the attestation binds")
        report = _anima("log", "verify", str(tiles), "--vkey", log_vkey)["log"]
        _say(
            "anima log verify",
            f"origin={report['origin']} size={report['size']} "
            f"root={report['root_hex']} (every entry and tile recomputed, signature checked)",
        )
        audit = _anima(
            "log",
            "audit",
            str(first_file),
            str(latest_file),
            "--vkey",
            log_vkey,
            "--log",
            str(tiles),
        )
        _say(
            "anima log audit",
            f"checkpoint {first.size} -> {latest.size} consistent: {audit['consistent']} "
            f"({len(audit['proof'])} proof hashes)",
        )
        _check_transaction_entry(log, tx)
    finally:
        await registry.close()


def _published(log: AgentLog) -> PublishedCheckpoint:
    published = log.published
    if published is None:
        raise RuntimeError("the log has no checkpoint")
    return published


def _check_transaction_entry(log: AgentLog, tx: SignedTransaction) -> None:
    """The transaction's entry is in the signed tree and names the transaction."""
    checkpoint = _published(log).checkpoint
    index = tx.log_index
    [data] = log.store.read_entries(index, index + 1, checkpoint.size)
    entry = decode_entry(data)
    stored_payload = log.index.payload(index)
    proof = inclusion_proof(log.hash_reader(checkpoint.size), index, checkpoint.size)
    verify_inclusion(
        leaf_hash=leaf_hash(data),
        index=index,
        size=checkpoint.size,
        proof=proof,
        root=checkpoint.root_hash,
    )
    if entry.kind != EntryKind.SIGNATURE or not entry.matches_payload(stored_payload):
        raise RuntimeError("the transaction's log entry does not match its payload")
    if json.loads(stored_payload)["transaction_hash"] != tx.transaction_hash.hex():
        raise RuntimeError("the transaction's log entry names another transaction")
    _say(
        "inclusion",
        f"tx entry {index} ({entry.kind.value}) proven with {len(proof)} hashes "
        f"against the signed root; payload hash matches",
    )


async def _story(address: str, admin_token: str, runtime_token: str, state_dir: Path) -> None:
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
        _say(
            "tx",
            f"0x{signed.transaction_hash.hex()} sender recovered by eth-account: {ok}; "
            f"logged by the enclave at index {signed.log_index}",
        )
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

        await _log_and_verify(runtime, agent.agent_id, agent.log_verifier_key, signed, state_dir)


def _run(args: argparse.Namespace) -> int:
    with contextlib.ExitStack() as stack:
        state_dir = args.state_dir or Path(stack.enter_context(tempfile.TemporaryDirectory()))
        _say("1. start the stack (INSECURE simulated TEE, embedded defaults)")
        signer = stack.enter_context(local_signer(state_dir))
        _say("signer", f"separate process on {signer.address}, attested gRPC over TLS")
        asyncio.run(
            _story(signer.address, signer.tokens["admin"], signer.tokens["runtime"], state_dir)
        )
    _say("done", "every check above passed")
    return 0
