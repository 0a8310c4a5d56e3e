"""C2SP tlog-witness request and size bodies: the grammar, both ways."""

from __future__ import annotations

import pytest

from anima_verify.tlog.errors import MalformedWitnessRequest
from anima_verify.tlog.merkle import leaf_hash
from anima_verify.tlog.witness_protocol import (
    AddCheckpointRequest,
    parse_add_checkpoint_request,
    parse_size_body,
    size_body,
)

NOTE = b"example.com/log\n3\nAAAA\n\n\xe2\x80\x94 example.com/log AAAA\n"


def test_a_request_round_trips() -> None:
    request = AddCheckpointRequest(20852014, (leaf_hash(b"a"), leaf_hash(b"b")), NOTE)
    body = request.to_bytes()
    assert body.startswith(b"old 20852014\n") and b"\n\n" + NOTE in body
    assert parse_add_checkpoint_request(body) == request
    assert parse_add_checkpoint_request(b"old 0\n\n" + NOTE).proof == ()


@pytest.mark.parametrize(
    "body",
    [
        b"",
        b"old 1\n",
        b"old 01\n\n" + NOTE,
        b"old -1\n\n" + NOTE,
        b"old 18446744073709551616\n\n" + NOTE,
        b"new 1\n\n" + NOTE,
        b"old 1\nnot base64!\n\n" + NOTE,
        b"old 1\nAAAA\n\n" + NOTE,  # not 32 bytes
        b"old 1\n" + b"".join([b"A" * 43 + b"=\n"] * 64) + b"\n" + NOTE,
        b"old \xd9\xa1\n\n" + NOTE,  # an Arabic-Indic digit
        b"old 1\n\n",
    ],
)
def test_malformed_requests_are_refused(body: bytes) -> None:
    with pytest.raises(MalformedWitnessRequest):
        parse_add_checkpoint_request(body)


def test_size_bodies() -> None:
    assert parse_size_body(size_body(42)) == 42
    for bad in (b"42", b"042\n", b"x\n", b"\n", b"9" * 30 + b"\n"):
        with pytest.raises(MalformedWitnessRequest):
            parse_size_body(bad)
