"""Property: on any input the chain DA backends' parsers (blob decoding, post calldata,
event logs, blob checks) raise only ChainDataMismatch (a lying node's bytes are refused,
never a crash), blob encoding round-trips with every field element canonical, and no
edit of a blob passes its versioned hash."""

from __future__ import annotations

import random
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from anima_dasync.backends.blob_codec import (
    BYTES_PER_BLOB,
    bundle,
    check_blob,
    decode_blobs,
    encode_blobs,
)
from anima_dasync.backends.chain_rpc import ChainDataMismatch
from anima_dasync.backends.evm_posts import (
    BLOBS_POSTED_TOPIC,
    POSTED_TOPIC,
    decode_post_call,
    parse_post_log,
    post_call,
)
from tests.fuzz.targets import mutate

KEY = bytes(range(32))
VALID_CALL = post_call(KEY, 1, 3, b"sealed bytes" * 5)
SIDECAR = bundle(b"a blob's worth of sealed life data")
JSON = st.recursive(
    st.none() | st.booleans() | st.integers() | st.text(max_size=80),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=12), inner),
    max_leaves=12,
)


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(data=st.binary(max_size=400))
def test_blob_encoding_round_trips_canonically(data: bytes) -> None:
    blobs = encode_blobs(data)
    assert all(len(b) == BYTES_PER_BLOB and b[::32] == bytes(4096) for b in blobs)
    assert decode_blobs(blobs, len(data)) == data


@settings(max_examples=300, deadline=None)
@given(data=st.binary(max_size=300), seed=st.integers(0, 2**32 - 1))
def test_post_calldata_parser_refuses_or_decodes(data: bytes, seed: int) -> None:
    for candidate in (data, mutate(VALID_CALL, random.Random(seed))):
        try:
            key, part, parts, payload = decode_post_call(candidate)
        except ChainDataMismatch:
            continue
        assert len(key) == 32 and part >= 0 and parts >= 0 and isinstance(payload, bytes)


@settings(max_examples=300, deadline=None)
@given(
    log=JSON,
    poster=st.binary(min_size=32, max_size=32),
    data=st.binary(max_size=260),
    tx_hash=st.one_of(JSON, st.just("0x" + "ab" * 32)),
    block=st.one_of(JSON, st.just("0x1")),
)
def test_event_log_parser_refuses_or_locates(
    log: Any, poster: bytes, data: bytes, tx_hash: Any, block: Any
) -> None:
    for topic in (POSTED_TOPIC, BLOBS_POSTED_TOPIC):
        shaped = {  # the right event and key, arbitrary poster word and data
            "topics": ["0x" + t.hex() for t in (topic, KEY, poster)],
            "data": "0x" + data.hex(),
            "transactionHash": tx_hash,
            "blockNumber": block,
        }
        for candidate in (log, shaped, {**shaped, **(log if isinstance(log, dict) else {})}):
            try:
                located = parse_post_log(candidate, topic=topic, key=KEY)
            except ChainDataMismatch:
                continue
            assert located is None or 0 <= located.part < located.parts


@settings(max_examples=15, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(seed=st.integers(0, 2**32 - 1))
def test_no_edit_of_a_blob_passes_its_versioned_hash(seed: int) -> None:
    [blob], [versioned_hash] = SIDECAR.blobs, SIDECAR.versioned_hashes
    edited = mutate(blob, random.Random(seed))
    if edited == blob:
        return
    with pytest.raises(ChainDataMismatch):
        check_blob(edited, versioned_hash)
