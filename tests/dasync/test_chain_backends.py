"""The calldata and blob DA backends on a real anvil: round trips (also from a node
with no locator index, from the chain's events alone), parts for big chunks, and a
lying node's bytes refused, withheld or pruned blobs served from the verified archive."""

from __future__ import annotations

import hashlib
import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from anima_dasync.backends import ManifestExists
from anima_dasync.backends.blob_codec import (
    DATA_BYTES_PER_BLOB,
    decode_blobs,
    encode_blobs,
)
from anima_dasync.backends.chain_rpc import ChainDataMismatch
from anima_dasync.config import DaBackendConfig, DaSyncMisconfigured
from anima_dev.da_chain import deploy_life_data_da, dev_chain_backend
from anima_dev.local_chain import LocalChain, local_chain
from anima_verify.lifedata import ChunkCorrupt, ChunkMissing
from tests.dasync.rpc_proxy import lying_rpc


@pytest.fixture(scope="module")
def anvil(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LocalChain]:
    with local_chain(tmp_path_factory.mktemp("anvil")) as chain:
        yield chain


@pytest.fixture(scope="module")
def contract(anvil: LocalChain) -> bytes:
    return deploy_life_data_da(anvil)


def _chunk(size: int) -> tuple[str, bytes]:
    data = os.urandom(size)
    return hashlib.sha256(data).hexdigest(), data


def test_blob_encoding_round_trips_and_keeps_every_element_canonical() -> None:
    data = os.urandom(DATA_BYTES_PER_BLOB + 5) + b"\xff" * 40
    blobs = encode_blobs(data)
    assert len(blobs) == 2
    assert all(len(blob) == 131072 for blob in blobs)
    assert all(blob[i] == 0 for blob in blobs for i in range(0, len(blob), 32))
    assert decode_blobs(blobs, len(data)) == data
    with pytest.raises(ChainDataMismatch):
        decode_blobs(blobs[:1], len(data))


@pytest.mark.parametrize("kind", ["calldata", "blobs"])
def test_round_trip_and_a_fresh_node_finds_chunks_from_the_chain_alone(
    anvil: LocalChain, contract: bytes, tmp_path: Path, kind: str
) -> None:
    poster = dev_chain_backend(anvil, contract, kind=kind, state_dir=tmp_path / "a")
    small_id, small = _chunk(1000)
    big_id, big = _chunk(300 * 1024 if kind == "calldata" else 800 * 1024)  # several parts
    for chunk_id, data in ((small_id, small), (big_id, big)):
        poster.put_chunk(chunk_id, data)
        poster.put_chunk(chunk_id, data)  # idempotent: posted once
        assert poster.get_chunk(chunk_id) == data
    fresh = dev_chain_backend(anvil, contract, kind=kind, state_dir=tmp_path / "b")
    assert fresh.get_chunk(small_id) == small
    assert fresh.get_chunk(big_id) == big
    head = anvil.rpc("eth_blockNumber")
    fresh.put_chunk(big_id, big)  # on chain already: found and indexed, not posted again
    assert anvil.rpc("eth_blockNumber") == head
    with pytest.raises(ChunkMissing):
        fresh.get_chunk(hashlib.sha256(b"never posted").hexdigest())
    with pytest.raises(ValueError):
        poster.put_chunk(small_id, small + b"x")  # not the bytes the id names


@pytest.mark.parametrize("kind", ["calldata", "blobs"])
def test_manifests_are_never_replaced_and_only_the_trusted_poster_counts(
    anvil: LocalChain, contract: bytes, tmp_path: Path, kind: str
) -> None:
    backend = dev_chain_backend(anvil, contract, kind=kind, state_dir=tmp_path / "a")
    agent = f"agent-{kind}"
    assert backend.latest_version(agent) == 0
    backend.publish_manifest(agent, 1, b"manifest one")
    backend.publish_manifest(agent, 2, b"manifest two")
    with pytest.raises(ManifestExists):
        backend.publish_manifest(agent, 2, b"a replacement")
    fresh = dev_chain_backend(anvil, contract, kind=kind, state_dir=tmp_path / "b")
    assert fresh.latest_version(agent) == 2
    assert fresh.get_manifest(agent, 1) == b"manifest one"
    with pytest.raises(ChunkMissing):
        fresh.get_manifest(agent, 3)
    # Someone else (another dev account) posts "version 3": not the trusted poster's.
    from anima_dasync.backends.calldata import CalldataBackend
    from anima_dasync.backends.chain_rpc import JsonRpc
    from anima_dasync.backends.evm_posts import LocatorIndex
    from anima_dasync.backends.senders import DevChainAccountSender

    rpc = JsonRpc(anvil.url)
    intruder = CalldataBackend(
        rpc=rpc,
        contract=contract,
        sender=DevChainAccountSender(rpc=rpc, index=3),
        manifest_poster=DevChainAccountSender(rpc=rpc, index=3).address,
        index=LocatorIndex(None),
    )
    intruder.publish_manifest(agent, 3, b"forged")
    assert fresh.latest_version(agent) == 2
    with pytest.raises(ChunkMissing):
        fresh.get_manifest(agent, 3)


def _swap_input(method: str, params: list[Any], result: Any) -> Any:
    if method == "eth_getTransactionByHash" and isinstance(result, dict):
        data = bytearray.fromhex(result["input"][2:])
        data[-40] ^= 0xFF  # a byte inside the posted chunk
        return {**result, "input": "0x" + data.hex()}
    return result


def test_a_lying_node_cannot_pass_off_other_calldata(
    anvil: LocalChain, contract: bytes, tmp_path: Path
) -> None:
    chunk_id, data = _chunk(5000)
    dev_chain_backend(anvil, contract, kind="calldata", state_dir=tmp_path / "a").put_chunk(
        chunk_id, data
    )
    with lying_rpc(anvil.url) as proxy:
        reader = dev_chain_backend(
            anvil, contract, kind="calldata", state_dir=tmp_path / "b", rpc_url=proxy.url
        )
        proxy.tamper = _swap_input
        with pytest.raises(ChainDataMismatch) as refused:
            reader.get_chunk(chunk_id)
        assert isinstance(refused.value, ChunkCorrupt)
        assert refused.value.reason == "DA_CHAIN_DATA_MISMATCH"
        proxy.tamper = None
        assert reader.get_chunk(chunk_id) == data


def _flip_blob(method: str, params: list[Any], result: Any) -> Any:
    if method == "anvil_getBlobByHash" and isinstance(result, str):
        blob = bytearray.fromhex(result[2:])
        blob[33] ^= 0x01  # still canonical, another polynomial
        return "0x" + blob.hex()
    return result


def _withhold_blob(method: str, params: list[Any], result: Any) -> Any:
    return None if method == "anvil_getBlobByHash" else result


def _other_versioned_hashes(method: str, params: list[Any], result: Any) -> Any:
    if method == "eth_getTransactionByHash" and isinstance(result, dict):
        return {**result, "blobVersionedHashes": ["0x01" + "00" * 31]}
    return result


def test_blobs_are_checked_by_kzg_and_the_archive_serves_pruned_ones(
    anvil: LocalChain, contract: bytes, tmp_path: Path
) -> None:
    chunk_id, data = _chunk(20_000)
    archive = tmp_path / "archive"
    dev_chain_backend(
        anvil, contract, kind="blobs", state_dir=tmp_path / "a", archive_dir=archive
    ).put_chunk(chunk_id, data)
    with lying_rpc(anvil.url) as proxy:

        def reader(name: str, archive_dir: Path) -> Any:
            return dev_chain_backend(
                anvil,
                contract,
                kind="blobs",
                state_dir=tmp_path / name,
                rpc_url=proxy.url,
                archive_dir=archive_dir,
            )

        no_archive = reader("b", tmp_path / "empty-archive")
        for tamper, refusal in (
            (_flip_blob, ChainDataMismatch),
            (_withhold_blob, ChunkMissing),
            (_other_versioned_hashes, ChainDataMismatch),
        ):
            proxy.tamper = tamper
            with pytest.raises(refusal):
                no_archive.get_chunk(chunk_id)
        # The archive (filled when posting) serves what the node withholds or garbles.
        with_archive = reader("c", archive)
        for tamper in (_flip_blob, _withhold_blob):
            proxy.tamper = tamper
            assert with_archive.get_chunk(chunk_id) == data
        # A damaged archive file is refused, never served.
        [archived] = list(archive.iterdir())
        damaged = bytearray(archived.read_bytes())
        damaged[65] ^= 0x01
        archived.write_bytes(bytes(damaged))
        proxy.tamper = _withhold_blob
        with pytest.raises(ChainDataMismatch):
            reader("d", archive).get_chunk(chunk_id)


def test_chain_backends_refuse_to_start_misconfigured_or_in_production() -> None:
    base: dict[str, Any] = {
        "rpc_url": "http://127.0.0.1:1",
        "chain_id": 31337,
        "contract": "0x" + "11" * 20,
    }
    with pytest.raises(DaSyncMisconfigured, match="insecure_dev_chain_sender"):
        DaBackendConfig(backend="calldata", **base).check_startable(production=False)
    dev = DaBackendConfig(backend="blobs", insecure_dev_chain_sender=True, **base)
    dev.check_startable(production=False)
    with pytest.raises(DaSyncMisconfigured, match="production"):
        dev.check_startable(production=True)
    with pytest.raises(DaSyncMisconfigured, match="20-byte"):
        DaBackendConfig(
            backend="calldata", insecure_dev_chain_sender=True, **{**base, "contract": "0x12"}
        ).check_startable(production=False)
    DaBackendConfig().check_startable(production=True)  # local: nothing to check


def test_a_node_on_another_chain_is_refused(
    anvil: LocalChain, contract: bytes, tmp_path: Path
) -> None:
    from anima_dasync.backends.factory import open_backend

    da = DaBackendConfig(
        backend="calldata",
        rpc_url=anvil.url,
        chain_id=1,
        contract="0x" + contract.hex(),
        insecure_dev_chain_sender=True,
    )
    with pytest.raises(DaSyncMisconfigured, match="serves chain 31337"):
        open_backend(da, da_dir=tmp_path, state_dir=tmp_path)


@pytest.mark.parametrize("kind", ["calldata", "blobs"])
def test_anima_agent_recover_reads_the_chain_backend_read_only(
    anvil: LocalChain, contract: bytes, tmp_path: Path, kind: str
) -> None:
    import argparse

    from anima_dasync.backends.chain_rpc import ChainDAReadOnly
    from anima_dev.contracts import dev_account
    from anima_dev.recover_cli import da_backend

    chunk_id, data = _chunk(3000)
    poster = dev_chain_backend(anvil, contract, kind=kind, state_dir=tmp_path / "a")
    poster.put_chunk(chunk_id, data)
    poster.publish_manifest(f"cli-{kind}", 1, b"signed manifest")
    args = argparse.Namespace(
        da=None,
        da_backend=kind,
        da_contract="0x" + contract.hex(),
        da_poster=dev_account(anvil),
        blob_archive=None,
        rpc=anvil.url,
    )
    reader = da_backend(args)
    assert reader.get_chunk(chunk_id) == data
    assert reader.get_manifest(f"cli-{kind}", 1) == b"signed manifest"
    with pytest.raises(ChainDAReadOnly):
        reader.put_chunk(*_chunk(10))
    with pytest.raises(ChainDAReadOnly):
        reader.publish_manifest(f"cli-{kind}", 2, b"x")
    with pytest.raises(SystemExit, match="--da-poster"):
        da_backend(argparse.Namespace(**{**vars(args), "da_poster": None}))


def test_the_da_table_of_the_config_file_picks_the_backend(tmp_path: Path) -> None:
    from anima_core.config import ConfigError, load_config
    from anima_dasync.config import ENV_PREFIX, DaSyncConfig

    file = tmp_path / "dasync.toml"
    file.write_text(
        '[da]\nbackend = "blobs"\nrpc_url = "http://127.0.0.1:8545"\nchain_id = 31337\n'
        f'contract = "0x{"22" * 20}"\ninsecure_dev_chain_sender = true\n'
    )
    config = load_config(DaSyncConfig, env_prefix=ENV_PREFIX, file=file, overrides={})
    assert config.da.backend == "blobs"
    assert config.da.contract_bytes() == bytes([0x22]) * 20
    file.write_text('[da]\nbackend = "celestia"\n')
    with pytest.raises(ConfigError, match="backend"):
        load_config(DaSyncConfig, env_prefix=ENV_PREFIX, file=file, overrides={})
