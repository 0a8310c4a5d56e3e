"""Fork schedules and fork digests, Fulu's blob-parameter digests included."""

from __future__ import annotations

import pytest

from anima_verify.beacon.codec import decode_ssz_with_digest
from anima_verify.beacon.config import MAINNET, MINIMAL_PRESET, ChainConfig
from anima_verify.beacon.errors import WrongForkDigest
from tests.beacon.chain_builder import SyntheticChain


def fulu_chain(genesis_validators_root: bytes) -> ChainConfig:
    """The blob schedule of consensus-specs' Fulu compute_fork_digest test."""
    return ChainConfig.from_spec_config(
        {
            "PRESET_BASE": "minimal",
            "GENESIS_FORK_VERSION": 0x00000001,
            **{
                f"{f}_FORK_VERSION": v
                for f, v in (
                    ("ALTAIR", 0x01000000),
                    ("BELLATRIX", 0x02000000),
                    ("CAPELLA", 0x03000000),
                    ("DENEB", 0x04000000),
                    ("ELECTRA", 0x05000000),
                    ("FULU", 0x06000000),
                )
            },
            **{
                f"{f}_FORK_EPOCH": 0
                for f in ("ALTAIR", "BELLATRIX", "CAPELLA", "DENEB", "ELECTRA", "FULU")
            },
            "BLOB_SCHEDULE": [
                {"EPOCH": 9, "MAX_BLOBS_PER_BLOCK": 9},
                {"EPOCH": 100, "MAX_BLOBS_PER_BLOCK": 100},
                {"EPOCH": 150, "MAX_BLOBS_PER_BLOCK": 175},
            ],
        },
        genesis_validators_root=genesis_validators_root,
    )


@pytest.mark.parametrize(
    ("root", "epoch", "digest"),
    [  # expected values from consensus-specs tests/.../fulu/validator/test_compute_fork_digest.py
        (bytes(32), 9, "ab3ae6c8"),
        (bytes(32), 99, "ab3ae6c8"),
        (bytes(32), 100, "df67557b"),
        (bytes(32), 150, "8ab38b59"),
        (b"\x01" * 32, 9, "89671111"),
    ],
)
def test_fulu_fork_digests_mix_in_the_blob_parameters(root: bytes, epoch: int, digest: str) -> None:
    assert fulu_chain(root).fork_digest_at_epoch(epoch).hex() == digest


def test_pre_fulu_digests_and_the_mainnet_schedule() -> None:
    assert MAINNET.fork_at_epoch(364031) == "deneb" and MAINNET.fork_at_epoch(364032) == "electra"
    assert MAINNET.fork_at_slot(411392 * 32) == "fulu"
    assert MAINNET.light_client_fork("fulu") == "electra"
    # Electra's digest is the plain fork data root prefix; Fulu's changes at each BPO epoch.
    electra = MAINNET.fork_digest("electra")
    assert MAINNET.fork_of_digest(electra) == "electra"
    bpo = {MAINNET.fork_digest_at_epoch(e) for e in (411392, 412672, 419072, 500000)}
    assert len(bpo) == 3
    assert {MAINNET.fork_of_digest(d) for d in bpo} == {"fulu"}
    with pytest.raises(WrongForkDigest):
        MAINNET.fork_of_digest(b"\x00\x01\x02\x03")


def test_a_digest_of_another_blob_epoch_is_refused() -> None:
    config = fulu_chain(b"\x33" * 32)
    chain = SyntheticChain(config)
    assert chain.preset is MINIMAL_PRESET
    slot = 100 * 8 + 5  # epoch 100: the second blob-schedule entry
    update = chain.update(slot - 8, slot)
    raw = update.encode_bytes()
    right = config.fork_digest_at_epoch(100)
    assert decode_ssz_with_digest(config, "update", raw, digest=right) is not None
    with pytest.raises(WrongForkDigest, match="is not epoch 100's"):
        decode_ssz_with_digest(config, "update", raw, digest=config.fork_digest_at_epoch(9))
