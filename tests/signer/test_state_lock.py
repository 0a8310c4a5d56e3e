"""One signer per state directory: a second one refuses to start until the first closes."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from anima_signer.app import start_signer
from anima_signer.core import Signer
from anima_signer.tee.sim import InsecureSimulatedTee
from anima_signer_api.errors import SignerMisconfigured, StateDirInUse
from anima_verify.errors import ErrorKind
from tests.signer.conftest import open_signer, signer_config


async def test_a_second_signer_on_one_state_dir_is_refused(tmp_path: Path) -> None:
    first = await open_signer(tmp_path)
    try:
        with pytest.raises(StateDirInUse, match=rf"pid {os.getpid()}\).*only one signer") as info:
            await open_signer(tmp_path)
        assert info.value.kind is ErrorKind.FAILED_PRECONDITION
        # The refused signer left the holder working.
        assert first.list_agents() == []
    finally:
        first.close()
    second = await open_signer(tmp_path)  # close released the lock
    second.close()
    second.close()  # closing twice is harmless


async def test_the_service_refuses_to_start_on_a_held_state_dir(tmp_path: Path) -> None:
    held = await open_signer(tmp_path)
    try:
        with pytest.raises(StateDirInUse):
            await start_signer(signer_config(tmp_path))
    finally:
        held.close()
    running = await start_signer(signer_config(tmp_path))
    await running.stop(grace=0.1)


class _BrokenTee(InsecureSimulatedTee):
    async def root_secret(self) -> bytes:
        raise SignerMisconfigured("no root secret today")


async def test_a_failed_open_releases_the_state_dir(tmp_path: Path) -> None:
    with pytest.raises(SignerMisconfigured, match="no root secret"):
        await Signer.open(
            tee=_BrokenTee(state_dir=tmp_path), state_dir=tmp_path, log_origin_prefix="t"
        )
    (await open_signer(tmp_path)).close()
