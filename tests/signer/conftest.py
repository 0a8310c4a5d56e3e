"""Fixtures: a real signer core on the INSECURE simulated TEE, and a real gRPC server."""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from anima_core.auth import token_digest
from anima_signer.app import RunningSigner, start_signer
from anima_signer.config import SignerConfig
from anima_signer.core import Signer
from anima_signer.tee.sim import InsecureSimulatedTee
from anima_signer_api.client import SignerClient
from anima_signer_api.types import SigningPolicy
from anima_verify.attestation import MeasurementPolicy

DEV_CHAIN = 31337
ONE_ETH = 10**18
OPEN_POLICY = SigningPolicy(
    allowed_chain_ids=frozenset({DEV_CHAIN}),
    max_value_wei=ONE_ETH,
    allow_personal_messages=True,
    allow_typed_data=True,
    allow_raw_ed25519=True,
)
TOKENS = {"admin": "admin-token-for-tests", "runtime": "runtime-token-for-tests"}
SIM_TRUST = MeasurementPolicy.insecure_simulated_for_development()


async def open_signer(state_dir: Path) -> Signer:
    return await Signer.open(
        tee=InsecureSimulatedTee(state_dir=state_dir),
        state_dir=state_dir,
        log_origin_prefix="test.anima/agents",
    )


@pytest.fixture
async def signer(tmp_path: Path) -> AsyncIterator[Signer]:
    s = await open_signer(tmp_path)
    yield s
    s.close()


@dataclass
class Served:
    running: RunningSigner
    address: str
    state_dir: Path

    async def client(self, role: str = "runtime") -> SignerClient:
        return await SignerClient.connect_attested(
            address=self.address, token=TOKENS[role], policy=SIM_TRUST
        )


def signer_config(state_dir: Path, **overrides: object) -> SignerConfig:
    return SignerConfig.model_validate(
        {
            "listen": "127.0.0.1:0",
            "state_dir": state_dir,
            "tee": "sim",
            "callers": {name: token_digest(t) for name, t in TOKENS.items()},
            "log_origin_prefix": "test.anima/agents",
            **overrides,
        }
    )


@pytest.fixture
async def served(tmp_path: Path) -> AsyncIterator[Served]:
    running = await start_signer(signer_config(tmp_path))
    yield Served(running=running, address=f"127.0.0.1:{running.port}", state_dir=tmp_path)
    await running.stop(grace=0.5)
