"""The rollback that issue 12 found, stopped by witnesses, end to end with real
processes: a signer (INSECURE simulated TEE) and one witness, or three with quorum 2.

The host stops the signer, keeps a copy of its state directory, lets it sign more,
stops it, restores the old copy and starts it again. The restored signer's next
checkpoint forks the log the witnesses cosigned, so they refuse it (and keep it as
evidence), and no signature or checkpoint from it is released: the signature handed
out before the rollback keeps its entry, because the log cannot grow past it.
"""

from __future__ import annotations

import contextlib
import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest

from anima_dev.local_signer import LocalSigner, local_signer
from anima_dev.local_witness import LocalWitness, local_witness, signer_witness_env
from anima_signer_api.client import SignerClient
from anima_signer_api.errors import LogNotWitnessed, LogStateMismatch
from anima_signer_api.types import PersonalMessage, SignRequest
from anima_verify.attestation import MeasurementPolicy
from anima_verify.tlog.checkpoint import open_checkpoint
from anima_verify.tlog.cosignature import WitnessPolicy
from anima_verify.tlog.errors import WitnessQuorumNotMet
from anima_verify.tlog.note import parse_note, parse_verifier_key
from anima_witness.store import WitnessStore
from tests.signer.conftest import OPEN_POLICY

pytestmark = pytest.mark.slow

SIM_TRUST = MeasurementPolicy.insecure_simulated_for_development()
AGENT = "agent-rollback"


@contextlib.contextmanager
def witnesses(root: Path, count: int) -> Iterator[list[LocalWitness]]:
    with contextlib.ExitStack() as stack:
        yield [
            stack.enter_context(local_witness(root / f"w{i}", name=f"witness-{i}.test"))
            for i in range(count)
        ]


async def client(signer: LocalSigner, role: str = "runtime") -> SignerClient:
    return await SignerClient.connect_attested(
        address=signer.address, token=signer.tokens[role], policy=SIM_TRUST
    )


def sign(key: str, text: bytes) -> SignRequest:
    return SignRequest(agent_id=AGENT, payload=PersonalMessage(text), idempotency_key=key)


@pytest.mark.parametrize(("count", "quorum"), [(1, 1), (3, 2)])
async def test_a_restored_older_signer_state_cannot_extend_the_witnessed_log(
    tmp_path: Path, count: int, quorum: int
) -> None:
    state = tmp_path / "host"
    saved = tmp_path / "saved-signer-state"
    with witnesses(tmp_path, count) as ws:
        policy = WitnessPolicy.of([w.verifier_key for w in ws], quorum)
        env = signer_witness_env(ws, quorum)
        tokens = None
        with local_signer(state, env=env) as signer:
            tokens = signer.tokens
            async with await client(signer, "admin") as admin:
                agent = await admin.create_agent(AGENT, policy=OPEN_POLICY)
            async with await client(signer) as runtime:
                first = await runtime.sign(sign("first", b"before the copy"))
                tail = await runtime.append_log(AGENT, 0, [])
        log_key = parse_verifier_key(agent.log_verifier_key)
        # The checkpoint the host receives is cosigned by the quorum.
        assert tail.size == first.log_index + 1
        assert len(policy.check(parse_note(tail.checkpoint))) >= quorum
        open_checkpoint(tail.checkpoint, [log_key])
        shutil.copytree(state / "signer", saved)

        with local_signer(state, env=env, tokens=tokens) as signer:
            async with await client(signer) as runtime:
                handed_out = await runtime.sign(sign("second", b"after the copy"))
                later = await runtime.append_log(AGENT, tail.size, [])
        assert handed_out.log_index == tail.size
        policy.check(parse_note(later.checkpoint))

        # The host restores the older state and starts the signer again.
        shutil.rmtree(state / "signer")
        shutil.copytree(saved, state / "signer")
        with local_signer(state, env=env, tokens=tokens) as signer:
            async with await client(signer) as runtime:
                # The same key now signs another message: refused, nothing released.
                with pytest.raises(LogNotWitnessed, match=r"rolled back or forked|422"):
                    await runtime.sign(sign("second", b"a different message"))
                with pytest.raises(LogNotWitnessed):
                    await runtime.sign(sign("third", b"anything new"))
                # The host cannot get the forked checkpoint either.
                with pytest.raises((LogNotWitnessed, LogStateMismatch)):
                    await runtime.append_log(AGENT, tail.size, [])
                # A signature from before the copy is still answered (its entry is witnessed).
                again = await runtime.sign(sign("first", b"before the copy"))
                assert again == first

    # Every witness still holds the log as it was before the rollback, and kept the
    # forked checkpoints it refused.
    for i in range(count):
        store = WitnessStore(path=tmp_path / f"w{i}" / "witness.sqlite3")
        try:
            latest = store.latest(log_key.name)
            evidence = store.evidence(log_key.name)
        finally:
            store.close()
        assert latest.note is not None
        assert latest.size == later.size
        assert parse_note(latest.note).text == parse_note(later.checkpoint).text
        assert evidence, "the refused forked checkpoint is kept as evidence"
        assert {e.kind for e in evidence} <= {"stale", "equivocation", "fork"}


async def test_an_unwitnessed_checkpoint_fails_the_witness_policy(tmp_path: Path) -> None:
    """Without witnesses the signer's checkpoint carries no cosignature: a verifier
    with a witness policy refuses it."""
    with witnesses(tmp_path, 1) as ws, local_signer(tmp_path / "host") as signer:
        async with await client(signer, "admin") as admin:
            await admin.create_agent(AGENT, policy=OPEN_POLICY)
        async with await client(signer) as runtime:
            tail = await runtime.append_log(AGENT, 0, [])
        policy = WitnessPolicy.of([ws[0].verifier_key], 1)
        with pytest.raises(WitnessQuorumNotMet):
            policy.check(parse_note(tail.checkpoint))
