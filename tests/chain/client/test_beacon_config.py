"""The chain client's beacon settings: `anima chain serve --beacon-url --beacon-checkpoint`
over a config file's [beacon] table, fail-closed start checks (one trust source, a
checkpoint root, a usable network), and strict checkpoint age on by default."""

from __future__ import annotations

import argparse
from pathlib import Path

import pytest

from anima_chain.beacon import BeaconHeads
from anima_chain.cli import add_commands, load_chain_config
from anima_chain.config import BeaconSourceConfig, ChainConfig
from anima_core.config import ConfigError
from anima_verify.beacon.errors import CheckpointTooOld
from tests.beacon.beacon_api_server import node_data, serve_beacon_api
from tests.beacon.chain_builder import SyntheticChain
from tests.beacon.conftest import synthetic_config

FORK_NAMES = ("ALTAIR", "BELLATRIX", "CAPELLA", "DENEB", "ELECTRA")
ROOT = "0x" + "ab" * 32
BLOCK = "0x" + "cd" * 32
CUSTOM = {
    "network": "custom",
    "spec_config": {"PRESET_BASE": "minimal", "GENESIS_FORK_VERSION": "0x00000009"},
    "genesis_validators_root": "0x" + "11" * 32,
}

#: tests/beacon/conftest.synthetic_config() as consensus config.yaml keys.
SYNTHETIC = {
    "PRESET_BASE": "minimal",
    "GENESIS_FORK_VERSION": "0x00000009",
    **{f"{fork}_FORK_VERSION": f"0x0{i}000009" for i, fork in enumerate(FORK_NAMES, start=1)},
    **{f"{fork}_FORK_EPOCH": 0 for fork in FORK_NAMES[:-1]},
    "ELECTRA_FORK_EPOCH": 16,
    "MIN_GENESIS_TIME": 1_700_000_000,
    "SECONDS_PER_SLOT": 6,
}


def parse(*argv: str) -> argparse.Namespace:
    parser = argparse.ArgumentParser()
    add_commands(parser.add_subparsers(dest="command"))
    return parser.parse_args(["serve", "--insecure-allow-simulated", *argv])


def startable(**fields: object) -> ChainConfig:
    return ChainConfig.model_validate({"chain_id": 1, "callers": {"runtime": "a" * 64}, **fields})


def test_flags_set_the_beacon_over_the_file_table(tmp_path: Path) -> None:
    file = tmp_path / "chain.toml"
    file.write_text(
        '[beacon]\nnetwork = "custom"\ngenesis_validators_root = "0x' + "11" * 32 + '"\n'
        'url = "http://file.invalid:5052"\npoll_s = 12\n'
        '[beacon.spec_config]\nPRESET_BASE = "minimal"\nGENESIS_FORK_VERSION = "0x00000009"\n'
    )
    config = load_chain_config(
        parse(
            "--config",
            str(file),
            "--beacon-url",
            "http://127.0.0.1:5052/",
            "--beacon-checkpoint",
            ROOT.upper().replace("0X", "0x"),
        )
    )
    beacon = config.beacon
    assert (beacon.url, beacon.checkpoint, beacon.poll_s) == ("http://127.0.0.1:5052/", ROOT, 12)
    assert beacon.chain_config().preset.name == "minimal"
    assert beacon.strict_checkpoint_age  # on unless turned off
    config.model_copy(update={"chain_id": 1, "callers": {"runtime": "a" * 64}}).check_startable()


def test_a_bad_beacon_flag_is_refused() -> None:
    with pytest.raises(ConfigError, match="beacon"):
        load_chain_config(parse("--beacon-url", "ftp://x", "--beacon-checkpoint", ROOT))
    with pytest.raises(ConfigError, match="64 hex"):
        load_chain_config(parse("--beacon-url", "http://x", "--beacon-checkpoint", "0x12"))


@pytest.mark.parametrize(
    ("fields", "refusal"),
    [
        ({"checkpoint_hash": BLOCK, "beacon": {"url": "http://b", "checkpoint": ROOT}}, "both"),
        ({"beacon": {"url": "http://b"}}, "without beacon.checkpoint"),
        ({}, "beacon node's light client"),
        (
            {
                "beacon": {
                    **CUSTOM,
                    "url": "http://b",
                    "checkpoint": ROOT,
                    "spec_config": {"PRESET_BASE": "tiny", "GENESIS_FORK_VERSION": "0x00"},
                }
            },
            "unusable",
        ),
    ],
)
def test_start_is_refused_without_one_usable_trust_source(
    fields: dict[str, object], refusal: str
) -> None:
    with pytest.raises(ConfigError, match=refusal):
        startable(**fields).check_startable()


def test_a_custom_network_needs_its_schedule() -> None:
    with pytest.raises(ValueError, match="spec_config and genesis_validators_root"):
        BeaconSourceConfig.model_validate({"network": "custom", "url": "http://b"})
    with pytest.raises(ValueError, match="for network 'custom'"):
        BeaconSourceConfig.model_validate({"spec_config": CUSTOM["spec_config"]})


async def test_an_old_checkpoint_is_refused_by_default(tmp_path: Path) -> None:
    """The synthetic chain's genesis is in 2023: its checkpoint is far older than the
    weak-subjectivity period, so the chain client does not start from it."""
    chain = SyntheticChain(synthetic_config())
    data, root = node_data(chain)
    with serve_beacon_api(data) as url:
        config = BeaconSourceConfig.model_validate(
            {**CUSTOM, "spec_config": SYNTHETIC, "url": url, "checkpoint": "0x" + root.hex()}
        )
        assert config.chain_config().fork_digest("electra") == chain.config.fork_digest("electra")
        heads = BeaconHeads.from_config(config, data_dir=tmp_path)
        with pytest.raises(CheckpointTooOld):
            await heads.verified_head()
        heads.close()
    assert not (tmp_path / "beacon-light-client.json").exists()
