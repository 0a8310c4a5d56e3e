"""Shared fixtures: the consensus-spec-tests light-client cases (skipped when absent)
and a small synthetic chain (minimal preset) with Electra from period 2."""

from __future__ import annotations

from pathlib import Path

import pytest

from anima_verify.beacon.config import MINIMAL_PRESET, ChainConfig
from tests.beacon.chain_builder import SyntheticChain
from tests.vectors import require_vectors

CASES = (
    "light_client_sync",
    "advance_finality_without_sync_committee",
    "supply_sync_committee_from_past_update",
)


@pytest.fixture
def deneb_cases() -> Path:
    return (
        require_vectors("beacon-light-client", *(f"deneb/{c}/steps.yaml" for c in CASES)) / "deneb"
    )


def synthetic_config(*, electra_epoch: int = 16, name: str = "synthetic") -> ChainConfig:
    return ChainConfig(
        name=name,
        preset=MINIMAL_PRESET,
        genesis_validators_root=bytes.fromhex("11" * 32),
        forks={
            "phase0": (bytes.fromhex("00000009"), 0),
            "altair": (bytes.fromhex("01000009"), 0),
            "bellatrix": (bytes.fromhex("02000009"), 0),
            "capella": (bytes.fromhex("03000009"), 0),
            "deneb": (bytes.fromhex("04000009"), 0),
            "electra": (bytes.fromhex("05000009"), electra_epoch),
        },
        genesis_time=1_700_000_000,
        seconds_per_slot=6,
    )


@pytest.fixture
def chain() -> SyntheticChain:
    return SyntheticChain(synthetic_config())
