"""The sealed blob: a versioned, self-describing envelope, parsed strictly.

Layout, version 1 (all integers big-endian):

    magic        4   b"ANSB" (ANima Sealed Blob)
    version      1   1
    suite        1   1 = AES-256-KW (RFC 3394) wraps the data key, AES-256-GCM seals the data
    epoch        4   the key epoch whose key-encryption key wrapped the data key
    agent_len    1   then the agent id (ASCII, the agent id rule)
    purpose_len  1   then the purpose (ASCII, PURPOSE_RULE)
    wrapped_key 40   the fresh 256-bit data key, wrapped
    nonce       12   AES-GCM nonce (random; the data key is used once anyway)
    ciphertext  16+  AES-GCM ciphertext and tag

The associated data of the AES-GCM seal is every header byte above the ciphertext,
then the caller's context (length-prefixed, not stored): changing any header field,
moving the blob to another agent, purpose, epoch or context, or editing a byte,
fails authentication. Anything that does not match this layout (too short, another
magic, an unknown version or suite, an agent id or purpose outside its rule) is
SealedBlobMalformed before any key is derived; bytes appended to a blob are part of
its ciphertext and fail authentication.
"""

from __future__ import annotations

import re
import struct
from dataclasses import dataclass
from typing import Final

from anima_signer.vault.errors import SealedBlobMalformed
from anima_verify.agent_id import AGENT_ID_RULE, is_agent_id

MAGIC: Final = b"ANSB"
FORMAT_VERSION: Final = 1
SUITE_AES256KW_AES256GCM: Final = 1
WRAPPED_KEY_SIZE: Final = 40  # a 32-byte key wrapped by RFC 3394
NONCE_SIZE: Final = 12
TAG_SIZE: Final = 16
MAX_EPOCH: Final = 2**32 - 1
#: A purpose is one lower-case word (letters, digits, '-'), so key labels never collide.
PURPOSE_RULE: Final = "1 to 32 characters of a-z, 0-9 and '-', starting with a letter"
_PURPOSE = re.compile(r"[a-z][a-z0-9-]{0,31}")
_FIXED = struct.Struct(">4sBBI")


def is_purpose(value: str) -> bool:
    return _PURPOSE.fullmatch(value) is not None


@dataclass(frozen=True, slots=True)
class SealedBlob:
    """A parsed sealed blob; `header` is the exact bytes the seal authenticates."""

    epoch: int
    agent_id: str
    purpose: str
    wrapped_key: bytes
    nonce: bytes
    ciphertext: bytes
    header: bytes

    def to_bytes(self) -> bytes:
        return self.header + self.ciphertext


def encode_names(*, epoch: int, agent_id: str, purpose: str) -> bytes:
    """The header up to the wrapped key: the same for every blob of one agent, purpose
    and epoch (the vault caches it)."""
    if not is_agent_id(agent_id):
        raise ValueError(f"agent_id must be {AGENT_ID_RULE}")
    if not is_purpose(purpose):
        raise ValueError(f"purpose must be {PURPOSE_RULE}")
    if not 0 <= epoch <= MAX_EPOCH:
        raise ValueError("epoch must fit in 32 bits")
    agent, kind = agent_id.encode("ascii"), purpose.encode("ascii")
    fixed = _FIXED.pack(MAGIC, FORMAT_VERSION, SUITE_AES256KW_AES256GCM, epoch)
    return b"".join((fixed, bytes([len(agent)]), agent, bytes([len(kind)]), kind))


def encode_header(
    *, epoch: int, agent_id: str, purpose: str, wrapped_key: bytes, nonce: bytes
) -> bytes:
    if len(wrapped_key) != WRAPPED_KEY_SIZE or len(nonce) != NONCE_SIZE:
        raise ValueError("wrapped key or nonce of the wrong size")
    return encode_names(epoch=epoch, agent_id=agent_id, purpose=purpose) + wrapped_key + nonce


def parse_sealed_blob(data: bytes) -> SealedBlob:
    """The blob's fields, or SealedBlobMalformed naming the first thing wrong."""
    if not isinstance(data, (bytes, bytearray, memoryview)):
        raise SealedBlobMalformed("a sealed blob must be bytes")
    data = bytes(data)
    if len(data) < _FIXED.size:
        raise SealedBlobMalformed(f"a sealed blob is at least {_FIXED.size} bytes; got {len(data)}")
    magic, version, suite, epoch = _FIXED.unpack_from(data)
    if magic != MAGIC:
        raise SealedBlobMalformed("not a sealed blob (its first bytes are not the magic 'ANSB')")
    if version != FORMAT_VERSION:
        raise SealedBlobMalformed(
            f"sealed blob format version {version} is not one this enclave reads "
            f"(it reads {FORMAT_VERSION})"
        )
    if suite != SUITE_AES256KW_AES256GCM:
        raise SealedBlobMalformed(f"unknown cipher suite {suite} in a sealed blob")
    offset = _FIXED.size
    agent, offset = _short_field(data, offset, "agent id")
    if not is_agent_id(agent):
        raise SealedBlobMalformed(f"the sealed blob's agent id is not {AGENT_ID_RULE}")
    purpose, offset = _short_field(data, offset, "purpose")
    if not is_purpose(purpose):
        raise SealedBlobMalformed(f"the sealed blob's purpose is not {PURPOSE_RULE}")
    end_of_header = offset + WRAPPED_KEY_SIZE + NONCE_SIZE
    if len(data) < end_of_header + TAG_SIZE:
        raise SealedBlobMalformed(
            f"the sealed blob is truncated: {len(data)} bytes, its header and tag alone "
            f"take {end_of_header + TAG_SIZE}"
        )
    return SealedBlob(
        epoch=epoch,
        agent_id=agent,
        purpose=purpose,
        wrapped_key=data[offset : offset + WRAPPED_KEY_SIZE],
        nonce=data[offset + WRAPPED_KEY_SIZE : end_of_header],
        ciphertext=data[end_of_header:],
        header=data[:end_of_header],
    )


def _short_field(data: bytes, offset: int, what: str) -> tuple[str, int]:
    """A length-prefixed ASCII field (checked against its rule by the caller)."""
    if offset >= len(data):
        raise SealedBlobMalformed(f"the sealed blob ends before its {what}")
    length = data[offset]
    start, end = offset + 1, offset + 1 + length
    if end > len(data):
        raise SealedBlobMalformed(f"the sealed blob ends inside its {what}")
    raw = data[start:end]
    if not raw.isascii():
        raise SealedBlobMalformed(f"the sealed blob's {what} is not ASCII")
    return raw.decode("ascii"), end
