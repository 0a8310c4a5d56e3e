"""A restore checks the recovery epoch: a manifest signed at one epoch and an anchor
at another (the host mixing an old manifest with a newer anchor, or the reverse)
restores nothing; the restored agent is held at the anchor's epoch + 1."""

from __future__ import annotations

import dataclasses

import pytest

from anima_dasync.handover import HandoverNotReady, publish_handover
from anima_dasync.recover import recover_agent
from anima_signer_api.errors import UnknownAgent
from anima_verify.errors import AnimaError
from tests.dasync.test_recover_grpc import (  # noqa: F401 (the fixture)
    AGENT,
    World,
    _holds,
    world,
)


async def test_a_manifest_at_another_epoch_than_the_anchor_restores_nothing(
    world: World,  # noqa: F811
) -> None:
    w = world
    for epoch in (1, 7):  # the manifest was signed at epoch 0
        fenced = dataclasses.replace(w.anchored, epoch=epoch)
        async with await w.b.client("recovery") as new:
            with pytest.raises(AnimaError, match=f"recovery epoch 0, the anchor at {epoch}"):
                await recover_agent(
                    new,
                    await _holds(w, [0, 1]),
                    agent_id=AGENT,
                    log_verifier_key=w.log_verifier_key,
                    backend=w.backend,
                    anchored=fenced,
                )
        async with await w.b.client("admin") as admin:
            with pytest.raises(UnknownAgent):
                await admin.get_agent(AGENT)
    # The honest anchor restores, and node B signs anchor updates at epoch 1 only.
    async with await w.b.client("recovery") as new:
        await recover_agent(
            new,
            await _holds(w, [0, 1]),
            agent_id=AGENT,
            log_verifier_key=w.log_verifier_key,
            backend=w.backend,
            anchored=w.anchored,
        )
    async with await w.b.client("dasync") as dasync:
        with pytest.raises(AnimaError, match="holds agent 'alice' at epoch 1"):
            await dasync.sign_anchor_update(AGENT, state=w.anchored, chain_id=1, contract=bytes(20))
        bumped = dataclasses.replace(w.anchored, version=w.anchored.version + 1, epoch=1)
        slot, _ = await dasync.sign_anchor_update(
            AGENT, state=bumped, chain_id=1, contract=bytes(20)
        )
    assert len(slot) == 20


async def test_a_handover_without_its_witnessed_checkpoint_is_not_anchored(
    world: World,  # noqa: F811
) -> None:
    """A restore whose handover entry was not witnessed yet hands back no checkpoint:
    the handover step says so rather than anchor a manifest without the entry."""
    async with await world.b.client("dasync") as dasync:
        with pytest.raises(HandoverNotReady, match="no witnessed checkpoint yet"):
            await publish_handover(
                dasync,
                AGENT,
                backend=world.backend,
                anchored=world.anchored,
                handover_entries=[],
                handover_checkpoint=b"",
                chain_id=1,
                contract=bytes(20),
            )
