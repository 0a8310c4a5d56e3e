"""Chain-proof error messages quote hashes in full and cut anything longer, so an RPC
node's megabyte answer never ends up in a log line or a client's error."""

from __future__ import annotations

import pytest

from anima_verify.chain.errors import CodeHashMismatch, MalformedChainData, shown
from anima_verify.chain.header import verify_header
from anima_verify.chain.proofs import verify_code


def test_a_hash_is_shown_whole_and_a_blob_is_cut() -> None:
    assert shown(b"\xab" * 32) == "0x" + "ab" * 32
    long = shown(b"\xab" * 100_000)
    assert len(long) < 100 and long.endswith("(200002 chars)")


def test_a_huge_field_is_not_echoed() -> None:
    with pytest.raises(MalformedChainData) as refused:
        verify_header({"baseFeePerGas": "0x1", "parentHash": "0x" + "zz" * 500_000})
    assert len(refused.value.message) < 200


def test_code_is_never_quoted() -> None:
    code = b"\x60\x00" * 50_000
    with pytest.raises(CodeHashMismatch) as refused:
        verify_code(bytes(32), code)
    assert "100000 bytes" in refused.value.message and len(refused.value.message) < 250
