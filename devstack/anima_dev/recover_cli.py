"""`anima agent recover`: bring an agent back to life in this node's signer.

Reads the agent's anchor from the chain the way a restoring enclave must (headers
walked from a block hash the operator trusts, then a storage proof: never the RPC
node's word), fetches the anchored manifest and its chunks from the DA directory,
asks k guardians for their shares (each checks this signer's fresh evidence), and
restores. The opened memories, runtime record and log are staged in --out; with
--memory and --runtime, node B's memory service imports the memories and its
runtime hosts the agent (anima_dev.restore_node), in that order, after the signer.
Rerunning after a failed step finishes the job: a staged restore skips the signer.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import sys
import tempfile
import time
import urllib.request
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from anima_dasync.backends.base import DABackend
from anima_dasync.backends.factory import open_backend
from anima_dasync.backends.local import LocalDirectoryBackend
from anima_dasync.config import DaBackendConfig
from anima_dasync.handover import publish_handover
from anima_dasync.recover import GuardianHold, recover_agent
from anima_dev.anchor import (
    AnchorUpdateFailed,
    read_anchor_proof,
    relay_update_from,
    verified_blocks,
)
from anima_dev.restore_node import (
    OpenedParts,
    RestoreIncomplete,
    host_agent,
    import_memories,
    stage,
    staged,
)
from anima_memory_api.client import MemoryClient
from anima_runtime_api.client import RuntimeClient
from anima_signer_api.cli import (
    add_signer_arguments,
    agent_summary,
    measurement_policy,
    print_summary,
)
from anima_signer_api.client import SignerClient
from anima_signer_api.recovery_client import RestoredAgent
from anima_verify.attestation import MeasurementPolicy
from anima_verify.errors import AnimaError
from anima_verify.lifedata import AnchorState, parse_signed_manifest

if TYPE_CHECKING:
    from anima_signer_api.cli import SubParsers

TOKEN_ENV = "ANIMA_SIGNER_TOKEN"  # noqa: S105 (a variable name): the recovery caller's token
GUARDIAN_TOKEN_ENV = "ANIMA_GUARDIAN_TOKEN"  # noqa: S105 (a variable name)
DASYNC_TOKEN_ENV = "ANIMA_DASYNC_TOKEN"  # noqa: S105 (a variable name)
# The restore carries every chunk (and answers with the opened ones): minutes, not seconds.
RESTORE_TIMEOUT_S = 300.0
MEMORY_TOKEN_ENV = "ANIMA_MEMORY_TOKEN"  # noqa: S105 (a variable name): the admin role
RUNTIME_TOKEN_ENV = "ANIMA_RUNTIME_ADMIN_TOKEN"  # noqa: S105 (a variable name)


def register(agent: SubParsers) -> None:
    recover = agent.add_parser(
        "recover", help="restore an agent into this signer from DA, its anchor and guardians"
    )
    recover.add_argument("agent_id")
    recover.add_argument("--da", type=Path, help="the DA directory (--da-backend local)")
    recover.add_argument(
        "--da-backend",
        choices=("local", "calldata", "blobs"),
        default="local",
        help="where the life data is: a directory, or LifeDataDA on the --rpc chain",
    )
    recover.add_argument("--da-contract", help="LifeDataDA's address (0x...; calldata, blobs)")
    recover.add_argument("--da-poster", help="the address whose manifests count (0x...)")
    recover.add_argument("--blob-archive", type=Path, help="archived blobs (for pruned ones)")
    recover.add_argument("--rpc", required=True, help="the chain's JSON-RPC URL (not trusted)")
    recover.add_argument("--anchor", required=True, help="AgentAnchor contract address (0x...)")
    recover.add_argument(
        "--anchor-agent", required=True, help="the agent's slot in the anchor (0x address)"
    )
    recover.add_argument(
        "--trusted-block", required=True, help="a block hash you trust (0x...): proofs start there"
    )
    recover.add_argument(
        "--log-key", required=True, help="the agent's log verifier key: the identity to restore"
    )
    recover.add_argument(
        "--guardian",
        action="append",
        required=True,
        metavar="HOST:PORT=SHARE_FILE",
        help="a guardian signer and the sealed share it holds (k of them)",
    )
    recover.add_argument(
        "--out", type=Path, help="stage the opened memories, record and log here (owner-only)"
    )
    recover.add_argument(
        "--max-message-mib",
        type=int,
        default=64,
        help="the largest signer message (the restore carries every chunk; default 64)",
    )
    recover.add_argument("--memory", metavar="HOST:PORT", help="this node's memory service")
    recover.add_argument("--memory-cert", type=Path, help="its TLS certificate (PEM) to pin")
    recover.add_argument("--runtime", metavar="HOST:PORT", help="this node's runtime (gRPC)")
    recover.add_argument("--runtime-cert", type=Path, help="its TLS certificate (PEM) to pin")
    recover.add_argument(
        "--relay-from",
        metavar="0xADDRESS",
        help="then anchor the handover: publish the manifest at the next epoch (with the "
        "handover entry) and relay the enclave-signed update from this account, which the "
        "RPC node signs for (anvil: a dev account); the old enclave is fenced from then on. "
        f"Token: {DASYNC_TOKEN_ENV} (the new signer's dasync caller)",
    )
    recover.add_argument("--chain-id", type=int, help="with --relay-from (default: the node's)")
    add_signer_arguments(recover)
    recover.add_argument("--json", action="store_true", help="print JSON")
    recover.set_defaults(func=_recover)


@dataclass(frozen=True)
class JsonRpc:
    """The chain's JSON-RPC, untrusted: every answer used is checked (anima_dev.anchor)."""

    url: str

    def rpc(self, method: str, params: Sequence[object] = ()) -> object:
        body = json.dumps({"jsonrpc": "2.0", "id": 1, "method": method, "params": list(params)})
        request = urllib.request.Request(  # noqa: S310 (the operator's URL)
            self.url, data=body.encode(), headers={"Content-Type": "application/json"}
        )
        with urllib.request.urlopen(request, timeout=30) as response:  # noqa: S310
            answer = json.loads(response.read())
        if "error" in answer:
            raise RuntimeError(f"{method}: {answer['error']}")
        return answer["result"]


def hex_argument(value: str, size: int, what: str, command: str = "anima agent recover") -> bytes:
    """A command-line hex value of exactly `size` bytes, or exit naming the flag."""
    try:
        raw = bytes.fromhex(value.removeprefix("0x"))
    except ValueError:
        raise SystemExit(f"{command}: {what} is not hex") from None
    if len(raw) != size:
        raise SystemExit(f"{command}: {what} is {size} bytes")
    return raw


def _token(env: str) -> str:
    token = os.environ.get(env, "")
    if not token:
        raise SystemExit(f"anima agent recover: set {env} to a caller token")
    return token


def _guardians(specs: Sequence[str]) -> list[tuple[str, bytes]]:
    out = []
    for spec in specs:
        address, sep, share_file = spec.partition("=")
        if not sep:
            raise SystemExit("anima agent recover: --guardian is HOST:PORT=SHARE_FILE")
        out.append((address, Path(share_file).read_bytes()))
    return out


def da_backend(args: argparse.Namespace) -> DABackend:
    """The backend to read from, read-only: a recovering node posts nothing."""
    if args.da_backend == "local":
        if args.da is None:
            raise SystemExit("anima agent recover: --da DIR (the local DA directory)")
        return LocalDirectoryBackend(root=args.da)
    if not args.da_contract or not args.da_poster:
        raise SystemExit(
            f"anima agent recover: --da-backend {args.da_backend} needs "
            "--da-contract and --da-poster"
        )
    chain_id = int(str(JsonRpc(args.rpc).rpc("eth_chainId")), 16)
    scratch = Path(tempfile.mkdtemp(prefix="anima-recover-"))  # locator cache, fetched blobs
    config = DaBackendConfig(
        backend=args.da_backend,
        rpc_url=args.rpc,
        chain_id=chain_id,
        contract=args.da_contract,
        manifest_poster=args.da_poster,
        blob_archive_dir=args.blob_archive,
    )
    return open_backend(config, da_dir=scratch, state_dir=scratch, read_only=True)


async def _restore(
    args: argparse.Namespace, guardians: Sequence[tuple[str, bytes]]
) -> tuple[dict[str, Any], OpenedParts]:
    policy = measurement_policy(args)
    chain = JsonRpc(args.rpc)
    contract = hex_argument(args.anchor, 20, "--anchor")
    # Checked here first, then again by the enclave when it has an anchor configured.
    head, blocks = await asyncio.to_thread(
        verified_blocks, chain, hex_argument(args.trusted_block, 32, "--trusted-block")
    )
    slot = hex_argument(args.anchor_agent, 20, "--anchor-agent")
    anchored, proof = await asyncio.to_thread(read_anchor_proof, chain, contract, slot, head)
    anchor_proof = (slot, [json.dumps(b).encode() for b in blocks], json.dumps(proof).encode())
    guardian_token = _token(GUARDIAN_TOKEN_ENV)
    backend = await asyncio.to_thread(da_backend, args)
    holds = []
    for address, sealed_share in guardians:
        client = await SignerClient.connect_attested(
            address=address, token=guardian_token, policy=policy
        )
        holds.append(GuardianHold(client=client, sealed_share=sealed_share))
    try:
        async with await SignerClient.connect_attested(
            address=args.signer,
            token=_token(TOKEN_ENV),
            policy=policy,
            max_message_bytes=args.max_message_mib << 20,
            timeout=RESTORE_TIMEOUT_S,
        ) as new:
            restored = await recover_agent(
                new,
                holds,
                agent_id=args.agent_id,
                log_verifier_key=args.log_key,
                backend=backend,
                anchored=anchored,
                anchor_proof=anchor_proof,
            )
    finally:
        for hold in holds:
            await hold.client.close()
    summary = agent_summary(restored.agent)
    summary["anchor"] = {
        "version": anchored.version,
        "epoch": anchored.epoch,
        "checkpoint_size": anchored.checkpoint_size,
        "checkpoint_root": anchored.checkpoint_root.hex(),
        "verified_block": head.number,
    }
    summary["restored_parts"] = [{"kind": k, "items": n} for k, _, n in restored.parts]
    # The signer checked this manifest's checkpoint; node B's runtime checks it again.
    manifest = parse_signed_manifest(backend.get_manifest(args.agent_id, anchored.version))
    opened = OpenedParts(
        agent_id=args.agent_id,
        log_verifier_key=restored.agent.log_verifier_key,
        wallets=tuple(w.address for w in restored.agent.wallets),
        checkpoint=manifest.manifest.checkpoint.encode(),
        parts=restored.parts,
    )
    if args.relay_from:
        summary["handover"] = await _anchor_handover(
            args, chain, contract, anchored, restored, backend
        )
    return summary, opened


async def take_over(args: argparse.Namespace, opened: OpenedParts) -> dict[str, Any]:
    """Node B's memory service, then its runtime (anima_dev.restore_node)."""
    memory = MemoryClient.connect(
        args.memory, _token(MEMORY_TOKEN_ENV), certificate_pem=_pem(args.memory_cert)
    )
    runtime = RuntimeClient.connect(
        args.runtime, _token(RUNTIME_TOKEN_ENV), certificate_pem=_pem(args.runtime_cert)
    )
    async with memory, runtime:
        started = time.perf_counter()
        with _step(args, "importing the memories into node B's memory service"):
            memories = await import_memories(memory, runtime, opened)
        imported = time.perf_counter()
        with _step(args, "hosting the agent in node B's runtime"):
            view, how = await host_agent(runtime, opened)
        hosted = time.perf_counter()
    memories["seconds"] = round(imported - started, 3)
    return {
        "memories": memories,
        "runtime": {
            "agent": how,
            "running": None if view is None else view.running,
            "seconds": round(hosted - imported, 3),
        },
    }


@contextlib.contextmanager
def _step(args: argparse.Namespace, doing: str) -> Iterator[None]:
    try:
        yield
    except AnimaError as exc:
        raise RestoreIncomplete(
            f"the signer holds the restored agent (parts staged in {args.out}), but {doing} "
            f"failed: {exc.message}. Rerun this command to finish: nothing is done twice"
        ) from exc


def _pem(path: Path | None) -> bytes | None:
    return None if path is None else path.read_bytes()


async def _run(args: argparse.Namespace) -> dict[str, Any]:
    takes_over = args.memory is not None or args.runtime is not None
    if takes_over and (args.memory is None or args.runtime is None or args.out is None):
        raise SystemExit("anima agent recover: --memory and --runtime go together, with --out")
    opened = None if args.out is None else staged(args.out, args.agent_id, args.log_key)
    if opened is None:
        started = time.perf_counter()
        summary, opened = await _restore(args, _guardians(args.guardian))
        summary["signer_seconds"] = round(time.perf_counter() - started, 3)
        if args.out is not None:
            stage(args.out, opened)
    else:  # the signer restore is done (it cannot run twice): finish the rest
        summary = {
            "agent_id": opened.agent_id,
            "wallets": [{"index": n, "address": a} for n, a in enumerate(opened.wallets)],
            "log_verifier_key": opened.log_verifier_key,
            "signer": f"restored by an earlier run (staged in {args.out})",
        }
    if takes_over:
        summary["node"] = await take_over(args, opened)
    return summary


async def _anchor_handover(
    args: argparse.Namespace,
    chain: JsonRpc,
    contract: bytes,
    anchored: AnchorState,
    restored: RestoredAgent,
    backend: DABackend,
) -> dict[str, Any]:
    """The epoch bump on chain (anima_dasync.handover), relayed from --relay-from."""
    chain_id = args.chain_id or int(str(await asyncio.to_thread(chain.rpc, "eth_chainId")), 16)
    return await anchor_handover(
        signer=args.signer,
        token=_token(DASYNC_TOKEN_ENV),
        policy=measurement_policy(args),
        agent_id=args.agent_id,
        backend=backend,
        anchored=anchored,
        entries=restored.handover_entries,
        checkpoint=restored.handover_checkpoint,
        chain=chain,
        chain_id=chain_id,
        contract=contract,
        relay_from=args.relay_from,
    )


async def anchor_handover(
    *,
    signer: str,
    token: str,
    policy: MeasurementPolicy,
    agent_id: str,
    backend: DABackend,
    anchored: AnchorState,
    entries: Sequence[bytes],
    checkpoint: bytes,
    chain: JsonRpc,
    chain_id: int,
    contract: bytes,
    relay_from: str,
) -> dict[str, Any]:
    """After a restore or a migration: the next-epoch manifest with the handover entries
    published (anima_dasync.handover), the update the new enclave (`signer`) signs
    relayed from `relay_from`; what was anchored."""
    async with await SignerClient.connect_attested(
        address=signer, token=token, policy=policy
    ) as new:
        signed = await publish_handover(
            new,
            agent_id,
            backend=backend,
            anchored=anchored,
            handover_entries=entries,
            handover_checkpoint=checkpoint,
            chain_id=chain_id,
            contract=contract,
        )
    tx = await asyncio.to_thread(
        relay_update_from, chain, relay_from, contract, signed.agent, signed.state, signed.signature
    )
    return {
        "epoch": signed.state.epoch,
        "version": signed.state.version,
        "checkpoint_size": signed.state.checkpoint_size,
        "transaction": tx,
    }


def _recover(args: argparse.Namespace) -> int:
    try:
        summary = asyncio.run(_run(args))
    except AnimaError as exc:
        print(f"anima agent recover: {exc.message}", file=sys.stderr)
        return 1
    except AnchorUpdateFailed as exc:
        print(
            f"anima agent recover: restored, but the handover was not anchored: {exc}",
            file=sys.stderr,
        )
        return 1
    except OSError as exc:
        print(f"anima agent recover: {exc}", file=sys.stderr)
        return 2
    print_summary(summary, as_json=args.json)
    return 0
