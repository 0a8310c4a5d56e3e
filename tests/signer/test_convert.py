"""The gRPC edge's conversions: limits checked before any work is done."""

from __future__ import annotations

import hashlib

import pytest

from anima.signer.v1 import signer_pb2 as pb
from anima_signer_api import convert
from anima_signer_api.errors import InvalidRequest
from anima_signer_api.types import MAX_APPEND_ENTRIES


def _wire_input(kind: int = pb.LOG_ENTRY_KIND_MESSAGE_IN) -> pb.LogEntryInput:
    return pb.LogEntryInput(
        kind=kind, actor="user:42", room="r", payload_sha256=hashlib.sha256(b"x").digest()
    )


@pytest.mark.parametrize("first_kind", [pb.LOG_ENTRY_KIND_MESSAGE_IN, 42])
def test_append_log_over_the_entry_cap_is_refused_before_converting(first_kind: int) -> None:
    # A bad kind at entries[0] would be reported first if items were converted before the count.
    entries = [_wire_input(first_kind)] + [_wire_input()] * MAX_APPEND_ENTRIES
    request = pb.AppendLogRequest(agent_id="alice", entries=entries)
    with pytest.raises(InvalidRequest, match=f"{MAX_APPEND_ENTRIES + 1} entries .* limit is"):
        convert.append_log_request_from_proto(request)


def test_append_log_at_the_entry_cap_converts() -> None:
    request = pb.AppendLogRequest(agent_id="alice", entries=[_wire_input()] * MAX_APPEND_ENTRIES)
    agent_id, host_size, inputs = convert.append_log_request_from_proto(request)
    assert (agent_id, host_size, len(inputs)) == ("alice", 0, MAX_APPEND_ENTRIES)
