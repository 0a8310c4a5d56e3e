"""The chain DA backends on a dev chain: deploy contracts/LifeDataDA.sol and open a
calldata or blob backend on it (anvil's unlocked development account sends)."""

from __future__ import annotations

from pathlib import Path

from anima_dasync.backends.base import DABackend
from anima_dasync.backends.factory import open_backend
from anima_dasync.config import DaBackendConfig
from anima_dev.contracts import compile_contracts, send_from_dev_account
from anima_dev.local_chain import LocalChain


def deploy_life_data_da(chain: LocalChain) -> bytes:
    compiled = compile_contracts()["LifeDataDA"]
    receipt = send_from_dev_account(
        chain, {"data": "0x" + compiled.bytecode.hex(), "gas": hex(1_000_000)}
    )
    return bytes.fromhex(str(receipt["contractAddress"])[2:])


def dev_chain_backend(
    chain: LocalChain,
    contract: bytes,
    *,
    kind: str,
    state_dir: Path,
    rpc_url: str | None = None,
    archive_dir: Path | None = None,
    read_only_poster: str | None = None,
) -> DABackend:
    """A calldata or blob backend on the dev chain; `rpc_url` (a proxy) may stand in for
    the chain's own endpoint; `read_only_poster` opens it to read (a recovering node),
    trusting that address's manifests."""
    da = DaBackendConfig(
        backend=kind,  # type: ignore[arg-type]
        rpc_url=rpc_url or chain.url,
        chain_id=chain.chain_id,
        contract="0x" + contract.hex(),
        blob_archive_dir=archive_dir,
        locator_dir=state_dir / "locators",
        manifest_poster=read_only_poster,
        insecure_dev_chain_sender=read_only_poster is None,
    )
    return open_backend(
        da, da_dir=state_dir / "unused", state_dir=state_dir, read_only=read_only_poster is not None
    )
