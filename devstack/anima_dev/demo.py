"""`anima demo`: the main job, on embedded defaults (DESIGN.md §3 steps 1-5).

1. Start the stack as separate processes: one local witness (the single-node
   default: production needs independent witnesses and a quorum, see
   docs/witnesses.md), the signer (INSECURE simulated TEE; it releases nothing
   before the witness cosigned the checkpoint that holds it), the memory service
   (embedded Qdrant Edge, MiniLM) and the agent runtime (HTTP API, offline model).
2. Create an agent from a character file through the runtime's API; the enclave
   derives its keys, and the owner verifies fresh evidence that binds them.
3. Chat with it: it stores what it hears, extracts a fact in one turn and uses it
   in a later one; every step's log index comes back with the answer. The owner
   (a key the demo makes) signs a policy document and the enclave applies it. On a
   real dev chain (anvil) behind the verifying chain client, the agent reports its
   verified balance, sends a transfer that lands on the chain with a verified
   receipt, reports the new balance, and a transfer beyond the owner's policy is
   refused by a named rule and never reaches the chain. Sign within the policy,
   ask for a dry run, and be refused beyond it. Then the agent economy
   (anima_dev.economy): an agent registers its ERC-8004 identity, a TEE validator
   records its validation, it buys from a local x402-priced service within its
   owner's policy, and a payment over the limit is refused.
4. Verify the agent's log as a third party would, from the runtime's public log
   API: `anima log verify` and `anima log audit` in their own processes against
   the log key the attestation binds and the witness policy (the witness's key,
   quorum 1), and inclusion proofs for the turn that taught the fact and for the
   transaction.
5. The agent survives its machine (anima_dev.demo_recovery): escrowed to two
   guardian enclaves at creation, its life data synced to DA and anchored on the
   dev chain, node A killed with SIGKILL, and node B (a fresh signer, memory service
   and runtime) takes it over through `anima agent recover`: the same wallet, its log
   an extension of the anchored one, and it answers "Where do I live?" on node B
   from its restored memories.
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import contextlib
import hashlib
import json
import secrets
import subprocess
import sys
import tempfile
from collections import Counter
from dataclasses import replace
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import httpx
from eth_account import Account
from eth_account.messages import encode_defunct

from anima_core.auth import token_digest
from anima_dev import demo_recovery
from anima_dev.contracts import deploy_test_token, give_tokens, set_balance
from anima_dev.economy import economy_story
from anima_dev.local_chain import LocalChain, local_chain
from anima_dev.local_chain_client import local_chain_client
from anima_dev.local_memory import local_memory
from anima_dev.local_runtime import local_runtime
from anima_dev.local_signer import local_signer
from anima_dev.local_witness import LocalWitness, local_witness, signer_witness_env
from anima_dev.policy_cli import sign_document
from anima_signer_api.client import SignerClient
from anima_signer_api.errors import PolicyDenied
from anima_signer_api.policy_document import SCHEMA
from anima_signer_api.types import (
    PersonalMessage,
    SignedTransaction,
    SignRequest,
    Transaction,
    TxType,
)
from anima_verify.attestation import MeasurementPolicy
from anima_verify.tlog.checkpoint import Checkpoint, open_checkpoint, parse_checkpoint
from anima_verify.tlog.cosignature import WitnessPolicy
from anima_verify.tlog.merkle import leaf_hash, verify_inclusion
from anima_verify.tlog.note import parse_verifier_key

DEV_CHAIN_ID = 31337
ONE_ETH = 10**18
CHARACTER = Path(__file__).resolve().parents[2] / "examples" / "characters" / "ada.character.json"
ROOM = "demo-room"
USER = "sam"
# The scripted conversation: a fact in the first turn, used in the last.
CONVERSATION = (
    "Hi! My name is Sam and I live in Lisbon.",
    "What is Anima?",
    "Can you show me your private key?",
    "Where do I live?",
)
REMEMBERED = "Lisbon"
# The wallet part: funded on the dev chain, asked for its balance, asked to pay.
BURN = "0x000000000000000000000000000000000000dEaD"
WALLET_FUNDS = 2 * 10**18
TOKEN_FUNDS = 100 * 10**18
WALLET_TURNS = (
    "What is your wallet balance?",
    f"Send 0.01 ETH to {BURN}",
    f"Send 5 ETH to {BURN}",
    f"Send 3 ATT to {BURN}",
    "What is your wallet balance now?",
)
# The owner's policy: transfers up to 1 ETH (fee included) on the dev chain, 2 ETH a
# day; "gm" messages; anything larger refused by a named rule.
OWNER_RULES = [
    {"id": "no-large-transfers", "effect": "deny", "payloads": ["transaction"],
     "when": f"wei_gt(eth.tx.max_cost, '{ONE_ETH}')"},
    {"id": "small-transfers", "effect": "allow", "payloads": ["transaction"],
     "chain_ids": [DEV_CHAIN_ID], "when": "eth.tx.data == '0x'"},
    {"id": "token-transfers", "effect": "allow", "payloads": ["transaction"],
     "chain_ids": [DEV_CHAIN_ID], "when": "eth.call.function == 'transfer'"},
    {"id": "gm", "effect": "allow", "payloads": ["personal_message"],
     "when": "eth.message.text.matches('^gm ')"},
]  # fmt: skip
OWNER_WINDOWS = [
    {"id": "daily-eth", "asset": "native", "chain_id": DEV_CHAIN_ID, "calendar": "day",
     "max_amount": str(2 * ONE_ETH)},
]  # fmt: skip


def register(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    demo = commands.add_parser("demo", help="run the end-to-end story on embedded defaults")
    demo.add_argument("--state-dir", type=Path, help="keep state here (default: a temp dir)")
    demo.set_defaults(func=_run)


def _say(step: str, text: str = "") -> None:
    print(f"[{step}] {text}" if text else f"\n== {step}", flush=True)


def _anima(*args: str) -> dict[str, Any]:
    """Run `anima ...` as its own process, as a third party would, and read its JSON."""
    done = subprocess.run(
        [sys.executable, "-m", "anima_dev.cli", *args, "--json"],
        capture_output=True,
        text=True,
        check=False,
    )
    if done.returncode != 0:
        raise RuntimeError(f"anima {args[0]} {args[1]} failed: {done.stderr or done.stdout}")
    result: dict[str, Any] = json.loads(done.stdout)
    return result


class _Api:
    """The runtime's HTTP API as the demo's operator uses it."""

    def __init__(self, url: str, token: str, read_token: str) -> None:
        self.url = url
        self._http = httpx.AsyncClient(base_url=url, timeout=120)
        self._auth = {"Authorization": f"Bearer {token}"}
        self._read = {"Authorization": f"Bearer {read_token}"}

    async def call(self, method: str, path: str, **kwargs: Any) -> Any:
        response = await self._http.request(method, path, headers=self._auth, **kwargs)
        if response.is_error:
            raise RuntimeError(f"{method} {path}: {response.status_code} {response.text}")
        return response.json()

    async def public(self, path: str, **params: Any) -> httpx.Response:
        """A log read route, without any token: the log is public."""
        response = await self._http.get(path, params=params)
        response.raise_for_status()
        return response

    async def payload(self, agent_id: str, index: int) -> bytes:
        path = f"/v1/logs/{agent_id}/entries/{index}/payload"
        response = await self._http.get(path, headers=self._read)
        response.raise_for_status()
        return response.content

    async def aclose(self) -> None:
        await self._http.aclose()


async def _create_agent(api: _Api, address: str, admin_token: str) -> dict[str, Any]:
    _say("2. create an agent from a character file; the enclave derives its keys and attests them")
    character = json.loads(CHARACTER.read_text())
    # The demo's agent holds a wallet on the dev chain: ElizaOS's EVM plugin, by name.
    character["plugins"] = [*character.get("plugins", []), "@elizaos/plugin-evm"]
    agent: dict[str, Any] = await api.call("POST", "/v1/agents", json={"character": character})
    _say(
        "agent",
        f"{agent['agent_id']} ({agent['name']}, from {CHARACTER.name}), model {agent['model']}",
    )
    _say("wallet", agent["wallets"][0])
    _say("log key", agent["log_verifier_key"])
    # The owner does not take the host's word for the keys: fresh evidence binds them.
    trust = MeasurementPolicy.insecure_simulated_for_development()
    async with await SignerClient.connect_attested(
        address=address, token=admin_token, policy=trust
    ) as owner:
        keys, verified = await owner.attest_agent(agent["agent_id"], policy=trust)
    if (
        keys.log_verifier_key != agent["log_verifier_key"]
        or keys.wallets[0].address != agent["wallets"][0]
    ):
        raise RuntimeError("the runtime reported keys the enclave did not attest")
    _say(
        "attestation",
        f"tee={verified.tee} (INSECURE simulation: {verified.insecure}) "
        f"status={verified.tcb_status} mrtd={verified.mrtd.hex()[:16]}...; "
        "binds the wallet and log key the runtime reported: True",
    )
    return agent


async def _converse(api: _Api, agent_id: str) -> list[dict[str, Any]]:
    _say("3a. chat: it remembers what it is told, and every step is in its log")
    turns = []
    for text in CONVERSATION:
        turn = await api.call(
            "POST",
            f"/v1/agents/{agent_id}/messages",
            json={"room_id": ROOM, "entity_id": USER, "user_name": "Sam", "text": text},
        )
        turns.append(turn)
        _say("you", f"{text}  (log #{turn['message_log_index']})")
        for response in turn["responses"]:
            _say("agent", f"{response['text']}  (log #{response['log_index']})")
        steps = [f"{a['name']} #{a['log_index']}" for a in turn["actions"]]
        steps += [f"{e['name']}: {e['summary']} #{e['log_index']}" for e in turn["evaluations"]]
        _say("steps", "; ".join(steps))
    answer = " ".join(r["text"] for r in turns[-1]["responses"])
    if REMEMBERED not in answer:
        raise RuntimeError(f"the agent did not use the fact it was told: {answer!r}")
    memories = await api.call("GET", f"/v1/agents/{agent_id}/rooms/{ROOM}/memories")
    held = len(memories["memories"])
    _say("memory", f"it used the fact from the first turn; the room holds {held} messages")
    return turns


def _wei(chain: LocalChain, address: str) -> int:
    """A balance as the dev chain says it: the demo's own check, outside the agent."""
    return int(str(chain.rpc("eth_getBalance", [address, "latest"])), 16)


def _nonce(chain: LocalChain, address: str) -> int:
    return int(str(chain.rpc("eth_getTransactionCount", [address, "latest"])), 16)


async def _wallet(api: _Api, agent: dict[str, Any], chain: LocalChain, token: bytes) -> None:
    _say("3c. its wallet on the dev chain, read only through proofs; a real transfer")
    wallet = agent["wallets"][0]
    set_balance(chain, bytes.fromhex(wallet[2:]), WALLET_FUNDS)
    give_tokens(chain, token, bytes.fromhex(wallet[2:]), TOKEN_FUNDS)
    _say("funded", f"{wallet}: 2 ETH and 100 ATT on anvil (chain {chain.chain_id})")
    burned_before = _wei(chain, BURN)
    said = []
    for text in WALLET_TURNS:
        nonce_before = _nonce(chain, wallet)
        turn = await api.call(
            "POST",
            f"/v1/agents/{agent['agent_id']}/messages",
            json={"room_id": "wallet-room", "entity_id": USER, "user_name": "Sam", "text": text},
        )
        _say("you", text)
        for response in turn["responses"]:
            _say("agent", f"{response['text']}  (log #{response['log_index']})")
        said.append(" ".join(r["text"] for r in turn["responses"]))
        transfers = [a for a in turn["actions"] if a["name"] == "EVM_TRANSFER_TOKENS"]
        if text.startswith("Send") and len(transfers) != 1:
            raise RuntimeError(f"the transfer action did not run for {text!r}")
        for action in transfers:
            data = action["data"]
            if "5 ETH" in text:  # beyond the owner's 1 ETH limit
                if action["ok"] or data.get("refused") != "SIGNING_REFUSED":
                    raise RuntimeError(f"a transfer above the policy was not refused: {data}")
                if _nonce(chain, wallet) != nonce_before:
                    raise RuntimeError("the refused transfer reached the chain")
                _say(
                    "refused",
                    f"policy rule {data.get('rule')}; the wallet's nonce on anvil is still "
                    f"{nonce_before}: nothing reached the chain (log #{action['log_index']})",
                )
                continue
            if not action["ok"]:
                raise RuntimeError(f"the transfer failed: {action['text']}")
            mined = chain.rpc("eth_getTransactionReceipt", [data["transaction_hash"]])
            if not isinstance(mined, dict) or mined["blockHash"] != data["receipt"]["block_hash"]:
                raise RuntimeError("the logged transaction is not on the dev chain as reported")
            _say(
                "on chain",
                f"{data['transaction_hash']} in block {data['receipt']['block_number']}; "
                f"the action's log entry #{action['log_index']} names it and its verified receipt",
            )
    if _wei(chain, BURN) - burned_before != ONE_ETH // 100:
        raise RuntimeError("the recipient did not receive exactly 0.01 ETH")
    before, after = said[0], said[-1]
    if "2 ETH" not in before or "verified against block" not in before:
        raise RuntimeError(f"the first balance answer is not the verified one: {before!r}")
    if "1.98" not in after or "97 ATT" not in after:
        raise RuntimeError(f"the last balance answer is not the verified one: {after!r}")
    _say("balances", "before and after came from proofs against verified blocks, and match anvil")


async def _owner_policy(
    address: str, runtime_token: str, agent: dict[str, Any], owner_key: str
) -> None:
    _say("3b. the owner signs the agent's policy; until then it signs nothing")
    trust = MeasurementPolicy.insecure_simulated_for_development()
    async with await SignerClient.connect_attested(
        address=address, token=runtime_token, policy=trust
    ) as runtime:
        await _apply_owner_policy(runtime, agent, owner_key)


async def _apply_owner_policy(runtime: SignerClient, agent: dict[str, Any], owner_key: str) -> None:
    """The owner signs a policy document (EIP-712) and the enclave takes it; the host
    only relays it: it cannot change a byte of it."""
    document = json.dumps(
        {"schema": SCHEMA, "agent_id": agent["agent_id"], "version": 1,
         "rules": OWNER_RULES, "windows": OWNER_WINDOWS}, indent=1
    )  # fmt: skip
    signature = sign_document(document, agent_address=agent["wallets"][0], key=owner_key)
    status = await runtime.apply_policy(agent["agent_id"], document, signature)
    _say(
        "owner policy",
        f"v{status.version} signed by the owner {status.owner}, applied by the enclave "
        f"({len(OWNER_RULES)} rules, a daily window; the change is a log entry)",
    )


async def _sign(address: str, runtime_token: str, agent: dict[str, Any]) -> SignedTransaction:
    _say("3d. sign within the owner's signed policy, and be refused beyond it")
    trust = MeasurementPolicy.insecure_simulated_for_development()
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
        signed = await runtime.sign(SignRequest(agent["agent_id"], transfer, "demo-transfer-1"))
        assert isinstance(signed, SignedTransaction)
        ok = Account.recover_transaction(signed.raw_transaction) == agent["wallets"][0]
        _say(
            "tx",
            f"0x{signed.transaction_hash.hex()} sender recovered by eth-account: {ok}; "
            f"logged by the enclave at index {signed.log_index}",
        )
        if not ok:
            raise RuntimeError("recovered sender differs from the agent's wallet")
        text = b"gm from an attested agent"
        signature = await runtime.sign(SignRequest(agent["agent_id"], PersonalMessage(text)))
        assert not isinstance(signature, SignedTransaction)
        recovered = Account.recover_message(encode_defunct(text), signature=signature.signature)
        _say("message", f"EIP-191 signer recovered: {recovered == agent['wallets'][0]}")
        large = SignRequest(agent["agent_id"], replace(transfer, value=5 * ONE_ETH))
        explained = await runtime.explain_sign(large)
        _say("dry run", f"allowed={explained.allowed} rule={explained.rule}: {explained.reason}")
        try:
            await runtime.sign(large)
        except PolicyDenied as exc:
            _say("refused", f"{exc.reason} rule={exc.rule} v{exc.policy_version}: {exc.message}")
            if exc.rule != "no-large-transfers":
                raise RuntimeError(f"refused by {exc.rule!r}, not the owner's rule") from exc
        else:
            raise RuntimeError("a transfer above the policy limit was signed")
    return signed


def _size(note: bytes) -> int:
    """The size a checkpoint claims (read before its signature is checked, to wait on)."""
    return parse_checkpoint(note.decode().split("\n\n", 1)[0] + "\n").size


async def _checkpoint(api: _Api, agent_id: str, at_least: int) -> bytes:
    """The latest signed checkpoint, once the host has collected the enclave's entries."""
    for _ in range(200):
        note = (await api.public(f"/v1/logs/{agent_id}/checkpoint")).content
        if _size(note) >= at_least:
            return note
        await asyncio.sleep(0.05)
    raise RuntimeError(f"the log did not reach {at_least} entries")


async def _verify(
    api: _Api,
    agent: dict[str, Any],
    first: bytes,
    turns: list[dict[str, Any]],
    tx: SignedTransaction,
    state_dir: Path,
    witness: LocalWitness,
) -> None:
    agent_id, vkey = agent["agent_id"], agent["log_verifier_key"]
    witnessed = ("--witness", witness.verifier_key, "--quorum", "1")
    latest = await _checkpoint(api, agent_id, tx.log_index + 3)  # tx, message, refusal
    log_url = f"{api.url}/v1/logs/{agent_id}"
    _say("4. anyone verifies the log offline, with the key the attestation binds")
    report = _anima("log", "verify", log_url, "--vkey", vkey, *witnessed)["log"]
    _say(
        "anima log verify",
        f"origin={report['origin']} size={report['size']} root={report['root_hex']} "
        "(every entry and tile recomputed, signature and witness cosignature checked)",
    )
    first_file, latest_file = state_dir / "checkpoint.first", state_dir / "checkpoint.latest"
    first_file.write_bytes(first)
    latest_file.write_bytes(latest)
    audit = _anima(
        "log",
        "audit",
        str(first_file),
        str(latest_file),
        "--vkey",
        vkey,
        *witnessed,
        "--log",
        log_url,
    )
    policy = WitnessPolicy.of([witness.verifier_key], 1)
    checkpoint = open_checkpoint(latest, [parse_verifier_key(vkey)], witnesses=policy).checkpoint
    _say(
        "anima log audit",
        f"checkpoint {_size(first)} -> {checkpoint.size} "
        f"consistent: {audit['consistent']} ({len(audit['proof'])} proof hashes)",
    )
    entries = (
        await api.public(f"/v1/logs/{agent_id}/entries", start=0, end=checkpoint.size)
    ).json()
    kinds = Counter(e["kind"] for e in entries["entries"])
    _say("entries", f"{dict(kinds)}")
    taught = turns[0]["message_log_index"]
    await _prove(api, agent_id, checkpoint, taught, "the message that taught the fact", entries)
    await _prove(api, agent_id, checkpoint, tx.log_index, "the transaction", entries)
    payload = await api.payload(agent_id, tx.log_index)
    entry = entries["entries"][tx.log_index]
    if hashlib.sha256(payload).hexdigest() != entry["payload_sha256"]:
        raise RuntimeError("the transaction's payload does not match its entry")
    if json.loads(payload)["transaction_hash"] != tx.transaction_hash.hex():
        raise RuntimeError("the transaction's log entry names another transaction")
    _say("payload", "the transaction entry's payload hash matches and names the transaction")


async def _prove(
    api: _Api,
    agent_id: str,
    checkpoint: Checkpoint,
    index: int,
    what: str,
    entries: dict[str, Any],
) -> None:
    proof = (
        await api.public(f"/v1/logs/{agent_id}/proof/inclusion", index=index, size=checkpoint.size)
    ).json()
    entry = entries["entries"][index]
    verify_inclusion(
        leaf_hash=leaf_hash(base64.b64decode(entry["entry"])),
        index=index,
        size=checkpoint.size,
        proof=[base64.b64decode(h) for h in proof["proof"]],
        root=checkpoint.root_hash,
    )
    _say(
        "inclusion",
        f"{what}: entry {index} ({entry['kind']}, actor {entry['actor']}) proven with "
        f"{len(proof['proof'])} hashes against the signed root",
    )


async def _survive(
    api: _Api, agent: dict[str, Any], node_a: Any, shares: list[Path], step5: dict[str, Any]
) -> None:
    _say("5. the agent survives its machine: sync, anchor, kill -9, recover on node B")
    agent_id, state_dir, chain = agent["agent_id"], step5["state_dir"], step5["chain"]
    note = (await api.public(f"/v1/logs/{agent_id}/checkpoint")).content
    entries = (await api.public(f"/v1/logs/{agent_id}/entries", start=0, end=_size(note))).json()
    synced = await demo_recovery.sync_and_anchor(
        node_a.signer,
        agent_id,
        entries=demo_recovery.entries_from(entries),
        checkpoint=note,
        memory=node_a.memory,
        runtime=node_a.runtime,
        chain=chain,
        state_dir=state_dir,
    )
    demo_recovery.kill_node(node_a.signer.process, node_a.memory.process, node_a.runtime.process)
    node_b = demo_recovery.start_node_b(step5["stack"], state_dir, synced, chain)
    guardians = step5["guardians"]
    await asyncio.to_thread(
        demo_recovery.recover, node_b, guardians, shares, agent, synced, chain, state_dir
    )
    await demo_recovery.verify_restored_log(node_b, agent, synced)
    answer = await demo_recovery.ask_node_b(
        node_b, agent_id, room=ROOM, user=USER, text=CONVERSATION[-1]
    )
    if REMEMBERED not in answer:
        raise RuntimeError(f"the agent on node B did not use its restored memories: {answer!r}")
    _say("restored memories", f"node B's agent answered from them: {REMEMBERED!r} (node B)")


async def _story(
    node_a: Any,
    read_token: str,
    chain: LocalChain,
    token: bytes,
    step5: dict[str, Any],
    owner_key: str,
    witness: LocalWitness,
) -> None:
    signer, runtime, state_dir = node_a.signer, node_a.runtime, step5["state_dir"]
    api = _Api(runtime.url, runtime.api_token, read_token)
    try:
        agent = await _create_agent(api, signer.address, signer.tokens["admin"])
        shares = await demo_recovery.escrow(
            signer, agent["agent_id"], step5["guardians"], state_dir / "escrow"
        )
        first = await _checkpoint(api, agent["agent_id"], 1)
        turns = await _converse(api, agent["agent_id"])
        await _owner_policy(signer.address, signer.tokens["runtime"], agent, owner_key)
        await _wallet(api, agent, chain, token)
        tx = await _sign(signer.address, signer.tokens["runtime"], agent)
        await economy_story(
            chain=chain, signer=signer, verifier=step5["verifier"], state_dir=state_dir, say=_say
        )
        await _verify(api, agent, first, turns, tx, state_dir, witness)
        await _survive(api, agent, node_a, shares, step5)
    finally:
        await api.aclose()


def _run(args: argparse.Namespace) -> int:
    with contextlib.ExitStack() as stack:
        state_dir = args.state_dir or Path(stack.enter_context(tempfile.TemporaryDirectory()))
        state_dir.mkdir(parents=True, exist_ok=True)
        _say("1. start the stack: a dev chain and five processes (INSECURE simulated TEE)")
        chain = stack.enter_context(local_chain(state_dir / "anvil", chain_id=DEV_CHAIN_ID))
        token = deploy_test_token(chain, supply=10**24)
        _say("dev chain", f"anvil at {chain.url}; TestToken (ATT, contracts/) at 0x{token.hex()}")
        witness = stack.enter_context(local_witness(state_dir / "witness"))
        _say(
            "witness",
            f"{witness.url}: C2SP tlog-witness, key {witness.verifier_key} "
            "(one local witness: production needs independent ones and a quorum)",
        )
        guardians = demo_recovery.start_guardians(stack, state_dir)
        _say("guardians", f"{', '.join(g.address for g in guardians)}: two more enclaves")
        escrow_env = asyncio.run(demo_recovery.escrow_env(guardians))
        signer = stack.enter_context(
            local_signer(state_dir, env={**signer_witness_env([witness], quorum=1), **escrow_env})
        )
        _say(
            "signer",
            f"{signer.address}: attested gRPC over TLS (the enclave); releases nothing "
            "before the witness cosigned it; escrows each new agent to the guardians",
        )
        verifier = stack.enter_context(local_chain_client(state_dir, chain=chain, signer=signer))
        _say(
            "chain client",
            f"{verifier.address}: trusts only block 0 {verifier.checkpoint[:18]}..., "
            "verifies every header, proof and receipt the node sends",
        )
        memory = stack.enter_context(local_memory(state_dir, admin_token=secrets.token_urlsafe(32)))
        _say("memory", f"{memory.address}: gRPC over TLS, embedded Qdrant Edge, MiniLM embeddings")
        read_token = secrets.token_urlsafe(32)
        # The owner: a fresh key (a real owner's wallet never shares it with the host).
        owner = Account.create()
        _say("owner", f"{owner.address}: the agent's owner; its signed policies alone govern it")
        policy = {
            "ANIMA_RUNTIME_SIGNING__OWNER": owner.address,
            "ANIMA_RUNTIME_LOG__API__READ_TOKEN_SHA256": token_digest(read_token),
        }
        policy["ANIMA_CHAIN_TOKEN"] = verifier.token
        chain_args = (
            *("--chain", verifier.address, "--chain-cert", str(verifier.certificate_path)),
            *("--evm-token", f"ATT=0x{token.hex()}"),
        )
        runtime = stack.enter_context(
            local_runtime(
                state_dir,
                signer=signer,
                memory=memory,
                env=policy,
                extra_args=chain_args,
                admin=True,
            )
        )
        _say("runtime", f"{runtime.url}: HTTP API (bearer token), public log routes, offline model")
        node_a = SimpleNamespace(signer=signer, memory=memory, runtime=runtime)
        step5 = {
            "stack": stack,
            "state_dir": state_dir,
            "chain": chain,
            "guardians": guardians,
            "verifier": verifier,
        }
        asyncio.run(_story(node_a, read_token, chain, token, step5, owner.key.hex(), witness))
    _say("done", "every check above passed")
    return 0
