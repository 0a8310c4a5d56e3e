"""The memories chunk's plaintext: the memory service's export stream (ExportMemories,
vectors included, so a restore imports without re-embedding), each serialized export
chunk length-prefixed. Opaque bytes here; the memory service checks them on import."""

from __future__ import annotations

import struct
from collections.abc import Iterable

_LENGTH = struct.Struct(">I")


def pack_export(chunks: Iterable[bytes]) -> bytes:
    return b"".join(_LENGTH.pack(len(c)) + c for c in chunks)


def unpack_export(data: bytes) -> list[bytes]:
    """The serialized export chunks; ValueError if the framing is cut or overruns."""
    out, at = [], 0
    while at < len(data):
        if at + _LENGTH.size > len(data):
            raise ValueError("memories chunk: a length prefix is cut")
        (size,) = _LENGTH.unpack_from(data, at)
        at += _LENGTH.size
        if at + size > len(data):
            raise ValueError("memories chunk: an export chunk is cut")
        out.append(data[at : at + size])
        at += size
    return out
