"""The witness's Ed25519 key: made once in the state directory (0600), never shown.

Losing the key file loses the witness's identity: verifiers trust its public key,
so a new key is a new witness (configure it anew) and starts with no history.
"""

from __future__ import annotations

import os
from pathlib import Path

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from cryptography.hazmat.primitives.serialization import Encoding, NoEncryption, PrivateFormat

from anima_witness.errors import WitnessStateError

KEY_FILE = "witness.key"


def load_or_create_key(state_dir: Path) -> Ed25519PrivateKey:
    state_dir.mkdir(parents=True, exist_ok=True, mode=0o700)
    path = state_dir / KEY_FILE
    try:
        seed = path.read_bytes()
    except FileNotFoundError:
        return _create(path)
    if len(seed) != 32:
        raise WitnessStateError(f"{path} is not a 32-byte Ed25519 key")
    return Ed25519PrivateKey.from_private_bytes(seed)


def _create(path: Path) -> Ed25519PrivateKey:
    key = Ed25519PrivateKey.generate()
    seed = key.private_bytes(Encoding.Raw, PrivateFormat.Raw, NoEncryption())
    tmp = path.with_suffix(".tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    try:
        os.write(fd, seed)
        os.fsync(fd)
    finally:
        os.close(fd)
    try:
        os.link(tmp, path)  # never replaces a key another process made meanwhile
    except FileExistsError:
        os.unlink(tmp)
        return load_or_create_key(path.parent)
    os.unlink(tmp)
    dir_fd = os.open(path.parent, os.O_RDONLY)
    try:
        os.fsync(dir_fd)
    finally:
        os.close(dir_fd)
    return key
