"""The light-client store on disk, so a restart resumes where it was instead of
syncing again from the checkpoint.

What is kept is what the spec's store needs to continue: the finalized and
optimistic headers, both sync committees and the participation counters (the best
valid update is dropped: a restart waits for a new one). The file is JSON with SSZ
hex; it is written atomically (temporary file, fsync, rename) and bound to the
chain's genesis validators root, so a file from another network is refused.

The file is the host's cache of verified state; whoever can write it can set the
trusted head, so it belongs where the verifier keeps its own secrets.
"""

from __future__ import annotations

import json
import os
import tempfile
from pathlib import Path
from typing import Any

from anima_verify.beacon.config import ChainConfig
from anima_verify.beacon.errors import LightClientStateUnusable
from anima_verify.beacon.ssz import LightClientHeader, light_client_types
from anima_verify.beacon.sync import LightClientStore, is_valid_light_client_header

FORMAT = "anima-beacon-light-client-store/1"


def save_store(path: Path, store: LightClientStore) -> None:
    document = {
        "format": FORMAT,
        "chain": store.config.name,
        "genesis_validators_root": store.config.genesis_validators_root.hex(),
        "finalized_header": store.finalized_header.encode_bytes().hex(),
        "optimistic_header": store.optimistic_header.encode_bytes().hex(),
        "current_sync_committee": store.current_sync_committee.encode_bytes().hex(),
        "next_sync_committee": store.next_sync_committee.encode_bytes().hex(),
        "previous_max_active_participants": store.previous_max_active_participants,
        "current_max_active_participants": store.current_max_active_participants,
    }
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.")
    try:
        with os.fdopen(fd, "w") as handle:
            json.dump(document, handle)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def load_store(path: Path, config: ChainConfig) -> LightClientStore | None:
    """The store saved at `path`, None when there is none; LightClientStateUnusable
    when the file cannot be read back or belongs to another chain."""
    path = Path(path)
    try:
        text = path.read_text()
    except FileNotFoundError:
        return None
    except OSError as exc:
        raise LightClientStateUnusable(f"cannot read {path}: {exc.strerror}") from None
    try:
        document = json.loads(text)
        if document.get("format") != FORMAT:
            raise ValueError(f"format is {document.get('format')!r}, expected {FORMAT!r}")
        if bytes.fromhex(document["genesis_validators_root"]) != config.genesis_validators_root:
            raise ValueError(f"it belongs to another chain ({document.get('chain')!r})")
        types = light_client_types(config.preset)
        store = LightClientStore(
            config=config,
            finalized_header=_ssz(LightClientHeader, document["finalized_header"]),
            optimistic_header=_ssz(LightClientHeader, document["optimistic_header"]),
            current_sync_committee=_ssz(types.sync_committee, document["current_sync_committee"]),
            next_sync_committee=_ssz(types.sync_committee, document["next_sync_committee"]),
            best_valid_update=None,
            previous_max_active_participants=int(document["previous_max_active_participants"]),
            current_max_active_participants=int(document["current_max_active_participants"]),
        )
    except (ValueError, KeyError, TypeError, AttributeError) as exc:
        raise LightClientStateUnusable(
            f"{path} is not a usable light-client state: {exc}"
        ) from None
    for name in ("finalized_header", "optimistic_header"):
        if not is_valid_light_client_header(config, getattr(store, name)):
            raise LightClientStateUnusable(f"{path}: {name} is not a valid light-client header")
    return store


def _ssz(container: Any, text: str) -> Any:
    return container.decode_bytes(bytes.fromhex(text))
