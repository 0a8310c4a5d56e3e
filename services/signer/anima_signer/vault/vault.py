"""Seal and unseal objects inside the enclave, envelope style.

Each object gets a fresh random 256-bit data key: AES-256-GCM seals the object
under it, and AES-256-KW (RFC 3394, deterministic, so no nonce to run out of)
wraps it under a key-encryption key derived in the enclave per agent, purpose and
key epoch (KeyRing.vault_kek). The associated data binds the whole header (agent,
purpose, version, epoch, wrapped key, nonce) and the caller's context, so a blob
opens only where it was sealed. A later epoch (after a recovery or a rotation)
re-wraps data keys without re-encrypting the data.

The API is bytes in, bytes out, with no storage and no transport: the signer's
state store seals its rows with it, and life data for DA (issue 15) will too.
"""

from __future__ import annotations

import os
import struct
from collections.abc import Container

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.keywrap import InvalidUnwrap, aes_key_unwrap, aes_key_wrap

from anima_signer.keys import KeyRing
from anima_signer.vault.blob import NONCE_SIZE, SealedBlob, encode_names, parse_sealed_blob
from anima_signer.vault.errors import (
    SealedBlobNotAuthentic,
    SealedForAnotherAgent,
    SealedForAnotherPurpose,
    SealedUnderUnacceptedEpoch,
)

DATA_KEY_SIZE = 32
_CONTEXT_LENGTH = struct.Struct(">I")


def associated_data(header: bytes, context: bytes) -> bytes:
    """What the AES-GCM seal authenticates besides the plaintext."""
    return header + _CONTEXT_LENGTH.pack(len(context)) + context


class Vault:
    """Seals for one enclave (its KeyRing); thread-safe, holds no state of its own."""

    def __init__(self, *, keyring: KeyRing) -> None:
        self._keys = keyring
        # (agent, purpose, epoch) -> (the header's names, the key-encryption key):
        # checked and derived once, not per object (a dict set is atomic under the GIL).
        self._names: dict[tuple[str, str, int], tuple[bytes, bytes]] = {}

    def seal(
        self, plaintext: bytes, *, agent_id: str, purpose: str, epoch: int, context: bytes = b""
    ) -> bytes:
        """A sealed blob of `plaintext` that only this enclave opens, and only for the same
        agent, purpose and context, under a key epoch the opener accepts."""
        names = self._names.get((agent_id, purpose, epoch))
        if names is None:
            names = self._names[(agent_id, purpose, epoch)] = (
                encode_names(epoch=epoch, agent_id=agent_id, purpose=purpose),
                self._keys.vault_kek(agent_id, purpose, epoch),
            )
        fresh = os.urandom(DATA_KEY_SIZE + NONCE_SIZE)
        data_key, nonce = fresh[:DATA_KEY_SIZE], fresh[DATA_KEY_SIZE:]
        header = names[0] + aes_key_wrap(names[1], data_key) + nonce
        return header + AESGCM(data_key).encrypt(nonce, plaintext, associated_data(header, context))

    def unseal(
        self,
        data: bytes,
        *,
        agent_id: str,
        purpose: str,
        epochs: Container[int],
        context: bytes = b"",
    ) -> bytes:
        """The plaintext, or a specific error: SealedBlobMalformed (not a sealed blob),
        SealedForAnotherAgent/Purpose, SealedUnderUnacceptedEpoch, SealedBlobNotAuthentic."""
        return self.open(
            parse_sealed_blob(data),
            agent_id=agent_id,
            purpose=purpose,
            epochs=epochs,
            context=context,
        )

    def open(
        self,
        blob: SealedBlob,
        *,
        agent_id: str,
        purpose: str,
        epochs: Container[int],
        context: bytes = b"",
    ) -> bytes:
        """unseal for a blob already parsed."""
        if blob.agent_id != agent_id:
            raise SealedForAnotherAgent(
                f"the blob was sealed for agent {blob.agent_id!r}, not {agent_id!r}"
            )
        if blob.purpose != purpose:
            raise SealedForAnotherPurpose(
                f"the blob was sealed for purpose {blob.purpose!r}, not {purpose!r}"
            )
        if blob.epoch not in epochs:
            raise SealedUnderUnacceptedEpoch(
                f"the blob was sealed under key epoch {blob.epoch}, which is not accepted "
                f"for agent {agent_id!r} ({purpose})"
            )
        kek = self._keys.vault_kek(agent_id, purpose, blob.epoch)
        try:
            data_key = aes_key_unwrap(kek, blob.wrapped_key)
            return AESGCM(data_key).decrypt(
                blob.nonce, blob.ciphertext, associated_data(blob.header, context)
            )
        except (InvalidUnwrap, InvalidTag):
            raise SealedBlobNotAuthentic(
                f"a blob sealed for agent {agent_id!r} ({purpose}, epoch {blob.epoch}) "
                "failed authentication: it was altered, moved from another place or context, "
                "or sealed by another enclave"
            ) from None
