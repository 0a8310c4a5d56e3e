"""The light client over a beacon node's REST API (a local server speaking it),
JSON and SSZ: sync from a checkpoint, trusted execution heads, checkpoint age
warnings and strict mode, persisted state, and hostile answers."""

from __future__ import annotations

import json
import logging
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from anima_verify.beacon.client import ExecutionHead, LightClient
from anima_verify.beacon.codec import decode_json, to_json
from anima_verify.beacon.config import ChainConfig
from anima_verify.beacon.errors import (
    BeaconApiUnavailable,
    CheckpointTooOld,
    InvalidSyncSignature,
    LightClientStateUnusable,
    MalformedLightClientData,
    WrongForkDigest,
)
from anima_verify.beacon.rest import BeaconApi, split_chunks
from anima_verify.beacon.spectest import load_case_config, read_ssz_snappy, read_yaml
from tests.beacon.beacon_api_server import (
    BOOTSTRAP_SLOT,
    PERIODS,
    BeaconData,
    node_data,
    serve_beacon_api,
)
from tests.beacon.chain_builder import SyntheticChain
from tests.beacon.conftest import synthetic_config


def clock_at(config: ChainConfig, slot: int) -> float:
    return float(config.genesis_time + slot * config.seconds_per_slot)


@pytest.fixture
def chain() -> SyntheticChain:
    return SyntheticChain(synthetic_config())


@pytest.fixture(params=["json", "ssz"])
def encoding(request: pytest.FixtureRequest) -> str:
    return str(request.param)


@pytest.fixture
def node(chain: SyntheticChain) -> Iterator[tuple[BeaconData, bytes, str]]:
    data, root = node_data(chain)
    with serve_beacon_api(data) as url:
        yield data, root, url


def light_client(
    chain: SyntheticChain,
    url: str,
    root: bytes,
    *,
    ssz: bool = False,
    state: Path | None = None,
    now_slot: int | None = None,
    **options: Any,
) -> LightClient:
    now = (PERIODS - 1) * chain.preset.slots_per_period + 60 if now_slot is None else now_slot
    return LightClient(
        config=chain.config,
        api=BeaconApi(url, chain.config, ssz=ssz),
        checkpoint=root,
        state_path=state,
        clock=lambda: clock_at(chain.config, now),
        **options,
    )


def test_sync_from_a_checkpoint_gives_verified_execution_heads(
    chain: SyntheticChain, node: tuple[BeaconData, bytes, str], encoding: str
) -> None:
    data, root, url = node
    client = light_client(chain, url, root, ssz=encoding == "ssz")
    store = client.sync()
    last = (PERIODS - 1) * chain.preset.slots_per_period
    assert (store.finalized_slot, store.optimistic_slot) == (last + 40, last + 55)
    expected = chain.header(last + 40)[0]
    assert client.finalized_head() == ExecutionHead(
        block_hash=bytes(expected.execution.block_hash),
        state_root=bytes(expected.execution.state_root),
        receipts_root=bytes(expected.execution.receipts_root),
        block_number=1000 + last + 40,
        timestamp=chain.config.genesis_time + (last + 40) * 6,
        beacon_slot=last + 40,
        beacon_root=bytes(expected.beacon.hash_tree_root()),
        finalized=True,
    )
    assert client.optimistic_head().beacon_slot == last + 55
    assert not client.optimistic_head().finalized
    assert any("updates?start_period=0&count=4" in r for r in data.requests)


def test_a_restart_resumes_from_the_saved_state(
    chain: SyntheticChain, node: tuple[BeaconData, bytes, str], tmp_path: Path
) -> None:
    data, root, url = node
    state = tmp_path / "beacon-state.json"
    first = light_client(chain, url, root, state=state)
    first.sync()
    data.requests.clear()
    second = light_client(chain, url, root, state=state)
    store = second.sync()
    assert store.finalized_slot == first.store.finalized_slot
    assert not any("bootstrap" in r for r in data.requests)  # no re-sync from the checkpoint
    assert not any("updates" in r for r in data.requests)  # already in the current period


def test_a_state_file_of_another_chain_or_garbage_is_refused(
    chain: SyntheticChain, node: tuple[BeaconData, bytes, str], tmp_path: Path
) -> None:
    _data, root, url = node
    state = tmp_path / "state.json"
    light_client(chain, url, root, state=state).sync()
    document = json.loads(state.read_text())
    document["genesis_validators_root"] = "00" * 32
    state.write_text(json.dumps(document))
    with pytest.raises(LightClientStateUnusable, match="another chain"):
        light_client(chain, url, root, state=state).sync()
    state.write_text("{not json")
    with pytest.raises(LightClientStateUnusable):
        light_client(chain, url, root, state=state).sync()


def test_an_old_checkpoint_is_warned_about_and_refused_in_strict_mode(
    chain: SyntheticChain, node: tuple[BeaconData, bytes, str], caplog: pytest.LogCaptureFixture
) -> None:
    _data, root, url = node
    day = 86400 / chain.config.seconds_per_slot
    late = BOOTSTRAP_SLOT + int(20 * day)
    with pytest.raises(CheckpointTooOld, match=r"20\.0 days old"):
        light_client(chain, url, root, now_slot=late, strict_checkpoint_age=True).sync()
    with caplog.at_level(logging.WARNING, logger="anima_verify.beacon.client"):
        store = light_client(chain, url, root, now_slot=late).sync()  # warned, not refused
    assert store.finalized_slot == (PERIODS - 1) * chain.preset.slots_per_period + 40
    assert "may be outside the weak subjectivity period" in caplog.text
    caplog.clear()
    with caplog.at_level(logging.WARNING, logger="anima_verify.beacon.client"):
        light_client(chain, url, root).sync()
    assert caplog.text == ""


def test_a_forged_update_from_the_node_is_refused(chain: SyntheticChain, encoding: str) -> None:
    data, root = node_data(chain)
    forged = chain.update(
        0, 3 * chain.preset.slots_per_period + 56, kind="optimistic_update", signers=[0, 1]
    )
    forged.sync_aggregate.sync_committee_bits[2] = True
    data.optimistic_update = forged
    with serve_beacon_api(data) as url:
        client = light_client(chain, url, root, ssz=encoding == "ssz")
        with pytest.raises(InvalidSyncSignature):
            client.sync()


def test_data_labelled_with_another_fork_is_refused(chain: SyntheticChain, encoding: str) -> None:
    data, root = node_data(chain)
    data.fork_override = "capella"
    with serve_beacon_api(data) as url, pytest.raises((WrongForkDigest, MalformedLightClientData)):
        light_client(chain, url, root, ssz=encoding == "ssz").sync()


def test_an_unreachable_node_or_an_error_status_is_unavailable(chain: SyntheticChain) -> None:
    data, _ = node_data(chain)
    with serve_beacon_api(data) as url, pytest.raises(BeaconApiUnavailable, match="404"):
        BeaconApi(url, chain.config).bootstrap(b"\x01" * 32)
    with pytest.raises(BeaconApiUnavailable, match="unreachable"):
        BeaconApi(url, chain.config, timeout=2).finality_update()


@pytest.mark.parametrize("body", [b"\x05\0\0\0\0\0\0\0abc", b"\xff" * 8 + b"abcd", b"\x01\0\0"])
def test_malformed_ssz_chunks_are_refused(body: bytes) -> None:
    with pytest.raises(MalformedLightClientData):
        split_chunks(body)


def test_json_round_trips_and_refuses_bad_values(chain: SyntheticChain) -> None:
    update = chain.period_update(1)
    document = to_json(update)
    assert document["signature_slot"] == str(int(update.signature_slot))
    decoded = decode_json(chain.config, "update", document, fork="deneb")
    assert decoded.attested_header.hash_tree_root() == update.attested_header.hash_tree_root()
    for field, value in (
        ("signature_slot", 12),
        ("signature_slot", "-1"),
        ("next_sync_committee_branch", "0x00"),
    ):
        bad = dict(document, **{field: value})
        with pytest.raises(MalformedLightClientData):
            decode_json(chain.config, "update", bad, fork="deneb")


def test_the_vector_data_served_over_rest(deneb_cases: Path, encoding: str) -> None:
    """The spec-test case served by a node: bootstrap and per-period updates over the
    API reach the finalized header steps.yaml expects after those updates."""
    case = deneb_cases / "light_client_sync"
    config, meta = load_case_config(case)
    steps = read_yaml(case / "steps.yaml")
    from anima_verify.beacon.ssz import light_client_types

    types = light_client_types(config.preset).forks["deneb"]
    root = bytes.fromhex(meta["trusted_block_root"][2:])
    data = BeaconData(
        config,
        bootstraps={
            root: types.bootstrap.decode_bytes(read_ssz_snappy(case / "bootstrap.ssz_snappy"))
        },
    )
    first, second = (steps[i]["process_update"] for i in (0, 1))
    for period, step in enumerate((first, second)):
        data.updates[period] = types.update.decode_bytes(
            read_ssz_snappy(case / f"{step['update']}.ssz_snappy")
        )
    latest = data.updates[1]  # nothing newer than it: stale, tolerated
    data.finality_update = types.finality_update(
        **{name: getattr(latest, name) for name in types.finality_update.fields()}
    )
    data.optimistic_update = types.optimistic_update(
        **{name: getattr(latest, name) for name in types.optimistic_update.fields()}
    )
    with serve_beacon_api(data) as url:
        client = LightClient(
            config=config,
            api=BeaconApi(url, config, ssz=encoding == "ssz"),
            checkpoint=root,
            clock=lambda: clock_at(config, second["current_slot"]),
            max_checkpoint_age=float("inf"),
        )
        store = client.sync()
    expected = second["checks"]["finalized_header"]
    assert store.finalized_slot == expected["slot"]
    assert (
        "0x" + bytes(store.finalized_header.beacon.hash_tree_root()).hex()
        == expected["beacon_root"]
    )
    assert "0x" + client.finalized_head().beacon_root.hex() == expected["beacon_root"]


def test_a_later_sync_from_saved_state_skips_the_update_it_already_applied(
    chain: SyntheticChain, node: tuple[BeaconData, bytes, str], tmp_path: Path
) -> None:
    """Restarted a period later: the page of updates starts with the store's own period,
    already applied (stale, skipped); the next one moves the store on."""
    data, root, url = node
    state = tmp_path / "state.json"
    spp = chain.preset.slots_per_period
    latest = data.finality_update, data.optimistic_update
    data.finality_update = chain.update(2 * spp + 40, 2 * spp + 50, kind="finality_update")
    data.optimistic_update = chain.update(0, 2 * spp + 55, kind="optimistic_update")
    light_client(chain, url, root, state=state, now_slot=2 * spp + 60).sync()
    data.finality_update, data.optimistic_update = latest  # a period later
    data.requests.clear()
    store = light_client(chain, url, root, state=state, now_slot=3 * spp + 60).sync()
    assert store.finalized_slot == 3 * spp + 40
    assert any("updates?start_period=2&count=2" in r for r in data.requests)
