"""The DA backend the configuration names ([da] backend = "local" | "calldata" | "blobs")."""

from __future__ import annotations

from pathlib import Path

from anima_dasync.backends.base import DABackend
from anima_dasync.backends.local import LocalDirectoryBackend
from anima_dasync.config import DaBackendConfig, DaSyncMisconfigured


def open_backend(
    da: DaBackendConfig, *, da_dir: Path, state_dir: Path, read_only: bool = False
) -> DABackend:
    """The configured backend; `read_only` (a recovering node) needs no sender, but then
    da.manifest_poster must say whose manifests count."""
    if da.backend == "local":
        return LocalDirectoryBackend(root=da_dir)
    # The chain backends' modules (ckzg, eth-abi) load only when configured.
    from anima_dasync.backends.archive import BlobArchive
    from anima_dasync.backends.blobs import BlobBackend
    from anima_dasync.backends.calldata import CalldataBackend
    from anima_dasync.backends.chain_rpc import JsonRpc
    from anima_dasync.backends.evm_posts import LocatorIndex
    from anima_dasync.backends.senders import DevChainAccountSender

    if not da.rpc_url or da.chain_id is None:
        raise DaSyncMisconfigured(f"the {da.backend} backend needs da.rpc_url and da.chain_id")
    if read_only and not da.manifest_poster:
        raise DaSyncMisconfigured("reading a chain backend needs da.manifest_poster")
    if not read_only and not da.insecure_dev_chain_sender:
        raise DaSyncMisconfigured("posting needs da.insecure_dev_chain_sender (dev chain only)")
    rpc = JsonRpc(da.rpc_url)
    served = int(str(rpc.call("eth_chainId")), 16)
    if served != da.chain_id:
        raise DaSyncMisconfigured(
            f"da.rpc_url serves chain {served}, not da.chain_id {da.chain_id}"
        )
    contract = da.contract_bytes()
    sender = None if read_only else DevChainAccountSender(rpc=rpc)
    poster = da.manifest_poster or (sender.address if sender is not None else "")
    calldata = CalldataBackend(
        rpc=rpc,
        contract=contract,
        sender=sender,
        manifest_poster=poster,
        index=LocatorIndex(da.locator_dir or state_dir / "da-locators"),
    )
    if da.backend == "calldata":
        return calldata
    return BlobBackend(
        rpc=rpc,
        contract=contract,
        sender=sender,
        manifests=calldata,
        archive=BlobArchive(root=da.blob_archive_dir or state_dir / "blob-archive"),
        index=LocatorIndex(da.locator_dir or state_dir / "da-locators"),
    )
