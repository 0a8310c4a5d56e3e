"""On dstack, the same app on another machine gets the same key from GetKey, so an agent
moves with no escrow: two guest-agent doubles sharing an app key (two machines of one
app) give a signer on each the same agent; another app gets another agent."""

from __future__ import annotations

from pathlib import Path

from anima_signer.core import Signer
from anima_signer.tee.dstack import DstackBackend
from tests.signer.conftest import OPEN_POLICY

from .fake_dstack import FakeDstackAgent


async def _signer(agent: FakeDstackAgent, state_dir: Path) -> Signer:
    tee = DstackBackend(endpoint=agent.socket_path)
    return await Signer.open(tee=tee, state_dir=state_dir, log_origin_prefix="dstack.anima/agents")


async def test_the_same_app_on_another_machine_is_the_same_agent(tmp_path: Path) -> None:
    with (
        FakeDstackAgent(seed=b"app-key-1") as machine_a,
        FakeDstackAgent(seed=b"app-key-1") as machine_b,
        FakeDstackAgent(seed=b"app-key-2") as other_app,
    ):
        first = await _signer(machine_a, tmp_path / "a")
        second = await _signer(machine_b, tmp_path / "b")
        third = await _signer(other_app, tmp_path / "c")
        try:
            a = first.create_agent(agent_id="alice", wallet_count=2, policy=OPEN_POLICY)
            b = second.create_agent(agent_id="alice", wallet_count=2, policy=OPEN_POLICY)
            c = third.create_agent(agent_id="alice", wallet_count=2, policy=OPEN_POLICY)
            assert (a.wallets, a.log_public_key) == (b.wallets, b.log_public_key)
            assert first._keys.agent_root("alice") == second._keys.agent_root("alice")
            assert c.wallets[0].address != a.wallets[0].address
        finally:
            for signer in (first, second, third):
                signer.close()
