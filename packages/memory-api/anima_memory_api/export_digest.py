"""The digest in an "anima.memory.export" stream's trailer (memory.proto): SHA-256 over
every memory in stream order, each as a 4-byte big-endian length then its deterministic
protobuf encoding, then each tombstone (a change export) as its id with the length's
top bit set, so no memory ever hashes like a tombstone. Shared by the memory service
(writing, importing) and DA sync (merging a snapshot with its deltas)."""

from __future__ import annotations

import hashlib
from typing import Final

from anima.memory.v1 import memory_pb2 as pb

_TOMBSTONE_BIT: Final = 1 << 31


class ExportDigest:
    def __init__(self) -> None:
        self._hash = hashlib.sha256()
        self.count = 0
        self.deleted = 0

    def add(self, memory: pb.Memory) -> None:
        encoded = memory.SerializeToString(deterministic=True)
        self._hash.update(len(encoded).to_bytes(4, "big"))
        self._hash.update(encoded)
        self.count += 1

    def add_tombstone(self, memory_id: str) -> None:
        encoded = memory_id.encode()
        self._hash.update((_TOMBSTONE_BIT | len(encoded)).to_bytes(4, "big"))
        self._hash.update(encoded)
        self.deleted += 1

    def digest(self) -> bytes:
        return self._hash.digest()
